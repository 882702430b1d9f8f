//! `memproxy check`: what a config means to the library, and what in it is
//! probably a mistake.
//!
//! The library never complains: a config line that can never match is
//! silently useless, and a config it cannot read excludes nothing. This
//! command is where an administrator hears about it. Lines are split,
//! classified and judged by `memproxy-config`, the code compiled into the
//! library, so the listing is what the library sees; the warnings only add
//! why an entry may not mean what its author hoped.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use memproxy_config::{Entry, Line, classify_line, is_blank, lines};
use serde::Serialize;

use crate::config_file::{self, ConfigPath, Source, State};
use crate::report::{
    self, Counts, EXIT_OK, EXIT_PROBLEMS, Failure, Finding, plural, print_finding,
};
use crate::shown::{shown, shown_os};

/// No file name can be longer (`NAME_MAX`).
const LONGEST_NAME: usize = 255;
/// No path passed to `execve` or read from `/proc/self/exe` can be longer
/// (`PATH_MAX` less its NUL).
const LONGEST_PATH: usize = 4095;

const HELP: &str = concat!(
    "\
Exit status:
  0  the config is fine (warnings allowed unless --strict)
  1  problems: the file is missing, unreadable or not a regular file
     (the library then excludes nothing), or --strict and any warning
  2  usage error

Which file: CONFIG if given, else $MEMPROXY_CONF if set to an absolute path (as
the library does, except in setuid programs), else the built-in default:
",
    env!("MEMPROXY_DEFAULT_CONFIG"),
    ".

Examples:
  memproxy check
  memproxy check /usr/local/etc/memproxy.conf
  memproxy check --strict ./memproxy.conf && install -m 644 memproxy.conf /usr/local/etc/
  memproxy check --json | jq '.findings[] | select(.severity == \"warning\")'"
);

/// Arguments of `memproxy check`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The config to check [default: $MEMPROXY_CONF, else the built-in path
    /// shown below]
    pub config: Option<PathBuf>,
    /// Treat warnings as problems (exit 1)
    #[arg(long)]
    pub strict: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// One entry as the library sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedEntry {
    /// 1-based line number.
    pub line: u64,
    /// "name" or "path".
    pub kind: &'static str,
    /// The trimmed entry, escaped for display.
    pub entry: String,
    /// Its length in bytes, as compared.
    pub length: usize,
    /// False for a name holding '/' or a path ending in '/' ([`Entry::can_match`]).
    pub can_match: bool,
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
    /// What is wrong or worth knowing, by line.
    pub findings: Vec<Finding>,
}

impl Inspection {
    /// How many findings of each severity.
    pub fn counts(&self) -> Counts {
        Counts::of(&self.findings)
    }

    /// `file:line` or `file`, to prefix a message.
    pub fn location(&self, line: Option<u64>) -> String {
        match line {
            Some(line) => format!("{}:{line}", self.config),
            None => self.config.clone(),
        }
    }
}

/// Reads and judges the config at `config`.
pub fn inspect(config: &ConfigPath) -> Inspection {
    let state = config_file::load(&config.path);
    let mut inspection = Inspection {
        config: shown_os(&config.path),
        config_source: config.source,
        state: state.label(),
        entries: Vec::new(),
        findings: Vec::new(),
    };
    match state {
        State::Read { contents, mode } => {
            let judged = judge(&contents);
            inspection.entries = judged.entries;
            inspection.findings = judged.findings;
            if mode & 0o004 == 0 {
                inspection.findings.push(
                    Finding::warning(
                        "not-world-readable",
                        format!(
                            "the file is not readable by all users (mode {:03o}): the library \
                             reads it as the user running each program, and excludes nothing \
                             where it cannot",
                            mode & 0o777
                        ),
                    )
                    .with_fix(format!("chmod a+r {}", inspection.config)),
                );
            }
        }
        State::Missing => inspection.findings.push(
            Finding::error(
                "config-missing",
                "no such file: the library treats a missing config as empty and excludes nothing",
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
                "MEMPROXY_CONF is not an absolute path (or is too long): the library ignores it, \
                 since a relative path would name a different file in each working directory, \
                 and reads the built-in config instead",
            )
            .with_fix("set MEMPROXY_CONF to an absolute path"),
        );
    }
    inspection
        .findings
        .sort_by_key(|finding| finding.line.unwrap_or(u64::MAX));
    inspection
}

/// Entries and findings of a config's contents.
pub struct Judged {
    /// Every entry, in file order.
    pub entries: Vec<ListedEntry>,
    /// Findings about single lines and the file as a whole.
    pub findings: Vec<Finding>,
}

/// Lists the entries of `contents` and what is odd about each line.
pub fn judge(contents: &[u8]) -> Judged {
    let mut entries = Vec::new();
    let mut findings = Vec::new();
    let mut first_seen: HashMap<&[u8], u64> = HashMap::new();
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
                    kind: kind_of(&entry),
                    entry: shown(entry.bytes()),
                    length: entry.bytes().len(),
                    can_match: entry.can_match(),
                });
                judge_entry(raw, &entry, number, &mut first_seen, &mut findings);
            }
        }
    }
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

