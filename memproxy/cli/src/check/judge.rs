//! The model behind `memproxy check`: a config's entries as the library sees
//! them, and findings about what will not do what it seems to.
//!
//! Nothing here prints; text and JSON are both rendered from an
//! [`Inspection`]. Lines are split, classified and matched by
//! `memproxy-config`, the code compiled into the library. Only two things
//! come from outside the bytes: the file's state as read, and where a path
//! entry leads on this host. Both are passed in, so that [`Inspection::new`]
//! and [`judge`] can be tested on made-up files and hosts.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use memproxy_config::glob::{self, Problem};
use memproxy_config::{Entry, LONGEST_PATTERN, Line, classify_line, is_blank, lines};
use serde::Serialize;

use crate::config_file::{self, ConfigPath, Source, State};
use crate::report::{Counts, Finding};
use crate::shown::{shown, shown_os};

use super::patterns::Shape;

/// No file name can be longer (`NAME_MAX`).
const LONGEST_NAME: usize = 255;
/// No path passed to `execve` or read from `/proc/self/exe` can be longer
/// (`PATH_MAX` less its NUL).
const LONGEST_PATH: usize = 4095;

/// Where a path leads on the host being judged: its canonical form, or
/// `None` where it does not exist.
pub type Resolve<'r> = &'r dyn Fn(&Path) -> Option<PathBuf>;

/// [`Resolve`] for this host.
pub fn resolve_on_this_host(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Whether an entry is compared with a last path component or a whole path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Compared with the last component of `AT_EXECFN` and of the exe path.
    Name,
    /// Starts with '/': compared with the whole `AT_EXECFN` and exe path.
    Path,
}

impl EntryKind {
    fn of(entry: &Entry<'_>) -> EntryKind {
        if entry.is_path() {
            EntryKind::Path
        } else {
            EntryKind::Name
        }
    }

    /// The word text output uses, the same as in JSON.
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::Name => "name",
            EntryKind::Path => "path",
        }
    }
}

/// One entry as the library sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedEntry {
    /// 1-based line number.
    pub line: u64,
    /// Name or path.
    pub kind: EntryKind,
    /// The trimmed entry, escaped for display.
    pub entry: String,
    /// Its length in bytes, as compared.
    pub length: usize,
    /// False for a name holding '/', a path ending in '/', a `!` alone or a
    /// malformed pattern ([`Entry::can_match`]).
    pub can_match: bool,
    /// A `!` line: it re-includes what it matches.
    pub negated: bool,
    /// A shell pattern, rather than an exact name or path.
    pub pattern: bool,
}

/// A config judged line by line.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The config path, escaped for display.
    pub config: String,
    /// Why this path was chosen.
    pub config_source: Source,
    /// "read", "missing", "not-regular" or "unreadable".
    pub state: &'static str,
    /// Every entry, in file order.
    pub entries: Vec<ListedEntry>,
    /// What is wrong or worth knowing: line findings by line, then those
    /// about the file as a whole.
    pub findings: Vec<Finding>,
}

/// Reads and judges the config at `config`, as the library would read it.
pub fn inspect(config: &ConfigPath) -> Inspection {
    Inspection::new(
        config,
        config_file::load(&config.path),
        &resolve_on_this_host,
    )
}

