//! Stress: forks from threads while others allocate, on every allocator and
//! both routes.
//!
//! The fixtures are in `fixtures/c/stress/`; each prints one line of
//! `key=value` counts, which the tests check, and ends by asking the
//! allocators (never memproxy) who served a block, which must be the
//! route's allocator. Run with `--nocapture` to see the figures the README
//! quotes.

mod common;

use common::stress::*;

use harness::allocators;

/// 4 threads fork 25 times each while 8 others allocate, reallocate and free
/// without pause: every child frees a block its parent thread made, allocates
/// (also from a new thread), checks, and exits 0 within its alarm; its
/// blocks come from the same heap as the parent's.
#[test]
fn forks_from_threads_while_others_allocate() {
    let program = fixture("stress-fork");
    let mut figures = Figures::new("stress-fork (forks while allocating)");
    for allocator in &allocators::selected().allocators {
        for route in Route::BOTH {
            let run = Launch::new(&program, allocator, route)
                .args(&["8", "4", "25", "1"])
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
