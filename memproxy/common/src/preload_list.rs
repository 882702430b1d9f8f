//! The two preload lists as ld.so (glibc's `rtld.c`) splits them: `LD_PRELOAD`
//! first, then `/etc/ld.so.preload`.

use core::ffi::CStr;

macro_rules! system_file {
    () => {
        "/etc/ld.so.preload"
    };
}

/// The file ld.so reads in every dynamically linked process.
pub const SYSTEM_FILE: &str = system_file!();

/// [`SYSTEM_FILE`] for system calls.
pub const SYSTEM_FILE_C: &CStr =
    match CStr::from_bytes_with_nul(concat!(system_file!(), "\0").as_bytes()) {
        Ok(path) => path,
        Err(_) => panic!("no NUL inside the path"),
    };

/// The entries of an `LD_PRELOAD` value: separated by spaces and colons.
pub fn environment_entries(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| matches!(byte, b' ' | b':'))
        .filter(|entry| !entry.is_empty())
}

/// The entries of `/etc/ld.so.preload`: separated by blanks, newlines and
/// colons; `#` starts a comment that runs to the end of the line.
pub fn file_entries(contents: &[u8]) -> impl Iterator<Item = &[u8]> {
    contents
        .split(|&byte| byte == b'\n')
        .flat_map(|line| {
            line.split(|&byte| byte == b'#')
                .next()
                .unwrap_or(&[])
                .split(|&byte| matches!(byte, b' ' | b'\t' | b':'))
        })
        .filter(|entry| !entry.is_empty())
}

/// Whether a list entry names the object at `path`: an entry holding a `/`
/// is a path; any other is a name ld.so looks up, which names the object
/// whose file has that name.
pub fn entry_names(entry: &[u8], path: &[u8]) -> bool {
    if entry.contains(&b'/') {
        entry == path
    } else {
        let name = match path.iter().rposition(|&byte| byte == b'/') {
            Some(slash) => path.get(slash + 1..).unwrap_or(&[]),
            None => path,
        };
        entry == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<'a>(entries: impl Iterator<Item = &'a [u8]>) -> [&'a [u8]; 3] {
        let mut out: [&[u8]; 3] = [b""; 3];
        for (slot, entry) in out.iter_mut().zip(entries) {
            *slot = entry;
        }
        out
    }

    #[test]
    fn the_variable_splits_at_spaces_and_colons_only() {
        assert_eq!(
            collect(environment_entries(b" a.so::b.so\tc c.so ")),
            [&b"a.so"[..], b"b.so\tc", b"c.so"]
        );
    }

    #[test]
    fn the_file_has_comments_and_blanks() {
        assert_eq!(
            collect(file_entries(b"# all\n/a.so b.so # c.so\n\tx.so:")),
            [&b"/a.so"[..], b"b.so", b"x.so"]
        );
    }

    #[test]
    fn names_and_paths() {
        assert!(entry_names(b"libjemalloc.so.2", b"/lib/x/libjemalloc.so.2"));
        assert!(entry_names(
            b"/lib/x/libjemalloc.so.2",
            b"/lib/x/libjemalloc.so.2"
        ));
        assert!(!entry_names(
            b"/usr/lib/x/libjemalloc.so.2",
            b"/lib/x/libjemalloc.so.2"
        ));
    }
}
