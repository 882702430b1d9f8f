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
//! The layout, shared with `memproxy status`, is
//! `memproxy_common::decision_record`.

use core::ffi::CStr;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use memproxy_common::decision_record::{
    self as layout, CONFIG_SOURCES, CONFIG_STATES, FILE_KINDS, NAME_SOURCES, REASONS, ROUTES,
    TEXT_BYTES, Text, W_CONFIG_DETAIL, W_CONFIG_DEVICE, W_CONFIG_INODE, W_CONFIG_MTIME_NANOSECONDS,
    W_CONFIG_MTIME_SECONDS, W_CONFIG_SIZE, W_CONFIG_SOURCE, W_CONFIG_STATE, W_DECIDED_NANOSECONDS,
    W_DECIDED_SECONDS, W_DECIDER_PID, W_FLAGS, W_MAGIC, W_MATCH_LINE, W_MATCH_SOURCE, W_REASON,
    W_ROUTE, W_SIZE, W_STATE, W_VERSION, WORDS,
};
use memproxy_config::NameSource;

use crate::decision::{ConfigSource, Decision, Reason};
use crate::exclusion::Verdict;
use crate::sys::{self, FileKind};

/// The code of `label`, checked at build time.
const fn known(labels: &[&str], label: &str) -> u64 {
    let code = layout::code(labels, label);
    assert!(code != 0, "a label the layout does not know");
    code
}

const GLIBC: u64 = known(&ROUTES, "glibc");
const CUSTOM: u64 = known(&ROUTES, "custom");
const EXCLUDED: u64 = known(&REASONS, "excluded");
const NOT_EXCLUDED: u64 = known(&REASONS, "not-excluded");
const NO_CUSTOM_ALLOCATOR: u64 = known(&REASONS, "no-custom-allocator");
const NOT_FIRST: u64 = known(&REASONS, "not-first");
const ALLOCATOR_UNUSABLE: u64 = known(&REASONS, "allocator-unusable");
const BUILT_IN: u64 = known(&CONFIG_SOURCES, "built-in");
const ENVIRONMENT: u64 = known(&CONFIG_SOURCES, "env");
const IGNORED_RELATIVE: u64 = known(&CONFIG_SOURCES, "env-ignored-relative");
const IGNORED_TOO_LONG: u64 = known(&CONFIG_SOURCES, "env-ignored-too-long");
const NOT_READ: u64 = known(&CONFIG_STATES, "not-read");
const MISSING: u64 = known(&CONFIG_STATES, "missing");
const NOT_REGULAR: u64 = known(&CONFIG_STATES, "not-regular");
const UNREADABLE: u64 = known(&CONFIG_STATES, "unreadable");
const READ: u64 = known(&CONFIG_STATES, "read");
const DIRECTORY: u64 = known(&FILE_KINDS, "directory");
const FIFO: u64 = known(&FILE_KINDS, "FIFO");
const CHARACTER_DEVICE: u64 = known(&FILE_KINDS, "character device");
const BLOCK_DEVICE: u64 = known(&FILE_KINDS, "block device");
const SOCKET: u64 = known(&FILE_KINDS, "socket");
const SPECIAL_FILE: u64 = known(&FILE_KINDS, "special file");
const EXECFN_NAME: u64 = known(&NAME_SOURCES, "execfn name");
const EXE_NAME: u64 = known(&NAME_SOURCES, "exe name");
const EXECFN_PATH: u64 = known(&NAME_SOURCES, "execfn path");
const EXE_PATH: u64 = known(&NAME_SOURCES, "exe path");
/// The static below is named as the layout says.
const _: u64 = known(&[layout::SYMBOL], "memproxy_decision");

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
struct Strings {
    length: usize,
    truncated: bool,
}

