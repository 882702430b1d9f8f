//! The memproxy exclusion list: what a config line means and whether it names
//! the running program.
//!
//! This crate is shared, unchanged, by the preload library (which runs it
//! inside the first `malloc` of every process) and by the `memproxy` command
//! (which explains its verdicts). It is therefore `no_std`, never allocates and
//! never panics on any input: a config file is untrusted bytes.
//!
//! # Format
//!
//! One entry per line, as in the original memproxy, plus shell patterns and
//! `!` lines:
//!
//! ```text
//! # comment
//! ; also a comment
//! top
//! /opt/vendor/bin/daemon
//! python3.*
//! !python3.11
//! ```
//!
//! - Lines are separated by `\n`. Blanks (space, tab and `\r`) around an entry
//!   are ignored, so CRLF files and padded names work. A blank line is
//!   ignored; it never matches anything.
//! - A line whose first non-blank byte is `#` or `;` is a comment.
//! - A line whose first non-blank byte is `!` *re-includes*: a program it
//!   matches is not excluded. Blanks after the `!` are ignored too; a `!`
//!   alone names nothing.
//! - An entry that starts with `/` is a *path entry*: it matches when it equals
//!   the path the program was executed by (`AT_EXECFN`) or the target of
//!   `/proc/self/exe`. Any other entry is a *name entry*: it matches when it
//!   equals the last component of either path.
//! - An entry holding `*`, `?`, `[` or `\` is a *pattern*, matched as
//!   `fnmatch(3)` does with `FNM_PATHNAME` (see [`glob`]): no wildcard crosses
//!   a `/`; `\` makes the next byte literal. A malformed pattern, or one
//!   longer than [`LONGEST_PATTERN`] bytes, never matches. Any other entry is
//!   compared byte-exactly: no case folding, no Unicode normalisation, no
//!   length limit.
//! - The **last** line that matches decides: excluded, or re-included by a
//!   `!` line. No match means not excluded. A config without patterns or `!`
//!   lines therefore means exactly what it meant before they existed.
//!
//! [`decide`] scans a file of any size with a fixed buffer;
//! [`classify_line`] and [`Entry::matches`] are the pieces it is built from,
//! for callers that hold the whole file.

#![no_std]

pub mod glob;
mod line;
mod name;
mod scan;

pub use line::{Entry, LONGEST_PATTERN, Line, Names, classify_line, is_blank, lines};
pub use name::{Identity, NameSource, basename};
pub use scan::{
    Decision, ReadBytes, ScanError, decide, decide_within, find_newline, longest_kept_line,
};
