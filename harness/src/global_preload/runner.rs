//! The run: every program of the catalogue without preload (twice, to prove
//! its output deterministic), then under `/etc/ld.so.preload` = memproxy and
//! each allocator, plainly and with `MEMPROXY_DEBUG=1`, in parallel; what
//! differs from the baseline, and every debug line whose route is not the
//! one the exclusion list gives ([`expect::listed`]), is a failure.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use test_support::process::excerpt;
use test_support::{Artifacts, DebugLine, NotRun, Process, Ran, namespace, path_str, same_file};

use super::catalogue::{Program, catalogue, check_installed, exclusion_list};
use super::inputs::Inputs;
use crate::allocators::Allocator;
use crate::expect::{self, KernelNames};
use crate::run::LIBC;

/// What [`run`] ran.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Programs run (required plus optional ones found).
    pub programs: usize,
    /// Of them, listed in the exclusion list.
    pub excluded: usize,
    /// Optional programs that are not installed here.
    pub absent_optional: Vec<String>,
    /// The allocators, `glibc` meaning memproxy alone.
    pub allocators: Vec<String>,
    /// (program, allocator) pairs compared with the baseline.
    pub comparisons: usize,
    /// Preloaded runs: each pair plainly and with `MEMPROXY_DEBUG=1`.
    pub preloaded_runs: usize,
    /// Runs without any preload (each program twice).
    pub baseline_runs: usize,
    /// Processes that printed a debug line, helpers included, all checked.
    pub processes_checked: usize,
    pub glibc_routes: usize,
    pub custom_routes: usize,
    pub failures: usize,
    pub seconds: f64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "global preload: {} programs ({} excluded by the list) x {} allocators ({}) = {} \
             comparisons with the baseline; {} preloaded runs + {} baseline runs; {} preloaded \
             processes checked by their MEMPROXY_DEBUG line ({} glibc route, {} custom); \
             {} failures; {:.1} s",
            self.programs,
            self.excluded,
            self.allocators.len(),
            self.allocators.join(", "),
            self.comparisons,
            self.preloaded_runs,
            self.baseline_runs,
            self.processes_checked,
            self.glibc_routes,
            self.custom_routes,
            self.failures,
            self.seconds,
        )?;
        if !self.absent_optional.is_empty() {
            write!(
                f,
                "; optional programs not installed: {}",
                self.absent_optional.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The outcome of [`run`]: the figures and every failure.
pub struct GlobalPreload {
    pub figures: Figures,
    pub failures: Vec<String>,
}

/// Variables every program run gets besides `PATH`: a fixed locale and
/// time zone, its own `HOME`, the config (harmless without memproxy) and
/// git's fixed identity and dates.
fn program_env(home: &Path, config: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("LC_ALL".to_owned(), "C".to_owned()),
        ("TZ".into(), "UTC".into()),
        ("HOME".into(), path_str(home)),
        ("MEMPROXY_CONF".into(), path_str(config)),
    ];
    for (name, value) in [
        ("GIT_AUTHOR_NAME", "memproxy"),
        ("GIT_AUTHOR_EMAIL", "memproxy@example.org"),
        ("GIT_AUTHOR_DATE", "2001-02-03T04:05:06Z"),
        ("GIT_COMMITTER_NAME", "memproxy"),
        ("GIT_COMMITTER_EMAIL", "memproxy@example.org"),
        ("GIT_COMMITTER_DATE", "2001-02-03T04:05:07Z"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_PAGER", "cat"),
    ] {
        env.push((name.into(), value.into()));
    }
    env
}

/// Runs `jobs` on a few threads, calling `each` with every result.
fn in_parallel<T: Sync, R: Send>(jobs: &[T], each: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .clamp(4, 16);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    let result = each(job);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|result| result.expect("every job ran"))
        .collect()
}

/// What the debug lines of one run show.
#[derive(Default)]
struct RouteCheck {
    problems: Vec<String>,
    /// The program itself (not a helper) reported the glibc route.
    main_on_glibc: bool,
    glibc: usize,
    custom: usize,
}

/// Checks every `MEMPROXY_DEBUG` line of a run of `program` against the
/// route the exclusion `list` gives each process under `allocator`.
fn check_routes(
    lines: &[DebugLine],
    list: &str,
    allocator: &Allocator,
    program: &Program,
) -> RouteCheck {
    let mut check = RouteCheck::default();
    let mut saw_main = false;
    for line in lines {
        let execfn = line.get("execfn").unwrap_or_default();
        let exe = line.get("exe").unwrap_or_default();
        let names = KernelNames {
            execfn: execfn.to_owned(),
            exe: exe.to_owned(),
        };
        let listed = expect::listed(list, &names);
        let (route, reason, serving) = match (&allocator.path, listed) {
            (None, _) => ("glibc", "no-custom-allocator", Path::new(LIBC)),
            (Some(_), true) => ("glibc", "excluded", Path::new(LIBC)),
            (Some(path), false) => ("custom", "not-excluded", path.as_path()),
        };
        // The same file, whichever directory of a merged /usr the loader
        // found it in.
        let serves = line
            .get("allocator")
            .is_some_and(|named| same_file(Path::new(named), serving));
        if (line.route(), line.reason()) != (route, reason)
            || !serves
            || line.get("duplicate-of").is_some()
        {
            check.problems.push(format!(
                "expected route={route} reason={reason} allocator={} (listed: {listed}), memproxy says: {}",
                serving.display(),
                line.text
            ));
        }
        let is_main = execfn.rsplit('/').next() == Some(program.name());
        saw_main |= is_main;
        if line.route() == "glibc" {
            check.glibc += 1;
            check.main_on_glibc |= is_main;
        } else {
            check.custom += 1;
        }
    }
    if !saw_main {
        check.problems.push(format!(
            "no MEMPROXY_DEBUG line from {} itself ({} lines)",
            program.name(),
            lines.len()
        ));
    }
    check
}

/// How a preloaded run differs from the baseline: exit status, stdout, and
/// stderr (less memproxy's lines when `debug` asked for them).
fn compare(ran: &Ran, baseline: &Ran, debug: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if ran.wait_status() != baseline.wait_status() || ran.timed_out {
        problems.push(format!(
            "exit status {:?}, baseline {:?}",
            ran.status, baseline.status
        ));
    }
    if ran.stdout != baseline.stdout {
        problems.push(format!(
            "stdout differs: {}",
            first_difference(&baseline.stdout, &ran.stdout)
        ));
    }
    let stderr = if debug {
        ran.stderr_without_debug()
    } else {
        ran.stderr.clone()
    };
    if stderr != baseline.stderr {
        problems.push(format!(
            "stderr differs from the baseline's {}: {}",
            excerpt(&baseline.stderr),
            excerpt(&stderr)
        ));
    }
    problems
}

/// Runs `program` in a fresh directory under `runs`, with the programs'
/// environment, and `/etc/ld.so.preload` holding `etc_preload` if given.
fn run_in(
    runs: &Path,
    program: &Program,
    etc_preload: Option<&str>,
    config: &Path,
    debug: bool,
) -> (Ran, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-", program.name()))
        .tempdir_in(runs)
        .expect("a run directory");
    let mut process = Process::argv(&program.argv)
        .envs(program_env(dir.path(), config))
        .debug(debug)
        .current_dir(dir.path())
        .no_core_files();
    if let Some(contents) = etc_preload {
        process = process.etc_preload(contents);
    }
    let ran = process.try_run().unwrap_or_else(Ran::not_started);
    (ran, dir)
}

/// Failures, each with its run directory (kept, with the inputs and the
/// config, when there is any failure).
#[derive(Default)]
struct Failures(Mutex<Vec<String>>);

impl Failures {
    fn add(&self, text: String, dir: tempfile::TempDir) {
        let kept = dir.keep();
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.push(format!("{text}\n  run directory: {}", kept.display()));
    }

    fn into_inner(self) -> Vec<String> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts every program of the catalogue without preload and under a global
/// preload of memproxy and each of `allocators`, and compares. See the
/// module documentation.
pub fn run(artifacts: &Artifacts, allocators: &[Allocator]) -> Result<GlobalPreload, NotRun> {
    let started = Instant::now();
    let setup = |what: &str, error: std::io::Error| NotRun::Setup(format!("{what}: {error}"));
    let inputs = Inputs::create().map_err(|e| setup("creating the inputs", e))?;
    let catalogue = catalogue(&inputs);
    check_installed(&catalogue).map_err(NotRun::Setup)?;
    let programs: Vec<&Program> = catalogue.iter().filter(|p| p.installed()).collect();
    let absent_optional = catalogue
        .iter()
        .filter(|p| !p.installed())
        .map(|p| p.name().to_owned())
        .collect();

    let work_dir = tempfile::Builder::new()
        .prefix("memproxy-programs-")
        .tempdir()
        .map_err(|e| setup("temporary directory", e))?;
    let work = work_dir
        .path()
        .canonicalize()
        .map_err(|e| setup("canonicalize", e))?;
    let config = work.join("memproxy.conf");
    let (list, excluded) = exclusion_list(&programs);
    std::fs::write(&config, &list).map_err(|e| setup("writing the config", e))?;
    let runs = work.join("runs");
    std::fs::create_dir(&runs).map_err(|e| setup("runs directory", e))?;

    // One /etc/ld.so.preload per allocator; the namespace must be possible
    // before anything runs.
    namespace::available()?;
    let etc_preloads: Vec<String> = allocators
        .iter()
        .map(|allocator| {
            let mut contents = format!("{}\n", path_str(&artifacts.memproxy));
            if let Some(path) = &allocator.path {
                let _ = writeln!(contents, "{}", path_str(path));
            }
            contents
        })
        .collect();
    let failures = Failures::default();

    // The baseline, twice: a program whose output varies from run to run
    // does not belong in the catalogue.
    let baseline_jobs: Vec<usize> = (0..programs.len())
        .flat_map(|program| [program, program])
        .collect();
    let mut baselines = in_parallel(&baseline_jobs, |&program| {
        let program = programs[program];
        run_in(&runs, program, None, &config, false)
    })
    .into_iter();
    let mut reference = Vec::new();
    for program in &programs {
        let (first, dir) = baselines.next().expect("two baseline runs");
        let (second, _) = baselines.next().expect("two baseline runs");
        if first.timed_out || first.status.is_none() {
            let text = format!(
                "{}: the baseline run did not finish: {}",
                program.name(),
                first.describe()
            );
            failures.add(text, dir);
        } else if (&first.stdout, &first.stderr, first.wait_status())
            != (&second.stdout, &second.stderr, second.wait_status())
        {
            let text = format!(
                "{}: two runs without any preload differ, so the program does not belong in the \
                 catalogue:\n  first: {}\n  second: {}",
                program.name(),
                first.describe(),
                second.describe()
            );
            failures.add(text, dir);
        }
        reference.push(first);
    }

    // (allocator, program, debug)
    let jobs: Vec<(usize, usize, bool)> = (0..allocators.len())
        .flat_map(|allocator| {
            (0..programs.len())
                .flat_map(move |program| [false, true].map(|debug| (allocator, program, debug)))
        })
        .collect();
    let checks = in_parallel(&jobs, |&(allocator_index, program_index, debug)| {
        let (allocator, program) = (&allocators[allocator_index], programs[program_index]);
        let etc_preload = Some(etc_preloads[allocator_index].as_str());
        let (ran, dir) = run_in(&runs, program, etc_preload, &config, debug);
        let mut problems = compare(&ran, &reference[program_index], debug);
        let check = if debug {
            check_routes(&ran.debug_lines(), &list, allocator, program)
        } else {
            RouteCheck::default()
        };
        problems.extend(check.problems.iter().cloned());
        if !problems.is_empty() {
            let text = format!(
                "{} under /etc/ld.so.preload = memproxy{}{}:\n  {}\n  reproduce: {}",
                program.name(),
                allocator
                    .path
                    .as_ref()
                    .map_or(" alone".to_owned(), |_| format!(" + {}", allocator.name)),
                if debug { ", MEMPROXY_DEBUG=1" } else { "" },
                problems.join("\n  "),
                ran.command
            );
            failures.add(text, dir);
        }
        check
    });
    let mut failures = failures.into_inner();

    // The programs themselves on the glibc route: exactly the listed half
    // (all of them with memproxy alone).
    for (allocator_index, allocator) in allocators.iter().enumerate() {
        let on_glibc: BTreeSet<&str> = jobs
            .iter()
            .zip(&checks)
            .filter(|((index, _, _), check)| *index == allocator_index && check.main_on_glibc)
            .map(|((_, program, _), _)| programs[*program].binary)
            .collect();
        let expected: BTreeSet<&str> = match allocator.path {
            Some(_) => excluded.iter().copied().collect(),
            None => programs.iter().map(|program| program.binary).collect(),
        };
        if on_glibc != expected {
            failures.push(format!(
                "{}: MEMPROXY_DEBUG shows {on_glibc:?} on the glibc route, the list gives {expected:?}",
                allocator.name
            ));
        }
    }
    let glibc_routes = checks.iter().map(|check| check.glibc).sum();
    let custom_routes = checks.iter().map(|check| check.custom).sum();
    let figures = Figures {
        programs: programs.len(),
        excluded: excluded.len(),
        absent_optional,
        allocators: allocators.iter().map(|a| a.name.clone()).collect(),
        comparisons: programs.len() * allocators.len(),
        preloaded_runs: jobs.len(),
        baseline_runs: baseline_jobs.len(),
        processes_checked: glibc_routes + custom_routes,
        glibc_routes,
        custom_routes,
        failures: failures.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if !failures.is_empty() {
        // What the reproduce lines refer to stays on disk.
        failures.push(format!(
            "kept for the reproduce lines: {} and {}",
            inputs.keep().display(),
            work_dir.keep().display()
        ));
    }
    Ok(GlobalPreload { figures, failures })
}

/// Where two outputs first differ, briefly.
fn first_difference(expected: &str, seen: &str) -> String {
    let mut line = 1;
    for (a, b) in expected.lines().zip(seen.lines()) {
        if a != b {
            return format!("line {line}: expected {a:?}, seen {b:?}");
        }
        line += 1;
    }
    format!(
        "after line {line}: expected {} lines, seen {}",
        expected.lines().count(),
        seen.lines().count()
    )
}
