//! Showing untrusted bytes (config lines, file names) as one line of text.
//!
//! A config line or a path may hold any byte but `\n` (or `/`, or NUL).
//! Printing it raw could split a message, move the cursor or hide the very
//! byte that makes an entry fail, so control characters and bytes that are
//! not UTF-8 are shown as `\xNN` escapes, like the library's debug line.

use std::ffi::OsStr;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;

/// `bytes` as printable text: valid UTF-8 kept, everything else escaped.
///
/// ```text
/// caf\xe9   tab\x09   vim\u{a0}   back\\slash
/// ```
pub fn shown(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            match character {
                '\\' => text.push_str("\\\\"),
                _ if character.is_ascii_control() => {
                    let _ = write!(text, "\\x{:02x}", character as u32);
                }
                // Unicode controls and spaces other than ' ' (U+00A0, say)
                // look like nothing, or like a plain space.
                _ if character.is_control() || (character.is_whitespace() && character != ' ') => {
                    let _ = write!(text, "\\u{{{:x}}}", character as u32);
                }
                _ => text.push(character),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}

/// A path or other OS string, shown like [`shown`].
pub fn shown_os(value: impl AsRef<OsStr>) -> String {
    shown(value.as_ref().as_bytes())
}
