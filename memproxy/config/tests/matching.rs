//! Which program names an entry matches, and which it must not.

use memproxy_config::{Identity, Line, NameSource, basename, classify_line};
use rstest::rstest;

fn matches(entry: &str, execfn: &str, exe: &str) -> Option<NameSource> {
    let Line::Entry(entry) = classify_line(entry.as_bytes()) else {
        panic!("not an entry")
    };
    entry.matches(&Identity {
        execfn: execfn.as_bytes(),
        exe: exe.as_bytes(),
    })
}

const LONG: &str = "a-program-name-well-over-sixteen-bytes";

#[rstest]
#[case::listed_exactly("top", "/usr/bin/top", "/usr/bin/top", Some(NameSource::ExecfnName))]
#[case::symlink_name(
    "vi",
    "/usr/bin/vi",
    "/usr/bin/vim.basic",
    Some(NameSource::ExecfnName)
)]
#[case::symlink_target(
    "vim.basic",
    "/usr/bin/vi",
    "/usr/bin/vim.basic",
    Some(NameSource::ExeName)
)]
#[case::relative_execfn("top", "./top", "/tmp/x/top", Some(NameSource::ExecfnName))]
#[case::bare_execfn("top", "top", "/tmp/x/top", Some(NameSource::ExecfnName))]
#[case::script_by_name(
    "tool.py",
    "/opt/tool.py",
    "/usr/bin/python3.11",
    Some(NameSource::ExecfnName)
)]
#[case::script_interpreter(
    "python3.11",
    "/opt/tool.py",
    "/usr/bin/python3.11",
    Some(NameSource::ExeName)
)]
#[case::long_name_in_full(
    LONG,
    "/x/a-program-name-well-over-sixteen-bytes",
    "",
    Some(NameSource::ExecfnName)
)]
#[case::utf8("café", "/x/café", "/x/café", Some(NameSource::ExecfnName))]
#[case::spaces("my prog", "/x/my prog", "/x/my prog", Some(NameSource::ExecfnName))]
#[case::path_execfn(
    "/usr/bin/top",
    "/usr/bin/top",
    "/usr/bin/top",
    Some(NameSource::ExecfnPath)
)]
#[case::path_exe(
    "/usr/bin/vim.basic",
    "/usr/bin/vi",
    "/usr/bin/vim.basic",
    Some(NameSource::ExePath)
)]
fn listed_programs_match(
    #[case] entry: &str,
    #[case] execfn: &str,
    #[case] exe: &str,
    #[case] expected: Option<NameSource>,
) {
    assert_eq!(matches(entry, execfn, exe), expected);
}

#[rstest]
#[case::unlisted("top", "/usr/bin/htop", "/usr/bin/htop")]
#[case::prefix("to", "/usr/bin/top", "/usr/bin/top")]
#[case::suffix("op", "/usr/bin/top", "/usr/bin/top")]
#[case::longer("topper", "/usr/bin/top", "/usr/bin/top")]
#[case::case_differs("Top", "/usr/bin/top", "/usr/bin/top")]
#[case::truncated_to_16("a-program-name-w", "/x/a-program-name-well-over-sixteen-bytes", "")]
#[case::directory_component("bin", "/usr/bin/top", "/usr/bin/top")]
#[case::path_of_other_file("/usr/bin/top", "/usr/local/bin/top", "/usr/local/bin/top")]
#[case::path_entry_vs_relative("/tmp/x/top", "./top", "/tmp/y/top")]
#[case::name_with_slash("bin/top", "/usr/bin/top", "/usr/bin/top")]
#[case::unknown_names("top", "", "")]
#[case::nfc_vs_nfd("caf\u{e9}", "/x/cafe\u{301}", "/x/cafe\u{301}")]
fn other_programs_do_not_match(#[case] entry: &str, #[case] execfn: &str, #[case] exe: &str) {
    assert_eq!(matches(entry, execfn, exe), None);
}

#[rstest]
#[case(b"/usr/bin/top", b"top")]
#[case(b"top", b"top")]
#[case(b"/", b"")]
#[case(b"", b"")]
#[case(b"a/b/", b"")]
fn basename_is_after_the_last_slash(#[case] path: &[u8], #[case] expected: &[u8]) {
    assert_eq!(basename(path), expected);
}

#[rstest]
#[case::family("python3.*", "/usr/bin/python3.11", Some(NameSource::ExecfnName))]
#[case::family_by_exe("python3.*", "/opt/tool.py", None)]
#[case::vendor_dir("/opt/vendor/*", "/opt/vendor/daemon", Some(NameSource::ExecfnPath))]
#[case::star_stops_at_slash("/opt/vendor/*", "/opt/vendor/bin/daemon", None)]
#[case::bracket("[tb]op", "/usr/bin/top", Some(NameSource::ExecfnName))]
#[case::negated_bracket("[!t]op", "/usr/bin/top", None)]
#[case::question("t?p", "/usr/bin/top", Some(NameSource::ExecfnName))]
#[case::escaped_star("a\\*", "/x/a*", Some(NameSource::ExecfnName))]
#[case::escaped_star_is_literal("a\\*", "/x/ab", None)]
#[case::everything("*", "/usr/bin/top", Some(NameSource::ExecfnName))]
#[case::negation_matches_its_body("!top", "/usr/bin/top", Some(NameSource::ExecfnName))]
#[case::negation_blanks_ignored("! \ttop", "/usr/bin/top", Some(NameSource::ExecfnName))]
#[case::literal_bang("\\!top", "/usr/bin/!top", Some(NameSource::ExecfnName))]
#[case::malformed_never("[top", "/usr/bin/[top", None)]
#[case::name_pattern_with_slash("bin/*", "/usr/bin/top", None)]
fn patterns_and_negation(
    #[case] entry: &str,
    #[case] execfn: &str,
    #[case] expected: Option<NameSource>,
) {
    assert_eq!(matches(entry, execfn, ""), expected);
}

#[test]
fn a_bang_alone_names_nothing() {
    let Line::Entry(entry) = classify_line(b"!") else {
        panic!("'!' is an entry line")
    };
    assert!(entry.is_negated());
    assert!(entry.bytes().is_empty());
    assert!(!entry.can_match());
    assert_eq!(matches("!", "/usr/bin/top", "/usr/bin/top"), None);
}

#[test]
fn the_last_matching_line_decides() {
    let who = Identity {
        execfn: b"/usr/sbin/mysqld",
        exe: b"/usr/sbin/mysqld",
    };
    let decide = |config: &str| {
        let mut buf = vec![0u8; memproxy_config::longest_kept_line(&who) + 1];
        memproxy_config::decide(&mut config.as_bytes(), &mut buf, &who)
            .expect("an in-memory read cannot fail")
            .map(|decision| (decision.line, decision.excluded))
    };
    assert_eq!(decide("*\n!mysqld\n!redis-server\n"), Some((2, false)));
    assert_eq!(decide("*\n!redis-server\n"), Some((1, true)));
    assert_eq!(decide("!mysqld\n*\n"), Some((2, true)));
    assert_eq!(decide("mysqld\n!mysql*\nmysqld\n"), Some((3, true)));
    assert_eq!(decide("# nothing\n"), None);
}
