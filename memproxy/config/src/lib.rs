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
//! One entry per line, as in the original memproxy:
//!
//! ```text
//! # comment
//! ; also a comment
//! top
//! /opt/vendor/bin/daemon
//! ```
//!
//! - Lines are separated by `\n`. Blanks (space, tab and `\r`) around an entry
//!   are ignored, so CRLF files and padded names work. A blank line is
//!   ignored; it never matches anything.
//! - A line whose first non-blank byte is `#` or `;` is a comment.
//! - An entry that starts with `/` is a *path entry*: it matches when it equals
//!   the path the program was executed by (`AT_EXECFN`) or the target of
//!   `/proc/self/exe`. Any other entry is a *name entry*: it matches when it
//!   equals the last component of either path.
//! - Comparison is byte-exact: no case folding, no Unicode normalisation, no
//!   length limit.
//!
//! [`find_first_match`] scans a file of any size with a fixed buffer;
//! [`classify_line`] and [`Entry::matches`] are the pieces it is built from,
//! for callers that hold the whole file.

#![no_std]

pub mod glob;
mod line;
mod name;
mod scan;

pub use line::{Entry, Line, Names, classify_line, is_blank, lines};
pub use name::{Identity, NameSource, basename};
pub use scan::{Found, ReadBytes, ScanError, find_first_match, find_newline};
