//! Findings, exit statuses and output shared by the subcommands.
//!
//! People read the text and scripts read `--json` and the exit status. Both
//! are rendered from the same values, so they cannot disagree.

use std::fmt;

use serde::Serialize;

/// Exit status: nothing wrong was found.
pub const EXIT_OK: u8 = 0;
/// Exit status: a problem was found (or, for `explain`, the program could
/// not be executed as given).
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit status: the command could not do its job (usage or I/O error).
pub const EXIT_ERROR: u8 = 2;

/// How serious a finding is; the order lets the worst one decide the exit
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never affects the exit status.
    Note,
    /// Probably not what was meant; exit 1 only with `--strict`.
    Warning,
    /// Memproxy will not do what the set-up asks for.
    Error,
}

impl Severity {
    /// The word shown in text output.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing a subcommand noticed, with a stable `code` for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// A stable kebab-case name, for scripts.
    pub code: &'static str,
    /// 1-based config line, for findings about one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong, and what the library will do about it.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A finding with no line and no fix yet.
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            code,
            line: None,
            message: message.into(),
            fix: None,
        }
    }

    /// An [`Severity::Error`] finding.
    pub fn error(code: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Error, code, message)
    }

    /// A [`Severity::Warning`] finding.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Warning, code, message)
    }

    /// A [`Severity::Note`] finding.
    pub fn note(code: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Note, code, message)
    }

    /// Ties the finding to a config line.
    pub fn at_line(mut self, line: u64) -> Finding {
        self.line = Some(line);
        self
    }

    /// Adds what to do about it.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// How many findings of each severity.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Findings of [`Severity::Error`].
    pub errors: usize,
    /// Findings of [`Severity::Warning`].
    pub warnings: usize,
    /// Findings of [`Severity::Note`].
    pub notes: usize,
}

impl Counts {
    /// Counts `findings` by severity.
    pub fn of(findings: &[Finding]) -> Counts {
        let mut counts = Counts::default();
        for finding in findings {
            match finding.severity {
                Severity::Error => counts.errors += 1,
                Severity::Warning => counts.warnings += 1,
                Severity::Note => counts.notes += 1,
            }
        }
        counts
    }

    /// "0 errors, 1 warning, 2 notes".
    pub fn sentence(&self) -> String {
        format!(
            "{}, {}, {}",
            plural(self.errors, "error"),
            plural(self.warnings, "warning"),
            plural(self.notes, "note")
        )
    }
}

/// "1 entry", "2 entries", "0 errors".
pub fn plural(count: usize, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        _ => format!("{count} {noun}s"),
    }
}

/// Prints one finding as `PREFIX: severity: message`, then its fix.
pub fn print_finding(prefix: &str, finding: &Finding) {
    println!(
        "{prefix}: {}: {}",
        finding.severity.label(),
        finding.message
    );
    if let Some(fix) = &finding.fix {
        println!("  fix: {fix}");
    }
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| Failure(format!("cannot encode JSON: {error}")))?;
    println!("{text}");
    Ok(())
}

/// The command could not do its job: exit status 2, or 125 for `run`.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}