fn kind_of(entry: &Entry<'_>) -> &'static str {
    if entry.is_path() { "path" } else { "name" }
}

fn judge_entry<'c>(
    raw: &[u8],
    entry: &Entry<'c>,
    number: u64,
    first_seen: &mut HashMap<&'c [u8], u64>,
    findings: &mut Vec<Finding>,
) {
    let bytes = entry.bytes();
    let display = shown(bytes);
    let mut add = |finding: Finding| findings.push(finding.at_line(number));

    let without_crlf = raw.strip_suffix(b"\r").unwrap_or(raw);
    if without_crlf != bytes {
        add(Finding::warning(
            "surrounding-blanks",
            format!("blanks around '{display}' are ignored: the entry is '{display}'"),
        )
        .with_fix("remove the leading and trailing blanks"));
    }
    if let Some(&first) = first_seen.get(bytes) {
        add(Finding::warning(
            "duplicate",
            format!("'{display}' repeats line {first}; the repeat has no effect"),
        )
        .with_fix("remove one of the two lines"));
    } else {
        first_seen.insert(bytes, number);
    }
    if !entry.can_match() {
        add(never_matches(entry, &display));
    }
    let (limit, what) = if entry.is_path() {
        (LONGEST_PATH, "a path (PATH_MAX - 1)")
    } else {
        (LONGEST_NAME, "a file name (NAME_MAX)")
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
    if entry.is_path()
        && entry.can_match()
        && let Some(finding) = judge_path_on_this_host(bytes, &display)
    {
        add(finding);
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
fn judge_path_on_this_host(bytes: &[u8], display: &str) -> Option<Finding> {
    let path = OsStr::from_bytes(bytes);
    match std::fs::canonicalize(path) {
        Ok(real) if real.as_os_str().as_bytes() != bytes => Some(
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
        Ok(_) => None,
        Err(_) => Some(Finding::note(
            "path-absent",
            format!("'{display}' does not exist on this host"),
        )),
    }
}

/// Runs `memproxy check`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let config = config_file::choose(args.config.as_deref());
    let inspection = inspect(&config);
    let counts = inspection.counts();
    let exit = if counts.errors > 0 || (args.strict && counts.warnings > 0) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    };
    if args.json {
        report::print_json(&JsonReport {
            inspection: &inspection,
            summary: Summary::of(&inspection),
            strict: args.strict,
            exit_code: exit,
        })?;
    } else {
        print_text(&inspection);
    }
    Ok(exit)
}

#[derive(Serialize)]
struct JsonReport<'i> {
    #[serde(flatten)]
    inspection: &'i Inspection,
    summary: Summary,
    strict: bool,
    exit_code: u8,
}

#[derive(Serialize)]
struct Summary {
    entries: usize,
    names: usize,
    paths: usize,
    #[serde(flatten)]
    counts: Counts,
}

impl Summary {
    fn of(inspection: &Inspection) -> Summary {
        let paths = inspection
            .entries
            .iter()
            .filter(|entry| entry.kind == "path")
            .count();
        Summary {
            entries: inspection.entries.len(),
            names: inspection.entries.len() - paths,
            paths,
            counts: inspection.counts(),
        }
    }
}

fn print_text(inspection: &Inspection) {
    println!(
        "config {} ({})",
        inspection.config,
        inspection.config_source.describe()
    );
    if inspection.state == "read" {
        print_entries(&inspection.entries);
    }
    for finding in &inspection.findings {
        print_finding(&inspection.location(finding.line), finding);
    }
    let summary = Summary::of(inspection);
    let verdict = if summary.counts.errors > 0 {
        "problems"
    } else if summary.counts.warnings > 0 {
        "warnings"
    } else {
        "ok"
    };
    println!(
        "{verdict}: {} ({}, {}); {}",
        plural(summary.entries, "entry"),
        plural(summary.names, "name"),
        plural(summary.paths, "path"),
        summary.counts.sentence()
    );
}

fn print_entries(entries: &[ListedEntry]) {
    if entries.is_empty() {
        println!("entries: none");
        return;
    }
    println!("entries:");
    let width = entries
        .last()
        .map_or(1, |entry| entry.line.to_string().len());
    for entry in entries {
        let never = if entry.can_match {
            ""
        } else {
            "   (never matches)"
        };
        println!(
            "  line {:>width$}  {}  {}{never}",
            entry.line,
            entry.kind,
            abridged(entry)
        );
        if entry.kind == "path" && entry.can_match {
            println!(
                "  {:width$}        compared with the full AT_EXECFN path and the \
                 /proc/self/exe target",
                ""
            );
        }
    }
}

/// An entry short enough for one terminal line.
fn abridged(entry: &ListedEntry) -> String {
    const SHOWN_CHARS: usize = 60;
    if entry.entry.chars().count() <= SHOWN_CHARS + 12 {
        return entry.entry.clone();
    }
    let start: String = entry.entry.chars().take(SHOWN_CHARS).collect();
    format!("{start}... ({} bytes)", entry.length)
}
