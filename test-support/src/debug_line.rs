//! memproxy's `MEMPROXY_DEBUG` line, read as the README documents it (not
//! with memproxy's code): `memproxy[PID]: key=value ...`, one per process.

use std::collections::BTreeMap;

/// One `MEMPROXY_DEBUG` line: `memproxy[PID]: key=value ...`, values bare or
/// quoted with `\"`, `\\` and `\xNN` escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugLine {
    pub pid: u32,
    pub fields: BTreeMap<String, String>,
    pub text: String,
}

impl DebugLine {
    pub fn parse(line: &str) -> Option<DebugLine> {
        let rest = line.strip_prefix("memproxy[")?;
        let (pid, mut rest) = rest.split_once("]: ")?;
        let pid = pid.parse().ok()?;
        let mut fields = BTreeMap::new();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                unquote(quoted)?
            } else {
                let (value, after) = after.split_once(' ').unwrap_or((after, ""));
                (value.to_owned(), after)
            };
            fields.insert(key.to_owned(), value);
            rest = after.trim_start_matches(' ');
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
        self.get("route").unwrap_or_default()
    }

    pub fn reason(&self) -> &str {
        self.get("reason").unwrap_or_default()
    }
}

/// The value of a quoted field (after its opening quote) and what follows
/// its closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[index + 1..])),
            '\\' => match chars.next()?.1 {
                'x' => {
                    let high = chars.next()?.1.to_digit(16)?;
                    let low = chars.next()?.1.to_digit(16)?;
                    value.push(char::from((high * 16 + low) as u8));
                }
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
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
