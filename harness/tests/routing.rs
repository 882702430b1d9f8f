//! The conformance matrix as tests: one per allocator x preload order x name
//! case, generated from the harness's own tables (`harness::orders::ORDERS`,
//! `harness::names::NAME_CASES`, and the allocators selected, added ones
//! included), so no cell can be left out by hand. Each runs both probes and
//! judges every allocation kind they make against the specification (see
//! `harness::expect`); a failure names the cell and prints the shell line
//! that reproduces each run.
//!
//! A test is named `ALLOCATOR/ORDER/CASE`, so the usual filters work:
//! `cargo test -p harness --test routing -- jemalloc/seed/`. The trials run
//! in parallel (`--test-threads`), as libtest's do.
//!
//! A run narrowed on purpose (`MEMPROXY_HARNESS_ONLY`) lists the cells it
//! leaves out as ignored and says why; a missing allocator fails the run
//! with the command that installs it.

use harness::allocators::{self, Selection};
use harness::matrix::{self, Group};
use harness::names::NAME_CASES;
use harness::orders::ORDERS;
use libtest_mimic::{Arguments, Failed, Trial};
use test_support::{ALLOW_NOT_RUN, Artifacts};

fn main() {
    let arguments = Arguments::from_args();
    let trials = match allocators::select_from_env() {
        Ok(selection) => trials(Box::leak(Box::new(selection))),
        Err(error) => vec![Trial::test(
            "allocator-selection",
            move || Err(error.into()),
        )],
    };
    libtest_mimic::run(&arguments, trials).exit();
}

fn name(allocator: &str, order: &str, case: &str) -> String {
    format!("{allocator}/{order}/{case}")
}

fn trials(selection: &'static Selection) -> Vec<Trial> {
    let mut trials: Vec<Trial> = matrix::groups(&selection.allocators)
        .into_iter()
        .map(|group| {
            let name = name(&group.allocator.name, group.order.id, group.case.id);
            Trial::test(name, move || conformance(&group))
        })
        .collect();
    // The cells left out on purpose, listed as ignored, with the reason.
    for (allocator, why) in &selection.narrowed_out {
        test_support::not_run(&format!("{allocator}: {why}"));
        for order in &ORDERS {
            for case in &NAME_CASES {
                trials.push(
                    Trial::test(name(allocator, order.id, case.id), || Ok::<(), Failed>(()))
                        .with_ignored_flag(true),
                );
            }
        }
    }
    trials
}

/// One cell group: both probes under one allocator, order and case.
fn conformance(group: &Group<'_>) -> Result<(), Failed> {
    let result = group.run(Artifacts::shared());
    if let Some(why) = &result.not_run {
        if std::env::var_os(ALLOW_NOT_RUN).is_none() {
            return Err(format!("{why}; run as root, or set {ALLOW_NOT_RUN}=1").into());
        }
        test_support::not_run(&format!(
            "{}: {why}",
            name(&group.allocator.name, group.order.id, group.case.id)
        ));
        return Ok(());
    }
    if result.passed() {
        Ok(())
    } else {
        Err(format!("\n{}", result.failure_report()).into())
    }
}
