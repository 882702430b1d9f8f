//! memproxy named without a path: ld.so cannot find it, the program runs.
//! See the test's documentation for the documented outcome (the README's
//! "Wrong and partial set-ups" table).

mod common;

use common::path_of;
use common::setups::*;

use harness::allocators::Owner;
use test_support::Artifacts;

/// **memproxy named without a path** (`LD_PRELOAD=libmemproxy.so:ALLOCATOR`,
/// no `LD_LIBRARY_PATH`, the library not in a system directory): ld.so
/// prints `cannot be preloaded (cannot open shared object file): ignored.`
/// and runs the program with the allocator alone: memproxy is not loaded, so
/// the exclusion list is not applied (the allocator serves a listed
/// program) and `MEMPROXY_DEBUG` prints nothing. (`pvalloc` is left out of
/// the probe: under jemalloc alone it is the platform crash shown above.)
#[test]
fn memproxy_under_a_bare_name_is_not_found_and_the_program_runs() {
    let scene = Scene::new("probe-c\n");
    let bare = Artifacts::shared()
        .memproxy
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let refusal = ld_so_refusal(&bare, "LD_PRELOAD", "cannot open shared object file");
    let kinds = kinds_except(&["pvalloc"]);
    for allocator in customs() {
        let ran = scene.probe(&format!("{bare}:{}", path_of(allocator)), &kinds, true, &[]);
        assert_owned(&ran, &kinds, allocator.owner);
        assert_eq!(ran.stderr, refusal, "{}", ran.describe());
    }
    let ran = scene.probe(&bare, "", true, &[]);
    assert_owned(&ran, "", Owner::Glibc);
    assert_eq!(ran.stderr, refusal, "{}", ran.describe());
}
