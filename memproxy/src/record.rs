//! The decision record: this process's decision, kept in the library's own
//! static memory so that `memproxy status` can read it from outside, through
//! `/proc/PID/mem`. A running process's route cannot be derived again later:
//! the config, the preload file and the installed objects may all have
//! changed since it decided.
//!
//! The record is written once, by the decider, after the route's table is
//! published and before the state is marked decided (so a fork in the middle
//! leaves the child deciding, and it writes its own record); never on a hook
//! path. It costs one `clock_gettime`, one `stat` of the config when the
//! config was read, and a few hundred bytes of stores into `.bss`, which
//! costs no memory until written.
//!
//! # Finding it
//!
//! The library exports `memproxy_decision`, a pointer to the record. It is a
//! pointer rather than the record itself so that the library always writes
//! its own private record: an exported object can be interposed (by another
//! copy of memproxy loaded earlier), a private one cannot. A reader finds the
//! symbol in the `.dynsym` of the mapped `libmemproxy.so` (which `strip`
//! keeps), adds the load base, reads the pointer and then the record.
//!
//! # Layout, version 1
//!
//! [`WORDS`] native-endian 64-bit words, then [`TEXT_BYTES`] bytes of text.
//! Words are named by the `W_*` indices below; `memproxy status`
//! (`cli/src/status/record.rs`) reads the same layout. Strings are
//! `(offset, length)` word pairs into the text; they are stored without
//! escaping or terminator. Any change of layout must change [`VERSION`].

use core::ffi::CStr;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use memproxy_config::NameSource;

use crate::decision::{ConfigSource, Decision, Reason};
use crate::exclusion::Verdict;
use crate::sys::{self, FileKind};

/// `b"memproxy"` read as a little-endian word: present once a record has
/// been written.
pub const MAGIC: u64 = u64::from_le_bytes(*b"memproxy");
pub const VERSION: u64 = 1;

/// `W_STATE`: a decision is being recorded.
const WRITING: u64 = 1;
/// `W_STATE`: the record is complete and never changes again in this
/// process (a forked child inherits it, with its parent's decision).
const COMPLETE: u64 = 2;

const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_STATE: usize = 2;
/// The record's size in bytes, words and text.
const W_SIZE: usize = 3;
/// The process that decided (a forked child shows its parent's).
const W_DECIDER_PID: usize = 4;
/// 1 glibc, 2 custom.
const W_ROUTE: usize = 5;
/// 1 excluded, 2 not-excluded, 3 no-custom-allocator, 4 not-first,
/// 5 allocator-unusable.
const W_REASON: usize = 6;
/// 1 built-in, 2 env, 3 env-ignored-relative, 4 env-ignored-too-long.
const W_CONFIG_SOURCE: usize = 7;
/// 1 not-read, 2 missing, 3 not-regular, 4 unreadable, 5 read.
const W_CONFIG_STATE: usize = 8;
/// not-regular: 1 directory, 2 FIFO, 3 character device, 4 block device,
/// 5 socket, 6 other; unreadable: the errno.
const W_CONFIG_DETAIL: usize = 9;
/// The excluding line, 0 for none.
const W_MATCH_LINE: usize = 10;
/// 0 none, 1 execfn name, 2 exe name, 3 execfn path, 4 exe path.
const W_MATCH_SOURCE: usize = 11;
/// [`FLAG_BOOTSTRAP_USED`], [`FLAG_CONFIG_IDENTITY`], [`FLAG_TRUNCATED`].
const W_FLAGS: usize = 12;
/// `CLOCK_REALTIME` when the decision was recorded.
const W_DECIDED_SECONDS: usize = 13;
const W_DECIDED_NANOSECONDS: usize = 14;
/// The config file's identity right after it was read (with
/// [`FLAG_CONFIG_IDENTITY`]).
const W_CONFIG_DEVICE: usize = 15;
const W_CONFIG_INODE: usize = 16;
const W_CONFIG_SIZE: usize = 17;
const W_CONFIG_MTIME_SECONDS: usize = 18;
const W_CONFIG_MTIME_NANOSECONDS: usize = 19;
/// The strings, two words each: allocator, api, filled, execfn, exe, config,
/// other (the `first` of not-first or the `unusable` object), duplicate-of.
const W_STRINGS: usize = 20;
const STRINGS: usize = 8;
pub const WORDS: usize = W_STRINGS + 2 * STRINGS;

const FLAG_BOOTSTRAP_USED: u64 = 1;
const FLAG_CONFIG_IDENTITY: u64 = 2;
const FLAG_TRUNCATED: u64 = 4;

/// Room for six paths of `PATH_MAX` bytes and the short strings.
pub const TEXT_BYTES: usize = 6 * 4096 + 512;

/// The record, private to this copy of the library.
#[repr(C)]
pub struct Record {
    words: [AtomicU64; WORDS],
    text: [AtomicU8; TEXT_BYTES],
}

static RECORD: Record = Record {
    words: [const { AtomicU64::new(0) }; WORDS],
    text: [const { AtomicU8::new(0) }; TEXT_BYTES],
};

/// Where `memproxy status` finds the record. The only unsafe thing about it
/// is its exported name, which nothing else defines.
#[allow(unsafe_code)]
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code))]
#[allow(non_upper_case_globals)]
pub static memproxy_decision: &Record = &RECORD;

