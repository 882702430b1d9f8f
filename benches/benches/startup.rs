//! What memproxy adds to a process start.
//!
//! `/bin/true` is started with nothing preloaded, with an allocator
//! preloaded directly, and with memproxy in front of the allocator reading
//! configs of 0, 100, 10,000, 100,000 and 1,000,000 entries (jemalloc; 0 and
//! 100 for the others) that never list it, so memproxy reads every byte.
//! Two reference rows show what is not memproxy's own doing: memproxy with
//! no allocator behind it, and an empty library preloaded in memproxy's
//! place (the loader's cost of one more object in every symbol lookup).
//!
//! Measured three ways: criterion per setup (the plots), callgrind's exact
//! instruction count of the whole process, and wall time spawn-to-exit over
//! interleaved rounds that start every setup once each.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::allocators::{self, Allocator};
use benches::artifacts::Artifacts;
use benches::callgrind::{self, Run};
use benches::mode::Mode;
use benches::setup::{self, Route, Setup};
use benches::summary::{
    self, LINEARITY_TOLERANCE, Provenance, STARTUP_EXTRA_LIMIT, STARTUP_TARGET_ENTRIES, ScanStep,
    StartupReport, StartupRow, TargetCheck,
};
use criterion::{Criterion, SamplingMode};
use memproxy_measure::stats::{self, Spread};

const PROGRAM: &str = "/bin/true";

fn main() {
    let mode = Mode::detect();
    if let Err(error) = run(mode) {
        eprintln!("startup benchmark: {error}");
        std::process::exit(1);
    }
}

/// A setup and what its row compares against.
struct Start {
    setup: Setup,
    preload: String,
    /// The allocator preloaded directly that this row is compared with.
    allocator: Option<&'static str>,
    config: Option<Config>,
}

#[derive(Clone, Copy)]
struct Config {
    kind: ConfigKind,
    entries: u64,
    bytes: u64,
}

/// What a bench config's lines are. Neither kind ever names the program, so
/// every start reads the whole file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConfigKind {
    /// Exact names, as an exclusion list of the original project's kind.
    Names,
    /// Globs with brackets and wildcards, and `!` lines: each line is
    /// matched against both of the program's names.
    Patterns,
}

impl ConfigKind {
    fn label(self) -> &'static str {
        match self {
            ConfigKind::Names => "names",
            ConfigKind::Patterns => "patterns",
        }
    }

    fn line(self, index: u64) -> String {
        match self {
            ConfigKind::Names => format!("not-this-program-{index:07}\n"),
            // Every third a `!` line; wildcards on both sides of a bracket,
            // so each line makes the matcher backtrack.
            ConfigKind::Patterns if index % 3 == 2 => format!("!*-{index:07}-[a-f]?\n"),
            ConfigKind::Patterns => format!("not-*-[0-9]{index:07}*x\n"),
        }
    }
}

fn run(mode: Mode) -> Result<(), String> {
    setup::check_host_preload()?;
    let allocators = allocators::require_all()?;
    callgrind::require_valgrind()?;
    let artifacts = Artifacts::build()?;
    let program = Path::new(PROGRAM);
    let starts = starts(mode, &artifacts, &allocators)?;
    if mode != Mode::List {
        for start in &starts {
            start.setup.verify_route(program, &[])?;
        }
    }

    run_criterion(mode, program, &starts);
    if mode == Mode::List {
        return Ok(());
    }

    let rounds = mode.pick(150, 5);
    eprintln!(
        "\nstartup: {rounds} interleaved rounds of {} setups",
        starts.len()
    );
    let wall_us = interleave(program, &starts, rounds)?;
    eprintln!("startup: counting instructions with callgrind");
    let runs: Vec<Run> = starts
        .iter()
        .map(|start| Run::new(&start.setup, program, &[]))
        .collect();
    let instructions = callgrind::count_all(&runs)?;

    let rows = rows(&starts, &instructions, &wall_us);
    let scan = scan_steps(&rows);
    let report = StartupReport {
        provenance: Provenance::now(mode, &artifacts.revision, &artifacts.memproxy, &allocators),
        program: program.to_path_buf(),
        rounds,
        targets: targets(&rows, &scan),
        rows,
        scan,
    };
    summary::publish(
        &artifacts.summary_dir(mode),
        summary::STARTUP_PART,
        &report,
        &summary::render_startup(&report),
        &report.targets,
    )?;
    Ok(())
}

/// Config sizes for memproxy in front of each allocator; the large ones,
/// which show how the scan grows, only for the first allocator.
fn config_sizes(mode: Mode, first_allocator: bool) -> &'static [(ConfigKind, u64)] {
    use ConfigKind::{Names, Patterns};
    match (mode, first_allocator) {
        (Mode::Full, true) => &[
            (Names, 0),
            (Names, 100),
            (Names, 10_000),
            (Names, 100_000),
            (Names, 1_000_000),
            (Patterns, 100),
            (Patterns, 10_000),
            (Patterns, 100_000),
        ],
        (Mode::Full, false) => &[(Names, 0), (Names, 100)],
        (_, true) => &[(Names, 100), (Patterns, 100)],
        _ => &[(Names, 100)],
    }
}

