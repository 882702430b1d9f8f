//! The set-ups the dispatch figures compare, and their instruction counts:
//! shared by `benches/dispatch.rs` and the `dispatch-instructions` program,
//! which counts on another architecture's root without criterion (see
//! ci/cross/callgrind.sh).

use std::path::Path;

use crate::allocators::Allocator;
use crate::callgrind::{self, Run};
use crate::setup::{Route, Setup};
use crate::workload::Workload;
use memproxy_measure::stats::Spread;

/// The program name memproxy sees: listed in the excluded config only.
pub const FIXTURE_NAME: &str = "bench-workload";
/// The fixture's loops (see `fixtures/c/bench.cpp`): what callgrind counts.
pub const COUNTED_FUNCTIONS: &str = "bench_counted_*";

/// One allocator's two set-ups: preloaded alone, and behind memproxy.
pub struct Compared {
    /// `jemalloc`, `mimalloc`, `tcmalloc`, or `glibc` for the excluded route.
    pub allocator: String,
    pub route: Route,
    pub direct: Setup,
    pub memproxy: Setup,
}

/// Every allocator on the custom route, and glibc on the excluded route
/// (memproxy in front of the first allocator, the program listed), with
/// their configs written into `work`.
pub fn compared(
    memproxy: &Path,
    allocators: &[Allocator],
    work: &Path,
) -> Result<Vec<Compared>, String> {
    let unlisted = work.join("dispatch-unlisted.conf");
    let excluded = work.join("dispatch-excluded.conf");
    write_file(
        &unlisted,
        &format!("# {FIXTURE_NAME} is not listed: the custom route\nsome-other-program\n"),
    )?;
    write_file(&excluded, &format!("{FIXTURE_NAME}\n"))?;
    let mut all: Vec<Compared> = allocators
        .iter()
        .map(|allocator| Compared {
            allocator: allocator.name.to_owned(),
            route: Route::Custom,
            direct: Setup::direct(format!("{}/direct", allocator.name), Some(&allocator.path)),
            memproxy: Setup::memproxy(
                format!("{}/memproxy", allocator.name),
                memproxy,
                Some(&allocator.path),
                &unlisted,
                Route::Custom,
            ),
        })
        .collect();
    let behind_excluded = allocators
        .first()
        .ok_or("no allocator to put behind memproxy")?;
    all.push(Compared {
        allocator: "glibc".to_owned(),
        route: Route::Excluded,
        direct: Setup::direct("glibc/direct", None),
        memproxy: Setup::memproxy(
            "glibc/memproxy-excluded",
            memproxy,
            Some(&behind_excluded.path),
            &excluded,
            Route::Excluded,
        ),
    });
    Ok(all)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Instructions per call of one workload under one pair of set-ups.
pub struct PerCall {
    pub iterations: u64,
    pub direct: f64,
    /// memproxy's count less the direct one.
    pub extra: f64,
    /// The sum of both set-ups' interquartile ranges, per call.
    pub noise: f64,
}

/// Counts every workload under every pair, `repetitions` times each, in
/// runs of about `calls_per_run` calls, inside the fixture's loops only.
/// One result per workload and pair, workload-major.
pub fn count_per_call(
    fixture: &Path,
    workloads: &[&Workload],
    pairs: &[(Setup, Setup)],
    calls_per_run: u64,
    repetitions: usize,
) -> Result<Vec<PerCall>, String> {
    let iterations_of = |workload: &Workload| (calls_per_run / workload.calls_per_iteration).max(1);
    let mut runs = Vec::new();
    for workload in workloads {
        let iterations = iterations_of(workload).to_string();
        for (direct, memproxy) in pairs {
            for setup in [direct, memproxy] {
                for _ in 0..repetitions {
                    runs.push(
                        Run::new(setup, fixture, &[&workload.name, &iterations])
                            .only_inside(COUNTED_FUNCTIONS),
                    );
                }
            }
        }
    }
    let counts = callgrind::count_all(&runs)?;
    let mut per_setup = counts.chunks_exact(repetitions).map(|repeated| {
        let repeated: Vec<f64> = repeated.iter().map(|&count| count as f64).collect();
        Spread::of(&repeated).expect("every setup was counted")
    });
    let mut results = Vec::new();
    for workload in workloads {
        let iterations = iterations_of(workload);
        let calls = (iterations * workload.calls_per_iteration) as f64;
        for _ in pairs {
            let direct = per_setup.next().expect("a count per setup");
            let memproxy = per_setup.next().expect("a count per setup");
            let spread = |counts: &Spread| counts.p75 - counts.p25;
            results.push(PerCall {
                iterations,
                direct: direct.median / calls,
                extra: (memproxy.median - direct.median) / calls,
                noise: (spread(&direct) + spread(&memproxy)) / calls,
            });
        }
    }
    Ok(results)
}
