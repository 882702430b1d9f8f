//! Real programs under a host-wide preload: `/etc/ld.so.preload` (in a
//! private mount namespace) holds memproxy and one allocator, and the
//! exclusion list names every other program. Each program must give the same
//! stdout and exit status as without any preload, with nothing added on
//! stderr; with `MEMPROXY_DEBUG=1`, every process that loaded memproxy must
//! be on the route the list gives it. See `harness::global_preload`.

use harness::{allocators, global_preload};
use test_support::{ALLOW_NOT_RUN, Artifacts, NotRun};

/// Every program of `global_preload::catalogue` x every allocator (glibc meaning
/// memproxy alone): identical stdout, exit status and stderr, and the
/// exclusion list covers exactly its half.
#[test]
fn real_programs_behave_the_same_under_a_global_preload() {
    let selection = allocators::selected();
    selection.say_narrowed_out();
    let outcome = match global_preload::run(Artifacts::shared(), &selection.allocators) {
        Ok(outcome) => outcome,
        Err(NotRun::NoMountNamespace(why)) if std::env::var_os(ALLOW_NOT_RUN).is_some() => {
            test_support::not_run(&format!("(needs a private mount namespace: {why})"));
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

/// The route check's matching rule is `harness::expect`'s (the only one
/// the harness has): the cases the catalogue's list relies on.
#[test]
fn the_route_check_uses_the_specification_s_matching_rule() {
    use harness::expect::{KernelNames, listed};
    let names = |execfn: &str, exe: &str| KernelNames {
        execfn: execfn.to_owned(),
        exe: exe.to_owned(),
    };
    let list = "# comment\n\nsort\n/usr/bin/tar\n";
    assert!(listed(list, &names("/usr/bin/sort", "/usr/bin/sort")));
    assert!(listed(list, &names("/bin/tar", "/usr/bin/tar")));
    assert!(!listed(list, &names("/opt/tar", "/opt/tar")));
    assert!(!listed(list, &names("/usr/bin/comment", "/x")));
}