fn starts(
    mode: Mode,
    artifacts: &Artifacts,
    allocators: &[Allocator],
) -> Result<Vec<Start>, String> {
    let work = artifacts.work_dir()?;
    let memproxy = &artifacts.memproxy;
    let mut starts = vec![Start {
        setup: Setup::direct("none", None),
        preload: "nothing preloaded".into(),
        allocator: None,
        config: None,
    }];
    let reference_config = config_file(&work, ConfigKind::Names, STARTUP_TARGET_ENTRIES)?;
    starts.push(Start {
        setup: Setup::memproxy(
            "memproxy-alone",
            memproxy,
            None,
            &reference_config.0,
            Route::NoCustomAllocator,
        ),
        preload: "memproxy alone (glibc route)".into(),
        allocator: None,
        config: Some(reference_config.1),
    });
    for (index, allocator) in allocators.iter().enumerate() {
        starts.push(Start {
            setup: Setup::direct(format!("{}/direct", allocator.name), Some(&allocator.path)),
            preload: format!("{} directly", allocator.name),
            allocator: Some(allocator.name),
            config: None,
        });
        if index == 0 {
            let empty = artifacts.empty_library.clone();
            starts.push(Start {
                setup: Setup {
                    label: format!("empty-library+{}", allocator.name),
                    preload: vec![empty, allocator.path.clone()],
                    config: None,
                    route: None,
                },
                preload: format!("an empty library + {} (reference)", allocator.name),
                allocator: Some(allocator.name),
                config: None,
            });
        }
        for &(kind, entries) in config_sizes(mode, index == 0) {
            let (path, config) = config_file(&work, kind, entries)?;
            let suffix = match kind {
                ConfigKind::Names => String::new(),
                ConfigKind::Patterns => "-patterns".to_owned(),
            };
            starts.push(Start {
                setup: Setup::memproxy(
                    format!("{}/memproxy-{entries}{suffix}", allocator.name),
                    memproxy,
                    Some(&allocator.path),
                    &path,
                    Route::Custom,
                ),
                preload: format!("memproxy + {}", allocator.name),
                allocator: Some(allocator.name),
                config: Some(config),
            });
        }
    }
    Ok(starts)
}

