//! Stress: every allocator (glibc alone, jemalloc, mimalloc, tcmalloc, and any
//! added with `MEMPROXY_HARNESS_ALLOCATORS`) on both routes, excluded (the
//! config lists the fixture: glibc serves it) and not excluded (the
//! allocator serves it), under load that crashes, corrupts or deadlocks a
//! dispatcher that is not thread-, fork- or loader-safe. The fixtures are in
//! `fixtures/c/stress/`; each prints one line of `key=value` counts, which
//! the tests check, and ends by asking the allocators (never memproxy) who
//! served a block, which must be the route's allocator.
//!
//! Every run has a timeout (a deadlock fails the test instead of hanging the
//! suite), kills its whole process group on the way out (forked children
//! included), and runs with `MEMPROXY_DEBUG=0`, under which stderr must stay
//! empty. Run with `--nocapture` to see the figures (operations per
//! allocator and route) that the README quotes.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use harness::allocators::{self, Allocator, Owner, Selection};
use test_support::artifacts::Artifacts;

/// Each run takes well under a second; anything near this is a deadlock.
const TIMEOUT: Duration = Duration::from_secs(30);

fn selection() -> &'static Selection {
    static SELECTION: OnceLock<Result<Selection, String>> = OnceLock::new();
    match SELECTION.get_or_init(allocators::select_from_env) {
        Ok(selection) => selection,
        Err(error) => panic!("{error}"),
    }
}

fn fixture(name: &str) -> PathBuf {
    Artifacts::shared().fixture(name)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// The config lists the fixture: glibc must serve it.
    Excluded,
    /// The config lists something else: the allocator must serve it.
    NotExcluded,
}

impl Route {
    const BOTH: [Route; 2] = [Route::Excluded, Route::NotExcluded];

    fn label(self) -> &'static str {
        match self {
            Route::Excluded => "excluded",
            Route::NotExcluded => "not excluded",
        }
    }
}

/// The owner the fixture's last line must name, as the oracle spells it.
fn expected_owner(allocator: &Allocator, route: Route) -> &'static str {
    if allocator.path.is_none() || route == Route::Excluded {
        Owner::Glibc.label()
    } else if allocator.owner == Owner::Unclaimed {
        "none"
    } else {
        allocator.owner.label()
    }
}

/// One finished fixture run.
struct Finished {
    command: String,
    status: Option<ExitStatus>,
    timed_out: bool,
    elapsed: Duration,
    stdout: String,
    stderr: String,
    fields: BTreeMap<String, String>,
}

impl Finished {
    fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key}= in the output\n{}", self.describe()))
    }

    fn number(&self, key: &str) -> u64 {
        let text = self.get(key);
        text.parse()
            .unwrap_or_else(|_| panic!("{key}={text} is not a count\n{}", self.describe()))
    }

    fn describe(&self) -> String {
        format!(
            "  command: {}\n  status: {:?} (timed out: {}, {:.2?})\n  stdout: {}\n  stderr: {}",
            self.command,
            self.status,
            self.timed_out,
            self.elapsed,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }

    /// Exited 0 in time, with nothing on stderr under `MEMPROXY_DEBUG=0`.
    fn assert_clean(&self) {
        assert!(
            !self.timed_out,
            "deadlock: no exit in {TIMEOUT:?}\n{}",
            self.describe()
        );
        assert!(
            self.status.is_some_and(|status| status.success()),
            "the fixture failed\n{}",
            self.describe()
        );
        assert!(
            self.stderr.is_empty(),
            "stderr must be empty under MEMPROXY_DEBUG=0\n{}",
            self.describe()
        );
    }

    fn assert_eq(&self, key: &str, expected: u64) {
        assert_eq!(self.number(key), expected, "{key}\n{}", self.describe());
    }

    fn assert_positive(&self, key: &str) {
        assert!(
            self.number(key) > 0,
            "{key} must be > 0\n{}",
            self.describe()
        );
    }
}

/// A fixture started under memproxy, the allocator and `extra_preload`
/// (in that order), with a config that lists it or not.
struct Launch<'a> {
    program: &'a Path,
    args: &'a [&'a str],
    allocator: &'a Allocator,
    route: Route,
    extra_preload: Option<&'a Path>,
    env: &'a [(&'a str, &'a str)],
    debug: &'a str,
}

