//! Wrong and partial set-ups: each has a documented outcome (the doc comment
//! of its test), and memproxy is never the cause of a crash. Where the
//! platform makes a crash unavoidable, the test shows the same crash without
//! memproxy.
//!
//! Ownership is asked of the allocators (probe-c and the ownership oracle),
//! as everywhere in the suite; `MEMPROXY_DEBUG` is checked only for what it
//! claims.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use harness::allocators::{self, Allocator, Owner, Selection};
use harness::probe::{Output, Seen};
use harness::programs::{self, DebugLine, Ran};
use harness::run::{self, NotRun};
use test_support::artifacts::Artifacts;

/// As in `tests/routing.rs`: lets users without root or user namespaces
/// report the `/etc/ld.so.preload` set-ups as not run. CI runs as root.
const ALLOW_NOT_RUN: &str = "MEMPROXY_HARNESS_ALLOW_NOT_RUN";

/// The linker script Debian installs as `libc.so` (libc6-dev).
const LIBC_LINKER_SCRIPT: &str = "/usr/lib/x86_64-linux-gnu/libc.so";

/// What `glibc.rtld.optional_static_tls` is raised to where an allocator
/// cannot load under `LD_AUDIT` otherwise.
const STATIC_TLS_TUNABLE: &str = "glibc.rtld.optional_static_tls=4096";

fn selection() -> &'static Selection {
    static SELECTION: OnceLock<Result<Selection, String>> = OnceLock::new();
    match SELECTION.get_or_init(allocators::select_from_env) {
        Ok(selection) => selection,
        Err(error) => panic!("{error}"),
    }
}

/// The selected custom allocators (every one but glibc).
fn customs() -> Vec<&'static Allocator> {
    let customs: Vec<_> = selection()
        .allocators
        .iter()
        .filter(|allocator| allocator.path.is_some())
        .collect();
    for (name, why) in &selection().narrowed_out {
        println!("NOT RUN {name}: {why}");
    }
    customs
}

/// A built-in allocator by name; `None` (said aloud) when the run was
/// narrowed on purpose to leave it out.
fn built_in(name: &str) -> Option<&'static Allocator> {
    let selection = selection();
    if let Some(allocator) = selection
        .allocators
        .iter()
        .find(|allocator| allocator.name == name && !allocator.added)
    {
        return Some(allocator);
    }
    match selection.narrowed_out.iter().find(|(left, _)| left == name) {
        Some((_, why)) => {
            println!("NOT RUN with {name}: {why}");
            None
        }
        None => panic!("allocator {name} is neither selected nor narrowed out"),
    }
}

fn memproxy() -> String {
    Artifacts::shared().memproxy.display().to_string()
}

fn path_of(allocator: &Allocator) -> String {
    allocator
        .path
        .as_ref()
        .expect("a custom allocator")
        .display()
        .to_string()
}

fn probe_c() -> &'static test_support::artifacts::Probe {
    Artifacts::shared()
        .probes
        .iter()
        .find(|probe| probe.name == "probe-c")
        .expect("probe-c is an artifact")
}

/// A set-up fixture from `fixtures/c/setups/`.
fn fixture(name: &str) -> PathBuf {
    programs::fixture(Artifacts::shared(), name).unwrap_or_else(|error| panic!("{error}"))
}

/// Every probe-c kind except those named.
fn kinds_except(left_out: &[&str]) -> String {
    probe_c()
        .kinds
        .iter()
        .filter(|kind| !left_out.contains(&kind.as_str()))
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
}

