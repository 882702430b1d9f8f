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

/// ld.so's dynamic string tokens, which it replaces in entries holding a
/// `/` (glibc's `_dl_dst_substitute`, checked in 2.36).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The program's own directory.
    Origin,
    /// AT_PLATFORM.
    Platform,
    /// The ABI's library directory: `lib/<multiarch tuple>` on Debian.
    Lib,
}

/// The token that starts right after a `$`, and its length after the `$`:
/// `{NAME}`, or `NAME` not followed by a letter, digit or `_` (glibc's
/// `is_dst`).
pub fn token_at(after_dollar: &[u8]) -> Option<(Token, usize)> {
    [
        (Token::Origin, &b"ORIGIN"[..]),
        (Token::Platform, b"PLATFORM"),
        (Token::Lib, b"LIB"),
    ]
    .into_iter()
    .find_map(|(token, name)| {
        let length = if let Some(rest) = after_dollar.strip_prefix(b"{") {
            (rest.starts_with(name) && rest.get(name.len()) == Some(&b'}'))
                .then_some(name.len() + 2)?
        } else {
            let continues_identifier = after_dollar
                .get(name.len())
                .is_some_and(|&byte| byte.is_ascii_alphanumeric() || byte == b'_');
            (after_dollar.starts_with(name) && !continues_identifier).then_some(name.len())?
        };
        Some((token, length))
    })
}

/// A piece of a preload entry as ld.so reads it: a literal byte, or a token
/// to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Literal(&'a u8),
    Token(Token),
}

/// `entry`'s pieces, in order: the one walk over an entry's tokens, for the
/// library's comparison (which must not allocate) and the command's
/// expansion alike.
pub fn pieces(entry: &[u8]) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = entry;
    core::iter::from_fn(move || {
        let (byte, after) = rest.split_first()?;
        if *byte == b'$' {
            if let Some((token, length)) = token_at(after) {
                rest = after.get(length..).unwrap_or(&[]);
                return Some(Piece::Token(token));
            }
        }
        rest = after;
        Some(Piece::Literal(byte))
    })
}

/// What the tokens stand for in one process; `None` where unknown, which
/// makes an entry using that token name nothing (ld.so drops such an
/// entry too).
#[derive(Debug, Clone, Copy)]
pub struct TokenValues<'a> {
    pub origin: Option<&'a [u8]>,
    pub platform: Option<&'a [u8]>,
    pub lib: Option<&'a [u8]>,
}

impl TokenValues<'_> {
    fn get(&self, token: Token) -> Option<&[u8]> {
        match token {
            Token::Origin => self.origin,
            Token::Platform => self.platform,
            Token::Lib => self.lib,
        }
    }
}

/// Whether a list entry names the object at `path`: an entry holding a `/`
/// is a path, its tokens replaced by `values`; any other is a name ld.so
/// looks up, which names the object whose file has that name.
pub fn entry_names(entry: &[u8], path: &[u8], values: &TokenValues<'_>) -> bool {
    if entry.contains(&b'/') {
        expands_to(entry, path, values)
    } else {
        let name = match path.iter().rposition(|&byte| byte == b'/') {
            Some(slash) => path.get(slash + 1..).unwrap_or(&[]),
            None => path,
        };
        entry == name
    }
}

/// Whether `entry`, its tokens replaced, is `path`; compared as it goes,
/// without building the expansion.
fn expands_to(entry: &[u8], mut path: &[u8], values: &TokenValues<'_>) -> bool {
    for piece in pieces(entry) {
        let expected = match piece {
            Piece::Literal(byte) => core::slice::from_ref(byte),
            Piece::Token(token) => match values.get(token) {
                Some(value) => value,
                None => return false,
            },
        };
        match path.strip_prefix(expected) {
            Some(remaining) => path = remaining,
            None => return false,
        }
    }
    path.is_empty()
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

    const NONE: TokenValues<'static> = TokenValues {
        origin: None,
        platform: None,
        lib: None,
    };

    #[test]
    fn names_and_paths() {
        assert!(entry_names(
            b"libjemalloc.so.2",
            b"/lib/x/libjemalloc.so.2",
            &NONE
        ));
        assert!(entry_names(
            b"/lib/x/libjemalloc.so.2",
            b"/lib/x/libjemalloc.so.2",
            &NONE
        ));
        assert!(!entry_names(
            b"/usr/lib/x/libjemalloc.so.2",
            b"/lib/x/libjemalloc.so.2",
            &NONE
        ));
    }

    #[test]
    fn paths_with_tokens_name_their_expansion() {
        let values = TokenValues {
            origin: None,
            platform: Some(b"x86_64"),
            lib: Some(b"lib/x86_64-linux-gnu"),
        };
        let tbb = b"/usr/lib/x86_64-linux-gnu/libtbbmalloc.so.2";
        assert!(entry_names(b"/usr/$LIB/libtbbmalloc.so.2", tbb, &values));
        assert!(entry_names(b"/usr/${LIB}/libtbbmalloc.so.2", tbb, &values));
        assert!(entry_names(
            b"/opt/$PLATFORM/x.so",
            b"/opt/x86_64/x.so",
            &values
        ));
        assert!(!entry_names(b"/usr/$LIB/libtbbmalloc.so.2", tbb, &NONE));
        assert!(!entry_names(b"/usr/$LIB/libtbbmalloc.so", tbb, &values));
        assert!(!entry_names(b"$ORIGIN/libtbbmalloc.so.2", tbb, &values));
        // Not a token: compared as written.
        assert!(entry_names(b"/a/$LIBX/b.so", b"/a/$LIBX/b.so", &values));
        assert!(!entry_names(
            b"/a/$LIBX/b.so",
            b"/a/lib/x86_64-linux-gnuX/b.so",
            &values
        ));
    }

    #[test]
    fn tokens_follow_ld_so_rule() {
        assert_eq!(token_at(b"LIB/x"), Some((Token::Lib, 3)));
        assert_eq!(token_at(b"{LIB}x"), Some((Token::Lib, 5)));
        assert_eq!(token_at(b"LIB"), Some((Token::Lib, 3)));
        assert_eq!(token_at(b"PLATFORM.d"), Some((Token::Platform, 8)));
        assert_eq!(token_at(b"{ORIGIN}/"), Some((Token::Origin, 8)));
        for not_a_token in [
            &b"LIBX"[..],
            b"LIB_",
            b"LIB2",
            b"{LIB",
            b"{LIB/",
            b"HOME",
            b"",
        ] {
            assert_eq!(token_at(not_a_token), None, "{:?}", not_a_token);
        }
    }
}