impl Launch<'_> {
    fn run(&self) -> Finished {
        let dir = tempfile::Builder::new()
            .prefix("memproxy-stress-")
            .tempdir()
            .expect("temporary directory");
        let name = self
            .program
            .file_name()
            .and_then(|name| name.to_str())
            .expect("fixture names are UTF-8");
        let config = dir.path().join("memproxy.conf");
        let listed = match self.route {
            Route::Excluded => name,
            Route::NotExcluded => "some-other-program",
        };
        std::fs::write(&config, format!("# stress\n{listed}\n")).expect("write the config");

        let mut preload = vec![Artifacts::shared().memproxy.clone()];
        preload.extend(self.allocator.path.clone());
        preload.extend(self.extra_preload.map(Path::to_path_buf));
        let preload = preload
            .iter()
            .map(|path| path.to_str().expect("UTF-8 paths"))
            .collect::<Vec<_>>()
            .join(":");
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("LD_PRELOAD".into(), preload),
            (
                "MEMPROXY_CONF".into(),
                config.to_str().expect("UTF-8 paths").into(),
            ),
            ("MEMPROXY_DEBUG".into(), self.debug.into()),
        ];
        env.extend(
            self.env
                .iter()
                .map(|(name, value)| ((*name).into(), (*value).into())),
        );

        let mut command = Command::new(self.program);
        command
            .args(self.args)
            .env_clear()
            .envs(env.iter().map(|(name, value)| (name, value)))
            .current_dir(dir.path())
            .process_group(0);
        let shown = format!(
            "{} {} {}",
            env.iter()
                .map(|(name, value)| format!("{name}='{value}'"))
                .collect::<Vec<_>>()
                .join(" "),
            self.program.display(),
            self.args.join(" ")
        );
        let started = Instant::now();
        let (status, timed_out, stdout, stderr) = execute_group(command, TIMEOUT);
        let fields = stdout
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        Finished {
            command: format!("cd {} && {shown}", dir.path().display()),
            status,
            timed_out,
            elapsed: started.elapsed(),
            stdout,
            stderr,
            fields,
        }
    }
}

/// Runs `command` (which must lead its own process group) with a timeout,
/// then kills the whole group, so that a deadlocked forked child does not
/// outlive the test.
fn execute_group(
    mut command: Command,
    timeout: Duration,
) -> (Option<ExitStatus>, bool, String, String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the fixture");
    let group = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            timed_out = true;
            // SAFETY: signalling the process group this function started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // Forked children that outlived the fixture hold the pipes open.
    // SAFETY: as above; the group is ours and may already be empty.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        timed_out,
        out.join().map(text).unwrap_or_default(),
        err.join().map(text).unwrap_or_default(),
    )
}

/// Figures for the README: one line per allocator and route.
struct Figures {
    title: &'static str,
    rows: Vec<String>,
}

impl Figures {
    fn new(title: &'static str) -> Figures {
        Figures {
            title,
            rows: Vec::new(),
        }
    }

    fn add(&mut self, allocator: &Allocator, route: Route, text: String, elapsed: Duration) {
        self.rows.push(format!(
            "  {:<10} {:<13} {text} ({:.2?})",
            allocator.name,
            route.label(),
            elapsed
        ));
    }

    fn print(&self) {
        println!("{}:\n{}", self.title, self.rows.join("\n"));
    }
}

const THREADS: u64 = 16;
const OPS_PER_THREAD: u64 = 20_000;
const KINDS: [&str; 15] = [
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "strdup",
    "strndup",
    "new",
    "new[]",
    "new_aligned",
    "new_nothrow",
];

/// 16 threads, every malloc-family kind and C++ new form, 8 B .. 1 MiB,
/// a third of all frees and reallocs made by another thread than the one
/// that allocated; every block is filled with its own pattern and checked
/// before it is freed or reallocated; mimalloc's and tcmalloc's pointer
/// queries must claim every block on their route and none on glibc's.
#[test]
fn threads_allocate_every_kind_and_free_across_threads() {
    let program = fixture("stress-threads");
    let (threads, ops) = (THREADS.to_string(), OPS_PER_THREAD.to_string());
    let mut figures = Figures::new("stress-threads (operations, cross-thread frees)");
    for allocator in &selection().allocators {
        for route in Route::BOTH {
            let run = Launch {
                program: &program,
                args: &[&threads, &ops, "1"],
                allocator,
                route,
                extra_preload: None,
                env: &[],
                debug: "0",
            }
            .run();
            run.assert_clean();
            run.assert_eq("ops", THREADS * OPS_PER_THREAD);
            run.assert_eq("problems", 0);
            run.assert_eq("failed", 0);
            run.assert_eq("frees", run.number("allocs"));
            run.assert_positive("cross_frees");
            run.assert_positive("cross_reallocs");
            for kind in KINDS {
                run.assert_positive(&format!("kind.{kind}"));
            }
            let owner = expected_owner(allocator, route);
            assert_eq!(run.get("owner"), owner, "owner\n{}", run.describe());
            let allocs = run.number("allocs");
            for (family, key) in [
                ("mimalloc", "claimed_mimalloc"),
                ("tcmalloc", "claimed_tcmalloc"),
            ] {
                run.assert_eq(key, if owner == family { allocs } else { 0 });
            }
            figures.add(
                allocator,
                route,
                format!(
                    "{} ops, {} blocks, {} cross-thread frees, {} reallocs",
                    run.number("ops"),
                    allocs,
                    run.number("cross_frees"),
                    run.number("reallocs")
                ),
                run.elapsed,
            );
        }
    }
    figures.print();
}

