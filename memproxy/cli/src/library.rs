//! Finding libmemproxy.so and the allocators to preload after it.
//!
//! `run` needs real paths for `LD_PRELOAD`, and `doctor` writes them into
//! its fixes, so both find files the same way. Every file found is checked
//! with [`crate::elf`] before use: a wrong file in `LD_PRELOAD` is reported by
//! ld.so only as a warning that every process prints, which is worse than a
//! clear refusal here.

use memproxy_common::known;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::elf::{self, Kind};
use crate::preload;
use crate::shown::shown_os;

/// `$MEMPROXY_PREFIX/lib` of this build.
const BUILT_IN_LIB_DIR: &str = env!("MEMPROXY_DEFAULT_LIB_DIR");
const LIBRARY_FILE: &str = "libmemproxy.so";

/// An allocator known by a short name, as this host's Debian release ships
/// it (the table is `memproxy_common::known`, which `ci/setup` reads too).
#[derive(Debug, Clone, Copy)]
pub struct KnownAllocator {
    /// The name `--allocator` takes.
    pub name: &'static str,
    /// The shared object's file name (its soname).
    pub file: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
}

/// Names that mean "no custom allocator".
pub const NO_ALLOCATOR: [&str; 2] = ["glibc", "none"];

/// The allocator `--allocator NAME` takes for the default.
pub const DEFAULT_ALLOCATOR: &str = "jemalloc";

impl KnownAllocator {
    /// `/lib/<multiarch>/<file>`, the path the package installs (through the
    /// merged-/usr symlink).
    pub fn path(&self) -> PathBuf {
        Path::new(memproxy_common::multiarch::LIB_DIR).join(self.file)
    }

    /// The command that installs it.
    pub fn install_hint(&self) -> String {
        format!("apt-get install {}", self.package)
    }
}

/// The known allocator `name` on this host: the row for this host's Debian
/// release; on another release, the row whose file is installed, else the
/// newest.
pub fn known(name: &str) -> Option<KnownAllocator> {
    let rows: Vec<known::Known> = known::named(name).collect();
    let release = this_release();
    let chosen = rows
        .iter()
        .find(|row| Some(row.release) == release)
        .or_else(|| {
            rows.iter().find(|row| {
                Path::new(memproxy_common::multiarch::LIB_DIR)
                    .join(row.file)
                    .exists()
            })
        })
        .or(rows.last())?;
    Some(KnownAllocator {
        name: chosen.name,
        file: chosen.file,
        package: chosen.package,
    })
}

/// The short names `--allocator` knows.
pub fn known_names() -> Vec<&'static str> {
    known::names().collect()
}

/// This host's Debian release, from `/etc/os-release`.
fn this_release() -> Option<&'static str> {
    known::release_of_os_release(&std::fs::read_to_string("/etc/os-release").ok()?)
}

/// Where `make install`-style installs put libmemproxy.so:
/// `$MEMPROXY_PREFIX/lib/libmemproxy.so` of this build.
pub fn installed_path() -> PathBuf {
    Path::new(BUILT_IN_LIB_DIR).join(LIBRARY_FILE)
}

