//! Whether `LD_PRELOAD` or `/etc/ld.so.preload` lists an object, parsed as
//! ld.so parses them. A prefixed-only allocator that a program merely links
//! against must not take over the whole process.

use memproxy_common::preload_list;
use memproxy_config::ReadBytes;

use crate::sys::{self, Fd};

/// Whether either list names `path`, by full path or by name. `scratch` holds
/// the variable or the file; only the file's first `scratch.len()` bytes are
/// considered.
pub fn names(path: &[u8], scratch: &mut [u8]) -> bool {
    let variable = sys::start_env(b"LD_PRELOAD", scratch).value();
    if variable.is_some_and(|list| variable_names(list, path)) {
        return true;
    }
    let Ok(mut file) = Fd::open_read_only(preload_list::SYSTEM_FILE_C) else {
        return false;
    };
    let mut length = 0;
    while let Some(free) = scratch.get_mut(length..).filter(|free| !free.is_empty()) {
        match file.read(free) {
            Ok(0) | Err(_) => break,
            Ok(count) => length += count,
        }
    }
    file_names(scratch.get(..length).unwrap_or(&[]), path)
}

/// What ld.so put for `$LIB` and `$PLATFORM` in this process's entries:
/// Debian's directory for the ABI this library is built for, and the
/// kernel's AT_PLATFORM. `$ORIGIN` entries are taken to name nothing.
fn token_values() -> preload_list::TokenValues<'static> {
    let platform = sys::aux_string(libc::AT_PLATFORM);
    preload_list::TokenValues {
        origin: None,
        platform: (!platform.is_empty()).then_some(platform),
        lib: Some(memproxy_common::multiarch::LIB_TOKEN.as_bytes()),
    }
}

fn variable_names(list: &[u8], path: &[u8]) -> bool {
    let values = token_values();
    preload_list::environment_entries(list)
        .any(|entry| preload_list::entry_names(entry, path, &values))
}

fn file_names(contents: &[u8], path: &[u8]) -> bool {
    let values = token_values();
    preload_list::file_entries(contents)
        .any(|entry| preload_list::entry_names(entry, path, &values))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &[u8] = b"/usr/lib/libmimalloc.so.2";

    #[test]
    fn the_variable_is_split_at_spaces_and_colons() {
        assert!(variable_names(
            b"/lib/libmemproxy.so:/usr/lib/libmimalloc.so.2",
            MI
        ));
        assert!(variable_names(b"/lib/libmemproxy.so libmimalloc.so.2", MI));
        assert!(!variable_names(
            b"/lib/libmemproxy.so\tlibmimalloc.so.2",
            MI
        ));
        assert!(!variable_names(b"/other/libmimalloc.so.2", MI));
        assert!(!variable_names(b"", MI));
    }

    #[test]
    fn the_file_has_comments_and_more_separators() {
        assert!(file_names(
            b"# preloads\n/lib/libmemproxy.so\tlibmimalloc.so.2\n",
            MI
        ));
        assert!(file_names(
            b"/lib/libmemproxy.so:/usr/lib/libmimalloc.so.2",
            MI
        ));
        assert!(!file_names(b"/lib/libmemproxy.so # libmimalloc.so.2\n", MI));
        assert!(!file_names(b"#/usr/lib/libmimalloc.so.2\n", MI));
    }
}
