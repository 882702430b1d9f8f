//! The C and C++ contract memproxy promises on every route, whatever the
//! allocator behind it does: `fixtures/c/semantics.cpp` makes one named check
//! per part of it (`semantics --list`): malloc(0) and free(NULL) as in glibc,
//! ENOMEM on calloc/reallocarray overflow, EINVAL and an untouched *memptr
//! from posix_memalign, errno kept across free, the new-handler loop then
//! std::bad_alloc from every throwing operator new and NULL from every
//! nothrow one, sized deletes that free, aligned and page-rounded blocks,
//! realloc, malloc_trim, strdup/strndup.
//!
//! Direct preloads do not all keep it: tcmalloc's calloc leaves errno unset
//! on overflow, mimalloc's operator new aborts instead of throwing. The last
//! two tests show both, so that the contract tests above cannot pass merely
//! because every allocator happens to behave. Which parts each allocator's own
//! functions keep, so that memproxy may route to them directly, is
//! harness/tests/contracts.rs's.

use std::sync::OnceLock;

use harness::allocators::{self, Allocator};
use harness::run::{LIBC, TUNABLES};
use rstest::rstest;
use test_support::{Artifacts, Dir, Process};

/// How many checks `semantics` makes, from its `--list`; a crash part-way
/// shows as fewer lines.
fn checks() -> usize {
    static CHECKS: OnceLock<usize> = OnceLock::new();
    *CHECKS.get_or_init(|| {
        let listed = Process::new(Artifacts::shared().fixture("semantics"))
            .arg("--list")
            .run();
        listed.assert_success();
        let count = listed.stdout.lines().count();
        assert!(
            count > 0,
            "semantics --list names no check: {}",
            listed.describe()
        );
        count
    })
}

fn semantics_under(preload: &str, config: &str) -> (bool, String) {
    let dir = Dir::new("semantics-");
    let ran = Process::new(Artifacts::shared().fixture("semantics"))
        .preload([preload])
        .config(dir.config(config))
        .env("GLIBC_TUNABLES", TUNABLES)
        .run();
    let passed = ran.succeeded()
        && ran.stderr.is_empty()
        && ran.stdout.lines().count() == checks()
        && ran.stdout.lines().all(|line| line.contains(r#""ok":true"#));
    (
        passed,
        format!(
            "config={config:?}\nstatus {:?}\nstderr {}\n{}\n  reproduce: {}",
            ran.status, ran.stderr, ran.stdout, ran.command
        ),
    )
}

fn allocator(name: &str) -> Allocator {
    let selection = allocators::select_from_env().unwrap_or_else(|error| panic!("{error}"));
    selection
        .allocators
        .into_iter()
        .find(|allocator| allocator.name == name)
        .unwrap_or_else(|| {
            panic!(
                "allocator {name} not selected (see {})",
                allocators::ONLY_VAR
            )
        })
}

#[rstest]
fn the_contract_holds_on_every_route(
    #[values("glibc", "jemalloc", "mimalloc", "tcmalloc")] name: &str,
    #[values(true, false)] excluded: bool,
    #[values(false, true)] libc_listed: bool,
) {
    let allocator = allocator(name);
    let memproxy = Artifacts::shared().memproxy.display().to_string();
    let mut preload = vec![memproxy];
    if libc_listed {
        preload.push(LIBC.to_owned());
    }
    preload.extend(
        allocator
            .path
            .as_ref()
            .map(|path| path.display().to_string()),
    );
    let config = if excluded { "semantics\n" } else { "" };
    let (passed, transcript) = semantics_under(&preload.join(":"), config);
    assert!(passed, "{transcript}");
}

#[test]
fn added_allocators_keep_the_contract_too() {
    let selection = allocators::select_from_env().unwrap_or_else(|error| panic!("{error}"));
    let memproxy = Artifacts::shared().memproxy.display().to_string();
    for allocator in selection
        .allocators
        .iter()
        .filter(|allocator| allocator.added)
    {
        let path = allocator
            .path
            .as_ref()
            .expect("added allocators have a path")
            .display()
            .to_string();
        let (passed, transcript) = semantics_under(&format!("{memproxy}:{path}"), "");
        assert!(passed, "{}: {transcript}", allocator.name);
    }
}

#[test]
fn tcmalloc_alone_breaks_the_calloc_contract_that_memproxy_keeps() {
    let tcmalloc = allocator("tcmalloc")
        .path
        .expect("tcmalloc has a path")
        .display()
        .to_string();
    let (passed, transcript) = semantics_under(&tcmalloc, "");
    assert!(
        !passed,
        "tcmalloc alone now keeps the contract; update this test and docs/findings.md\n{transcript}"
    );
    assert!(
        transcript.contains(r#""check":"calloc_overflow_fails_with_enomem","ok":false"#),
        "{transcript}"
    );
}

#[test]
fn mimalloc_alone_breaks_the_new_contract_that_memproxy_keeps() {
    let mimalloc = allocator("mimalloc").path.expect("mimalloc has a path");
    let check = "new_runs_the_handler_then_throws";
    let ran = Process::new(Artifacts::shared().fixture("semantics"))
        .arg(check)
        .preload([&mimalloc])
        .env("GLIBC_TUNABLES", TUNABLES)
        .no_core_files()
        .run();
    let kept = ran.succeeded()
        && ran
            .stdout
            .contains(&format!(r#""check":"{check}","ok":true"#));
    assert!(
        !kept,
        "mimalloc alone now keeps the new contract; update this test, docs/findings.md and \
         PROVEN in memproxy/common/src/contracts.rs\n{}",
        ran.describe()
    );
}