impl Inspection {
    /// Judges the config at `config`, found in `state`, on the host that
    /// `resolve` describes.
    pub fn new(config: &ConfigPath, state: State, resolve: Resolve<'_>) -> Inspection {
        let mut inspection = Inspection {
            config: shown_os(&config.path),
            config_source: config.source,
            state: state.label(),
            entries: Vec::new(),
            findings: Vec::new(),
        };
        match state {
            State::Read { contents, mode } => {
                let judged = judge(&contents, resolve);
                inspection.entries = judged.entries;
                inspection.findings = judged.findings;
                if mode & 0o004 == 0 {
                    let fix = format!("chmod a+r {}", inspection.config);
                    inspection
                        .findings
                        .push(not_world_readable(mode).with_fix(fix));
                }
            }
            State::Missing => inspection.findings.push(
                Finding::error(
                    "config-missing",
                    "no such file: the library treats a missing config as empty and excludes \
                     nothing",
                )
                .with_fix("create it with one program name (or absolute path) per line"),
            ),
            State::NotRegular(kind) => inspection.findings.push(
                Finding::error(
                    "config-not-regular",
                    format!(
                        "is a {kind}, not a regular file: the library never opens it (so that no \
                         program can block at start-up) and excludes nothing"
                    ),
                )
                .with_fix("replace it with a regular file"),
            ),
            State::Unreadable(error) => inspection.findings.push(
                Finding::error(
                    "config-unreadable",
                    format!("cannot be read ({error}): the library excludes nothing"),
                )
                .with_fix("make it a readable regular file (chmod a+r)"),
            ),
        }
        if config.source == Source::BuiltInMemproxyConfIgnored {
            inspection.findings.push(
                Finding::warning(
                    "relative-config-path",
                    "MEMPROXY_CONF is not an absolute path (or is too long): the library \
                     ignores it, since a relative path would name a different file in each \
                     working directory, and reads the built-in config instead",
                )
                .with_fix("set MEMPROXY_CONF to an absolute path"),
            );
        }
        // Stable: findings about one line keep the order they were found in.
        inspection
            .findings
            .sort_by_key(|finding| finding.line.unwrap_or(u64::MAX));
        inspection
    }

    /// How many findings of each severity.
    pub fn counts(&self) -> Counts {
        Counts::of(&self.findings)
    }

    /// The totals reported after the entries and findings.
    pub fn summary(&self) -> Summary {
        let paths = self
            .entries
            .iter()
            .filter(|entry| entry.kind == EntryKind::Path)
            .count();
        Summary {
            entries: self.entries.len(),
            names: self.entries.len() - paths,
            paths,
            counts: self.counts(),
        }
    }
}

fn not_world_readable(mode: u32) -> Finding {
    Finding::warning(
        "not-world-readable",
        format!(
            "the file is not readable by all users (mode {:03o}): the library reads it as the \
             user running each program, and excludes nothing where it cannot",
            mode & 0o777
        ),
    )
}

/// An [`Inspection`]'s totals.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// All entries.
    pub entries: usize,
    /// Entries compared with a last path component.
    pub names: usize,
    /// Entries compared with a whole path.
    pub paths: usize,
    /// Findings by severity.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Entries and findings of a config's contents.
#[derive(Debug)]
pub struct Judged {
    /// Every entry, in file order.
    pub entries: Vec<ListedEntry>,
    /// Findings about single lines, in file order, then about the contents
    /// as a whole.
    pub findings: Vec<Finding>,
}

