//! The cost of an allocator call through memproxy.
//!
//! For each allocator, `LD_PRELOAD=ALLOCATOR` (direct) against
//! `LD_PRELOAD=libmemproxy.so:ALLOCATOR` with the program not listed (the
//! custom route); and no preload at all against memproxy with the program
//! listed (the excluded, glibc route, jemalloc preloaded behind it). The
//! workloads run inside `bench-workload`, which times its own loop, so
//! process start-up is not in the numbers.
//!
//! Three measurements, in this order:
//! 1. criterion, every (workload, setup) on its own: the HTML report's plots;
//! 2. interleaved rounds, direct and memproxy alternately (A B, B A, ...):
//!    the wall-time ratios of the summary;
//! 3. callgrind, a fixed iteration count, counting only inside the
//!    fixture's loops: the extra instructions per call of the summary.

use std::path::Path;
use std::time::Duration;

use benches::allocators::{self, Allocator};
use benches::artifacts::Artifacts;
use benches::callgrind;
use benches::dispatch_setups;
use benches::mode::Mode;
use benches::setup::{self, Route, Setup};
use benches::summary::{
    self, DispatchReport, DispatchRow, EXTRA_INSTRUCTIONS_PER_CALL_LIMIT,
    INSTRUCTIONS_PER_CALL_RESOLUTION, Provenance, RATIO_LIMIT, RATIO_TARGET_WORKLOAD, TargetCheck,
};
use benches::workload::{self, Server, Workload};
use criterion::{Criterion, Throughput};
use memproxy_measure::stats::Spread;

fn main() {
    let mode = Mode::detect();
    if let Err(error) = run(mode) {
        eprintln!("dispatch benchmark: {error}");
        std::process::exit(1);
    }
}

/// The same workloads, with and without memproxy in front of one
/// allocator.
struct Pair {
    /// `jemalloc`, `mimalloc`, `tcmalloc`, or `glibc` for the excluded route.
    allocator: String,
    route: Route,
    direct: Server,
    memproxy: Server,
}

impl Pair {
    fn route_label(&self) -> &'static str {
        match self.route {
            Route::Excluded => "excluded",
            _ => "custom",
        }
    }
}

fn run(mode: Mode) -> Result<(), String> {
    setup::check_host_preload()?;
    let allocators = allocators::require_all()?;
    callgrind::require_valgrind()?;
    let artifacts = Artifacts::build()?;
    let workloads = workload::list(&artifacts.bench_workload)?;
    let mut pairs = pairs(&artifacts, &allocators)?;
    if mode != Mode::List {
        for pair in &pairs {
            pair.memproxy
                .setup()
                .verify_route(&artifacts.bench_workload, &["--list"])?;
        }
    }

    run_criterion(mode, &workloads, &mut pairs);
    if mode == Mode::List {
        return Ok(());
    }

    let rounds = mode.pick(51, 3);
    let sample_target = Duration::from_millis(mode.pick(10, 1));
    eprintln!(
        "\ndispatch: {rounds} interleaved rounds per workload and allocator, \
         samples of about {} ms",
        sample_target.as_millis()
    );
    let mut rows = Vec::new();
    for workload in &workloads {
        for pair in &mut pairs {
            rows.push(interleave(pair, workload, sample_target, rounds));
        }
    }
    // The servers must be idle, or gone, while callgrind runs.
    let setups: Vec<(Setup, Setup)> = pairs
        .iter()
        .map(|pair| (pair.direct.setup().clone(), pair.memproxy.setup().clone()))
        .collect();
    drop(pairs);

    let counted: Vec<&Workload> = workloads
        .iter()
        .filter(|workload| mode == Mode::Full || workload.name == RATIO_TARGET_WORKLOAD)
        .collect();
    eprintln!(
        "dispatch: counting instructions with callgrind ({} workloads x {} setups)",
        counted.len(),
        setups.len() * 2
    );
    count_instructions(
        mode,
        &artifacts.bench_workload,
        &counted,
        &setups,
        &mut rows,
    )?;

    let report = DispatchReport {
        provenance: Provenance::now(mode, &artifacts.revision, &artifacts.memproxy, &allocators),
        rounds,
        sample_target_ms: sample_target.as_secs_f64() * 1e3,
        targets: targets(&rows),
        rows,
    };
    summary::publish(
        &artifacts.summary_dir(mode),
        summary::DISPATCH_PART,
        &report,
        &summary::render_dispatch(&report),
        &report.targets,
    )?;
    println!(
        "Plots: {}",
        artifacts
            .target_dir
            .join("criterion/report/index.html")
            .display()
    );
    Ok(())
}

