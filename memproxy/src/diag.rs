//! The one line `MEMPROXY_DEBUG=1` prints when the route is decided.
//!
//! Formatted into a fixed buffer: printing must not allocate, since this runs
//! inside the first `malloc`. Names are quoted, with control bytes, quotes
//! and backslashes escaped, so the line stays one line whatever a file name
//! holds.

use crate::decision::{ConfigSource, Decision, Reason};
use crate::exclusion::Verdict;
use crate::sys;

struct Line<'b> {
    buf: &'b mut [u8],
    length: usize,
}

impl Line<'_> {
    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            if let Some(slot) = self.buf.get_mut(self.length) {
                *slot = byte;
                self.length += 1;
            }
        }
        self
    }

    fn quoted(&mut self, bytes: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.raw(b"\"");
        for &byte in bytes {
            match byte {
                b'"' | b'\\' => self.raw(&[b'\\', byte]),
                0..0x20 | 0x7f => self.raw(&[
                    b'\\',
                    b'x',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 0xf) as usize],
                ]),
                _ => self.raw(&[byte]),
            };
        }
        self.raw(b"\"")
    }

    fn number(&mut self, mut value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.raw(&digits[start..])
    }

    fn finish(&mut self) -> &[u8] {
        const ELLIPSIS: &[u8] = b"...\n";
        if self.length >= self.buf.len() {
            let keep = self.buf.len().saturating_sub(ELLIPSIS.len());
            self.length = keep;
            self.raw(ELLIPSIS);
        } else {
            self.raw(b"\n");
        }
        self.buf.get(..self.length).unwrap_or(&[])
    }
}

/// Writes the decision to standard error.
pub fn report(decision: &Decision<'_>, buf: &mut [u8]) {
    let mut line = Line { buf, length: 0 };
    line.raw(b"memproxy[")
        .number(sys::process_id() as u64)
        .raw(b"]: route=");
    line.raw(if decision.glibc { b"glibc" } else { b"custom" });
    line.raw(b" reason=");
    match decision.reason {
        Reason::Excluded => line.raw(b"excluded"),
        Reason::NotExcluded => line.raw(b"not-excluded"),
        Reason::NoCustomAllocator => line.raw(b"no-custom-allocator"),
        Reason::NotFirst { first } => line.raw(b"not-first first=").quoted(first),
        Reason::AllocatorUnusable { path } => {
            line.raw(b"allocator-unusable unusable=").quoted(path)
        }
    };
    line.raw(b" allocator=").quoted(decision.allocator_path);
    line.raw(b" api=").quoted(decision.family.as_bytes());
    let mut filled = decision.filled.names().peekable();
    if filled.peek().is_some() {
        line.raw(b" filled=");
        for (index, name) in filled.enumerate() {
            line.raw(if index == 0 { b"" } else { b"," })
                .raw(name.as_bytes());
        }
    }
    line.raw(b" execfn=").quoted(decision.identity.execfn);
    line.raw(b" exe=").quoted(decision.identity.exe);
    line.raw(b" config=").quoted(decision.config_path);
    line.raw(b" config-source=")
        .raw(match decision.config_source {
            ConfigSource::BuiltIn => b"built-in",
            ConfigSource::Environment => b"env",
            ConfigSource::IgnoredRelative => b"env-ignored-relative",
            ConfigSource::IgnoredTooLong => b"env-ignored-too-long",
        });
    line.raw(b" config-state=");
    match decision.verdict {
        Verdict::NotRead => line.raw(b"not-read"),
        Verdict::Missing => line.raw(b"missing"),
        Verdict::NotRegular(kind) => line
            .raw(b"not-regular config-kind=")
            .quoted(kind.label().as_bytes()),
        Verdict::Unreadable(errno) => line.raw(b"unreadable config-errno=").number(errno as u64),
        Verdict::NoMatch | Verdict::Excluded(_) => line.raw(b"read"),
    };
    match decision.verdict {
        Verdict::Excluded(found) => line
            .raw(b" match=")
            .number(found.line)
            .raw(b" source=")
            .quoted(found.source.label().as_bytes()),
        _ => line.raw(b" match=none"),
    };
    if decision.bootstrap_used {
        line.raw(b" bootstrap=used");
    }
    if let Some(first_copy) = decision.duplicate_of {
        line.raw(b" duplicate-of=").quoted(first_copy);
    }
    sys::write_stderr(line.finish());
}

#[cfg(test)]
mod tests {
    use super::Line;

    fn written(room: usize, write: impl FnOnce(&mut Line<'_>)) -> Vec<u8> {
        let mut buf = vec![0u8; room];
        let mut line = Line {
            buf: &mut buf,
            length: 0,
        };
        write(&mut line);
        line.finish().to_vec()
    }

    fn quoted(bytes: &[u8]) -> Vec<u8> {
        written(1024, |line| {
            line.quoted(bytes);
        })
    }

    #[test]
    fn a_plain_value_is_only_quoted() {
        assert_eq!(quoted(b"/usr/bin/ls"), b"\"/usr/bin/ls\"\n");
        assert_eq!(quoted(b""), b"\"\"\n");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(
            quoted(br#"a"b\c"#),
            br#""a\"b\\c""#.iter().chain(b"\n").copied().collect::<Vec<u8>>()
        );
    }

    #[test]
    fn control_bytes_are_hex_escaped() {
        assert_eq!(
            quoted(b"a\nb\tc\x1b\x7f\0\r"),
            b"\"a\\x0ab\\x09c\\x1b\\x7f\\x00\\x0d\"\n"
        );
    }

    #[test]
    fn other_bytes_pass_through_unchanged() {
        // UTF-8, and bytes that are not UTF-8 at all.
        assert_eq!(quoted("é ü".as_bytes()), "\"é ü\"\n".as_bytes());
        assert_eq!(quoted(b"\x80\xff"), b"\"\x80\xff\"\n");
    }

    #[test]
    fn any_name_stays_on_one_line() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let line = quoted(&every_byte);
        let body = &line[..line.len() - 1];
        assert!(
            body.iter().all(|&byte| byte >= 0x20 && byte != 0x7f),
            "{body:?}"
        );
        assert_eq!(line.last(), Some(&b'\n'));
    }

    #[test]
    fn numbers_are_decimal() {
        let line = written(64, |line| {
            line.number(0)
                .raw(b" ")
                .number(4242)
                .raw(b" ")
                .number(u64::MAX);
        });
        assert_eq!(line, b"0 4242 18446744073709551615\n");
    }

    #[test]
    fn a_line_too_long_is_cut_with_an_ellipsis() {
        let line = written(16, |line| {
            line.raw(b"memproxy[1]: ")
                .quoted(b"a very long path indeed");
        });
        assert_eq!(line, b"memproxy[1]:...\n");
        let fits = written(16, |line| {
            line.raw(b"short");
        });
        assert_eq!(fits, b"short\n");
    }
}