/// Lists the entries of `contents` and what is odd about each line, with
/// path entries looked up through `resolve`.
pub fn judge(contents: &[u8], resolve: Resolve<'_>) -> Judged {
    let mut entries = Vec::new();
    let mut findings = Vec::new();
    let mut first_seen: HashMap<(bool, &[u8]), u64> = HashMap::new();
    let mut listed: Vec<(u64, Entry<'_>)> = Vec::new();
    for (number, raw) in lines(contents) {
        judge_line_bytes(raw, &mut findings, number);
        match classify_line(raw) {
            Line::Blank => {}
            Line::Comment => {
                if raw.first().is_some_and(|&byte| is_blank(byte)) {
                    findings.push(
                        Finding::warning(
                            "indented-comment",
                            "an indented '#' or ';' line is a comment: blanks before the first \
                             character are ignored",
                        )
                        .at_line(number),
                    );
                }
            }
            Line::Entry(entry) => {
                entries.push(ListedEntry {
                    line: number,
                    kind: EntryKind::of(&entry),
                    entry: shown(entry.bytes()),
                    length: entry.bytes().len(),
                    can_match: entry.can_match(),
                    negated: entry.is_negated(),
                    pattern: entry.is_pattern(),
                });
                listed.push((number, entry));
                let mut add = |finding: Finding| findings.push(finding.at_line(number));
                judge_entry(raw, &entry, number, &mut first_seen, &mut add);
                let on_host = (entry.is_path() && entry.can_match())
                    .then(|| judge_path_on_host(entry.bytes(), resolve));
                if let Some(Some(finding)) = on_host {
                    add(finding);
                }
            }
        }
    }
    judge_across_lines(&listed, &mut findings);
    // One fix converts the whole file: say it once.
    findings
        .iter_mut()
        .filter(|finding| finding.code == "crlf")
        .skip(1)
        .for_each(|finding| finding.fix = None);
    if !contents.is_empty() && !contents.ends_with(b"\n") {
        findings.push(Finding::note(
            "no-final-newline",
            "the file does not end with a newline; its last line is read all the same",
        ));
    }
    if entries.is_empty() {
        findings.push(Finding::note(
            "no-entries",
            "no entries: every program gets the custom allocator",
        ));
    }
    Judged { entries, findings }
}

/// Findings about the raw bytes of any line, entry or not.
fn judge_line_bytes(raw: &[u8], findings: &mut Vec<Finding>, number: u64) {
    if raw.ends_with(b"\r") {
        findings.push(
            Finding::warning(
                "crlf",
                "CR LF line end (a Windows text file): memproxy ignores the '\\r', but the \
                 original memproxy and other tools do not",
            )
            .at_line(number)
            .with_fix(
                "convert the file to LF line ends (sed -i 's/\\r$//' FILE); this fix covers \
                 every CR LF line",
            ),
        );
    }
    if raw.contains(&0) {
        findings.push(
            Finding::warning(
                "nul-byte",
                "the line holds a NUL byte: no program name or path contains one, so an entry \
                 holding it never matches",
            )
            .at_line(number)
            .with_fix("is this a binary file? Remove the NUL bytes"),
        );
    }
}

/// Findings about one entry that its bytes alone (and the entries before it)
/// decide.
fn judge_entry<'c>(
    raw: &[u8],
    entry: &Entry<'c>,
    number: u64,
    first_seen: &mut HashMap<(bool, &'c [u8]), u64>,
    add: &mut impl FnMut(Finding),
) {
    let bytes = entry.bytes();
    let display = shown(bytes);

    let without_crlf = raw.strip_suffix(b"\r").unwrap_or(raw);
    if without_crlf != trim_blanks(without_crlf) {
        add(Finding::warning(
            "surrounding-blanks",
            format!("blanks around '{display}' are ignored: the entry is '{display}'"),
        )
        .with_fix("remove the leading and trailing blanks"));
    }
    if let Some(&first) = first_seen.get(&(entry.is_negated(), bytes)) {
        add(Finding::warning(
            "duplicate",
            format!(
                "'{}{display}' repeats line {first}; the repeat has no effect",
                if entry.is_negated() { "!" } else { "" }
            ),
        )
        .with_fix("remove one of the two lines"));
    } else {
        first_seen.insert((entry.is_negated(), bytes), number);
    }
    if let Some(finding) = entry
        .is_pattern()
        .then(|| judge_pattern(bytes, &display))
        .flatten()
    {
        add(finding);
    }
    if bytes.is_empty() {
        add(Finding::warning(
            "bang-alone",
            "a '!' alone names nothing: the line has no effect",
        )
        .with_fix("write the name or pattern to re-include after the '!'"));
    } else if !entry.can_match()
        && !(entry.is_pattern()
            && (glob::problem(bytes).is_some() || bytes.len() > LONGEST_PATTERN))
    {
        // Malformed and over-long patterns have findings of their own.
        add(never_matches(entry, &display));
    }
    let (limit, what) = match EntryKind::of(entry) {
        _ if entry.is_pattern() => (LONGEST_PATTERN, "a pattern may be"),
        EntryKind::Path => (LONGEST_PATH, "a path (PATH_MAX - 1)"),
        EntryKind::Name => (LONGEST_NAME, "a file name (NAME_MAX)"),
    };
    if bytes.len() > limit {
        add(Finding::warning(
            "too-long",
            format!(
                "the entry is {} bytes long, longer than {what} can be ({limit}): it never \
                 matches",
                bytes.len()
            ),
        ));
    }
    if std::str::from_utf8(bytes).is_err() {
        add(Finding::warning(
            "not-utf8",
            format!(
                "'{display}' is not valid UTF-8: it matches only a file name with exactly these \
                 bytes"
            ),
        )
        .with_fix("save the config as UTF-8 (was it written in Latin-1?)"));
    }
    if starts_or_ends_with_untrimmed_space(bytes) {
        add(Finding::warning(
            "untrimmed-space",
            format!(
                "'{display}' starts or ends with a space character other than space, tab or \
                 CR (such as a no-break space): it is part of the entry, so the entry matches \
                 only a name that holds it"
            ),
        )
        .with_fix("retype the entry"));
    }
    if entry.can_match() && !entry.is_path() && bytes.iter().any(|&byte| is_blank(byte)) {
        add(Finding::note(
            "inner-blank",
            format!(
                "'{display}' holds a blank: it names one program whose name holds that blank, \
                 not several programs; list one program per line"
            ),
        ));
    }
}

/// Blanks trimmed from both ends, as the library trims a line.
fn trim_blanks(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |last| last + 1);
    &line[start..end]
}

