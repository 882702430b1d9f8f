//! Every glibc heap function an allocator under test exports is exported by
//! memproxy too. Otherwise the allocator's version would serve excluded
//! programs: mimalloc 3 exports `strdup`, so an excluded program would get a
//! mimalloc block and hand it to glibc's `free`.

use harness::allocators::{self, HEAP_FUNCTIONS};
use test_support::Artifacts;

#[test]
fn memproxy_routes_every_heap_function_the_allocators_export() {
    let selection = allocators::select_from_env().unwrap_or_else(|error| panic!("{error}"));
    let memproxy = &Artifacts::shared().memproxy;
    for allocator in &selection.allocators {
        let unrouted = allocators::unrouted_takeovers(allocator, memproxy)
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(
            unrouted.is_empty(),
            "{} exports {unrouted:?}, which memproxy does not route",
            allocator.name
        );
    }
}

#[test]
fn the_check_sees_an_export_memproxy_lacks() {
    // glibc itself exports all of them; memproxy routes only those that
    // allocators are known to take over, so the check must flag the rest.
    let libc = allocators::Allocator::added(&format!("libc={}", memproxy_common::multiarch::LIBC))
        .expect("glibc is an allocator");
    let unrouted =
        allocators::unrouted_takeovers(&libc, &Artifacts::shared().memproxy).expect("readable");
    assert!(unrouted.contains(&"wcsdup".to_owned()), "{unrouted:?}");
    assert!(!unrouted.contains(&"strdup".to_owned()), "{unrouted:?}");
    assert!(HEAP_FUNCTIONS.len() > unrouted.len());
}
