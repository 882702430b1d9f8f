//! The preload lists as ld.so reads them, and finding the files they name.
//!
//! ld.so loads `LD_PRELOAD` first, split at spaces and colons, then
//! `/etc/ld.so.preload`, split at blanks, newlines and colons with `#`
//! comments (glibc's `rtld.c`). A name without `/` is searched for like any
//! library: `LD_LIBRARY_PATH`, the ld.so cache, then the system directories.
//! `doctor` judges that combined order, and `run` uses the same search to
//! find allocators by name.

use memproxy_common::preload_list::{self, Piece, Token};
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

/// Splits `/etc/ld.so.preload` contents as ld.so does: `#` starts a comment
/// that runs to the end of the line, as far as ld.so's comment stripping
/// reaches (see [`strip_comments`]); names are separated by spaces, tabs,
/// newlines and colons.
pub fn split_file(contents: &[u8]) -> Vec<Vec<u8>> {
    strip_comments(contents)
        .split(|&byte| matches!(byte, b' ' | b'\t' | b'\n' | b':'))
        .filter(|name| !name.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The names the file would hold if every `#` comment were ignored
/// (`memproxy_common::preload_list`, as the library reads the file); differs
/// from [`split_file`] when ld.so would read part of a comment as names.
pub fn split_file_intended(contents: &[u8]) -> Vec<Vec<u8>> {
    preload_list::file_entries(contents)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Blanks comments exactly as glibc's ld.so does (`elf/rtld.c`, checked in
/// 2.36): it searches for each `#` from the start of the file, but within a
/// length it shrinks by the offset of every comment found and by its length.
/// So a comment is ignored only while it lies within that shrinking window;
/// the first comment that does not stops the stripping, and it and every
/// later comment are read as names.
pub fn strip_comments(contents: &[u8]) -> Vec<u8> {
    let mut file = contents.to_vec();
    let mut rest = file.len();
    while rest > 0 {
        let Some(mut at) = file
            .get(..rest)
            .and_then(|window| window.iter().position(|&byte| byte == b'#'))
        else {
            break;
        };
        rest -= at;
        loop {
            if let Some(byte) = file.get_mut(at) {
                *byte = b' ';
            }
            rest -= 1;
            if rest == 0 {
                break;
            }
            at += 1;
            if file.get(at) == Some(&b'\n') {
                break;
            }
        }
    }
    file
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

/// A preload entry with ld.so's dynamic string tokens replaced for the
/// programs of one ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Substituted {
    /// No token ld.so replaces: no `$ORIGIN`, `$PLATFORM` or `$LIB` (or
    /// `${...}`), or no `/`, since ld.so expands tokens only in paths.
    Literal,
    /// The path the programs of that ABI load.
    Path(Vec<u8>),
    /// `$ORIGIN`: each program's own directory (and, in a setuid program,
    /// nothing that ld.so honours).
    Origin,
    /// `$PLATFORM`, whose value for that ABI is not known here: ld.so, when
    /// it has none either, drops the entry.
    PlatformUnknown,
}

/// Replaces `$LIB` with `lib` and `$PLATFORM` with `platform` in a preload
/// entry, as `_dl_dst_substitute` does for the programs of one ABI (the
/// entry walk is `memproxy_common::preload_list::pieces`, which the library
/// follows too); unknown `$NAME`s stay as written.
pub fn substitute(entry: &[u8], lib: &str, platform: Option<&str>) -> Substituted {
    if !entry.contains(&b'/') {
        return Substituted::Literal;
    }
    let mut expanded = Vec::with_capacity(entry.len() + 32);
    let mut replaced = false;
    let mut platform_unknown = false;
    for piece in preload_list::pieces(entry) {
        let token = match piece {
            Piece::Literal(&byte) => {
                expanded.push(byte);
                continue;
            }
            Piece::Token(token) => token,
        };
        let value = match token {
            Token::Origin => return Substituted::Origin,
            Token::Platform => platform,
            Token::Lib => Some(lib),
        };
        match value {
            Some(value) => expanded.extend_from_slice(value.as_bytes()),
            None => platform_unknown = true,
        }
        replaced = true;
    }
    match (platform_unknown, replaced) {
        (true, _) => Substituted::PlatformUnknown,
        (false, true) => Substituted::Path(expanded),
        (false, false) => Substituted::Literal,
    }
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
    fn tokens_are_replaced_as_ld_so_replaces_them() {
        let lib = "lib/i386-linux-gnu";
        let path = |text: &str| Substituted::Path(text.as_bytes().to_vec());
        assert_eq!(
            substitute(b"/usr/local/$LIB/libmemproxy.so", lib, Some("i686")),
            path("/usr/local/lib/i386-linux-gnu/libmemproxy.so")
        );
        assert_eq!(
            substitute(b"/opt/${PLATFORM}/${LIB}/a.so", lib, Some("i686")),
            path("/opt/i686/lib/i386-linux-gnu/a.so")
        );
        assert_eq!(
            substitute(b"/opt/$PLATFORM/$LIB", lib, Some("i686")),
            path("/opt/i686/lib/i386-linux-gnu")
        );
        // Not tokens: a longer identifier, an unclosed brace, an unknown
        // name, and no slash at all (ld.so then searches the name as is).
        for literal in [
            &b"/opt/$LIBX/a.so"[..],
            b"/opt/$LIB_2/a.so",
            b"/opt/${LIB/a.so",
            b"/opt/$HOME/a.so",
            b"$LIB",
            b"lib$LIB.so",
        ] {
            assert_eq!(substitute(literal, lib, Some("i686")), Substituted::Literal);
        }
        assert_eq!(
            substitute(b"/opt/$LIB.d/a.so", lib, None),
            path("/opt/lib/i386-linux-gnu.d/a.so")
        );
        assert_eq!(
            substitute(b"$ORIGIN/../$LIB/a.so", lib, Some("i686")),
            Substituted::Origin
        );
        assert_eq!(
            substitute(b"/opt/${ORIGIN}/a.so", lib, Some("i686")),
            Substituted::Origin
        );
        assert_eq!(
            substitute(b"/opt/$PLATFORM/a.so", lib, None),
            Substituted::PlatformUnknown
        );
    }

    #[test]
    fn environment_splits_at_spaces_and_colons_only() {
        assert_eq!(
            split_environment(b"a.so: b.so::c\td.so"),
            vec![b"a.so".to_vec(), b"b.so".to_vec(), b"c\td.so".to_vec()]
        );
    }

    #[test]
    fn a_comment_far_from_the_start_is_read_as_names_as_ld_so_does() {
        // Checked against ld.so 2.36: a long first comment shrinks the window
        // the next '#' is searched in, and "# foreign comment" loads '#',
        // 'foreign' and 'comment'.
        let file = b"# a first comment, long enough to matter\nlib.so\n# foreign comment\n";
        assert_eq!(
            split_file(file),
            vec![
                b"lib.so".to_vec(),
                b"#".to_vec(),
                b"foreign".to_vec(),
                b"comment".to_vec()
            ]
        );
        assert_eq!(split_file_intended(file), vec![b"lib.so".to_vec()]);
        assert_eq!(
            split_file(b"lib.so\n# near the start\n"),
            vec![b"lib.so".to_vec()]
        );
    }

    #[test]
    fn file_drops_comments_and_splits_at_blanks() {
        // Both checked against ld.so 2.36: it reads 'trailing' from the first
        // file, since the window ends just after the second '#'.
        assert_eq!(
            split_file(b"# comment\na.so:b.so\n\tc.so # trailing\n"),
            vec![
                b"a.so".to_vec(),
                b"b.so".to_vec(),
                b"c.so".to_vec(),
                b"trailing".to_vec()
            ]
        );
        assert_eq!(
            split_file(b"# comment\na.so:b.so\n\tc.so\n"),
            vec![b"a.so".to_vec(), b"b.so".to_vec(), b"c.so".to_vec()]
        );
        assert_eq!(
            split_file(b"# comment\na.so:b.so # trailing\n\tc.so\n"),
            vec![
                b"a.so".to_vec(),
                b"b.so".to_vec(),
                b"ng".to_vec(),
                b"c.so".to_vec()
            ]
        );
    }
}
