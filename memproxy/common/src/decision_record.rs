//! The decision record: the library writes its decision into its own static
//! memory once per process, and `memproxy status` reads it from outside
//! through `/proc/PID/mem`. This is its layout, for both sides.
//!
//! The library exports [`SYMBOL`], a pointer to the record (a pointer, so
//! that an earlier copy of the library cannot redirect where a later one
//! writes). The record is [`WORDS`] native-endian 64-bit words, named by the
//! `W_*` indices, then [`TEXT_BYTES`] bytes of text; each string is an
//! `(offset, length)` pair of words into the text, stored as is. Any change
//! to the layout must change [`VERSION`].

/// The exported pointer to the record.
pub const SYMBOL: &str = "memproxy_decision";

/// `b"memproxy"` read as a little-endian word: there once a record has been
/// written.
pub const MAGIC: u64 = u64::from_le_bytes(*b"memproxy");
pub const VERSION: u64 = 1;

/// `W_STATE`: a decision is being recorded.
pub const WRITING: u64 = 1;
/// `W_STATE`: the record is complete; it never changes again in this
/// process (a forked child inherits it, with its parent's decision).
pub const COMPLETE: u64 = 2;

pub const W_MAGIC: usize = 0;
pub const W_VERSION: usize = 1;
pub const W_STATE: usize = 2;
/// The record's size in bytes, words and text.
pub const W_SIZE: usize = 3;
/// The process that decided (a forked child shows its parent's).
pub const W_DECIDER_PID: usize = 4;
/// [`ROUTES`].
pub const W_ROUTE: usize = 5;
/// [`REASONS`].
pub const W_REASON: usize = 6;
/// [`CONFIG_SOURCES`].
pub const W_CONFIG_SOURCE: usize = 7;
/// [`CONFIG_STATES`].
pub const W_CONFIG_STATE: usize = 8;
/// With `not-regular`: [`FILE_KINDS`]; with `unreadable`: the errno.
pub const W_CONFIG_DETAIL: usize = 9;
/// The excluding line, 0 for none.
pub const W_MATCH_LINE: usize = 10;
/// [`NAME_SOURCES`], 0 for none.
pub const W_MATCH_SOURCE: usize = 11;
/// [`FLAG_BOOTSTRAP_USED`], [`FLAG_CONFIG_IDENTITY`], [`FLAG_TRUNCATED`],
/// [`FLAG_MATCH_INCLUDES`], and from bit [`STRAIGHT_SHIFT`] the contracts
/// that go straight to the allocator.
pub const W_FLAGS: usize = 12;
/// `CLOCK_REALTIME` when the decision was recorded.
pub const W_DECIDED_SECONDS: usize = 13;
pub const W_DECIDED_NANOSECONDS: usize = 14;
/// The config file's identity right after it was read (with
/// [`FLAG_CONFIG_IDENTITY`]).
pub const W_CONFIG_DEVICE: usize = 15;
pub const W_CONFIG_INODE: usize = 16;
pub const W_CONFIG_SIZE: usize = 17;
pub const W_CONFIG_MTIME_SECONDS: usize = 18;
pub const W_CONFIG_MTIME_NANOSECONDS: usize = 19;
/// The first of the [`Text`] strings' `(offset, length)` pairs.
pub const W_STRINGS: usize = 20;
pub const WORDS: usize = W_STRINGS + 2 * Text::ALL.len();

pub const FLAG_BOOTSTRAP_USED: u64 = 1;
pub const FLAG_CONFIG_IDENTITY: u64 = 2;
pub const FLAG_TRUNCATED: u64 = 4;
/// The deciding line is a `!` line: it re-includes the program.
pub const FLAG_MATCH_INCLUDES: u64 = 8;
/// `W_FLAGS >> STRAIGHT_SHIFT` is `contracts::Kept::bits` of the contracts
/// whose functions go straight to the allocator (`straight=` in the debug
/// line). A record written before there were straight routes has none
/// there, which is what that library did.
pub const STRAIGHT_SHIFT: u32 = 8;

/// Room for six paths of `PATH_MAX` bytes and the short strings.
pub const TEXT_BYTES: usize = 6 * crate::PATH_MAX + 512;
/// The whole record.
pub const RECORD_BYTES: usize = WORDS * 8 + TEXT_BYTES;

/// The strings of the record, in the order of their word pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// The object serving the route.
    Allocator,
    /// Which of its APIs.
    Api,
    /// The functions built from its primitives, comma-separated.
    Filled,
    Execfn,
    Exe,
    Config,
    /// `first` of not-first, `unusable` of allocator-unusable.
    Other,
    DuplicateOf,
}

impl Text {
    pub const ALL: [Text; 8] = [
        Text::Allocator,
        Text::Api,
        Text::Filled,
        Text::Execfn,
        Text::Exe,
        Text::Config,
        Text::Other,
        Text::DuplicateOf,
    ];

    /// The word holding the string's offset; its length is the next one.
    pub const fn word(self) -> usize {
        W_STRINGS + 2 * self as usize
    }
}

/// `W_ROUTE` codes, from 1, by their decision-line labels.
pub const ROUTES: [&str; 2] = ["glibc", "custom"];
/// `W_REASON` codes, from 1.
pub const REASONS: [&str; 5] = [
    "excluded",
    "not-excluded",
    "no-custom-allocator",
    "not-first",
    "allocator-unusable",
];
/// `W_CONFIG_SOURCE` codes, from 1.
pub const CONFIG_SOURCES: [&str; 4] = [
    "built-in",
    "env",
    "env-ignored-relative",
    "env-ignored-too-long",
];
/// `W_CONFIG_STATE` codes, from 1.
pub const CONFIG_STATES: [&str; 5] = ["not-read", "missing", "not-regular", "unreadable", "read"];
/// `W_CONFIG_DETAIL` codes of a config that is not a regular file, from 1.
pub const FILE_KINDS: [&str; 6] = [
    "directory",
    "FIFO",
    "character device",
    "block device",
    "socket",
    "special file",
];
/// `W_MATCH_SOURCE` codes, from 1.
pub const NAME_SOURCES: [&str; 4] = ["execfn name", "exe name", "execfn path", "exe path"];

/// The code of `label` in `labels` (from 1), 0 if it is not there. A
/// `const fn`: the library computes its codes at build time and asserts
/// that none is 0.
pub const fn code(labels: &[&str], label: &str) -> u64 {
    let mut index = 0;
    while index < labels.len() {
        if crate::families::same(labels[index], label) {
            return index as u64 + 1;
        }
        index += 1;
    }
    0
}

/// The label of `code` in `labels`, `None` for 0 or an unknown code.
pub fn label(labels: &[&'static str], code: u64) -> Option<&'static str> {
    labels.get((code as usize).checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_labels_round_trip() {
        for labels in [&REASONS[..], &CONFIG_STATES, &FILE_KINDS, &NAME_SOURCES] {
            for name in labels {
                assert_eq!(label(labels, code(labels, name)), Some(*name));
            }
        }
        assert_eq!(code(&ROUTES, "nothing"), 0);
        assert_eq!(label(&ROUTES, 0), None);
        assert_eq!(label(&ROUTES, 3), None);
    }

    #[test]
    fn the_layout_is_fixed() {
        assert_eq!(WORDS, 36);
        assert_eq!(Text::DuplicateOf.word(), 34);
        assert_eq!(RECORD_BYTES, 36 * 8 + 6 * 4096 + 512);
    }
}
