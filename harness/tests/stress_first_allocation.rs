//! Stress: the process's first allocation raced by threads, signals and
//! forks while memproxy decides, on every allocator and both routes.
//!
//! The fixtures are in `fixtures/c/stress/`; each prints one line of
//! `key=value` counts, which the tests check, and ends by asking the
//! allocators (never memproxy) who served a block, which must be the
//! route's allocator. Run with `--nocapture` to see the figures the README
//! quotes.

mod common;

use common::stress::*;

use harness::allocators::{self, Allocator};

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
    for allocator in &allocators::selected().allocators {
        for route in Route::BOTH {
            let mut hits = 0;
            let mut bootstrap_blocks = 0;
            let mut full = None;
            for repetition in 0..=EARLY_REPETITIONS {
                let quick = [("STRESS_EARLY_OPS", "300")];
                let run = Launch::new(&program, allocator, route)
                    .extra_preload(&library)
                    .env(if repetition == 0 { &[] } else { &quick })
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
        let run = Launch::new(&program, &glibc, Route::NotExcluded)
            .extra_preload(&library)
            .env(&[("STRESS_EARLY_FORK", "1"), ("STRESS_EARLY_OPS", "300")])
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
