//! memproxy's `MEMPROXY_DEBUG` line: `memproxy[PID]: key=value ...`, one
//! per process, read with the parser of the crate whose keys the library
//! writes (`memproxy_common::debug_line`). It is memproxy's own account,
//! which tests check only for what it claims; ownership is asked of the
//! allocators.

use std::collections::BTreeMap;

use memproxy_common::debug_line::{self, key};

/// One `MEMPROXY_DEBUG` line: `memproxy[PID]: key=value ...`, values bare or
/// quoted with `\"`, `\\` and `\xNN` escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugLine {
    pub pid: u32,
    pub fields: BTreeMap<String, String>,
    pub text: String,
}

impl DebugLine {
    /// Parses a decision line with `memproxy_common::debug_line`, the format
    /// the library writes; `None` for any other line.
    pub fn parse(line: &str) -> Option<DebugLine> {
        let (pid, raw_fields) = debug_line::parse(line.as_bytes())?;
        let mut fields = BTreeMap::new();
        for field in raw_fields {
            let (key, value) = field.ok()?;
            let value: Vec<u8> = debug_line::unescape(value).collect();
            fields.insert(
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            );
        }
        Some(DebugLine {
            pid,
            fields,
            text: line.to_owned(),
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    pub fn route(&self) -> &str {
        self.get(key::ROUTE).unwrap_or_default()
    }

    pub fn reason(&self) -> &str {
        self.get(key::REASON).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::DebugLine;

    #[test]
    fn reads_quoted_and_escaped_values() {
        let line = r#"memproxy[42]: route=glibc reason=excluded allocator="/lib/x86_64-linux-gnu/libc.so.6" api="standard" execfn="/usr/bin/a \"b\"\x0a" exe="/usr/bin/dash" config="/c" config-source=env config-state=read match=2 source="exe name""#;
        let parsed = DebugLine::parse(line).expect("a debug line");
        assert_eq!(parsed.pid, 42);
        assert_eq!(parsed.route(), "glibc");
        assert_eq!(parsed.reason(), "excluded");
        assert_eq!(parsed.get("execfn"), Some("/usr/bin/a \"b\"\n"));
        assert_eq!(parsed.get("match"), Some("2"));
        assert_eq!(parsed.get("source"), Some("exe name"));
        assert!(DebugLine::parse("ERROR: ld.so: object").is_none());
    }
}
