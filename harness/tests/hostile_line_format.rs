//! Hostile configs: bytes the format must survive (random bytes, NULs, a
//! 100,000-character line, no final newline, CRLF ends, only comments) mean
//! what the format says.
//!
//! Each test runs probe-c under memproxy then a custom allocator with the
//! config, and judges every allocation kind by what `harness::expect` says
//! the config means (see `common::hostile`).

mod common;

use common::hostile::*;

/// Random bytes (NUL included) with no line equal to the name exclude
/// nothing; the same garbage around a line holding just the name excludes.
#[test]
fn binary_garbage_is_read_safely() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut garbage = Vec::with_capacity(256 * 1024);
    while garbage.len() < 256 * 1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        garbage.extend_from_slice(&state.to_le_bytes());
    }
    assert!(garbage.contains(&0) && garbage.contains(&b'\n'));
    assert!(
        !garbage
            .split(|&b| b == b'\n')
            .any(|line| line.trim_ascii().eq(NAME.as_bytes())),
        "the garbage must not list the name by chance"
    );
    check(Config::Bytes(garbage.clone()), false);
    let mut around = garbage.clone();
    around.extend_from_slice(format!("\n{NAME}\n").as_bytes());
    around.extend_from_slice(&garbage);
    check(Config::Bytes(around), false);
}

/// NUL bytes on the lines around an entry do not hide it; a NUL inside the
/// entry's own line is part of the entry (only blanks are trimmed), so that
/// line names no program.
#[test]
fn nul_bytes_around_an_entry() {
    check(
        Config::Bytes(format!("\0\0\0\n{NAME}\n\0\0\0\n").into_bytes()),
        false,
    );
    check(Config::Bytes(format!("{NAME}\0\n").into_bytes()), false);
    check(Config::Bytes(format!("\0{NAME}\n").into_bytes()), false);
}

/// A 100,000-character line (longer than any buffer memproxy has) is
/// skipped as it streams past; the entry after it still excludes.
#[test]
fn a_100_000_character_line_before_the_entry() {
    let long = "x".repeat(100_000);
    check(
        Config::Bytes(format!("{long}\n{NAME}\n").into_bytes()),
        false,
    );
    // The long line itself, ending in the name, is not the name.
    check(Config::Bytes(format!("{long}{NAME}\n").into_bytes()), false);
}

/// The last line counts without a final newline.
#[test]
fn no_final_newline() {
    check(Config::Bytes(format!("# list\n{NAME}").into_bytes()), false);
}

/// CRLF line ends: `\r` is a blank, trimmed like spaces.
#[test]
fn crlf_line_ends() {
    check(
        Config::Bytes(format!("# list\r\nother\r\n{NAME}\r\n").into_bytes()),
        false,
    );
}

/// A file of comments (`#` and `;`, even naming the program) and blank lines
/// excludes nothing.
#[test]
fn only_comments() {
    check(
        Config::Bytes(format!("# {NAME}\n;{NAME}\n  #{NAME}\n\n \t\r\n").into_bytes()),
        false,
    );
}
