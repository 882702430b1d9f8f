//! What every memproxy test shares, in the manner of cargo's
//! `cargo-test-support`: one way to build the things under test, one way to
//! lay out files, one way to start a process and judge what it did.
//!
//! - [`artifacts`]: `libmemproxy.so` and the fixtures, built by cargo once
//!   per process (or taken prebuilt from `MEMPROXY_HARNESS_ARTIFACTS`);
//! - [`scratch`]: where executables under test are laid out, so that an
//!   exec never fails with `ETXTBSY` and a link never crosses a file system;
//! - [`files`]: a directory builder on top of it (configs, scripts, copies);
//! - [`process`]: a process builder (program, arguments, environment,
//!   preload, config, user, `/etc/ld.so.preload` in a private mount
//!   namespace, timeout) and its outcome, [`process::Ran`], whose every
//!   failure message carries the command line that reproduces it;
//! - [`namespace`]: the private mount namespace behind `/etc/ld.so.preload`;
//! - [`debug_line`]: memproxy's `MEMPROXY_DEBUG` line, parsed;
//! - [`hook_shape`]: the machine code of the library's plain hooks, for
//!   x86_64, i686 and aarch64;
//! - [`foreign_elf`]: small 32-bit shared objects (i386, x32) made with the
//!   host's binutils, for "another ABI" without installing its packages.
//!
//! Nothing here uses memproxy's own code: the tests judge the library, so
//! they must not share its reading of the specification.

pub mod artifacts;
pub mod debug_line;
pub mod files;
pub mod foreign_elf;
pub mod hook_shape;
pub mod namespace;
pub mod process;
pub mod scratch;

pub use artifacts::Artifacts;
pub use debug_line::DebugLine;
pub use files::Dir;
pub use namespace::NotRun;
pub use process::{Process, Ran};

use std::path::Path;

/// Set by users without root or user namespaces to report what needs a
/// private mount namespace as not run, instead of failing. CI runs as root
/// and never sets it.
pub const ALLOW_NOT_RUN: &str = "MEMPROXY_HARNESS_ALLOW_NOT_RUN";

/// Says `NOT RUN WHAT` on the real standard error, which the test harness
/// does not capture: a part of a test left out must be seen even when the
/// test passes.
pub fn not_run(what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "NOT RUN {what}");
}

/// The workspace's root directory.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support/ is in the workspace")
}

/// Whether two paths name the same file (whichever directory of a merged
/// `/usr` the loader found it in).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The path as a string: every path under test is UTF-8.
pub fn path_str(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
        .to_owned()
}
