//! The C and C++ contract memproxy promises on every route, whatever the
//! allocator behind it does: `fixtures/c/semantics.cpp` makes one named check
//! per part of it (`semantics --list`): malloc(0) and free(NULL) as in glibc,
//! ENOMEM on calloc/reallocarray overflow, EINVAL and an untouched *memptr
//! from posix_memalign, errno kept across free, the new-handler loop then
//! std::bad_alloc from every throwing operator new and NULL from every
//! nothrow one, sized deletes that free, aligned and page-rounded blocks,
//! realloc, malloc_trim, strdup/strndup.
//!
//! Every check runs through memproxy in front of each allocator, on each
//! route (`harness::through_memproxy`, which `harness contracts` runs on
//! every architecture too).
//!
//! Direct preloads do not all keep it: tcmalloc's calloc leaves errno unset
//! on overflow, mimalloc's operator new aborts instead of throwing. The last
//! two tests show both, so that the contract tests above cannot pass merely
//! because every allocator happens to behave. Which parts each allocator's own
//! functions keep, so that memproxy may route to them directly, is
//! harness/tests/contracts.rs's.

use std::sync::OnceLock;

use harness::allocators::{self, Allocator};
use harness::contracts::{self, Measured};
use harness::through_memproxy::{self, Route, Semantics};
use memproxy_common::contracts::Contract;
use rstest::rstest;
use test_support::Artifacts;

fn semantics() -> &'static Semantics {
    static SEMANTICS: OnceLock<Semantics> = OnceLock::new();
    SEMANTICS.get_or_init(|| {
        Semantics::list(&Artifacts::shared().fixture("semantics"))
            .unwrap_or_else(|error| panic!("{error}"))
    })
}

fn through_memproxy_on(allocator: &Allocator, route: Route) {
    let result =
        through_memproxy::run(semantics(), &Artifacts::shared().memproxy, allocator, route)
            .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        result.passed(),
        "{}",
        through_memproxy::text(std::slice::from_ref(&result))
    );
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
    through_memproxy_on(
        &allocator(name),
        Route {
            excluded,
            libc_listed,
        },
    );
}

#[test]
fn added_allocators_keep_the_contract_too() {
    let selection = allocators::select_from_env().unwrap_or_else(|error| panic!("{error}"));
    for allocator in selection
        .allocators
        .iter()
        .filter(|allocator| allocator.added)
    {
        for route in Route::ALL {
            through_memproxy_on(allocator, route);
        }
    }
}

/// What `contract`'s checks say with `name` preloaded alone.
fn alone(name: &str, contract: Contract) -> Measured {
    let path = allocator(name).path.expect("a custom allocator has a path");
    contracts::measure(&semantics().path, Some(&path), contract)
        .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn tcmalloc_alone_breaks_the_calloc_contract_that_memproxy_keeps() {
    let measured = alone("tcmalloc", Contract::Calloc);
    assert!(
        matches!(&measured, Measured::NotKept { check, .. } if check == "calloc_overflow_fails_with_enomem"),
        "tcmalloc alone now keeps the calloc contract; update this test and docs/findings.md: \
         {measured:?}"
    );
}

#[test]
fn mimalloc_alone_breaks_the_new_contract_that_memproxy_keeps() {
    let measured = alone("mimalloc", Contract::ThrowingNew);
    assert!(
        matches!(&measured, Measured::NotKept { check, .. } if check == "new_runs_the_handler_then_throws"),
        "mimalloc alone now keeps the new contract; update this test, docs/findings.md and \
         PROVEN in memproxy/common/src/contracts.rs: {measured:?}"
    );
}
