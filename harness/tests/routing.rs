//! The conformance matrix as rstest cases: every allocator x preload order x
//! name case; each case runs both probes and judges every allocation kind
//! they make against the specification (see `harness::expect`).
//!
//! Added allocators (`MEMPROXY_HARNESS_ALLOCATORS=NAME=PATH,...`) run under the
//! `added` value. A run narrowed on purpose (`MEMPROXY_HARNESS_ONLY`) says
//! which cases it did not run; a missing allocator fails with the command
//! that installs it.

use std::sync::OnceLock;

use harness::allocators::{self, Allocator, Selection};
use harness::matrix::Group;
use harness::{names, orders};
use rstest::rstest;
use test_support::artifacts::Artifacts;

/// Groups that need a private mount namespace may be reported as not run,
/// instead of failing, when this is set (for users without root or user
/// namespaces). CI runs as root and never sets it.
const ALLOW_NOT_RUN: &str = "MEMPROXY_HARNESS_ALLOW_NOT_RUN";

fn selection() -> &'static Selection {
    static SELECTION: OnceLock<Result<Selection, String>> = OnceLock::new();
    match SELECTION.get_or_init(allocators::select_from_env) {
        Ok(selection) => selection,
        Err(error) => panic!("{error}"),
    }
}

fn allocators_named(name: &str) -> Vec<&'static Allocator> {
    let selection = selection();
    if name == "added" {
        return selection
            .allocators
            .iter()
            .filter(|allocator| allocator.added)
            .collect();
    }
    selection
        .allocators
        .iter()
        .filter(|allocator| allocator.name == name && !allocator.added)
        .collect()
}

#[rstest]
fn conformance(
    #[values("glibc", "jemalloc", "mimalloc", "tcmalloc", "added")] allocator: &str,
    #[values(
        "seed",
        "short",
        "alone",
        "bare-names",
        "spaces",
        "allocator-first",
        "etc-preload",
        "etc-seed",
        "env-then-etc"
    )]
    order: &str,
    #[values(
        "listed",
        "unlisted",
        "prefix",
        "suffix",
        "extended",
        "case",
        "long-name",
        "truncated-16",
        "spaces",
        "utf8",
        "comment-only",
        "crlf",
        "padded",
        "blank-lines",
        "no-final-newline",
        "symlink-name",
        "symlink-target",
        "symlink-unlisted",
        "hardlink",
        "hardlink-original",
        "relative",
        "path-lookup",
        "script",
        "script-interpreter",
        "argv0-spoofed-to-listed",
        "argv0-spoofed-from-listed",
        "env-i",
        "python-parent",
        "underscore-misleads",
        "underscore-hides",
        "full-path",
        "full-path-elsewhere",
        "full-path-of-target",
        "relative-entry"
    )]
    case: &str,
) {
    let order = orders::find(order).expect("an order of harness::orders::ORDERS");
    let case = names::find(case).expect("a case of harness::names::NAME_CASES");
    let under_test = allocators_named(allocator);
    if under_test.is_empty() {
        let why = selection()
            .narrowed_out
            .iter()
            .find(|(name, _)| name == allocator)
            .map(|(_, why)| why.as_str());
        match why {
            Some(why) => println!("NOT RUN {allocator}: {why}"),
            None if allocator == "added" => {
                println!(
                    "no allocator added (set {}=NAME=PATH,...)",
                    allocators::ADDED_VAR
                )
            }
            None => panic!("allocator {allocator} is neither selected nor narrowed out"),
        }
        return;
    }
    for allocator in under_test {
        let result = Group {
            allocator,
            order,
            case,
        }
        .run(Artifacts::shared());
        if let Some(why) = &result.not_run {
            assert!(
                std::env::var_os(ALLOW_NOT_RUN).is_some(),
                "{why}; run as root, or set {ALLOW_NOT_RUN}=1"
            );
            println!("NOT RUN {}/{}/{}: {why}", allocator.name, order.id, case.id);
            continue;
        }
        assert!(result.passed(), "\n{}", result.failure_report());
    }
}

/// The `#[values]` above must list every order and case the harness defines.
#[test]
fn the_matrix_covers_every_order_and_case() {
    let source = include_str!("routing.rs");
    for order in &orders::ORDERS {
        assert!(
            source.contains(&format!("\"{}\",", order.id))
                || source.contains(&format!("\"{}\"\n", order.id)),
            "order {} missing",
            order.id
        );
    }
    for case in &names::NAME_CASES {
        assert!(
            source.contains(&format!("\"{}\"", case.id)),
            "case {} missing",
            case.id
        );
    }
}