/// A test's own directory and exclusion list.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new(config: &str) -> Scene {
        let dir = tempfile::Builder::new()
            .prefix("memproxy-setup-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::write(dir.path().join("memproxy.conf"), config).expect("the config");
        Scene { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment of a run: the config, the oracle's tunable, and
    /// `LD_PRELOAD` when not empty.
    fn env(&self, preload: &str, debug: bool, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = programs::base_env(self.path());
        env.push(("GLIBC_TUNABLES".into(), run::TUNABLES.into()));
        env.push((
            "MEMPROXY_CONF".into(),
            self.path().join("memproxy.conf").display().to_string(),
        ));
        if !preload.is_empty() {
            env.push(("LD_PRELOAD".into(), preload.into()));
        }
        if debug {
            env.push(("MEMPROXY_DEBUG".into(), "1".into()));
        }
        for (name, value) in extra {
            env.retain(|(existing, _)| existing != name);
            env.push(((*name).into(), (*value).into()));
        }
        env
    }

    /// probe-c with `kinds` (all when empty) under `LD_PRELOAD=preload`.
    fn probe(&self, preload: &str, kinds: &str, debug: bool, extra: &[(&str, &str)]) -> Ran {
        let mut argv = vec![probe_c().path.display().to_string()];
        if !kinds.is_empty() {
            argv.extend(["--kinds".to_owned(), kinds.to_owned()]);
        }
        programs::launch(&argv, &self.env(preload, debug, extra), self.path())
    }

    /// `argv` under `LD_PRELOAD=preload`.
    fn run(&self, argv: &[String], preload: &str, debug: bool, extra: &[(&str, &str)]) -> Ran {
        programs::launch(argv, &self.env(preload, debug, extra), self.path())
    }

    /// `argv` with `/etc/ld.so.preload` holding `contents`, in a private
    /// mount namespace; `None` when that is impossible here and allowed.
    fn run_etc(&self, contents: &str, argv: &[String], debug: bool) -> Option<Ran> {
        let scratch = tempfile::tempdir_in(self.path()).expect("a scratch directory");
        let mut wrapped = match run::with_etc_preload(contents, scratch.path()) {
            Ok(prefix) => prefix,
            Err(NotRun::NoMountNamespace(why)) if std::env::var_os(ALLOW_NOT_RUN).is_some() => {
                println!("NOT RUN: needs a private mount namespace ({why})");
                return None;
            }
            Err(error) => panic!("{error}; run as root, or set {ALLOW_NOT_RUN}=1"),
        };
        wrapped.extend(argv.iter().cloned());
        Some(self.run(&wrapped, "", debug, &[]))
    }
}

/// The probe finished, made every kind of `kinds` (all when empty), and
/// `owner` served each of them.
#[track_caller]
fn assert_owned(ran: &Ran, kinds: &str, owner: Owner) {
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
fn assert_one_debug_line(ran: &Ran, route: &str, reason: &str) -> DebugLine {
    let lines = ran.debug_lines();
    assert_eq!(
        lines.len(),
        1,
        "one debug line expected: {}",
        ran.describe()
    );
    let line = lines.into_iter().next().expect("one line");
    assert_eq!(
        (line.route(), line.reason()),
        (route, reason),
        "{}",
        line.text
    );
    line
}

/// ld.so's line for a preload entry it could not load.
fn ld_so_refusal(entry: &str, source: &str, why: &str) -> String {
    format!("ERROR: ld.so: object '{entry}' from {source} cannot be preloaded ({why}): ignored.\n")
}

/// **Allocator file missing** (`LD_PRELOAD=libmemproxy.so:/nonexistent/libfoo.so`):
/// ld.so prints its own `cannot be preloaded (cannot open shared object
/// file): ignored.` line and starts the program without it; memproxy finds
/// no custom allocator, so glibc serves every allocation (the probe's
/// oracle says so) and memproxy adds nothing to stderr. With
/// `MEMPROXY_DEBUG=1` it says `route=glibc reason=no-custom-allocator`.
#[test]
fn a_missing_allocator_file_leaves_the_program_on_glibc() {
    let scene = Scene::new("");
    let missing = "/nonexistent/libfoo.so";
    let preload = format!("{}:{missing}", memproxy());
    let refusal = ld_so_refusal(missing, "LD_PRELOAD", "cannot open shared object file");

    let ran = scene.probe(&preload, "", false, &[]);
    assert_owned(&ran, "", Owner::Glibc);
    assert_eq!(ran.stderr, refusal, "{}", ran.describe());

    let ran = scene.probe(&preload, "malloc_small", true, &[]);
    assert_owned(&ran, "malloc_small", Owner::Glibc);
    assert_eq!(ran.stderr_without_debug(), refusal, "{}", ran.describe());
    let line = assert_one_debug_line(&ran, "glibc", "no-custom-allocator");
    assert!(
        programs::same_file(
            Path::new(line.get("allocator").unwrap_or_default()),
            Path::new(run::LIBC)
        ),
        "{}",
        line.text
    );
}

/// **memproxy not first** (`LD_PRELOAD=ALLOCATOR:libmemproxy.so`): the
/// allocator's `malloc` wins symbol resolution, so it serves every C and
/// C++ allocation, even of a program the exclusion list names;
/// `MEMPROXY_DEBUG` says `route=custom reason=not-first first="ALLOCATOR"`.
#[test]
fn an_allocator_before_memproxy_serves_everything_and_memproxy_says_so() {
    let scene = Scene::new("probe-c\n");
    for allocator in customs() {
        let preload = format!("{}:{}", path_of(allocator), memproxy());
        let ran = scene.probe(&preload, "", false, &[]);
        assert_owned(&ran, "", allocator.owner);
        assert_eq!(ran.stderr, "", "{}", ran.describe());

        let ran = scene.probe(&preload, "cxx_new", true, &[]);
        let line = assert_one_debug_line(&ran, "custom", "not-first");
        assert_eq!(
            line.get("first"),
            Some(path_of(allocator).as_str()),
            "{}",
            line.text
        );
        assert_eq!(
            line.get("allocator"),
            Some(path_of(allocator).as_str()),
            "{}",
            line.text
        );
    }
}

/// **jemalloc first, `pvalloc` and C++** (`LD_PRELOAD=libjemalloc.so.2:libmemproxy.so`):
/// jemalloc exports no `pvalloc`, so the call reaches memproxy, which builds
/// it from jemalloc's `memalign`; `pvalloc`+`free` and every C++ `new` form
/// work and are jemalloc's. Without memproxy
/// (`LD_PRELOAD=libjemalloc.so.2` alone), glibc's `pvalloc` serves the call
/// and jemalloc's `free` crashes on the foreign block (SIGSEGV on Debian 12):
/// a platform crash that memproxy removes.
#[test]
fn with_jemalloc_first_pvalloc_works_only_through_memproxy() {
    let Some(jemalloc) = built_in("jemalloc") else {
        return;
    };
    let scene = Scene::new("");
    let kinds = "pvalloc,cxx_new,cxx_new_array,cxx_new_aligned,cxx_new_nothrow";
    let preload = format!("{}:{}", path_of(jemalloc), memproxy());
    let ran = scene.probe(&preload, kinds, false, &[]);
    assert_owned(&ran, kinds, Owner::Jemalloc);
    assert_eq!(ran.stderr, "", "{}", ran.describe());

    let alone = scene.probe(&path_of(jemalloc), "pvalloc", false, &[]);
    assert!(
        alone.signal().is_some(),
        "pvalloc+free under jemalloc alone was expected to crash (the platform \
         limitation memproxy works around): {}",
        alone.describe()
    );
    assert_eq!(Output::parse(&alone.stdout).seen("pvalloc"), Seen::Missing);
    // The crash is pvalloc's: the C++ forms work under jemalloc alone.
    let cxx = "cxx_new,cxx_new_array,cxx_new_aligned,cxx_new_nothrow";
    assert_owned(
        &scene.probe(&path_of(jemalloc), cxx, false, &[]),
        cxx,
        Owner::Jemalloc,
    );
}

/// **Two custom allocators** (`LD_PRELOAD=libmemproxy.so:FIRST:SECOND`):
/// the first one after memproxy serves every allocation, the second is
/// loaded but unused; an excluded program gets glibc. `MEMPROXY_DEBUG`
/// names the first as `allocator=`.
#[test]
fn with_two_allocators_the_first_serves() {
    let customs = customs();
    if customs.len() < 2 {
        let names: Vec<&str> = customs
            .iter()
            .map(|allocator| allocator.name.as_str())
            .collect();
        println!("NOT RUN: needs two custom allocators; the run was narrowed to {names:?}");
        return;
    }
    let plain = Scene::new("");
    let excluded = Scene::new("probe-c\n");
    for first in &customs {
        for second in customs.iter().filter(|second| second.name != first.name) {
            let preload = format!("{}:{}:{}", memproxy(), path_of(first), path_of(second));
            assert_owned(&plain.probe(&preload, "", false, &[]), "", first.owner);
            assert_owned(&excluded.probe(&preload, "", false, &[]), "", Owner::Glibc);
            let ran = plain.probe(&preload, "malloc_small", true, &[]);
            let line = assert_one_debug_line(&ran, "custom", "not-excluded");
            assert_eq!(
                line.get("allocator"),
                Some(path_of(first).as_str()),
                "{}",
                line.text
            );
        }
    }
}

/// **memproxy preloaded twice** (`LD_PRELOAD=libmemproxy.so:COPY:ALLOCATOR`,
/// COPY a copy of the library under another path): the first copy serves,
/// routes are as usual (the allocator, or glibc for an excluded program).
/// Both copies decide and, with `MEMPROXY_DEBUG=1`, print a line each, from
/// the same process; the second copy's line ends with
/// `duplicate-of="FIRST COPY"`. The same path listed twice is loaded once
/// by ld.so: one line.
#[test]
fn memproxy_preloaded_twice_routes_as_usual() {
    let plain = Scene::new("");
    let excluded = Scene::new("probe-c\n");
    let copy = plain.path().join("libmemproxy-copy.so");
    std::fs::copy(&Artifacts::shared().memproxy, &copy).expect("a copy of libmemproxy.so");
    let copy = copy.display().to_string();
    for allocator in &selection().allocators {
        let (tail, owner) = match &allocator.path {
            Some(path) => (format!(":{}", path.display()), allocator.owner),
            None => (String::new(), Owner::Glibc),
        };
        let preload = format!("{}:{copy}{tail}", memproxy());
        assert_owned(&plain.probe(&preload, "", false, &[]), "", owner);
        assert_owned(&excluded.probe(&preload, "", false, &[]), "", Owner::Glibc);

        let ran = excluded.probe(&preload, "malloc_small", true, &[]);
        assert_owned(&ran, "malloc_small", Owner::Glibc);
        let lines = ran.debug_lines();
        assert_eq!(lines.len(), 2, "a line per copy: {}", ran.describe());
        assert!(
            lines.iter().all(|line| line.pid == lines[0].pid),
            "{}",
            ran.stderr
        );
        let duplicates: Vec<Option<&str>> =
            lines.iter().map(|line| line.get("duplicate-of")).collect();
        assert!(
            duplicates.contains(&None) && duplicates.contains(&Some(memproxy().as_str())),
            "one line plain, one with duplicate-of=\"{}\": {}",
            memproxy(),
            ran.stderr
        );
        let expected_reason = if allocator.path.is_some() {
            "excluded"
        } else {
            "no-custom-allocator"
        };
        for line in &lines {
            assert_eq!(
                (line.route(), line.reason()),
                ("glibc", expected_reason),
                "{}",
                line.text
            );
        }

        let same_twice = format!("{0}:{0}{tail}", memproxy());
        let ran = plain.probe(&same_twice, "malloc_small", true, &[]);
        assert_owned(&ran, "malloc_small", owner);
        let line = assert_one_debug_line(
            &ran,
            if allocator.path.is_some() {
                "custom"
            } else {
                "glibc"
            },
            if allocator.path.is_some() {
                "not-excluded"
            } else {
                "no-custom-allocator"
            },
        );
        assert_eq!(line.get("duplicate-of"), None, "{}", line.text);
    }
}

/// **A statically linked program** (`gcc -static`): no ld.so runs, so
/// neither `LD_PRELOAD` nor `/etc/ld.so.preload` loads anything into it.
/// It runs normally with its own built-in malloc, same output, and nothing
/// is printed, even with `MEMPROXY_DEBUG=1`.
#[test]
fn a_static_program_is_untouched() {
    // memproxy and the first custom allocator (memproxy alone if the run
    // was narrowed to glibc).
    let preload: Vec<String> = std::iter::once(memproxy())
        .chain(customs().first().map(|allocator| path_of(allocator)))
        .collect();
    let scene = Scene::new("");
    let program = vec![fixture("setup-static").display().to_string()];
    let baseline = scene.run(&program, "", false, &[]);
    assert!(baseline.succeeded(), "{}", baseline.describe());
    assert!(
        baseline.stdout.starts_with("setup-static: sum="),
        "{}",
        baseline.describe()
    );

    let ran = scene.run(&program, &preload.join(":"), true, &[]);
    assert!(ran.succeeded(), "{}", ran.describe());
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        (baseline.stdout.as_str(), "")
    );

    if let Some(ran) = scene.run_etc(&(preload.join("\n") + "\n"), &program, true) {
        assert!(ran.succeeded(), "{}", ran.describe());
        assert_eq!(
            (ran.stdout.as_str(), ran.stderr.as_str()),
            (baseline.stdout.as_str(), "")
        );
    }
}

/// The lines `setup-deepbind PLUGIN owners [plain]` prints.
fn owners_line(program: Owner, plugin: Owner) -> String {
    format!("program: {program}\nplugin: {plugin}\n")
}

/// **A plugin dlopened with `RTLD_DEEPBIND`** that calls malloc/free:
/// DEEPBIND puts the plugin's own dependencies (libc) before the global
/// scope for the plugin's lookups, so the plugin's malloc/free are glibc's
/// while the program's are the allocator's: two heaps in one process, with
/// memproxy or without it. A block crossing the boundary kills the process
/// (SIGSEGV, SIGBUS or SIGABRT, depending on the allocator, the direction
/// and where the block landed) as with `LD_PRELOAD=ALLOCATOR` alone: a
/// platform limitation, not memproxy's.
/// Listing the program in the exclusion list avoids it (glibc on both
/// sides; the crossing frees work), as does loading the plugin without
/// `RTLD_DEEPBIND` (the allocator on both sides).
#[test]
fn a_deepbind_plugin_mixes_heaps_with_or_without_memproxy() {
    let plain = Scene::new("");
    let excluded = Scene::new("setup-deepbind\n");
    let program = fixture("setup-deepbind").display().to_string();
    let plugin = fixture("libsetup-deepbind-plugin.so").display().to_string();
    let argv = |mode: &str, deepbind: bool| {
        let mut argv = vec![program.clone(), plugin.clone(), mode.to_owned()];
        if !deepbind {
            argv.push("plain".to_owned());
        }
        argv
    };
    let crossings = ["plugin-to-program", "program-to-plugin"];

    // memproxy alone: glibc on both sides, whatever the binding.
    let ran = plain.run(&argv("owners", true), &memproxy(), false, &[]);
    assert_eq!(
        ran.stdout,
        owners_line(Owner::Glibc, Owner::Glibc),
        "{}",
        ran.describe()
    );
    for mode in crossings {
        let ran = plain.run(&argv(mode, true), &memproxy(), false, &[]);
        assert!(
            ran.succeeded() && ran.stdout == "freed\n",
            "{}",
            ran.describe()
        );
    }

    for allocator in customs() {
        let with = format!("{}:{}", memproxy(), path_of(allocator));
        let without = path_of(allocator);
        for preload in [&with, &without] {
            let ran = plain.run(&argv("owners", true), preload, false, &[]);
            assert_eq!(
                ran.stdout,
                owners_line(allocator.owner, Owner::Glibc),
                "{}",
                ran.describe()
            );
        }
        for mode in crossings {
            let ours = plain.run(&argv(mode, true), &with, false, &[]);
            let platform = plain.run(&argv(mode, true), &without, false, &[]);
            assert!(
                platform.signal().is_some(),
                "{mode} without memproxy was expected to crash: {}",
                platform.describe()
            );
            // The signal itself depends on where the foreign block landed
            // (jemalloc: SIGSEGV, about one run in fifty SIGBUS, with or
            // without memproxy); both must die of the crossing free.
            assert!(
                ours.signal().is_some() && !ours.stdout.contains("freed"),
                "{mode}: memproxy must end as the allocator alone does\n  with: {}\n  without: {}",
                ours.describe(),
                platform.describe()
            );
        }

        // The ways out: exclude the program, or load without DEEPBIND.
        let ran = excluded.run(&argv("owners", true), &with, false, &[]);
        assert_eq!(
            ran.stdout,
            owners_line(Owner::Glibc, Owner::Glibc),
            "{}",
            ran.describe()
        );
        let ran = plain.run(&argv("owners", false), &with, false, &[]);
        assert_eq!(
            ran.stdout,
            owners_line(allocator.owner, allocator.owner),
            "{}",
            ran.describe()
        );
        for mode in crossings {
            for ran in [
                excluded.run(&argv(mode, true), &with, false, &[]),
                plain.run(&argv(mode, false), &with, false, &[]),
            ] {
                assert!(
                    ran.succeeded() && ran.stdout == "freed\n",
                    "{}",
                    ran.describe()
                );
            }
        }
    }
}

/// **`LD_AUDIT` in use** (an audit library exporting only `la_version`, and
/// one that also audits every symbol binding, so that the program's PLT
/// calls go through ld.so's audit trampolines), with
/// `LD_PRELOAD=libmemproxy.so:ALLOCATOR`: routes and ownership are as
/// without auditing (the allocator; glibc for an excluded program), with no
/// crash and nothing on stderr. Exception, from the platform: on Debian 12
/// jemalloc cannot be loaded at all under `LD_AUDIT` ("cannot allocate
/// memory in static TLS block", exit 127), with or without memproxy: with
/// an audit library, ld.so lays out the static TLS block before it loads
/// the preload list, so jemalloc's 2.6 KiB of initial-exec TLS must fit in
/// the surplus, and the default does not hold it.
/// `GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096` makes room, and then
/// jemalloc serves as usual.
#[test]
fn ld_audit_keeps_routes_and_ownership() {
    let plain = Scene::new("");
    let excluded = Scene::new("probe-c\n");
    let roomy_tls = format!("{}:{STATIC_TLS_TUNABLE}", run::TUNABLES);
    for audit in ["libsetup-audit.so", "libsetup-audit-bindings.so"] {
        let audit = fixture(audit).display().to_string();
        let ran = plain.probe(&memproxy(), "", false, &[("LD_AUDIT", &audit)]);
        assert_owned(&ran, "", Owner::Glibc);
        assert_eq!(ran.stderr, "", "{}", ran.describe());

        for allocator in customs() {
            let mut extra = vec![("LD_AUDIT", audit.as_str())];
            // Without memproxy first: can the allocator load under auditing?
            let alone = plain.probe(&path_of(allocator), "malloc_small", false, &extra);
            let with = format!("{}:{}", memproxy(), path_of(allocator));
            if !alone.succeeded() {
                assert!(
                    alone
                        .stderr
                        .contains("cannot allocate memory in static TLS block"),
                    "{} under LD_AUDIT failed otherwise: {}",
                    allocator.name,
                    alone.describe()
                );
                let ours = plain.probe(&with, "malloc_small", false, &extra);
                assert_eq!(
                    (ours.wait_status(), ours.stderr.as_str()),
                    (alone.wait_status(), alone.stderr.as_str()),
                    "memproxy must fail as the allocator alone does: {}",
                    ours.describe()
                );
                println!(
                    "{} cannot load under LD_AUDIT with or without memproxy; retrying with {STATIC_TLS_TUNABLE}",
                    allocator.name
                );
                extra.push(("GLIBC_TUNABLES", roomy_tls.as_str()));
            }
            let ran = plain.probe(&with, "", false, &extra);
            assert_owned(&ran, "", allocator.owner);
            assert_eq!(ran.stderr, "", "{}", ran.describe());
            assert_owned(&excluded.probe(&with, "", false, &extra), "", Owner::Glibc);
            let ran = plain.probe(&with, "malloc_small", true, &extra);
            let line = assert_one_debug_line(&ran, "custom", "not-excluded");
            assert_eq!(
                line.get("allocator"),
                Some(path_of(allocator).as_str()),
                "{}",
                line.text
            );
        }
    }
}

/// **memproxy named without a path** (`LD_PRELOAD=libmemproxy.so:ALLOCATOR`,
/// no `LD_LIBRARY_PATH`, the library not in a system directory): ld.so
/// prints `cannot be preloaded (cannot open shared object file): ignored.`
/// and runs the program with the allocator alone: memproxy is not loaded, so
/// the exclusion list is not applied (the allocator serves a listed
/// program) and `MEMPROXY_DEBUG` prints nothing. (`pvalloc` is left out of
/// the probe: under jemalloc alone it is the platform crash shown above.)
#[test]
fn memproxy_under_a_bare_name_is_not_found_and_the_program_runs() {
    let scene = Scene::new("probe-c\n");
    let bare = Artifacts::shared()
        .memproxy
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let refusal = ld_so_refusal(&bare, "LD_PRELOAD", "cannot open shared object file");
    let kinds = kinds_except(&["pvalloc"]);
    for allocator in customs() {
        let ran = scene.probe(&format!("{bare}:{}", path_of(allocator)), &kinds, true, &[]);
        assert_owned(&ran, &kinds, allocator.owner);
        assert_eq!(ran.stderr, refusal, "{}", ran.describe());
    }
    let ran = scene.probe(&bare, "", true, &[]);
    assert_owned(&ran, "", Owner::Glibc);
    assert_eq!(ran.stderr, refusal, "{}", ran.describe());
}

/// **`/etc/ld.so.preload` listing the `libc.so` linker script** (the seed
/// README's `libmemproxy.so /usr/lib/.../libc.so ALLOCATOR`): ld.so rejects
/// the script with `cannot be preloaded (invalid ELF header): ignored.`, in
/// every dynamically linked process, and loads the other entries: the
/// program runs, the allocator serves it, and the exclusion list still
/// applies (an excluded program gets glibc).
#[test]
fn an_etc_preload_entry_naming_the_libc_linker_script_is_ignored() {
    assert!(
        Path::new(LIBC_LINKER_SCRIPT).is_file(),
        "{LIBC_LINKER_SCRIPT} is missing. Install it with:\n    apt-get install -y libc6-dev"
    );
    let refusal = ld_so_refusal(
        LIBC_LINKER_SCRIPT,
        "/etc/ld.so.preload",
        "invalid ELF header",
    );
    let probe = vec![probe_c().path.display().to_string()];
    for allocator in customs() {
        let contents = format!(
            "{} {LIBC_LINKER_SCRIPT} {}\n",
            memproxy(),
            path_of(allocator)
        );
        for (config, owner) in [("", allocator.owner), ("probe-c\n", Owner::Glibc)] {
            let scene = Scene::new(config);
            let Some(ran) = scene.run_etc(&contents, &probe, false) else {
                return;
            };
            assert_owned(&ran, "", owner);
            assert_eq!(ran.stderr, refusal, "{}", ran.describe());
        }
    }
}