/// Where libmemproxy.so is looked for, in order, with why.
pub fn memproxy_candidates(explicit: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    if let Some(path) = explicit {
        return vec![(path.to_owned(), "--lib")];
    }
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("MEMPROXY_LIB").filter(|value| !value.is_empty()) {
        candidates.push((PathBuf::from(path), "MEMPROXY_LIB"));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
    {
        candidates.push((dir.join(LIBRARY_FILE), "next to the memproxy executable"));
        candidates.push((
            dir.join("../lib").join(LIBRARY_FILE),
            "the lib directory beside the memproxy executable's",
        ));
    }
    candidates.push((installed_path(), "the built-in lib directory"));
    candidates
}

/// The libmemproxy.so to preload: the first candidate that exists, checked
/// to be memproxy.
pub fn find_memproxy(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let candidates = memproxy_candidates(explicit);
    let Some((path, _)) = candidates.iter().find(|(path, _)| path.exists()) else {
        let tried: Vec<String> = candidates
            .iter()
            .map(|(path, why)| format!("{} ({why})", shown_os(path)))
            .collect();
        return Err(format!(
            "libmemproxy.so not found; tried {}. Build it with `cargo build --release -p \
             memproxy`, or name it with --lib or MEMPROXY_LIB",
            tried.join(", ")
        ));
    };
    let path = absolute(path)?;
    match elf::inspect(&path) {
        Ok(Kind::SharedObject(exports)) if exports.memproxy => Ok(path),
        Ok(kind) => Err(format!(
            "{} is not libmemproxy.so: {}",
            shown_os(&path),
            describe_unusable(&kind, "it does not define memproxy_version")
        )),
        Err(error) => Err(format!("cannot read {}: {error}", shown_os(&path))),
    }
}

/// The custom allocator for `choice`: a known name, `glibc`/`none` (no
/// allocator), a path, or a library name found the way ld.so finds it.
pub fn find_allocator(choice: &OsStr) -> Result<Option<PathBuf>, String> {
    let text = choice.to_string_lossy();
    if NO_ALLOCATOR.contains(&text.as_ref()) {
        return Ok(None);
    }
    let path = if let Some(known) = known(&text) {
        let path = known.path();
        if !path.exists() {
            return Err(format!(
                "{} is not installed ({} is missing); install it with: {}",
                known.name,
                shown_os(&path),
                known.install_hint()
            ));
        }
        path
    } else if choice.as_bytes().contains(&b'/') {
        absolute(Path::new(choice))?
    } else {
        preload::locate(choice.as_bytes()).ok_or_else(|| {
            let names: Vec<String> = known_names()
                .into_iter()
                .filter_map(known)
                .map(|known| format!("{} (apt-get install {})", known.name, known.package))
                .collect();
            format!(
                "unknown allocator '{}': use one of {}, glibc or none, a path, or a library \
                 name the loader can find",
                shown_os(choice),
                names.join(", ")
            )
        })?
    };
    match elf::inspect(&path) {
        Ok(Kind::SharedObject(exports)) if exports.is_allocator() => Ok(Some(path)),
        Ok(kind) if names_glibc(&kind) => Err(format!(
            "{} is glibc, not a custom allocator: for glibc's malloc use --allocator glibc",
            shown_os(&path)
        )),
        Ok(kind) => Err(format!(
            "{} cannot serve as the allocator: {}",
            shown_os(&path),
            describe_unusable(&kind, "it defines neither malloc nor a known allocator API")
        )),
        Err(error) => Err(format!("cannot read {}: {error}", shown_os(&path))),
    }
}

/// glibc itself, or the libc6-dev linker script that stands for it.
fn names_glibc(kind: &Kind) -> bool {
    match kind {
        Kind::SharedObject(exports) => exports.glibc,
        Kind::LinkerScript {
            real_object: Some(real),
        } => matches!(elf::inspect(real), Ok(Kind::SharedObject(exports)) if exports.glibc),
        _ => false,
    }
}

/// Why an object of this kind cannot be preloaded for its role.
pub fn describe_unusable(kind: &Kind, wrong_exports: &str) -> String {
    match kind {
        Kind::SharedObject(_) => wrong_exports.to_owned(),
        Kind::LinkerScript {
            real_object: Some(real),
        } => format!(
            "it is a GNU ld linker script, which ld.so rejects (invalid ELF header); use {} \
             instead",
            shown_os(real)
        ),
        Kind::LinkerScript { real_object: None } => {
            "it is a GNU ld linker script, which ld.so rejects (invalid ELF header)".to_owned()
        }
        Kind::WrongMachine { found, .. } => {
            format!("it is built for another machine or word size ({found}); ld.so skips it")
        }
        Kind::NotSharedObject => {
            "it is an ELF executable or object file, not a shared object".to_owned()
        }
        Kind::NotElf => "it is not an ELF file".to_owned(),
    }
}

/// `path` made absolute, so that it still names the same file after the
/// command changes directory.
fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|error| format!("{}: {error}", shown_os(path)))
}