/// 4 threads fork 25 times each while 8 others allocate, reallocate and free
/// without pause: every child frees a block its parent thread made, allocates
/// (also from a new thread), checks, and exits 0 within its alarm; its
/// blocks come from the same heap as the parent's.
#[test]
fn forks_from_threads_while_others_allocate() {
    let program = fixture("stress-fork");
    let mut figures = Figures::new("stress-fork (forks while allocating)");
    for allocator in &selection().allocators {
        for route in Route::BOTH {
            let run = Launch {
                program: &program,
                args: &["8", "4", "25", "1"],
                allocator,
                route,
                extra_preload: None,
                env: &[],
                debug: "0",
            }
            .run();
            run.assert_clean();
            run.assert_eq("forks", 100);
            run.assert_eq("children_ok", 100);
            run.assert_eq("children_failed", 0);
            run.assert_eq("problems", 0);
            run.assert_positive("worker_ops");
            let owner = expected_owner(allocator, route);
            assert_eq!(run.get("owner"), owner, "owner\n{}", run.describe());
            let claims = if owner == "mimalloc" || owner == "tcmalloc" {
                owner
            } else {
                "none"
            };
            assert_eq!(
                run.get("pointer_claims"),
                claims,
                "pointer claims\n{}",
                run.describe()
            );
            figures.add(
                allocator,
                route,
                format!(
                    "{} children ok, {} worker ops meanwhile",
                    run.number("children_ok"),
                    run.number("worker_ops")
                ),
                run.elapsed,
            );
        }
    }
    figures.print();
}

/// 16 threads dlopen and dlclose two libraries with thread-local storage
/// (one global-dynamic with a 64 KiB array, whose blocks `__tls_get_addr`
/// allocates with malloc and glibc frees at thread exit or on reuse; one
/// initial-exec) 300 times each, touching and checking their TLS, and start
/// short-lived threads that use it.
#[test]
fn dlopen_and_dlclose_of_tls_libraries_from_many_threads() {
    let program = fixture("stress-tls");
    // The libraries are found through the program's $ORIGIN run path.
    for library in ["libstress-tls-gd.so", "libstress-tls-ie.so"] {
        assert_eq!(
            fixture(library).parent(),
            program.parent(),
            "{library} must sit next to stress-tls"
        );
    }
    let (threads, rounds) = (16u64, 300u64);
    let mut figures = Figures::new("stress-tls (dlopen+dlclose pairs, TLS touches)");
    for allocator in &selection().allocators {
        for route in Route::BOTH {
            let run = Launch {
                program: &program,
                args: &[&threads.to_string(), &rounds.to_string(), "1"],
                allocator,
                route,
                extra_preload: None,
                env: &[],
                debug: "0",
            }
            .run();
            run.assert_clean();
            run.assert_eq("dlopens", 2 * threads * rounds);
            run.assert_eq("dlcloses", 2 * threads * rounds);
            run.assert_eq("short_lived_threads", threads * rounds.div_ceil(4));
            run.assert_eq("problems", 0);
            run.assert_positive("touches");
            assert_eq!(
                run.get("owner"),
                expected_owner(allocator, route),
                "owner\n{}",
                run.describe()
            );
            figures.add(
                allocator,
                route,
                format!(
                    "{} dlopens, {} TLS touches, {} short-lived threads",
                    run.number("dlopens"),
                    run.number("touches"),
                    run.number("short_lived_threads")
                ),
                run.elapsed,
            );
        }
    }
    figures.print();
}

/// Quick runs of the first-allocation race per allocator and route, on top of
/// one full run each: 25 x 4 allocators x 2 routes = 200 starts.
const EARLY_REPETITIONS: usize = 25;

