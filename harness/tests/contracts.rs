//! memproxy routes `calloc`, `posix_memalign`, `operator new` and the sized
//! `operator delete`s straight to an allocator's own functions where its
//! table (`memproxy_common::contracts::PROVEN`) says they keep the contract.
//! Here each installed allocator runs every check of every contract preloaded
//! alone, and the table must say exactly what is measured
//! (`harness::contracts`; `harness contracts` prints the same table).

use harness::allocators::{self, Allocator};
use harness::contracts::{self, Judged};
use rstest::rstest;
use test_support::Artifacts;

fn judge(allocator: &Allocator) -> Judged {
    let semantics = Artifacts::shared().fixture("semantics");
    contracts::judge(&semantics, allocator).unwrap_or_else(|error| panic!("{error}"))
}

#[rstest]
fn the_table_says_exactly_what_the_allocator_keeps(
    #[values("glibc", "jemalloc", "mimalloc", "tcmalloc")] name: &str,
) {
    let Some(allocator) = allocators::selected().built_in(name) else {
        return;
    };
    let judged = judge(allocator);
    assert!(
        judged.mismatches.is_empty(),
        "{}",
        contracts::text(std::slice::from_ref(&judged))
    );
}

#[test]
fn added_allocators_are_judged_when_the_table_names_them() {
    for allocator in allocators::selected()
        .allocators
        .iter()
        .filter(|allocator| allocator.added)
    {
        let judged = judge(allocator);
        let table = contracts::text(std::slice::from_ref(&judged));
        println!("{table}");
        assert!(judged.mismatches.is_empty(), "{table}");
    }
}