/// A malformed pattern never matches: say which part is wrong.
fn judge_pattern(bytes: &[u8], display: &str) -> Option<Finding> {
    let (what, fix) = match glob::problem(bytes)? {
        Problem::UnterminatedBracket(at) => (
            format!("the '[' at byte {} has no closing ']'", at + 1),
            "close the bracket expression, or write '\\[' for a literal '['",
        ),
        Problem::TrailingBackslash => (
            "it ends in a '\\' that escapes nothing".to_owned(),
            "remove the last '\\', or write '\\\\' for a literal one",
        ),
        Problem::InvalidClass(at) => (
            format!(
                "the bracket expression at byte {} names an unknown character class, or a \
                 '[=' / '[.' term that is not one byte",
                at + 1
            ),
            "use one of [:alnum:] [:alpha:] [:blank:] [:cntrl:] [:digit:] [:graph:] [:lower:] \
             [:print:] [:punct:] [:space:] [:upper:] [:xdigit:]",
        ),
    };
    Some(
        Finding::warning(
            "invalid-pattern",
            format!("'{display}' is not a valid pattern ({what}): it never matches"),
        )
        .with_fix(fix),
    )
}

/// Findings that need the lines before and after an entry: the last
/// matching line decides, so a line can be undone, or undo nothing.
fn judge_across_lines(listed: &[(u64, Entry<'_>)], findings: &mut Vec<Finding>) {
    let shapes: Vec<Option<Shape>> = listed.iter().map(|(_, entry)| Shape::of(entry)).collect();
    let shown_line = |(number, entry): &(u64, Entry<'_>)| {
        let bang = if entry.is_negated() { "!" } else { "" };
        format!("line {number} '{bang}{}'", shown(entry.bytes()))
    };
    for (index, (number, entry)) in listed.iter().enumerate() {
        let Some(shape) = &shapes[index] else {
            continue;
        };
        let later_bang = listed[index + 1..]
            .iter()
            .any(|(_, later)| later.is_negated() && later.can_match());
        if !entry.is_negated() && shape.is_everything() && !later_bang {
            findings.push(
                Finding::error(
                    "excludes-everything",
                    format!(
                        "'{}' matches every program and no '!' line follows it: EVERY program \
                         on the host is excluded and gets glibc's allocator, so the custom \
                         allocator serves nothing",
                        shown(entry.bytes())
                    ),
                )
                .at_line(*number)
                .with_fix(
                    "for an opt-in list, follow it with one '!name' line per program that \
                     should get the custom allocator; otherwise remove it",
                ),
            );
        }
        if entry.is_negated() {
            let earlier: Vec<&Shape> = shapes[..index]
                .iter()
                .zip(listed)
                .filter(|(_, (_, before))| !before.is_negated())
                .filter_map(|(shape, _)| shape.as_ref())
                .collect();
            if earlier.is_empty() {
                findings.push(
                    Finding::warning(
                        "reincludes-nothing",
                        format!(
                            "no line before it excludes anything, so '!{}' can never matter: \
                             the last matching line decides, and a '!' line only undoes \
                             earlier ones",
                            shown(entry.bytes())
                        ),
                    )
                    .at_line(*number)
                    .with_fix("move it after the lines it should make exceptions to, or remove it"),
                );
            } else if !earlier
                .iter()
                .any(|before| before.can_share_a_name_with(shape))
            {
                findings.push(
                    Finding::note(
                        "reincludes-other-names-only",
                        format!(
                            "no line before it excludes a program by a name '!{}' matches: it \
                             matters only for a program whose other name (a symlink's target, \
                             a script's interpreter) an earlier line excludes",
                            shown(entry.bytes())
                        ),
                    )
                    .at_line(*number),
                );
            }
        }
        let overriding = listed[index + 1..].iter().zip(&shapes[index + 1..]).find(
            |((_, later), later_shape)| {
                later_shape.as_ref().is_some_and(|later_shape| later_shape.covers(entry))
                    // An exact repeat is reported as a duplicate already.
                    && !(later.is_negated() == entry.is_negated() && later.bytes() == entry.bytes())
            },
        );
        if let Some((later, _)) = overriding {
            findings.push(
                Finding::warning(
                    "overridden",
                    format!(
                        "{} never decides: {}, further down, matches every program it \
                         matches, and the last matching line decides",
                        shown_line(&listed[index]),
                        shown_line(later)
                    ),
                )
                .at_line(*number)
                .with_fix("remove it, or move it below the line that overrides it"),
            );
        }
    }
}

fn never_matches(entry: &Entry<'_>, display: &str) -> Finding {
    if entry.is_path() {
        Finding::warning(
            "never-matches",
            format!("'{display}' ends with '/': it names a directory, never a program"),
        )
        .with_fix("name the program file, without the trailing '/'")
    } else {
        Finding::warning(
            "never-matches",
            format!(
                "'{display}' holds '/' but does not start with it: a name entry is compared \
                 with the last component of a path, which never holds '/'"
            ),
        )
        .with_fix("write the program's absolute path (starting with '/'), or just its name")
    }
}

/// Space characters that the library does not trim: vertical tab, form feed
/// and Unicode spaces such as U+00A0 (pasted from web pages).
fn starts_or_ends_with_untrimmed_space(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let untrimmed =
        |character: char| character.is_whitespace() && !matches!(character, ' ' | '\t' | '\r');
    text.starts_with(untrimmed) || text.ends_with(untrimmed)
}

/// A path entry matches only that exact path or the canonical target of
/// `/proc/self/exe`, so one reached through a symlink (`/bin/ls` on a
/// merged-/usr system) does not match the same program started as `ls`.
fn judge_path_on_host(bytes: &[u8], resolve: Resolve<'_>) -> Option<Finding> {
    let display = shown(bytes);
    match resolve(Path::new(OsStr::from_bytes(bytes))) {
        Some(real) if real.as_os_str().as_bytes() != bytes => Some(
            Finding::note(
                "path-not-canonical",
                format!(
                    "'{display}' leads to '{}' on this host: /proc/self/exe reports that real \
                     path, so this entry matches only programs executed as exactly \
                     '{display}'",
                    shown_os(&real)
                ),
            )
            .with_fix(format!(
                "list '{}' too (or instead) to match the program however it is started",
                shown_os(&real)
            )),
        ),
        Some(_) => None,
        None => Some(Finding::note(
            "path-absent",
            format!("'{display}' does not exist on this host"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::report::Severity;

    /// A host on which no path exists.
    fn nowhere(_: &Path) -> Option<PathBuf> {
        None
    }

    /// `(code, line)` of each finding, in order.
    fn codes(findings: &[Finding]) -> Vec<(&'static str, Option<u64>)> {
        findings
            .iter()
            .map(|finding| (finding.code, finding.line))
            .collect()
    }

    fn shown_entries(judged: &Judged) -> Vec<(u64, EntryKind, &str)> {
        judged
            .entries
            .iter()
            .map(|entry| (entry.line, entry.kind, entry.entry.as_str()))
            .collect()
    }

    fn config_at(path: &str, source: Source) -> ConfigPath {
        ConfigPath {
            path: PathBuf::from(path),
            source,
        }
    }

    #[test]
    fn comments_are_skipped_and_entries_listed_in_file_order() {
        let judged = judge(b"#ls\n;df\n\ntop\ntelegram\nwget\n", &nowhere);
        assert_eq!(
            shown_entries(&judged),
            [
                (4, EntryKind::Name, "top"),
                (5, EntryKind::Name, "telegram"),
                (6, EntryKind::Name, "wget"),
            ]
        );
        assert_eq!(codes(&judged.findings), []);
    }

    #[test]
    fn crlf_is_flagged_on_every_line_but_the_fix_given_once() {
        let judged = judge(b"top\r\n# tools\r\nvim\r\n", &nowhere);
        assert_eq!(
            codes(&judged.findings),
            [("crlf", Some(1)), ("crlf", Some(2)), ("crlf", Some(3))]
        );
        let fixes: Vec<bool> = judged.findings.iter().map(|f| f.fix.is_some()).collect();
        assert_eq!(fixes, [true, false, false]);
        // The CR is trimmed like a blank, so it is not reported as one.
        assert_eq!(judged.entries[1].entry, "vim");
        assert_eq!(judged.entries[1].length, 3);
    }

    #[test]
    fn every_repeat_names_the_first_line_and_blanks_do_not_hide_it() {
        let judged = judge(b"top\nvim\n  top \ntop\n", &nowhere);
        assert_eq!(
            codes(&judged.findings),
            [
                ("surrounding-blanks", Some(3)),
                ("duplicate", Some(3)),
                ("duplicate", Some(4)),
            ]
        );
        assert_eq!(
            judged.findings[2].message,
            "'top' repeats line 1; the repeat has no effect"
        );
    }

    #[test]
    fn a_name_with_a_slash_and_a_path_ending_in_one_never_match() {
        let looked_up = RefCell::new(Vec::new());
        let record = |path: &Path| {
            looked_up.borrow_mut().push(path.to_owned());
            None
        };
        let judged = judge(b"bin/ls\n/opt/vendor/\n", &record);
        assert_eq!(
            codes(&judged.findings),
            [("never-matches", Some(1)), ("never-matches", Some(2))]
        );
        assert!(judged.entries.iter().all(|entry| !entry.can_match));
        assert_eq!(judged.entries[1].kind, EntryKind::Path);
        // Where a program can never match, the host has nothing to add.
        assert!(looked_up.borrow().is_empty());
    }

    #[test]
    fn length_limits_are_name_max_and_path_max_less_the_nul() {
        let longest_name = "n".repeat(LONGEST_NAME);
        let long_name = "n".repeat(LONGEST_NAME + 1);
        let longest_path = format!("/{}", "p".repeat(LONGEST_PATH - 1));
        let long_path = format!("/{}", "p".repeat(LONGEST_PATH));
        let contents = [longest_name, long_name, longest_path, long_path].join("\n");
        let judged = judge(contents.as_bytes(), &|path| Some(path.to_owned()));
        assert_eq!(
            codes(&judged.findings),
            [
                ("too-long", Some(2)),
                ("too-long", Some(4)),
                ("no-final-newline", None)
            ]
        );
        assert_contains(&judged.findings[1].message, "4096 bytes long");
    }

    #[test]
    fn nul_bytes_and_bytes_that_are_not_utf8_are_flagged_and_escaped() {
        let judged = judge(b"foo\0bar\ncaf\xe9\n", &nowhere);
        assert_eq!(
            codes(&judged.findings),
            [("nul-byte", Some(1)), ("not-utf8", Some(2))]
        );
        assert_eq!(judged.entries[0].entry, "foo\\x00bar");
        assert_eq!(judged.entries[1].entry, "caf\\xe9");
        assert_eq!(judged.entries[1].length, 4);
    }

    #[test]
    fn spaces_the_library_keeps_are_flagged_at_the_ends_and_noted_inside() {
        let judged = judge("\u{a0}vim\nmy prog\n/opt/my prog\n".as_bytes(), &|path| {
            Some(path.to_owned())
        });
        assert_eq!(
            codes(&judged.findings),
            [("untrimmed-space", Some(1)), ("inner-blank", Some(2))]
        );
        assert_eq!(judged.findings[1].severity, Severity::Note);
    }

    #[test]
    fn an_indented_comment_is_a_comment_and_no_entries_is_noted() {
        let judged = judge(b"  # top\n#vim\n", &nowhere);
        assert!(judged.entries.is_empty());
        assert_eq!(
            codes(&judged.findings),
            [("indented-comment", Some(1)), ("no-entries", None)]
        );
    }

    #[test]
    fn an_empty_file_has_no_entries_but_no_missing_newline() {
        assert_eq!(
            codes(&judge(b"", &nowhere).findings),
            [("no-entries", None)]
        );
        assert_eq!(
            codes(&judge(b"top", &nowhere).findings),
            [("no-final-newline", None)]
        );
    }

    #[test]
    fn path_entries_are_compared_with_where_they_lead_on_the_host() {
        let host = |path: &Path| match path.to_str() {
            Some("/bin/ls") => Some(PathBuf::from("/usr/bin/ls")),
            Some("/usr/bin/ls") => Some(PathBuf::from("/usr/bin/ls")),
            _ => None,
        };
        let judged = judge(b"/bin/ls\n/usr/bin/ls\n/opt/gone\n", &host);
        assert_eq!(
            codes(&judged.findings),
            [("path-not-canonical", Some(1)), ("path-absent", Some(3))]
        );
        assert_eq!(
            judged.findings[0].fix.as_deref(),
            Some("list '/usr/bin/ls' too (or instead) to match the program however it is started")
        );
    }

    #[test]
    fn a_config_the_library_cannot_read_is_one_error() {
        let config = config_at("/etc/memproxy.conf", Source::Argument);
        let missing = Inspection::new(&config, State::Missing, &nowhere);
        assert_eq!(missing.state, "missing");
        assert_eq!(codes(&missing.findings), [("config-missing", None)]);

        let fifo = Inspection::new(&config, State::NotRegular("FIFO"), &nowhere);
        assert_eq!(codes(&fifo.findings), [("config-not-regular", None)]);
        assert_contains(&fifo.findings[0].message, "is a FIFO, not a regular file");

        let error = std::io::Error::from_raw_os_error(libc::EACCES);
        let expected = format!("cannot be read ({error})");
        let unreadable = Inspection::new(&config, State::Unreadable(error), &nowhere);
        assert_eq!(unreadable.state, "unreadable");
        assert_contains(&unreadable.findings[0].message, &expected);
        assert_eq!(unreadable.counts().errors, 1);
    }

    #[test]
    fn file_findings_follow_the_line_findings() {
        let config = config_at("/etc/memproxy.conf", Source::BuiltInMemproxyConfIgnored);
        let state = State::Read {
            contents: b"top\ntop".to_vec(),
            mode: 0o100600,
        };
        let inspection = Inspection::new(&config, state, &nowhere);
        assert_eq!(
            codes(&inspection.findings),
            [
                ("duplicate", Some(2)),
                ("no-final-newline", None),
                ("not-world-readable", None),
                ("relative-config-path", None),
            ]
        );
        assert_contains(&inspection.findings[2].message, "(mode 600)");
        assert_eq!(
            inspection.findings[2].fix.as_deref(),
            Some("chmod a+r /etc/memproxy.conf")
        );
    }

    #[test]
    fn the_summary_counts_names_paths_and_findings() {
        let config = config_at("/c", Source::Argument);
        let state = State::Read {
            contents: b"top\n/usr/bin/vim\nbin/ls\n".to_vec(),
            mode: 0o644,
        };
        let summary = Inspection::new(&config, state, &nowhere).summary();
        assert_eq!((summary.entries, summary.names, summary.paths), (3, 2, 1));
        let counts = summary.counts;
        assert_eq!((counts.errors, counts.warnings, counts.notes), (0, 1, 1));
    }

    fn assert_contains(text: &str, part: &str) {
        assert!(text.contains(part), "{part:?} is not in {text:?}");
    }
}
