//! Real programs under a host-wide preload: `/etc/ld.so.preload` (in a
//! private mount namespace) holds memproxy and one allocator, and the
//! exclusion list names every other program. Each program must give the same
//! stdout and exit status as without any preload, with nothing added on
//! stderr; with `MEMPROXY_DEBUG=1`, every process that loaded memproxy must
//! be on the route the list gives it. See `harness::programs`.

use harness::allocators;
use harness::programs;
use harness::run::NotRun;
use test_support::artifacts::Artifacts;

/// Set by users without root or user namespaces to report the test as not
/// run instead of failing (as in `tests/routing.rs`). CI runs as root.
const ALLOW_NOT_RUN: &str = "MEMPROXY_HARNESS_ALLOW_NOT_RUN";

/// Every program of `programs::catalogue` x every allocator (glibc meaning
/// memproxy alone): identical stdout, exit status and stderr, and the
/// exclusion list covers exactly its half.
#[test]
fn real_programs_behave_the_same_under_a_global_preload() {
    let selection = allocators::select_from_env().unwrap_or_else(|error| panic!("{error}"));
    for (name, why) in &selection.narrowed_out {
        println!("NOT RUN {name}: {why}");
    }
    let outcome = match programs::global_preload(Artifacts::shared(), &selection.allocators) {
        Ok(outcome) => outcome,
        Err(NotRun::NoMountNamespace(why)) if std::env::var_os(ALLOW_NOT_RUN).is_some() => {
            println!("NOT RUN: needs a private mount namespace ({why})");
            return;
        }
        Err(error) => panic!("{error}; run as root, or set {ALLOW_NOT_RUN}=1"),
    };
    println!("{}", outcome.figures);
    assert!(
        outcome.failures.is_empty(),
        "{} failure(s):\n{}\n{}",
        outcome.failures.len(),
        outcome.failures.join("\n\n"),
        outcome.figures
    );
    assert!(
        outcome.figures.programs >= 30,
        "{}: fewer than 30 programs ran",
        outcome.figures
    );
    assert!(
        outcome.figures.excluded * 2 >= outcome.figures.programs - 1,
        "{}: the list must exclude half of the programs",
        outcome.figures
    );
}

/// The route check itself: the restated matching rule and the debug-line
/// parser agree with what memproxy prints.
#[test]
fn the_route_check_reads_memproxy_lines() {
    let line = r#"memproxy[42]: route=glibc reason=excluded allocator="/lib/x86_64-linux-gnu/libc.so.6" api="standard" execfn="/usr/bin/a \"b\"\x0a" exe="/usr/bin/dash" config="/c" config-source=env config-state=read match=2 source="exe name""#;
    let parsed = programs::DebugLine::parse(line).expect("a debug line");
    assert_eq!(parsed.pid, 42);
    assert_eq!(parsed.route(), "glibc");
    assert_eq!(parsed.reason(), "excluded");
    assert_eq!(parsed.get("execfn"), Some("/usr/bin/a \"b\"\n"));
    assert_eq!(parsed.get("match"), Some("2"));
    assert_eq!(parsed.get("source"), Some("exe name"));
    assert!(programs::DebugLine::parse("ERROR: ld.so: object").is_none());

    let list = "# comment\n\nsort\n/usr/bin/tar\n";
    assert!(programs::list_excludes(
        list,
        "/usr/bin/sort",
        "/usr/bin/sort"
    ));
    assert!(programs::list_excludes(list, "/bin/tar", "/usr/bin/tar"));
    assert!(!programs::list_excludes(list, "/opt/tar", "/opt/tar"));
    assert!(!programs::list_excludes(list, "/usr/bin/comment", "/x"));
}
