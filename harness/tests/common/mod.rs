//! Helpers shared by the harness's test files, one module per family:
//! [`setups`] (wrong and partial set-ups), [`stress`], [`hostile`]
//! (hostile configs). Each test file uses the part it needs.

#![allow(dead_code)] // each test binary uses a different part

pub mod hostile;
pub mod setups;
pub mod stress;

use harness::allocators::Allocator;
use test_support::Artifacts;

/// The path of libmemproxy.so under test.
pub fn memproxy() -> String {
    Artifacts::shared().memproxy.display().to_string()
}

/// The path of a custom allocator.
pub fn path_of(allocator: &Allocator) -> String {
    allocator
        .path
        .as_ref()
        .expect("a custom allocator")
        .display()
        .to_string()
}
