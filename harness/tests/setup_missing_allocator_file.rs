//! An allocator file that does not exist: ld.so says so, glibc serves. See
//! the test's documentation for the documented outcome (the README's "Wrong
//! and partial set-ups" table).

mod common;

use common::memproxy;
use common::setups::*;

use std::path::Path;

use harness::allocators::Owner;
use harness::run;

/// **Allocator file missing** (`LD_PRELOAD=libmemproxy.so:/nonexistent/libfoo.so`):
/// ld.so prints its own `cannot be preloaded (cannot open shared object
/// file): ignored.` line and starts the program without it; memproxy finds
/// no custom allocator, so glibc serves every allocation (the probe's
/// oracle says so) and memproxy adds nothing to stderr. With
/// `MEMPROXY_DEBUG=1` it says `route=glibc reason=no-custom-allocator`.
#[test]
fn a_missing_allocator_file_leaves_the_program_on_glibc() {
    let scene = Scene::new("");
    let missing = "/nonexistent/libfoo.so";
    let preload = format!("{}:{missing}", memproxy());
    let refusal = ld_so_refusal(missing, "LD_PRELOAD", "cannot open shared object file");

    let ran = scene.probe(&preload, "", false, &[]);
    assert_owned(&ran, "", Owner::Glibc);
    assert_eq!(ran.stderr, refusal, "{}", ran.describe());

    let ran = scene.probe(&preload, "malloc_small", true, &[]);
    assert_owned(&ran, "malloc_small", Owner::Glibc);
    assert_eq!(ran.stderr_without_debug(), refusal, "{}", ran.describe());
    let line = assert_one_debug_line(&ran, "glibc", "no-custom-allocator");
    assert!(
        test_support::same_file(
            Path::new(line.get("allocator").unwrap_or_default()),
            Path::new(run::LIBC)
        ),
        "{}",
        line.text
    );
}