/// The first allocation of the process raced by threads (see
/// `fixtures/c/stress/early.c` for how the race is made). libstress-early.so
/// is preloaded after memproxy and the allocator; the program calls it from
/// DT_PREINIT_ARRAY, before any constructor, so its `malloc` is the one that
/// makes memproxy decide, with a 50 µs timer armed. When the timer interrupts
/// the decision inside memproxy's code, the signal handler allocates (the
/// decider re-entering) and starts 4 threads that allocate at once, while the
/// decision is still in progress; 8 more threads start in the library's
/// constructor and 4 in the program's, racing the constructors still to run.
///
/// Every run must exit cleanly with no corrupted block and no NULL from any
/// allocation, on the route's allocator. Over the repetitions of each
/// allocator and route, the window must have been hit (the handler acted
/// during the decision) and some blocks must have come from memproxy's
/// bootstrap region (they lie in its writable segment), or the test did not
/// test the race.
#[test]
fn the_first_allocation_raced_by_threads() {
    let program = fixture("stress-early");
    let library = fixture("libstress-early.so");
    let mut figures = Figures::new("stress-early (first allocation raced)");
    for allocator in &selection().allocators {
        for route in Route::BOTH {
            let mut hits = 0;
            let mut bootstrap_blocks = 0;
            let mut full = None;
            for repetition in 0..=EARLY_REPETITIONS {
                let quick = [("STRESS_EARLY_OPS", "300")];
                let run = Launch {
                    program: &program,
                    args: &[],
                    allocator,
                    route,
                    extra_preload: Some(&library),
                    env: if repetition == 0 { &[] } else { &quick },
                    debug: "0",
                }
                .run();
                run.assert_clean();
                run.assert_eq("problems", 0);
                run.assert_eq("null_results", 0);
                run.assert_eq("frees", run.number("allocs"));
                run.assert_eq("program_threads", 4);
                let hit = run.number("window_hit");
                run.assert_eq("racers", 4 * hit);
                run.assert_eq("threads", 12 + 4 * hit);
                assert_eq!(
                    run.get("owner"),
                    expected_owner(allocator, route),
                    "owner\n{}",
                    run.describe()
                );
                hits += hit;
                bootstrap_blocks += run.number("bootstrap_blocks");
                if repetition == 0 {
                    full = Some(run);
                }
            }
            let full = full.expect("the full run");
            assert!(
                hits > 0 && bootstrap_blocks > 0,
                "{} {}: the race window was never hit in {} runs ({hits} hits, {bootstrap_blocks} \
                 bootstrap blocks); the test no longer tests the race\n{}",
                allocator.name,
                route.label(),
                EARLY_REPETITIONS + 1,
                full.describe()
            );
            figures.add(
                allocator,
                route,
                format!(
                    "{} ops + {} program ops in the full run; window hit in {hits}/{} runs, \
                     {bootstrap_blocks} bootstrap blocks",
                    full.number("ops"),
                    full.number("program_ops"),
                    EARLY_REPETITIONS + 1
                ),
                full.elapsed,
            );
        }
    }
    figures.print();
}

/// The stderr checks above are not vacuous: the same fixture under
/// `MEMPROXY_DEBUG=1` prints memproxy's one line, naming the route.
#[test]
fn debug_output_would_be_seen() {
    let allocator = selection()
        .allocators
        .iter()
        .find(|allocator| allocator.path.is_some())
        .unwrap_or_else(|| panic!("no custom allocator selected"));
    for (route, expected) in [
        (Route::Excluded, "route=glibc reason=excluded"),
        (Route::NotExcluded, "route=custom reason=not-excluded"),
    ] {
        let run = Launch {
            program: &fixture("stress-threads"),
            args: &["2", "100", "1"],
            allocator,
            route,
            extra_preload: None,
            env: &[],
            debug: "1",
        }
        .run();
        assert!(
            run.status.is_some_and(|status| status.success()),
            "{}",
            run.describe()
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.describe());
        assert!(run.stderr.contains(expected), "{}", run.describe());
    }
}

/// A fork while the decision is in progress leaves the child to redo the
/// decision. A fork inside the decision's `dl_iterate_phdr` walk leaves the
/// child with glibc's `dl_load_write_lock` held by a thread it does not have
/// (glibc's fork resets only `dl_load_lock` and `dl_load_tls_lock`), so the
/// child redoes its walk over ld.so's link map without the lock.
/// `STRESS_EARLY_FORK=1` makes stress-early fork from its timer handler
/// exactly there (glibc alone, whose decision is short, so the handler acts
/// in a few runs out of a hundred).
#[test]
fn a_fork_during_the_decision_never_deadlocks_the_child() {
    let program = fixture("stress-early");
    let library = fixture("libstress-early.so");
    let glibc = Allocator::glibc();
    let mut hits = 0;
    for repetition in 0..300 {
        let run = Launch {
            program: &program,
            args: &[],
            allocator: &glibc,
            route: Route::NotExcluded,
            extra_preload: Some(&library),
            env: &[("STRESS_EARLY_FORK", "1"), ("STRESS_EARLY_OPS", "300")],
            debug: "0",
        }
        .run();
        assert!(
            !run.timed_out,
            "run {repetition} deadlocked\n{}",
            run.describe()
        );
        run.assert_clean();
        if run.number("window_hit") == 1 {
            hits += 1;
            run.assert_eq("window_child_ok", 1);
        }
    }
    assert!(
        hits > 0,
        "no fork landed inside dl_iterate_phdr in 300 runs"
    );
}
