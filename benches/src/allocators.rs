//! The three allocators the benchmarks compare memproxy against. A missing
//! one fails the run with the command that installs it: a benchmark that
//! quietly covers less than it says is worse than none.

use std::path::{Path, PathBuf};

const LIB_DIR: &str = "/lib/x86_64-linux-gnu";

/// An installed allocator.
#[derive(Clone, Debug)]
pub struct Allocator {
    pub name: &'static str,
    pub path: PathBuf,
}

struct Known {
    name: &'static str,
    /// The file names Debian releases install it as.
    files: &'static [&'static str],
    /// The package on Debian 12, and on 13 where the name changed.
    package_12: &'static str,
    package_13: &'static str,
}

const KNOWN: [Known; 3] = [
    Known {
        name: "jemalloc",
        files: &["libjemalloc.so.2"],
        package_12: "libjemalloc2",
        package_13: "libjemalloc2",
    },
    Known {
        name: "mimalloc",
        files: &["libmimalloc.so.2", "libmimalloc.so.3"],
        package_12: "libmimalloc2.0",
        package_13: "libmimalloc3",
    },
    Known {
        name: "tcmalloc",
        files: &["libtcmalloc_minimal.so.4"],
        package_12: "libtcmalloc-minimal4",
        package_13: "libtcmalloc-minimal4t64",
    },
];

/// jemalloc, mimalloc and tcmalloc, in that order, or an error naming the
/// packages to install.
pub fn require_all() -> Result<Vec<Allocator>, String> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for known in &KNOWN {
        let installed = known
            .files
            .iter()
            .map(|file| Path::new(LIB_DIR).join(file))
            .find(|path| path.exists());
        match installed {
            Some(path) => found.push(Allocator {
                name: known.name,
                path,
            }),
            None => missing.push(known),
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let debian_13 = std::fs::read_to_string("/etc/os-release")
        .is_ok_and(|text| text.lines().any(|line| line.starts_with("VERSION_ID=\"13")));
    let names: Vec<&str> = missing.iter().map(|known| known.name).collect();
    let packages: Vec<&str> = missing
        .iter()
        .map(|known| {
            if debian_13 {
                known.package_13
            } else {
                known.package_12
            }
        })
        .collect();
    Err(format!(
        "allocator(s) {} not installed; the benchmarks compare all three. Install with:\n    \
         apt-get install -y {}",
        names.join(", "),
        packages.join(" ")
    ))
}