fn pairs(artifacts: &Artifacts, allocators: &[Allocator]) -> Result<Vec<Pair>, String> {
    let fixture = &artifacts.bench_workload;
    Ok(
        dispatch_setups::compared(&artifacts.memproxy, allocators, &artifacts.work_dir()?)?
            .into_iter()
            .map(|compared| Pair {
                allocator: compared.allocator,
                route: compared.route,
                direct: Server::new(fixture, compared.direct),
                memproxy: Server::new(fixture, compared.memproxy),
            })
            .collect(),
    )
}

/// One criterion group per workload, one benchmark per setup. Throughput
/// is in allocator calls, so criterion's report shows calls per second.
fn run_criterion(mode: Mode, workloads: &[Workload], pairs: &mut [Pair]) {
    let mut criterion = Criterion::default()
        .sample_size(mode.pick(30, 10))
        .warm_up_time(Duration::from_millis(mode.pick(500, 100)))
        .measurement_time(Duration::from_millis(mode.pick(1500, 300)))
        .nresamples(20_000)
        .configure_from_args();
    for workload in workloads {
        let mut group = criterion.benchmark_group(format!("dispatch/{}", workload.name));
        group.throughput(Throughput::Elements(workload.calls_per_iteration));
        for pair in pairs.iter_mut() {
            for server in [&mut pair.direct, &mut pair.memproxy] {
                let label = server.setup().label.clone();
                group.bench_function(label, |bencher| {
                    bencher.iter_custom(|iterations| server.run(&workload.name, iterations))
                });
            }
        }
        group.finish();
    }
    criterion.final_summary();
}

/// Direct and memproxy in alternation, the order flipped every round so
/// that neither always runs second. Every round starts new processes (see
/// [`Server::restart`]), so the medians are over as many address layouts as
/// rounds; each new process runs the loop once unmeasured first, for its
/// page faults and the allocator's first-use paths.
fn interleave(
    pair: &mut Pair,
    workload: &Workload,
    sample_target: Duration,
    rounds: usize,
) -> DispatchRow {
    let name = workload.name.as_str();
    let iterations = calibrate(&mut pair.direct, name, sample_target);
    let warm_up = (iterations / 4).max(1);
    let mut direct_ns = Vec::with_capacity(rounds);
    let mut memproxy_ns = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        for server in [&mut pair.direct, &mut pair.memproxy] {
            server.restart();
            server.run(name, warm_up);
        }
        let (direct, memproxy) = if round % 2 == 0 {
            let direct = pair.direct.run(name, iterations);
            (direct, pair.memproxy.run(name, iterations))
        } else {
            let memproxy = pair.memproxy.run(name, iterations);
            (pair.direct.run(name, iterations), memproxy)
        };
        let direct = direct.as_nanos() as f64;
        let memproxy = memproxy.as_nanos() as f64;
        direct_ns.push(direct);
        memproxy_ns.push(memproxy);
        ratios.push(memproxy / direct.max(1.0));
    }
    let calls = (iterations * workload.calls_per_iteration) as f64;
    let per_call = |samples: &[f64]| Spread::of(samples).map_or(f64::NAN, |s| s.median) / calls;
    let row = DispatchRow {
        workload: workload.name.clone(),
        allocator: pair.allocator.clone(),
        route: pair.route_label().to_owned(),
        calls_per_iteration: workload.calls_per_iteration,
        iterations_per_sample: iterations,
        direct_ns_per_call: per_call(&direct_ns),
        memproxy_ns_per_call: per_call(&memproxy_ns),
        ratio: Spread::of(&ratios).expect("at least one round"),
        callgrind_iterations: None,
        direct_instructions_per_call: None,
        extra_instructions_per_call: None,
        instructions_noise_per_call: None,
    };
    eprintln!(
        "  {:<20} {:<20} memproxy/direct x{:.3} (p25-p75 {:.3}-{:.3})",
        row.workload,
        row.column(),
        row.ratio.median,
        row.ratio.p25,
        row.ratio.p75
    );
    row
}

