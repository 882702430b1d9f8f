//! Allocations made while the route is being decided come from memproxy's
//! static bootstrap region, and `free`, `realloc` and `malloc_usable_size`
//! recognise those blocks for the rest of the process.
//!
//! To make the decision allocate deterministically, the custom allocator
//! (`fixtures/c/bootstrap/allocator.c`) defines `malloc` as a GNU IFUNC whose
//! resolver itself calls `malloc` (and `calloc` and `strdup`): memproxy calls
//! that resolver while deciding, so the resolver's calls re-enter memproxy
//! mid-decision. The program (`fixtures/c/bootstrap/program.c`) then frees,
//! reallocates and measures those blocks through the decided route.

use std::path::Path;

use test_support::{Artifacts, Process};

#[test]
fn blocks_made_during_the_decision_are_recognised_later() {
    let artifacts = Artifacts::shared();
    let allocator = artifacts.fixture("libbootstrap-allocator.so");
    let ran = Process::new(artifacts.fixture("bootstrap-blocks"))
        .preload([&artifacts.memproxy, &allocator])
        .debug(true)
        .run();
    ran.assert_success()
        .assert_stdout_contains("checked, 0 failures")
        // The decision really did allocate: otherwise this test proves
        // nothing.
        .assert_stderr_contains(" bootstrap=used")
        .assert_stderr_contains(&format!("allocator=\"{}\"", allocator.display()));
}

#[test]
fn an_ordinary_process_never_needs_the_bootstrap_region() {
    // So the common case keeps the one-load, one-jump free and realloc.
    let artifacts = Artifacts::shared();
    for program in [&artifacts.probes[0].path, Path::new("/bin/true")] {
        let ran = Process::new(program)
            .preload([
                artifacts.memproxy.as_path(),
                &Path::new(memproxy_common::multiarch::LIB_DIR).join("libjemalloc.so.2"),
            ])
            .debug(true)
            .env("PROBE_PLUGIN", &artifacts.plugin)
            .run();
        ran.assert_success().assert_stderr_contains("route=");
        assert!(!ran.stderr.contains("bootstrap=used"), "{}", ran.describe());
    }
}
