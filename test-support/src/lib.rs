//! What every memproxy test shares, in the manner of cargo's
//! `cargo-test-support`: one way to build the things under test and one way
//! to lay out executables.
//!
//! - [`artifacts`]: `libmemproxy.so` and the fixtures, built by cargo once
//!   per process (or taken prebuilt from `MEMPROXY_HARNESS_ARTIFACTS`);
//! - [`scratch`]: where executables under test are laid out, so that an
//!   exec never fails with `ETXTBSY` and a link never crosses a file system.
//!
//! Nothing here uses memproxy's own code: the tests judge the library, so
//! they must not share its reading of the specification.

pub mod artifacts;
pub mod scratch;

pub use artifacts::Artifacts;

use std::path::Path;

/// The workspace's root directory.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support/ is in the workspace")
}
