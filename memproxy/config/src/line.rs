//! One config line: blank, comment or entry.

use crate::name::{Identity, NameSource};

/// Bytes ignored around an entry. `\r` is one of them so that a file saved
/// with CRLF line ends means the same as its LF twin.
pub const fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r')
}

/// What a single line (without its `\n`) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// Empty or only blanks. Never matches anything.
    Blank,
    /// First non-blank byte is `#` or `;`.
    Comment,
    /// A program name or path, blanks trimmed.
    Entry(Entry<'a>),
}

/// A trimmed, non-empty, non-comment line: an optional leading `!`, then
/// the name, path or pattern it is compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    negated: bool,
    body: &'a [u8],
}

impl<'a> Entry<'a> {
    /// What the entry is compared by: the line less its blanks and its `!`.
    pub fn bytes(&self) -> &'a [u8] {
        self.body
    }

    /// A `!` line re-includes what it matches: a program it names is not
    /// excluded, unless a later line excludes it again.
    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// A path entry (starts with `/`) is compared with full paths; any other
    /// entry with the last path component.
    pub fn is_path(&self) -> bool {
        self.body.first() == Some(&b'/')
    }

    /// A pattern holds `*`, `?`, `[` or `\` and is matched as the
    /// [`crate::glob`] module says; any other entry is compared byte for
    /// byte.
    pub fn is_pattern(&self) -> bool {
        crate::glob::is_pattern(self.body)
    }

    /// Whether some program could ever match this entry. A name entry holding
    /// `/` cannot equal a last path component, a path entry ending in `/`
    /// names a directory, a `!` alone names nothing, and a malformed or
    /// over-long pattern never matches.
    pub fn can_match(&self) -> bool {
        let shape = if self.is_path() {
            self.body.last() != Some(&b'/')
        } else {
            !self.body.is_empty() && !self.body.contains(&b'/')
        };
        shape
            && (!self.is_pattern()
                || self.body.len() <= LONGEST_PATTERN && crate::glob::problem(self.body).is_none())
    }

    /// Which of the program's names this entry matches, if any. Execfn is
    /// preferred when both match, since it is the name the user typed.
    pub fn matches(&self, identity: &Identity<'_>) -> Option<NameSource> {
        Names::of(identity).matched_by(*self)
    }
}

/// A pattern longer than this never matches (no name is longer than
/// `PATH_MAX`, and the library reads each line into a fixed buffer).
pub const LONGEST_PATTERN: usize = 4096;

/// The four forms of a program's names an entry can equal, worked out once
/// for a whole file rather than once per line.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    execfn: &'a [u8],
    exe: &'a [u8],
    execfn_name: &'a [u8],
    exe_name: &'a [u8],
}

impl<'a> Names<'a> {
    pub fn of(identity: &Identity<'a>) -> Names<'a> {
        Names {
            execfn: identity.execfn,
            exe: identity.exe,
            execfn_name: crate::basename(identity.execfn),
            exe_name: crate::basename(identity.exe),
        }
    }

    /// See [`Entry::matches`].
    pub fn matched_by(&self, entry: Entry<'_>) -> Option<NameSource> {
        self.matched_within(entry, LONGEST_PATTERN)
    }

    /// [`Names::matched_by`], with patterns longer than `longest_pattern`
    /// never matching.
    pub(crate) fn matched_within(
        &self,
        entry: Entry<'_>,
        longest_pattern: usize,
    ) -> Option<NameSource> {
        let (first, second, sources) = if entry.is_path() {
            (
                self.execfn,
                self.exe,
                [NameSource::ExecfnPath, NameSource::ExePath],
            )
        } else {
            (
                self.execfn_name,
                self.exe_name,
                [NameSource::ExecfnName, NameSource::ExeName],
            )
        };
        let pattern = entry.is_pattern();
        if pattern && entry.body.len() > longest_pattern {
            return None;
        }
        let matches = |name: &[u8]| {
            // An empty name is unknown and matches nothing.
            !name.is_empty()
                && if pattern {
                    crate::glob::matches(entry.body, name)
                } else {
                    name == entry.body
                }
        };
        if matches(first) {
            Some(sources[0])
        } else if matches(second) {
            Some(sources[1])
        } else {
            None
        }
    }
}

/// Classifies one line; `raw` must not contain the terminating `\n`.
pub fn classify_line(raw: &[u8]) -> Line<'_> {
    let trimmed = trim(raw);
    match trimmed.first() {
        None => Line::Blank,
        Some(b'#' | b';') => Line::Comment,
        Some(b'!') => Line::Entry(Entry {
            negated: true,
            body: trim(trimmed.get(1..).unwrap_or(&[])),
        }),
        Some(_) => Line::Entry(Entry {
            negated: false,
            body: trimmed,
        }),
    }
}

pub(crate) fn trim(raw: &[u8]) -> &[u8] {
    let start = raw.iter().position(|&b| !is_blank(b)).unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |last| last + 1);
    raw.get(start..end).unwrap_or(&[])
}

/// The lines of a whole file with their 1-based numbers, `\n` removed. A
/// final line without `\n` is still a line; an empty file has none.
pub fn lines(file: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let body = file.strip_suffix(b"\n").unwrap_or(file);
    let mut parts = (!file.is_empty()).then(|| body.split(|&b| b == b'\n'));
    let mut number = 0u64;
    core::iter::from_fn(move || {
        let line = parts.as_mut()?.next()?;
        number += 1;
        Some((number, line))
    })
}
