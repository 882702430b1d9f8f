//! `memproxy check` for people: the entries, each finding as
//! `FILE:LINE: severity: message`, and a one-line verdict.

use crate::report::{plural, print_finding};

use super::Report;
use super::judge::{EntryKind, ListedEntry};

/// Entries longer than this many characters (and a margin) are cut short,
/// so that each stays on one terminal line.
const SHOWN_CHARS: usize = 60;

/// Prints `report` as text on standard output.
pub(super) fn print(report: &Report) {
    let inspection = &report.inspection;
    println!(
        "config {} ({})",
        inspection.config,
        inspection.config_source.describe()
    );
    if inspection.state == "read" {
        print_entries(&inspection.entries);
    }
    for finding in &inspection.findings {
        print_finding(&location(&inspection.config, finding.line), finding);
    }
    let summary = &report.summary;
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

/// `file:line` or `file`, as compilers prefix a message, so that editors
/// can jump to the line.
fn location(config: &str, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("{config}:{line}"),
        None => config.to_owned(),
    }
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
        let bang = if entry.negated { "!" } else { "" };
        let how = match (entry.negated, entry.pattern) {
            (false, false) => "",
            (false, true) => "   (pattern)",
            (true, false) => "   (re-includes)",
            (true, true) => "   (pattern, re-includes)",
        };
        println!(
            "  line {:>width$}  {}  {bang}{}{how}{never}",
            entry.line,
            entry.kind.label(),
            abridged(entry)
        );
        if entry.kind == EntryKind::Path && entry.can_match {
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
    if entry.entry.chars().count() <= SHOWN_CHARS + 12 {
        return entry.entry.clone();
    }
    let start: String = entry.entry.chars().take(SHOWN_CHARS).collect();
    format!("{start}... ({} bytes)", entry.length)
}
