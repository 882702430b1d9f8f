//! Reading the line `MEMPROXY_DEBUG=1` makes the library print.
//!
//! Its format is set by `memproxy_common::debug_line`, which the library's
//! `diag.rs` writes with:
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

use memproxy_common::debug_line;

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

/// Parses `line` if it is a memproxy decision line (with the parser of
/// `memproxy_common::debug_line`, whose keys the library writes).
pub fn parse(line: &str) -> Option<DebugLine> {
    let (pid, fields) = debug_line::parse(line.as_bytes())?;
    let mut parsed = BTreeMap::new();
    for field in fields {
        let (key, value) = field.ok()?;
        let value: Vec<u8> = debug_line::unescape(value).collect();
        parsed.insert(String::from_utf8_lossy(key).into_owned(), shown(&value));
    }
    Some(DebugLine {
        pid,
        line: line.to_owned(),
        fields: parsed,
    })
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