/// Appends strings to the text, and records where each one went.
struct Text {
    length: usize,
    truncated: bool,
}

impl Text {
    /// Writes string `index` of the record with what `write` appends.
    fn string(&mut self, index: usize, write: impl FnOnce(&mut Text)) {
        let start = self.length;
        write(self);
        set(W_STRINGS + 2 * index, start as u64);
        set(W_STRINGS + 2 * index + 1, (self.length - start) as u64);
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = TEXT_BYTES.saturating_sub(self.length);
        let kept = bytes.get(..room).unwrap_or(bytes);
        self.truncated |= kept.len() < bytes.len();
        for (slot, &byte) in RECORD.text.iter().skip(self.length).zip(kept) {
            slot.store(byte, Ordering::Relaxed);
        }
        self.length += kept.len();
    }
}

fn set(index: usize, value: u64) {
    if let Some(word) = RECORD.words.get(index) {
        word.store(value, Ordering::Relaxed);
    }
}

/// Records `decision`, which read the config at `config_path`; called once
/// per decision, by the decider.
pub fn publish(decision: &Decision<'_>, config_path: &CStr) {
    set(W_STATE, WRITING);
    set(W_MAGIC, MAGIC);
    set(W_VERSION, VERSION);
    set(W_SIZE, core::mem::size_of::<Record>() as u64);
    set(W_DECIDER_PID, sys::process_id() as u32 as u64);
    set(W_ROUTE, if decision.glibc { 1 } else { 2 });
    let (reason, other): (u64, &[u8]) = match decision.reason {
        Reason::Excluded => (1, b""),
        Reason::NotExcluded => (2, b""),
        Reason::NoCustomAllocator => (3, b""),
        Reason::NotFirst { first } => (4, first),
        Reason::AllocatorUnusable { path } => (5, path),
    };
    set(W_REASON, reason);
    set(
        W_CONFIG_SOURCE,
        match decision.config_source {
            ConfigSource::BuiltIn => 1,
            ConfigSource::Environment => 2,
            ConfigSource::IgnoredRelative => 3,
            ConfigSource::IgnoredTooLong => 4,
        },
    );
    let (state, detail) = match decision.verdict {
        Verdict::NotRead => (1, 0),
        Verdict::Missing => (2, 0),
        Verdict::NotRegular(kind) => (3, kind_code(kind)),
        Verdict::Unreadable(errno) => (4, errno as u32 as u64),
        Verdict::NoMatch | Verdict::Excluded(_) => (5, 0),
    };
    set(W_CONFIG_STATE, state);
    set(W_CONFIG_DETAIL, detail);
    let (line, source) = match decision.verdict {
        Verdict::Excluded(found) => (found.line, source_code(found.source)),
        _ => (0, 0),
    };
    set(W_MATCH_LINE, line);
    set(W_MATCH_SOURCE, source);

    let mut flags = if decision.bootstrap_used {
        FLAG_BOOTSTRAP_USED
    } else {
        0
    };
    // The identity of the file just read. A rename in between makes it newer
    // than what was read; `status --stale` also matches the recorded names
    // against the file as it is now, which catches that.
    let identity = match state {
        5 => sys::file_identity(config_path).ok(),
        _ => None,
    };
    if let Some(identity) = identity {
        flags |= FLAG_CONFIG_IDENTITY;
        set(W_CONFIG_DEVICE, identity.device);
        set(W_CONFIG_INODE, identity.inode);
        set(W_CONFIG_SIZE, identity.size);
        set(W_CONFIG_MTIME_SECONDS, identity.modified_seconds as u64);
        set(W_CONFIG_MTIME_NANOSECONDS, identity.modified_nanoseconds);
    }

    let mut text = Text {
        length: 0,
        truncated: false,
    };
    text.string(0, |text| text.append(decision.allocator_path));
    text.string(1, |text| text.append(decision.family.as_bytes()));
    text.string(2, |text| {
        for (index, name) in decision.filled.names().enumerate() {
            if index > 0 {
                text.append(b",");
            }
            text.append(name.as_bytes());
        }
    });
    text.string(3, |text| text.append(decision.identity.execfn));
    text.string(4, |text| text.append(decision.identity.exe));
    text.string(5, |text| text.append(decision.config_path));
    text.string(6, |text| text.append(other));
    text.string(7, |text| text.append(decision.duplicate_of.unwrap_or(b"")));
    if text.truncated {
        flags |= FLAG_TRUNCATED;
    }
    set(W_FLAGS, flags);

    let (seconds, nanoseconds) = sys::realtime();
    set(W_DECIDED_SECONDS, seconds as u64);
    set(W_DECIDED_NANOSECONDS, nanoseconds);
    if let Some(word) = RECORD.words.get(W_STATE) {
        word.store(COMPLETE, Ordering::Release);
    }
}

fn kind_code(kind: FileKind) -> u64 {
    match kind {
        FileKind::Directory => 1,
        FileKind::Fifo => 2,
        FileKind::CharDevice => 3,
        FileKind::BlockDevice => 4,
        FileKind::Socket => 5,
        FileKind::Regular | FileKind::Other => 6,
    }
}

fn source_code(source: NameSource) -> u64 {
    match source {
        NameSource::ExecfnName => 1,
        NameSource::ExeName => 2,
        NameSource::ExecfnPath => 3,
        NameSource::ExePath => 4,
    }
}
