//! Reading the line `MEMPROXY_DEBUG=1` makes the library print.
//!
//! Its format is set by the library's `diag.rs`:
//!
//! ```text
//! memproxy[PID]: route=custom reason=not-excluded allocator="/lib/.../libjemalloc.so.2"
//!     api="standard" execfn="/bin/true" exe="/usr/bin/true" config="..."
//!     config-source=env config-state=read match=none
//! ```
//!
//! Every field is `key=value`; values are bare words or double-quoted strings
//! with `\"`, `\\` and `\xNN` escapes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::shown::shown;

/// One parsed decision line.
#[derive(Debug, Clone, Serialize)]
pub struct DebugLine {
    /// The process that printed it.
    pub pid: u32,
    /// The line as printed.
    pub line: String,
    /// Every `key=value` field, values unescaped (and shown as text).
    pub fields: BTreeMap<String, String>,
}

impl DebugLine {
    /// The value of `key=`, if the line has that field.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// Parses `line` if it is a memproxy decision line.
pub fn parse(line: &str) -> Option<DebugLine> {
    let rest = line.strip_prefix("memproxy[")?;
    let (pid, rest) = rest.split_once("]: ")?;
    let pid = pid.parse().ok()?;
    if !rest.starts_with("route=") {
        return None;
    }
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut cursor = rest;
    while let Some(start) = cursor.find(|character| character != ' ') {
        cursor = &cursor[start..];
        let (key, after_key) = cursor.split_once('=')?;
        if key.contains(' ') {
            return None;
        }
        let (value, after) = read_value(after_key);
        fields.insert(key.to_owned(), value);
        cursor = after;
    }
    Some(DebugLine {
        pid,
        line: line.to_owned(),
        fields,
    })
}

/// A bare word up to the next space, or a quoted string; returns the value
/// and the rest of the line.
fn read_value(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(' ').unwrap_or(text.len());
        return (text[..end].to_owned(), &text[end..]);
    };
    let mut bytes = Vec::new();
    let mut chars = quoted.char_indices();
    while let Some((index, character)) = chars.next() {
        match character {
            '"' => return (shown(&bytes), &quoted[index + 1..]),
            '\\' => match chars.next() {
                Some((_, 'x')) => {
                    let hex: String = chars.by_ref().take(2).map(|(_, digit)| digit).collect();
                    bytes.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
                }
                Some((_, escaped)) => push_char(&mut bytes, escaped),
                None => break,
            },
            _ => push_char(&mut bytes, character),
        }
    }
    (shown(&bytes), "")
}

fn push_char(bytes: &mut Vec<u8>, character: char) {
    let mut buf = [0u8; 4];
    bytes.extend_from_slice(character.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bare_and_quoted_values() {
        let line = parse(
            "memproxy[42]: route=glibc reason=excluded allocator=\"/lib/libc.so.6\" \
             api=\"standard\" execfn=\"/bin/a \\\"b\\\"\\x09\" exe=\"/usr/bin/x\" \
             config=\"/c\" config-source=env config-state=read match=3 source=\"execfn name\"",
        )
        .expect("a decision line");
        assert_eq!(line.pid, 42);
        assert_eq!(line.field("route"), Some("glibc"));
        assert_eq!(line.field("execfn"), Some("/bin/a \"b\"\\x09"));
        assert_eq!(line.field("match"), Some("3"));
        assert_eq!(line.field("source"), Some("execfn name"));
        assert_eq!(line.field("config-state"), Some("read"));
    }

    #[test]
    fn rejects_a_word_that_is_not_a_field() {
        assert!(parse("memproxy[7]: route=custom reason=not-excluded match=none stray").is_none());
    }

    #[test]
    fn ignores_other_lines() {
        assert!(parse("ERROR: ld.so: object 'x' cannot be preloaded").is_none());
        assert!(parse("memproxy: glibc's malloc is not loaded; aborting").is_none());
    }
}
