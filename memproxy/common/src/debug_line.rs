//! The line `MEMPROXY_DEBUG` makes the library print, once per process:
//!
//! ```text
//! memproxy[4242]: route=glibc reason=excluded allocator="/lib/x86_64-linux-gnu/libc.so.6" ...
//! ```
//!
//! Every field is `key=value`; a value is a bare word, or a double-quoted
//! string in which `"` and `\` are escaped with `\` and control bytes are
//! written `\xNN` ([`escaped`]), so the line stays one line whatever a path
//! holds. The library writes it with these keys, in this order; the
//! command and the harness read it with [`fields`] and [`unescape`].

/// What every decision line starts with, before the pid.
pub const PREFIX: &str = "memproxy[";
/// What follows the pid.
pub const AFTER_PID: &str = "]: ";

/// The keys, in the order the library writes them. Optional ones appear only
/// where they apply.
pub mod key {
    pub const ROUTE: &str = "route";
    pub const REASON: &str = "reason";
    /// With `reason=not-first`: the object that serves the process.
    pub const FIRST: &str = "first";
    /// With `reason=allocator-unusable`: the object that could not serve.
    pub const UNUSABLE: &str = "unusable";
    pub const ALLOCATOR: &str = "allocator";
    pub const API: &str = "api";
    pub const FILLED: &str = "filled";
    /// The contracts (`memproxy_common::contracts`) whose functions go
    /// straight to the allocator's own, comma-separated, or `none`.
    pub const STRAIGHT: &str = "straight";
    pub const EXECFN: &str = "execfn";
    pub const EXE: &str = "exe";
    pub const CONFIG: &str = "config";
    pub const CONFIG_SOURCE: &str = "config-source";
    pub const CONFIG_STATE: &str = "config-state";
    pub const CONFIG_KIND: &str = "config-kind";
    pub const CONFIG_ERRNO: &str = "config-errno";
    pub const MATCH: &str = "match";
    pub const SOURCE: &str = "source";
    pub const EFFECT: &str = "effect";
    pub const BOOTSTRAP: &str = "bootstrap";
    pub const DUPLICATE_OF: &str = "duplicate-of";

    /// Every key, in order.
    pub const ALL: [&str; 20] = [
        ROUTE,
        REASON,
        FIRST,
        UNUSABLE,
        ALLOCATOR,
        API,
        FILLED,
        STRAIGHT,
        EXECFN,
        EXE,
        CONFIG,
        CONFIG_SOURCE,
        CONFIG_STATE,
        CONFIG_KIND,
        CONFIG_ERRNO,
        MATCH,
        SOURCE,
        EFFECT,
        BOOTSTRAP,
        DUPLICATE_OF,
    ];
}

/// A decision line split into its pid and its fields; `None` for any other
/// line (ld.so's warnings, the program's own output).
pub fn parse(line: &[u8]) -> Option<(u32, Fields<'_>)> {
    let rest = line.strip_prefix(PREFIX.as_bytes())?;
    let end = rest.iter().position(|&byte| !byte.is_ascii_digit())?;
    let (digits, rest) = rest.split_at(end);
    let rest = rest.strip_prefix(AFTER_PID.as_bytes())?;
    if !rest.starts_with(key::ROUTE.as_bytes()) || digits.is_empty() {
        return None;
    }
    let mut pid: u32 = 0;
    for &digit in digits {
        pid = pid.checked_mul(10)?.checked_add(u32::from(digit - b'0'))?;
    }
    Some((pid, Fields { rest }))
}

/// The `key=value` fields of a line; a value is returned as written (quoted
/// and escaped, or bare). An item is `Err` where the line stops being
/// fields (a word without `=`, an unterminated quote).
pub struct Fields<'l> {
    rest: &'l [u8],
}

