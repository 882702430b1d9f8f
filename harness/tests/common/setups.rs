//! The wrong and partial set-ups' shared parts: a scene (a directory and
//! its exclusion list) in which probe-c and the set-up fixtures run under a
//! given preload, and the checks on what they did. Ownership is asked of
//! the allocators (probe-c and the ownership oracle), as everywhere in the
//! suite; `MEMPROXY_DEBUG` is checked only for what it claims.

use std::path::{Path, PathBuf};

use harness::allocators::{self, Allocator, Owner};
use harness::probe::{Output, Seen};
use harness::run;
use test_support::artifacts::Probe;
use test_support::{Artifacts, DebugLine, Dir, Process, Ran, path_str};

/// The linker script Debian installs as `libc.so` (libc6-dev).
pub const LIBC_LINKER_SCRIPT: &str = memproxy_common::multiarch::LIBC_LINKER_SCRIPT;

/// What `glibc.rtld.optional_static_tls` is raised to where an allocator
/// cannot load under `LD_AUDIT` otherwise.
pub const STATIC_TLS_TUNABLE: &str = "glibc.rtld.optional_static_tls=4096";

/// The selected custom allocators (every one but glibc); those left out on
/// purpose are said aloud.
pub fn customs() -> Vec<&'static Allocator> {
    allocators::selected().customs()
}

pub fn probe_c() -> &'static Probe {
    Artifacts::shared().probe("probe-c")
}

/// A set-up fixture from `fixtures/c/setups/`.
pub fn fixture(name: &str) -> PathBuf {
    Artifacts::shared().fixture(name)
}

/// Every probe-c kind except those named.
pub fn kinds_except(left_out: &[&str]) -> String {
    probe_c()
        .kinds
        .iter()
        .filter(|kind| !left_out.contains(&kind.as_str()))
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
}

/// A test's own directory and exclusion list, kept if the test fails (its
/// runs' reproduce lines name it).
pub struct Scene {
    dir: Option<Dir>,
}

impl Drop for Scene {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.take().map(Dir::keep);
        }
    }
}

impl Scene {
    pub fn new(config: &str) -> Scene {
        let dir = Dir::new("setup-");
        dir.config(config);
        Scene { dir: Some(dir) }
    }

    pub fn path(&self) -> &Path {
        self.dir().path()
    }

    pub fn dir(&self) -> &Dir {
        self.dir
            .as_ref()
            .expect("a scene has its directory until dropped")
    }

    /// `argv` in the scene: a fixed locale, time zone and `HOME`, the
    /// scene's config, the oracle's tunable, `LD_PRELOAD=preload` when not
    /// empty, and `extra` last; no core files (some runs crash on purpose).
    pub fn process(
        &self,
        argv: &[String],
        preload: &str,
        debug: bool,
        extra: &[(&str, &str)],
    ) -> Process {
        let mut process = Process::argv(argv)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("HOME", self.path())
            .env("GLIBC_TUNABLES", run::TUNABLES)
            .config(self.dir().join("memproxy.conf"))
            .debug(debug)
            .current_dir(self.path())
            .no_core_files();
        if !preload.is_empty() {
            process = process.preload([preload]);
        }
        process.envs(extra.iter().copied())
    }

    /// probe-c with `kinds` (all when empty) under `LD_PRELOAD=preload`.
    pub fn probe(&self, preload: &str, kinds: &str, debug: bool, extra: &[(&str, &str)]) -> Ran {
        let mut argv = vec![path_str(&probe_c().path)];
        if !kinds.is_empty() {
            argv.extend(["--kinds".to_owned(), kinds.to_owned()]);
        }
        self.run(&argv, preload, debug, extra)
    }

    /// `argv` under `LD_PRELOAD=preload`.
    pub fn run(&self, argv: &[String], preload: &str, debug: bool, extra: &[(&str, &str)]) -> Ran {
        self.process(argv, preload, debug, extra).run()
    }

    /// `argv` with `/etc/ld.so.preload` holding `contents`, in a private
    /// mount namespace; `None` when that is impossible here and allowed.
    pub fn run_etc(&self, contents: &str, argv: &[String], debug: bool) -> Option<Ran> {
        self.process(argv, "", debug, &[])
            .etc_preload(contents)
            .run_unless_not_allowed()
    }
}

/// The probe finished, made every kind of `kinds` (all when empty), and
/// `owner` served each of them.
#[track_caller]
pub fn assert_owned(ran: &Ran, kinds: &str, owner: Owner) {
    assert!(ran.succeeded(), "the probe failed: {}", ran.describe());
    let output = Output::parse(&ran.stdout);
    let expected: Vec<String> = if kinds.is_empty() {
        probe_c().kinds.clone()
    } else {
        kinds.split(',').map(str::to_owned).collect()
    };
    assert!(output.end.is_some(), "no end record: {}", ran.describe());
    for kind in &expected {
        assert_eq!(
            output.seen(kind),
            Seen::Owner(owner),
            "{kind}: expected {owner}\n{}",
            ran.describe()
        );
    }
    assert_eq!(
        output.allocations.len(),
        expected.len(),
        "{}",
        ran.describe()
    );
}

/// The only debug line, with its route and reason.
#[track_caller]
pub fn assert_one_debug_line(ran: &Ran, route: &str, reason: &str) -> DebugLine {
    let line = ran.one_debug_line();
    assert_eq!(
        (line.route(), line.reason()),
        (route, reason),
        "{}",
        ran.describe()
    );
    line
}

/// ld.so's line for a preload entry it could not load.
pub fn ld_so_refusal(entry: &str, source: &str, why: &str) -> String {
    format!("ERROR: ld.so: object '{entry}' from {source} cannot be preloaded ({why}): ignored.\n")
}
