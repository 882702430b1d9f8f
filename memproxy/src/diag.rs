//! The one line `MEMPROXY_DEBUG=1` prints when the route is decided.
//!
//! Formatted into a fixed buffer: printing must not allocate, since this runs
//! inside the first `malloc`. Names are quoted, with control bytes, quotes
//! and backslashes escaped, so the line stays one line whatever a file name
//! holds.

use memproxy_common::debug_line::{self, Escape, key};

use crate::decision::{Decision, Reason};
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

    /// ` key=`: every field but the first.
    fn key(&mut self, name: &str) -> &mut Self {
        self.raw(b" ").raw(name.as_bytes()).raw(b"=")
    }

    fn quoted(&mut self, bytes: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.raw(b"\"");
        for &byte in bytes {
            match debug_line::escaped(byte) {
                Some(Escape::Backslash) => self.raw(&[b'\\', byte]),
                Some(Escape::Hex) => self.raw(&[
                    b'\\',
                    b'x',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 0xf) as usize],
                ]),
                None => self.raw(&[byte]),
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
    line.raw(debug_line::PREFIX.as_bytes())
        .number(sys::process_id() as u64)
        .raw(debug_line::AFTER_PID.as_bytes())
        .raw(key::ROUTE.as_bytes())
        .raw(b"=");
    line.raw(if decision.glibc { b"glibc" } else { b"custom" });
    line.key(key::REASON);
    match decision.reason {
        Reason::Excluded => line.raw(b"excluded"),
        Reason::NotExcluded => line.raw(b"not-excluded"),
        Reason::NoCustomAllocator => line.raw(b"no-custom-allocator"),
        Reason::NotFirst { first } => line.raw(b"not-first").key(key::FIRST).quoted(first),
        Reason::AllocatorUnusable { path } => line
            .raw(b"allocator-unusable")
            .key(key::UNUSABLE)
            .quoted(path),
    };
    line.key(key::ALLOCATOR).quoted(decision.allocator_path);
    line.key(key::API).quoted(decision.family.as_bytes());
    let mut filled = decision.filled.names().peekable();
    if filled.peek().is_some() {
        line.key(key::FILLED);
        for (index, name) in filled.enumerate() {
            line.raw(if index == 0 { b"" } else { b"," })
                .raw(name.as_bytes());
        }
    }
    line.key(key::STRAIGHT);
    let mut straight = decision.straight.iter().peekable();
    if straight.peek().is_none() {
        line.raw(b"none");
    }
    for (index, contract) in straight.enumerate() {
        line.raw(if index == 0 { b"" } else { b"," })
            .raw(contract.name().as_bytes());
    }
    line.key(key::EXECFN).quoted(decision.identity.execfn);
    line.key(key::EXE).quoted(decision.identity.exe);
    line.key(key::CONFIG).quoted(decision.config_path);
    line.key(key::CONFIG_SOURCE)
        .raw(decision.config_source.label().as_bytes());
    line.key(key::CONFIG_STATE);
    match decision.verdict {
        Verdict::NotRead => line.raw(b"not-read"),
        Verdict::Missing => line.raw(b"missing"),
        Verdict::NotRegular(kind) => line
            .raw(b"not-regular")
            .key(key::CONFIG_KIND)
            .quoted(kind.label().as_bytes()),
        Verdict::Unreadable(errno) => line
            .raw(b"unreadable")
            .key(key::CONFIG_ERRNO)
            .number(errno as u64),
        Verdict::NoMatch | Verdict::Decided(_) => line.raw(b"read"),
    };
    match decision.verdict {
        Verdict::Decided(decision) => line
            .key(key::MATCH)
            .number(decision.line)
            .key(key::SOURCE)
            .quoted(decision.source.label().as_bytes())
            .key(key::EFFECT)
            .raw(if decision.excluded {
                b"exclude"
            } else {
                b"include"
            }),
        _ => line.key(key::MATCH).raw(b"none"),
    };
    if decision.bootstrap_used {
        line.key(key::BOOTSTRAP).raw(b"used");
    }
    if let Some(first_copy) = decision.duplicate_of {
        line.key(key::DUPLICATE_OF).quoted(first_copy);
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
