//! The three allocators the benchmarks compare memproxy against. A missing
//! one fails the run with the command that installs it: a benchmark that
//! quietly covers less than it says is worse than none.

use std::path::{Path, PathBuf};

use memproxy_common::known;

const LIB_DIR: &str = memproxy_common::multiarch::LIB_DIR;

/// An installed allocator.
#[derive(Clone, Debug)]
pub struct Allocator {
    pub name: &'static str,
    pub path: PathBuf,
}

/// The allocators compared, by their names in `memproxy_common::known`.
const COMPARED: [&str; 3] = ["jemalloc", "mimalloc", "tcmalloc"];

/// jemalloc, mimalloc and tcmalloc, in that order, or an error naming the
/// packages to install.
pub fn require_all() -> Result<Vec<Allocator>, String> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in COMPARED {
        let installed = known::files(name)
            .map(|file| Path::new(LIB_DIR).join(file))
            .find(|path| path.exists());
        match installed {
            Some(path) => found.push(Allocator { name, path }),
            None => missing.push(name),
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let release = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| known::release_of_os_release(&text));
    let packages: Vec<&str> = missing
        .iter()
        .map(|name| known::package(name, release).unwrap_or(name))
        .collect();
    Err(format!(
        "allocator(s) {} not installed; the benchmarks compare all three. Install with:\n    \
         apt-get install -y {}",
        missing.join(", "),
        packages.join(" ")
    ))
}
