//! What each kind of line means, including everything the original memproxy
//! got wrong (CRLF, padding, blank lines).

use memproxy_config::{Line, classify_line, lines};
use rstest::rstest;

#[rstest]
#[case::plain(b"top", Some(&b"top"[..]))]
#[case::crlf(b"top\r", Some(&b"top"[..]))]
#[case::padded(b" \t top \t ", Some(&b"top"[..]))]
#[case::inner_space(b"my prog", Some(&b"my prog"[..]))]
#[case::path(b"/usr/bin/top", Some(&b"/usr/bin/top"[..]))]
#[case::utf8("café".as_bytes(), Some("café".as_bytes()))]
#[case::nul(b"a\0b", Some(&b"a\0b"[..]))]
#[case::lone_cr_inside(b"a\rb", Some(&b"a\rb"[..]))]
fn entries_are_trimmed_exactly(#[case] raw: &[u8], #[case] entry: Option<&[u8]>) {
    match classify_line(raw) {
        Line::Entry(found) => assert_eq!(Some(found.bytes()), entry),
        other => panic!("{raw:?} classified as {other:?}"),
    }
}

#[rstest]
#[case::empty(b"", Line::Blank)]
#[case::spaces(b"   ", Line::Blank)]
#[case::cr_only(b"\r", Line::Blank)]
#[case::tab_cr(b"\t\r", Line::Blank)]
#[case::hash(b"#ls", Line::Comment)]
#[case::semicolon(b";df", Line::Comment)]
#[case::indented_hash(b"  # top", Line::Comment)]
#[case::hash_crlf(b"#x\r", Line::Comment)]
fn blanks_and_comments_are_not_entries(#[case] raw: &[u8], #[case] expected: Line<'static>) {
    assert_eq!(classify_line(raw), expected);
}

#[test]
fn the_seed_readme_example_has_four_entries() {
    let seed = b"#ls\n;df\n;du\ntop\ntelegram\nwget\n";
    let entries: Vec<(u64, Vec<u8>)> = lines(seed)
        .filter_map(|(number, raw)| match classify_line(raw) {
            Line::Entry(entry) => Some((number, entry.bytes().to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (4, b"top".to_vec()),
            (5, b"telegram".to_vec()),
            (6, b"wget".to_vec())
        ]
    );
}

#[rstest]
#[case::empty("", &[])]
#[case::one_unterminated("a", &["a"])]
#[case::one_terminated("a\n", &["a"])]
#[case::blank_line_kept("a\n\nb", &["a", "", "b"])]
#[case::trailing_blank_line("a\n\n", &["a", ""])]
#[case::crlf_kept_raw("a\r\nb\r\n", &["a\r", "b\r"])]
fn lines_are_numbered_like_an_editor(#[case] file: &str, #[case] expected: &[&str]) {
    let got: Vec<(u64, &[u8])> = lines(file.as_bytes()).collect();
    let want: Vec<(u64, &[u8])> = expected
        .iter()
        .enumerate()
        .map(|(index, line)| (index as u64 + 1, line.as_bytes()))
        .collect();
    assert_eq!(got, want);
}

#[rstest]
#[case::name(b"top", true)]
#[case::path(b"/usr/bin/top", true)]
#[case::relative_path(b"bin/top", false)]
#[case::dot_slash(b"./top", false)]
#[case::directory(b"/usr/bin/", false)]
fn entries_that_can_never_match_are_recognised(#[case] raw: &[u8], #[case] can_match: bool) {
    let Line::Entry(entry) = classify_line(raw) else {
        panic!("not an entry")
    };
    assert_eq!(entry.can_match(), can_match);
}
