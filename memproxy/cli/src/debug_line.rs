//! Reading the line `MEMPROXY_DEBUG=1` makes the library print.
//!
//! Its format is set by the library's `diag.rs`:
//!
//! ```text
//! memproxy[PID]: route=custom reason=not-excluded allocator="/lib/.../libjemalloc.so.2"
//!     api="standard" execfn="/bin/true" exe="/usr/bin/true" config="..." match=none
//! ```
//!
//! Values are bare words or double-quoted strings with `\"`, `\\` and `\xNN`
//! escapes. A few fields carry extra bare words (`match=line 3 source="exe
//! name"`, `match=none config-missing`); such words are appended to the
//! preceding field's value, so every word of the line survives.

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
    let mut last_key: Option<String> = None;
    let mut cursor = rest;
    while let Some(start) = cursor.find(|character| character != ' ') {
        cursor = &cursor[start..];
        let word_end = cursor.find([' ', '=']).unwrap_or(cursor.len());
        if cursor[word_end..].starts_with('=') {
            let key = cursor[..word_end].to_owned();
            let (value, after) = read_value(&cursor[word_end + 1..]);
            fields.insert(key.clone(), value);
            last_key = Some(key);
            cursor = after;
        } else {
            let word = &cursor[..word_end];
            if let Some(value) = last_key.as_ref().and_then(|key| fields.get_mut(key)) {
                value.push(' ');
                value.push_str(word);
            }
            cursor = &cursor[word_end..];
        }
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
    fn reads_quoted_values_and_extra_words() {
        let line = parse(
            "memproxy[42]: route=glibc reason=excluded allocator=\"/lib/libc.so.6\" \
             api=\"standard\" execfn=\"/bin/a \\\"b\\\"\\x09\" exe=\"/usr/bin/x\" \
             config=\"/c\" match=line 3 source=\"execfn name\"",
        )
        .expect("a decision line");
        assert_eq!(line.pid, 42);
        assert_eq!(line.field("route"), Some("glibc"));
        assert_eq!(line.field("execfn"), Some("/bin/a \"b\"\\x09"));
        assert_eq!(line.field("match"), Some("line 3"));
        assert_eq!(line.field("source"), Some("execfn name"));
    }

    #[test]
    fn keeps_extra_words_of_a_missing_config() {
        let line = parse("memproxy[7]: route=custom reason=not-excluded match=none config-missing")
            .expect("a decision line");
        assert_eq!(line.field("match"), Some("none config-missing"));
    }

    #[test]
    fn ignores_other_lines() {
        assert!(parse("ERROR: ld.so: object 'x' cannot be preloaded").is_none());
        assert!(parse("memproxy: glibc's malloc is not loaded; aborting").is_none());
    }
}
