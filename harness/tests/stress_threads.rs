//! Stress: 16 threads allocate every kind and free across threads, on every
//! allocator and both routes; the fixture is silent unless `MEMPROXY_DEBUG`
//! asks.
//!
//! The fixtures are in `fixtures/c/stress/`; each prints one line of
//! `key=value` counts, which the tests check, and ends by asking the
//! allocators (never memproxy) who served a block, which must be the
//! route's allocator. Run with `--nocapture` to see the figures the README
//! quotes.

mod common;

use common::stress::*;

use harness::allocators;

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
    for allocator in &allocators::selected().allocators {
        for route in Route::BOTH {
            let run = Launch::new(&program, allocator, route)
                .args(&[&threads, &ops, "1"])
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
/// The stderr checks above are not vacuous: the same fixture under
/// `MEMPROXY_DEBUG=1` prints memproxy's one line, naming the route.
#[test]
fn debug_output_would_be_seen() {
    let allocator = allocators::selected()
        .allocators
        .iter()
        .find(|allocator| allocator.path.is_some())
        .unwrap_or_else(|| panic!("no custom allocator selected"));
    for (route, expected) in [
        (Route::Excluded, "route=glibc reason=excluded"),
        (Route::NotExcluded, "route=custom reason=not-excluded"),
    ] {
        let run = Launch::new(&fixture("stress-threads"), allocator, route)
            .args(&["2", "100", "1"])
            .debug("1")
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
