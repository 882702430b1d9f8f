//! The preload lists as ld.so reads them, and finding the files they name.
//!
//! ld.so loads `LD_PRELOAD` first, split at spaces and colons, then
//! `/etc/ld.so.preload`, split at blanks, newlines and colons with `#`
//! comments (glibc's `rtld.c`). A name without `/` is searched for like any
//! library: `LD_LIBRARY_PATH`, the ld.so cache, then the system directories.
//! `doctor` judges that combined order, and `run` uses the same search to
//! find allocators by name.

use memproxy_common::preload_list;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// The preload file ld.so reads.
pub const SYSTEM_PRELOAD_FILE: &str = preload_list::SYSTEM_FILE;

/// Debian's multiarch directory name for this machine.
pub const MULTIARCH: &str = memproxy_common::multiarch::TUPLE;

/// ld.so's system search path on Debian, after the cache.
pub fn system_library_dirs() -> [PathBuf; 4] {
    [
        PathBuf::from(format!("/lib/{MULTIARCH}")),
        PathBuf::from(format!("/usr/lib/{MULTIARCH}")),
        PathBuf::from("/lib"),
        PathBuf::from("/usr/lib"),
    ]
}

/// Which list an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ListSource {
    #[serde(rename = "LD_PRELOAD")]
    Environment,
    #[serde(rename = "preload-file")]
    File,
}

impl ListSource {
    /// How text output names the list.
    pub fn label(self) -> &'static str {
        match self {
            ListSource::Environment => "LD_PRELOAD",
            ListSource::File => "preload file",
        }
    }
}

/// Splits an `LD_PRELOAD` value as ld.so does (see
/// `memproxy_common::preload_list`).
pub fn split_environment(value: &[u8]) -> Vec<Vec<u8>> {
    preload_list::environment_entries(value)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Splits `/etc/ld.so.preload` contents as ld.so does.
pub fn split_file(contents: &[u8]) -> Vec<Vec<u8>> {
    preload_list::file_entries(contents)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Joins names into one `LD_PRELOAD` value.
pub fn join(names: &[&OsStr]) -> OsString {
    let mut joined = OsString::new();
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            joined.push(":");
        }
        joined.push(name);
    }
    joined
}

/// Where ld.so would find `name`: the path itself when it holds `/`
/// (relative to the current directory), else the library search.
pub fn locate(name: &[u8]) -> Option<PathBuf> {
    let as_path = Path::new(OsStr::from_bytes(name));
    if name.contains(&b'/') {
        return as_path.exists().then(|| as_path.to_owned());
    }
    library_path_dirs()
        .into_iter()
        .map(|dir| dir.join(as_path))
        .find(|candidate| candidate.is_file())
        .or_else(|| from_ld_cache(name))
        .or_else(|| {
            system_library_dirs()
                .into_iter()
                .map(|dir| dir.join(as_path))
                .find(|candidate| candidate.is_file())
        })
}

fn library_path_dirs() -> Vec<PathBuf> {
    let Some(value) = std::env::var_os("LD_LIBRARY_PATH") else {
        return Vec::new();
    };
    value
        .as_bytes()
        .split(|&byte| matches!(byte, b':' | b';'))
        .filter(|dir| !dir.is_empty())
        .map(|dir| PathBuf::from(OsStr::from_bytes(dir)))
        .collect()
}

/// Looks `name` up in `ldconfig -p` for this machine's word size.
fn from_ld_cache(name: &[u8]) -> Option<PathBuf> {
    let output = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|ldconfig| Command::new(ldconfig).arg("-p").output().ok())?;
    let wanted_abi: &[u8] = if cfg!(target_pointer_width = "64") {
        b"64"
    } else {
        b"libc6)"
    };
    output.stdout.split(|&byte| byte == b'\n').find_map(|line| {
        // "\tlibjemalloc.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libjemalloc.so.2"
        let line = line.trim_ascii();
        let (left, path) = split_once(line, b" => ")?;
        let (soname, abi) = split_once(left, b" (")?;
        let matches_abi = abi.windows(wanted_abi.len()).any(|part| part == wanted_abi);
        (soname == name && matches_abi).then(|| PathBuf::from(OsString::from_vec(path.to_vec())))
    })
}

fn split_once<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = haystack
        .windows(needle.len())
        .position(|window| window == needle)?;
    Some((&haystack[..at], &haystack[at + needle.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_splits_at_spaces_and_colons_only() {
        assert_eq!(
            split_environment(b"a.so: b.so::c\td.so"),
            vec![b"a.so".to_vec(), b"b.so".to_vec(), b"c\td.so".to_vec()]
        );
    }

    #[test]
    fn file_drops_comments_and_splits_at_blanks() {
        assert_eq!(
            split_file(b"# comment\na.so:b.so # trailing\n\tc.so\n"),
            vec![b"a.so".to_vec(), b"b.so".to_vec(), b"c.so".to_vec()]
        );
    }
}