/// A config of `entries` lines of `kind`, none of them naming the program.
fn config_file(dir: &Path, kind: ConfigKind, entries: u64) -> Result<(PathBuf, Config), String> {
    let path = dir.join(format!("startup-{}-{entries}.conf", kind.label()));
    let line = |index: u64| kind.line(index);
    let bytes: u64 = (0..entries).map(|index| line(index).len() as u64).sum();
    let fresh = std::fs::metadata(&path).is_ok_and(|metadata| metadata.len() == bytes);
    if !fresh {
        let file =
            std::fs::File::create(&path).map_err(|error| format!("{}: {error}", path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        for index in 0..entries {
            writer
                .write_all(line(index).as_bytes())
                .map_err(|error| format!("{}: {error}", path.display()))?;
        }
        writer
            .flush()
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok((
        path,
        Config {
            kind,
            entries,
            bytes,
        },
    ))
}

fn start_once(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("cannot start {PROGRAM}: {error}"));
    let elapsed = started.elapsed();
    assert!(status.success(), "{PROGRAM} failed: {status}");
    elapsed
}

fn quiet_command(setup: &Setup, program: &Path) -> Command {
    let mut command = setup.command(program);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn run_criterion(mode: Mode, program: &Path, starts: &[Start]) {
    let mut criterion = Criterion::default()
        .sample_size(mode.pick(20, 10))
        .warm_up_time(Duration::from_millis(mode.pick(500, 100)))
        .measurement_time(Duration::from_millis(mode.pick(2000, 300)))
        .nresamples(20_000)
        .configure_from_args();
    let mut group = criterion.benchmark_group("startup");
    // A start takes milliseconds: one start per iteration, no linear ramp.
    group.sampling_mode(SamplingMode::Flat);
    for start in starts {
        let mut command = quiet_command(&start.setup, program);
        group.bench_function(&start.setup.label, |bencher| {
            bencher
                .iter_custom(|iterations| (0..iterations).map(|_| start_once(&mut command)).sum())
        });
    }
    group.finish();
    criterion.final_summary();
}

/// Wall time of every setup, in microseconds, one start of each per round;
/// each round starts from a different setup so that none always follows
/// the same one.
fn interleave(program: &Path, starts: &[Start], rounds: usize) -> Result<Vec<Vec<f64>>, String> {
    let mut commands: Vec<Command> = starts
        .iter()
        .map(|start| quiet_command(&start.setup, program))
        .collect();
    for command in &mut commands {
        start_once(command);
    }
    let mut wall_us = vec![Vec::with_capacity(rounds); starts.len()];
    for round in 0..rounds {
        for index in stats::rotation(round, starts.len()) {
            let elapsed = start_once(&mut commands[index]);
            wall_us[index].push(elapsed.as_secs_f64() * 1e6);
        }
    }
    Ok(wall_us)
}

fn rows(starts: &[Start], instructions: &[u64], wall_us: &[Vec<f64>]) -> Vec<StartupRow> {
    let none = 0;
    let direct_of = |allocator: &str| {
        starts
            .iter()
            .position(|start| start.setup.label == format!("{allocator}/direct"))
    };
    let paired = |index: usize, baseline: usize| {
        Spread::of(&stats::paired_differences(
            &wall_us[index],
            &wall_us[baseline],
        ))
        .expect("at least one round")
    };
    starts
        .iter()
        .enumerate()
        .map(|(index, start)| {
            let direct = start
                .allocator
                .and_then(direct_of)
                .filter(|&direct| direct != index);
            StartupRow {
                label: start.setup.label.clone(),
                preload: start.preload.clone(),
                allocator: start.allocator.map(str::to_owned),
                config_entries: start.config.map(|config| config.entries),
                config_kind: start.config.map(|config| config.kind.label().to_owned()),
                config_bytes: start.config.map(|config| config.bytes),
                instructions: instructions[index],
                extra_instructions_vs_none: instructions[index] as i64 - instructions[none] as i64,
                extra_instructions_vs_direct: direct
                    .map(|direct| instructions[index] as i64 - instructions[direct] as i64),
                wall_us: Spread::of(&wall_us[index]).expect("at least one round"),
                extra_wall_us_vs_none: paired(index, none),
                extra_wall_us_vs_direct: direct.map(|direct| paired(index, direct)),
            }
        })
        .collect()
}

/// The scan's marginal cost between successive config sizes of each kind,
/// for the allocator measured at every size.
fn scan_steps(rows: &[StartupRow]) -> Vec<ScanStep> {
    let Some(first_allocator) = rows
        .iter()
        .find(|row| row.config_entries.is_some() && row.allocator.is_some())
        .and_then(|row| row.allocator.clone())
    else {
        return Vec::new();
    };
    let mut steps = Vec::new();
    for kind in [ConfigKind::Names, ConfigKind::Patterns] {
        let mut sized: Vec<&StartupRow> = rows
            .iter()
            .filter(|row| row.allocator.as_ref() == Some(&first_allocator))
            .filter(|row| row.config_kind.as_deref() == Some(kind.label()))
            .collect();
        sized.sort_by_key(|row| row.config_entries);
        steps.extend(sized.windows(2).map(|pair| {
            let (from, to) = (pair[0], pair[1]);
            let entries =
                (to.config_entries.unwrap_or(0) - from.config_entries.unwrap_or(0)) as f64;
            let bytes = (to.config_bytes.unwrap_or(0) - from.config_bytes.unwrap_or(0)) as f64;
            let instructions = to.instructions as f64 - from.instructions as f64;
            ScanStep {
                kind: kind.label().to_owned(),
                from_entries: from.config_entries.unwrap_or(0),
                to_entries: to.config_entries.unwrap_or(0),
                instructions_per_byte: instructions / bytes,
                instructions_per_entry: instructions / entries,
                wall_ns_per_byte: (to.wall_us.median - from.wall_us.median) * 1e3 / bytes,
            }
        }));
    }
    steps
}

fn targets(rows: &[StartupRow], scan: &[ScanStep]) -> Vec<TargetCheck> {
    let mut targets: Vec<TargetCheck> = rows
        .iter()
        .filter(|row| row.preload.starts_with("memproxy +"))
        .filter(|row| row.config_entries == Some(STARTUP_TARGET_ENTRIES))
        .filter(|row| row.config_kind.as_deref() == Some(ConfigKind::Names.label()))
        .filter_map(|row| {
            Some(TargetCheck::at_most(
                "extra instructions per start, 100-entry config",
                format!("{} vs {} directly", row.preload, row.allocator.as_deref()?),
                row.extra_instructions_vs_direct? as f64,
                STARTUP_EXTRA_LIMIT,
                "instructions",
            ))
        })
        .collect();
    for kind in [ConfigKind::Names, ConfigKind::Patterns] {
        // Fixed costs (opening an empty file, say) blur the smallest step.
        let linear_steps: Vec<&ScanStep> = scan
            .iter()
            .filter(|step| step.kind == kind.label())
            .filter(|step| step.from_entries >= STARTUP_TARGET_ENTRIES)
            .collect();
        if linear_steps.len() < 2 {
            continue;
        }
        let costs: Vec<f64> = linear_steps
            .iter()
            .map(|step| step.instructions_per_byte)
            .collect();
        let largest = costs.last().copied().unwrap_or(f64::NAN);
        let deviation = costs
            .iter()
            .map(|cost| (cost / largest - 1.0).abs())
            .fold(0.0, f64::max);
        targets.push(TargetCheck::at_most(
            "config scan linear in file size",
            format!(
                "{}: instructions/byte of each step from {} entries differ from the largest \
                 step's ({:.2}) by at most",
                kind.label(),
                STARTUP_TARGET_ENTRIES,
                largest
            ),
            deviation,
            LINEARITY_TOLERANCE,
            "(relative)",
        ));
    }
    targets
}
