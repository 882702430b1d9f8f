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
