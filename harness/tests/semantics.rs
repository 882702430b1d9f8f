//! The C and C++ contract memproxy promises on every route, whatever the
//! allocator behind it does (`fixtures/c/semantics.cpp` lists the checks):
//! malloc(0) and free(NULL) as in glibc, ENOMEM on calloc/reallocarray
//! overflow, EINVAL and an untouched *memptr from posix_memalign, errno
//! kept across free, the new-handler loop and std::bad_alloc, NULL from the
//! nothrow forms, aligned and page-rounded blocks.
//!
//! Direct preloads do not all keep it: tcmalloc's calloc leaves errno unset
//! on overflow, mimalloc's operator new aborts instead of throwing. The last
//! test shows the first of those, so that the contract tests above cannot
//! pass merely because every allocator happens to behave.

use harness::allocators::{self, Allocator};
use harness::run::{LIBC, TUNABLES};
use rstest::rstest;
use test_support::{Artifacts, Dir, Process};

/// The checks `semantics.cpp` makes; a crash part-way shows as fewer lines.
const CHECKS: usize = 18;

fn semantics_under(preload: &str, config: &str) -> (bool, String) {
    let dir = Dir::new("semantics-");
    let ran = Process::new(Artifacts::shared().fixture("semantics"))
        .preload([preload])
        .config(dir.config(config))
        .env("GLIBC_TUNABLES", TUNABLES)
        .run();
    let passed = ran.succeeded()
        && ran.stderr.is_empty()
        && ran.stdout.lines().count() == CHECKS
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
        "tcmalloc alone now keeps the contract; update this test and the README\n{transcript}"
    );
    assert!(
        transcript.contains(r#""check":"calloc_overflow_fails_with_enomem","ok":false"#),
        "{transcript}"
    );
}