/// A field that is not `key=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'l> Iterator for Fields<'l> {
    type Item = Result<(&'l [u8], &'l [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.rest.iter().position(|&byte| byte != b' ')?;
        let field = self.rest.get(start..).unwrap_or(&[]);
        let Some(equals) = field.iter().position(|&byte| byte == b'=' || byte == b' ') else {
            self.rest = &[];
            return Some(Err(Malformed));
        };
        if field.get(equals) != Some(&b'=') {
            self.rest = &[];
            return Some(Err(Malformed));
        }
        let key = field.get(..equals).unwrap_or(&[]);
        let value_start = equals + 1;
        let value_end = if field.get(value_start) == Some(&b'"') {
            match closing_quote(field.get(value_start + 1..).unwrap_or(&[])) {
                Some(length) => value_start + 1 + length + 1,
                None => {
                    self.rest = &[];
                    return Some(Err(Malformed));
                }
            }
        } else {
            field
                .get(value_start..)
                .unwrap_or(&[])
                .iter()
                .position(|&byte| byte == b' ')
                .map_or(field.len(), |length| value_start + length)
        };
        let value = field.get(value_start..value_end).unwrap_or(&[]);
        self.rest = field.get(value_end..).unwrap_or(&[]);
        Some(Ok((key, value)))
    }
}

/// The length of a quoted string's body, up to its unescaped closing quote.
fn closing_quote(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(&byte) = body.get(at) {
        match byte {
            b'"' => return Some(at),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    None
}

/// The bytes a value stands for: a quoted value unescaped, a bare one as
/// it is. Yields each byte in turn, so callers choose their own storage.
pub fn unescape(value: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let quoted = value.len() >= 2 && value.first() == Some(&b'"') && value.last() == Some(&b'"');
    let body = if quoted {
        value.get(1..value.len() - 1).unwrap_or(&[])
    } else {
        value
    };
    let mut at = 0;
    core::iter::from_fn(move || {
        let byte = *body.get(at)?;
        if !quoted || byte != b'\\' {
            at += 1;
            return Some(byte);
        }
        match body.get(at + 1) {
            Some(b'x') => {
                let digit = |offset: usize| {
                    body.get(at + offset)
                        .and_then(|&d| char::from(d).to_digit(16))
                        .map(|d| d as u8)
                };
                let byte = digit(2).zip(digit(3)).map(|(high, low)| high * 16 + low);
                at += 4;
                Some(byte.unwrap_or(b'?'))
            }
            Some(&escaped) => {
                at += 2;
                Some(escaped)
            }
            None => {
                at += 1;
                Some(b'\\')
            }
        }
    })
}

/// How a quoted value writes `byte`: as itself (`None`), after a `\`
/// (`"` and `\`), or as `\xNN` (control bytes).
pub fn escaped(byte: u8) -> Option<Escape> {
    match byte {
        b'"' | b'\\' => Some(Escape::Backslash),
        0..0x20 | 0x7f => Some(Escape::Hex),
        _ => None,
    }
}

/// See [`escaped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Backslash,
    Hex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_bare_and_quoted_fields() {
        let line = br#"memproxy[42]: route=glibc reason=excluded execfn="/bin/a \"b\"\x09c" match=3 source="execfn name""#;
        let (pid, fields) = parse(line).expect("a decision line");
        assert_eq!(pid, 42);
        let mut seen = [(&b""[..], &b""[..]); 5];
        for (slot, field) in seen.iter_mut().zip(fields) {
            *slot = field.expect("well-formed");
        }
        assert_eq!(seen[0], (&b"route"[..], &b"glibc"[..]));
        assert_eq!(seen[2], (&b"execfn"[..], &br#""/bin/a \"b\"\x09c""#[..]));
        assert_eq!(seen[4], (&b"source"[..], &br#""execfn name""#[..]));
        let mut unescaped = [0u8; 16];
        let mut length = 0;
        for (slot, byte) in unescaped.iter_mut().zip(unescape(seen[2].1)) {
            *slot = byte;
            length += 1;
        }
        assert_eq!(&unescaped[..length], b"/bin/a \"b\"\tc");
    }

    #[test]
    fn other_lines_are_not_decision_lines() {
        assert!(parse(b"ERROR: ld.so: object 'x' cannot be preloaded").is_none());
        assert!(parse(b"memproxy: glibc's malloc is not loaded; aborting").is_none());
        assert!(parse(b"memproxy[]: route=glibc").is_none());
    }

    #[test]
    fn a_stray_word_is_malformed() {
        let (_, fields) = parse(b"memproxy[7]: route=custom match=none stray").unwrap();
        let last = fields.last().unwrap();
        assert_eq!(last, Err(Malformed));
    }
}