impl Strings {
    /// Writes string `index` of the record with what `write` appends.
    fn string(&mut self, index: Text, write: impl FnOnce(&mut Strings)) {
        let start = self.length;
        write(self);
        set(index.word(), start as u64);
        set(index.word() + 1, (self.length - start) as u64);
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
    set(W_STATE, layout::WRITING);
    set(W_MAGIC, layout::MAGIC);
    set(W_VERSION, layout::VERSION);
    set(W_SIZE, core::mem::size_of::<Record>() as u64);
    set(W_DECIDER_PID, sys::process_id() as u32 as u64);
    set(W_ROUTE, if decision.glibc { GLIBC } else { CUSTOM });
    let (reason, other): (u64, &[u8]) = match decision.reason {
        Reason::Excluded => (EXCLUDED, b""),
        Reason::NotExcluded => (NOT_EXCLUDED, b""),
        Reason::NoCustomAllocator => (NO_CUSTOM_ALLOCATOR, b""),
        Reason::NotFirst { first } => (NOT_FIRST, first),
        Reason::AllocatorUnusable { path } => (ALLOCATOR_UNUSABLE, path),
    };
    set(W_REASON, reason);
    set(
        W_CONFIG_SOURCE,
        match decision.config_source {
            ConfigSource::BuiltIn => BUILT_IN,
            ConfigSource::Environment => ENVIRONMENT,
            ConfigSource::IgnoredRelative => IGNORED_RELATIVE,
            ConfigSource::IgnoredTooLong => IGNORED_TOO_LONG,
        },
    );
    let (state, detail) = match decision.verdict {
        Verdict::NotRead => (NOT_READ, 0),
        Verdict::Missing => (MISSING, 0),
        Verdict::NotRegular(kind) => (NOT_REGULAR, kind_code(kind)),
        Verdict::Unreadable(errno) => (UNREADABLE, errno as u32 as u64),
        Verdict::NoMatch | Verdict::Decided(_) => (READ, 0),
    };
    set(W_CONFIG_STATE, state);
    set(W_CONFIG_DETAIL, detail);
    let (line, source, includes) = match decision.verdict {
        Verdict::Decided(found) => (found.line, source_code(found.source), !found.excluded),
        _ => (0, 0, false),
    };
    set(W_MATCH_LINE, line);
    set(W_MATCH_SOURCE, source);

    let mut flags = if decision.bootstrap_used {
        layout::FLAG_BOOTSTRAP_USED
    } else {
        0
    };
    if includes {
        flags |= layout::FLAG_MATCH_INCLUDES;
    }
    // The identity of the file just read. A rename in between makes it newer
    // than what was read; `status --stale` also matches the recorded names
    // against the file as it is now, which catches that.
    let identity = match state {
        READ => sys::file_identity(config_path).ok(),
        _ => None,
    };
    if let Some(identity) = identity {
        flags |= layout::FLAG_CONFIG_IDENTITY;
        set(W_CONFIG_DEVICE, identity.device);
        set(W_CONFIG_INODE, identity.inode);
        set(W_CONFIG_SIZE, identity.size);
        set(W_CONFIG_MTIME_SECONDS, identity.modified_seconds as u64);
        set(W_CONFIG_MTIME_NANOSECONDS, identity.modified_nanoseconds);
    }

    let mut text = Strings {
        length: 0,
        truncated: false,
    };
    text.string(Text::Allocator, |text| text.append(decision.allocator_path));
    text.string(Text::Api, |text| text.append(decision.family.as_bytes()));
    text.string(Text::Filled, |text| {
        for (index, name) in decision.filled.names().enumerate() {
            if index > 0 {
                text.append(b",");
            }
            text.append(name.as_bytes());
        }
    });
    text.string(Text::Execfn, |text| text.append(decision.identity.execfn));
    text.string(Text::Exe, |text| text.append(decision.identity.exe));
    text.string(Text::Config, |text| text.append(decision.config_path));
    text.string(Text::Other, |text| text.append(other));
    text.string(Text::DuplicateOf, |text| {
        text.append(decision.duplicate_of.unwrap_or(b""))
    });
    if text.truncated {
        flags |= layout::FLAG_TRUNCATED;
    }
    flags |= u64::from(decision.straight.bits()) << layout::STRAIGHT_SHIFT;
    set(W_FLAGS, flags);

    let (seconds, nanoseconds) = sys::realtime();
    set(W_DECIDED_SECONDS, seconds as u64);
    set(W_DECIDED_NANOSECONDS, nanoseconds);
    if let Some(word) = RECORD.words.get(W_STATE) {
        word.store(layout::COMPLETE, Ordering::Release);
    }
}

fn kind_code(kind: FileKind) -> u64 {
    match kind {
        FileKind::Directory => DIRECTORY,
        FileKind::Fifo => FIFO,
        FileKind::CharDevice => CHARACTER_DEVICE,
        FileKind::BlockDevice => BLOCK_DEVICE,
        FileKind::Socket => SOCKET,
        FileKind::Regular | FileKind::Other => SPECIAL_FILE,
    }
}

fn source_code(source: NameSource) -> u64 {
    match source {
        NameSource::ExecfnName => EXECFN_NAME,
        NameSource::ExeName => EXE_NAME,
        NameSource::ExecfnPath => EXECFN_PATH,
        NameSource::ExePath => EXE_PATH,
    }
}
