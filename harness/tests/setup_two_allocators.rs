//! Two custom allocators after memproxy: the first serves. See the test's
//! documentation for the documented outcome (the README's "Wrong and
//! partial set-ups" table).

mod common;

use common::setups::*;
use common::{memproxy, path_of};

use harness::allocators::Owner;

/// **Two custom allocators** (`LD_PRELOAD=libmemproxy.so:FIRST:SECOND`):
/// the first one after memproxy serves every allocation, the second is
/// loaded but unused; an excluded program gets glibc. `MEMPROXY_DEBUG`
/// names the first as `allocator=`.
#[test]
fn with_two_allocators_the_first_serves() {
    let customs = customs();
    if customs.len() < 2 {
        let names: Vec<&str> = customs
            .iter()
            .map(|allocator| allocator.name.as_str())
            .collect();
        test_support::not_run(&format!(
            "with two allocators: needs two custom allocators; the run was narrowed to {names:?}"
        ));
        return;
    }
    let plain = Scene::new("");
    let excluded = Scene::new("probe-c\n");
    for first in &customs {
        for second in customs.iter().filter(|second| second.name != first.name) {
            let preload = format!("{}:{}:{}", memproxy(), path_of(first), path_of(second));
            assert_owned(&plain.probe(&preload, "", false, &[]), "", first.owner);
            assert_owned(&excluded.probe(&preload, "", false, &[]), "", Owner::Glibc);
            let ran = plain.probe(&preload, "malloc_small", true, &[]);
            let line = assert_one_debug_line(&ran, "custom", "not-excluded");
            assert_eq!(
                line.get("allocator"),
                Some(path_of(first).as_str()),
                "{}",
                line.text
            );
        }
    }
}
