//! The streaming scanner agrees with a plain whole-file model on any bytes,
//! whatever the buffer size and however the reads are split, and never panics.

mod model;

use memproxy_config::{
    Identity, NameSource, ReadBytes, ScanError, decide, decide_within, find_newline,
};
use proptest::prelude::*;
use rstest::rstest;

/// Hands out the file in the given read sizes, cycling, to exercise every
/// split of lines across reads.
struct Chunked<'a> {
    rest: &'a [u8],
    sizes: Vec<usize>,
    turn: usize,
}

impl ReadBytes for Chunked<'_> {
    type Error = ();
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        let size = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let count = size.min(buf.len()).min(self.rest.len());
        buf[..count].copy_from_slice(&self.rest[..count]);
        self.rest = &self.rest[count..];
        Ok(count)
    }
}

/// The pattern length limit the streaming tests use, so that small buffers
/// still see lines longer than it.
const LONGEST_PATTERN: usize = 24;

fn scan(
    file: &[u8],
    who: &Identity<'_>,
    buffer: usize,
    sizes: Vec<usize>,
) -> Option<(u64, NameSource, bool)> {
    let mut reader = Chunked {
        rest: file,
        sizes,
        turn: 0,
    };
    let mut buf = vec![0u8; buffer];
    match decide_within(&mut reader, &mut buf, who, LONGEST_PATTERN) {
        Ok(found) => found.map(|f| (f.line, f.source, f.excluded)),
        Err(error) => panic!("scan failed: {error:?}"),
    }
}

/// Bytes that matter to the format, plus a few that must not.
fn config_byte() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        b'\n', b'\r', b' ', b'\t', b'#', b';', b'/', b'a', b'b', 0u8, 0xff, b'!', b'*', b'?', b'[',
        b']', b'\\',
    ])
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b'/', b' ', 0xff]),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn streaming_scan_equals_whole_file_model(
        file in prop::collection::vec(config_byte(), 0..400),
        execfn in name(),
        exe in name(),
        slack in 1usize..40,
        sizes in prop::collection::vec(1usize..64, 1..6),
    ) {
        let who = Identity { execfn: &execfn, exe: &exe };
        let buffer = who.longest_name().max(LONGEST_PATTERN) + 1 + slack;
        prop_assert_eq!(
            scan(&file, &who, buffer, sizes),
            model::decide_within(&file, &who, LONGEST_PATTERN)
        );
    }

    #[test]
    fn listed_names_are_found_after_any_noise(
        noise in prop::collection::vec(config_byte(), 0..2000),
        padding in prop::collection::vec(prop::sample::select(vec![b' ', b'\t', b'\r']), 0..300),
        slack in 1usize..8,
        sizes in prop::collection::vec(1usize..4096, 1..4),
    ) {
        let mut file = noise.clone();
        file.extend_from_slice(b"\n");
        file.extend_from_slice(&padding);
        file.extend_from_slice(b"target");
        file.extend_from_slice(&padding);
        let who = Identity { execfn: b"/bin/target", exe: b"/usr/bin/other" };
        let expected = model::decide_within(&file, &who, LONGEST_PATTERN);
        prop_assert_eq!(expected.map(|(_, _, excluded)| excluded), Some(true));
        let buffer = who.longest_name().max(LONGEST_PATTERN) + 1 + slack;
        prop_assert_eq!(scan(&file, &who, buffer, sizes), expected);
    }

    #[test]
    fn find_newline_equals_position(haystack in prop::collection::vec(config_byte(), 0..100)) {
        prop_assert_eq!(find_newline(&haystack), haystack.iter().position(|&b| b == b'\n'));
    }
}

#[rstest]
#[case::leading_blanks_longer_than_buffer(" ".repeat(100_000) + "top")]
#[case::trailing_blanks_longer_than_buffer("top".to_string() + &" ".repeat(100_000) + "\n")]
#[case::after_a_huge_line("x".repeat(100_000) + "\ntop\n")]
#[case::after_a_huge_comment("#".to_string() + &"x".repeat(100_000) + "\ntop")]
#[case::crlf_last_line_no_newline("a\r\nb\r\ntop\r".to_string())]
// Blanks between a '!' and its entry are dropped to make room, like any
// other blanks (found by the fuzz target).
#[case::bang_then_blanks_longer_than_buffer("!".to_string() + &" \r".repeat(100) + "top\n")]
fn long_lines_do_not_hide_an_entry(#[case] file: String) {
    let who = Identity {
        execfn: b"/usr/bin/top",
        exe: b"/usr/bin/top",
    };
    let expected = model::decide_within(file.as_bytes(), &who, LONGEST_PATTERN);
    assert!(expected.is_some());
    assert_eq!(scan(file.as_bytes(), &who, 64, vec![4096]), expected);
}

#[rstest]
#[case::blanks_then_more("top".to_string() + &" ".repeat(100) + "x\n")]
#[case::only_blank_lines("\n  \n\t\r\n".to_string())]
#[case::blank_line_never_matches_unnamed("\n".to_string())]
fn lines_that_only_look_like_the_entry_do_not_match(#[case] file: String) {
    let who = Identity {
        execfn: b"/usr/bin/top",
        exe: b"",
    };
    assert_eq!(
        scan(file.as_bytes(), &who, LONGEST_PATTERN + 2, vec![7]),
        None
    );
}

#[test]
fn a_buffer_that_cannot_hold_the_name_is_refused() {
    let who = Identity {
        execfn: b"/usr/bin/top",
        exe: b"",
    };
    // The library's limit on patterns needs a buffer longer than it.
    let mut buf = vec![0u8; memproxy_config::longest_kept_line(&who)];
    let mut reader: &[u8] = b"top\n";
    assert_eq!(
        decide(&mut reader, &mut buf, &who),
        Err(ScanError::BufferTooSmall)
    );
    buf.push(0);
    let mut reader: &[u8] = b"top\n";
    assert!(matches!(decide(&mut reader, &mut buf, &who), Ok(Some(_))));
}

#[test]
fn an_unnamed_program_matches_nothing_without_reading() {
    let who = Identity::default();
    let mut buf = [0u8; 4];
    let mut reader: &[u8] = b"\n\n";
    assert_eq!(decide(&mut reader, &mut buf, &who), Ok(None));
}