/// The iteration count that makes one sample of `server` last about
/// `target`.
fn calibrate(server: &mut Server, workload: &str, target: Duration) -> u64 {
    let mut iterations = 1u64;
    loop {
        let elapsed = server.run(workload, iterations);
        if elapsed >= target / 10 || iterations >= 1 << 40 {
            let scale = target.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return ((iterations as f64 * scale) as u64).max(1);
        }
        iterations *= 4;
    }
}

/// Fills the instruction columns of `rows`. Callgrind counts only inside
/// the fixture's `bench_counted_*` functions (its loops), so start-up,
/// set-up and printing are left out. Most loops count the same every time,
/// but the two-thread one depends on scheduling, and the allocators' large
/// blocks now and then take a time-dependent path (purging) that moves a
/// count by up to a million instructions. Full runs therefore repeat each
/// count, take the median, and keep the interquartile range as the
/// figure's noise.
fn count_instructions(
    mode: Mode,
    fixture: &Path,
    workloads: &[&Workload],
    setups: &[(Setup, Setup)],
    rows: &mut [DispatchRow],
) -> Result<(), String> {
    // Enough calls that a count resolves a hundredth of an instruction per
    // call, few enough that a run ends before the allocators' time-based
    // purging makes counts vary.
    let counts = dispatch_setups::count_per_call(
        fixture,
        workloads,
        setups,
        mode.pick(50_000, 20_000),
        mode.pick(5, 1),
    )?;
    let mut counts = counts.into_iter();
    for workload in workloads {
        for row in rows.iter_mut().filter(|row| row.workload == workload.name) {
            let per_call = counts.next().expect("a count per workload and pair");
            row.callgrind_iterations = Some(per_call.iterations);
            row.direct_instructions_per_call = Some(per_call.direct);
            row.extra_instructions_per_call = Some(per_call.extra);
            row.instructions_noise_per_call = Some(per_call.noise);
        }
    }
    Ok(())
}

fn targets(rows: &[DispatchRow]) -> Vec<TargetCheck> {
    let mut targets = Vec::new();
    for row in rows {
        if let Some(extra) = row.extra_instructions_per_call {
            targets.push(
                TargetCheck::at_most(
                    "extra instructions per call",
                    format!("{}, {}", row.workload, row.column()),
                    extra,
                    EXTRA_INSTRUCTIONS_PER_CALL_LIMIT,
                    "instructions/call",
                )
                .within_noise(
                    row.instructions_noise_per_call
                        .unwrap_or(0.0)
                        .max(INSTRUCTIONS_PER_CALL_RESOLUTION),
                ),
            );
        }
    }
    for row in rows
        .iter()
        .filter(|row| row.workload == RATIO_TARGET_WORKLOAD)
    {
        targets.push(TargetCheck::at_most(
            "wall-time ratio memproxy/direct",
            format!(
                "{}, {} (p25-p75 {:.3}-{:.3})",
                row.workload,
                row.column(),
                row.ratio.p25,
                row.ratio.p75
            ),
            row.ratio.median,
            RATIO_LIMIT,
            "x",
        ));
    }
    targets
}
