//! Reading a process's decision record, as the library wrote it
//! (`memproxy/src/record.rs`; the layout is
//! `memproxy_common::decision_record`).
//!
//! The library exports `memproxy_decision`, a pointer to its record. Its
//! address is the symbol's value in the `.dynsym` of the mapped
//! `libmemproxy.so` (which `strip` keeps) plus the load bias: the start of
//! the file's mapping at offset 0, less the first `PT_LOAD`'s page-aligned
//! address. The pointer, then the record, are read from `/proc/PID/mem`,
//! which needs ptrace attach access to the process (root, or the same user
//! where `kernel.yama.ptrace_scope` allows it).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol};
use serde::Serialize;

use crate::shown::shown;
use memproxy_common::contracts::{Contract, Kept};

use memproxy_common::decision_record::{
    self as layout, CONFIG_SOURCES, CONFIG_STATES, FILE_KINDS, NAME_SOURCES, REASONS, RECORD_BYTES,
    ROUTES, SYMBOL, Text, W_CONFIG_DETAIL, W_CONFIG_DEVICE, W_CONFIG_INODE,
    W_CONFIG_MTIME_NANOSECONDS, W_CONFIG_MTIME_SECONDS, W_CONFIG_SIZE, W_CONFIG_SOURCE,
    W_CONFIG_STATE, W_DECIDED_SECONDS, W_DECIDER_PID, W_FLAGS, W_MAGIC, W_MATCH_LINE,
    W_MATCH_SOURCE, W_REASON, W_ROUTE, W_SIZE, W_STATE, W_VERSION, WORDS,
};

/// Where a mapped libmemproxy.so keeps its record pointer: found once per
/// file, then used for every process that maps it.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The symbol's value (an address relative to the load bias).
    symbol: u64,
    /// The first `PT_LOAD`'s page-aligned address.
    first_load: u64,
    /// The end of the last `PT_LOAD` in memory (its `.bss` included).
    end: u64,
    /// The size of the record pointer: a 32-bit process's library (an
    /// i386 one on an amd64 host) stores a 4-byte pointer.
    pointer_bytes: usize,
}

/// Finds `memproxy_decision` in the library file `data`.
pub fn layout(data: &[u8]) -> Result<Layout, String> {
    let file = object::File::parse(data).map_err(|error| format!("not ELF: {error}"))?;
    let symbol = file
        .dynamic_symbols()
        .find(|symbol| symbol.name() == Ok(SYMBOL) && symbol.is_definition())
        .ok_or_else(|| format!("it exports no {SYMBOL} (a memproxy older than status?)"))?;
    let segments: Vec<(u64, u64)> = file
        .segments()
        .map(|segment| (segment.address(), segment.address() + segment.size()))
        .collect();
    let first_load = segments.iter().map(|(start, _)| *start).min().unwrap_or(0) & !0xfff;
    let end = segments.iter().map(|(_, end)| *end).max().unwrap_or(0);
    Ok(Layout {
        symbol: symbol.address(),
        first_load,
        end,
        pointer_bytes: if file.is_64() { 8 } else { 4 },
    })
}

/// The config file as the process saw it right after reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigIdentity {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub modified: i64,
    pub modified_nanoseconds: u64,
}

/// A process's decision, as it recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// The process that decided: this one, or the parent it was forked
    /// from after deciding.
    pub decider_pid: u32,
    /// `glibc` or `custom`.
    pub route: &'static str,
    /// As in the `MEMPROXY_DEBUG` line.
    pub reason: &'static str,
    /// The object serving the route.
    pub allocator: String,
    pub api: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filled: String,
    /// The contracts whose functions go straight to the allocator, as in
    /// the `MEMPROXY_DEBUG` line: comma-separated, or `none`.
    pub straight: String,
    pub execfn: String,
    pub exe: String,
    pub config: String,
    pub config_source: &'static str,
    pub config_state: &'static str,
    /// The kind of a config that is not a regular file, or the errno of
    /// one that could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_identity: Option<ConfigIdentity>,
    /// The excluding line.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// `first` of not-first, `unusable` of allocator-unusable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    pub bootstrap_used: bool,
    /// Some string did not fit the record and was cut.
    pub truncated: bool,
    /// When the decision was recorded, in seconds since the epoch.
    pub decided_at: i64,
    /// The names and config path as bytes, to decide again with.
    #[serde(skip)]
    pub raw_execfn: Vec<u8>,
    #[serde(skip)]
    pub raw_exe: Vec<u8>,
    #[serde(skip)]
    pub raw_config: PathBuf,
}

/// Why no record could be read.
#[derive(Debug)]
pub enum Unread {
    /// `/proc/PID/mem` refused: no ptrace access.
    Denied(io::Error),
    /// The library has not recorded a decision (yet).
    NotDecided,
    /// Anything else, said in words.
    Other(String),
}

/// Reads the record of process `pid`, whose libmemproxy.so is mapped at
/// `base` (the start of its mapping at file offset 0).
pub fn read(pid: u32, base: u64, layout: &Layout) -> Result<Recorded, Unread> {
    let mem = File::open(format!("/proc/{pid}/mem")).map_err(Unread::Denied)?;
    let bias = base.wrapping_sub(layout.first_load);
    let mut pointer = [0u8; 8];
    mem.read_exact_at(
        &mut pointer[..layout.pointer_bytes],
        bias.wrapping_add(layout.symbol),
    )
    .map_err(denied_or_other)?;
    // Every architecture memproxy builds for is little-endian.
    let address = u64::from_le_bytes(pointer);
    let within = bias.wrapping_add(layout.first_load)..bias.wrapping_add(layout.end);
    if !within.contains(&address) || !within.contains(&(address + RECORD_BYTES as u64 - 1)) {
        return Err(Unread::Other(format!(
            "{SYMBOL} points outside the library ({address:#x})"
        )));
    }
    let mut bytes = vec![0u8; RECORD_BYTES];
    mem.read_exact_at(&mut bytes, address)
        .map_err(denied_or_other)?;
    parse(&bytes)
}

fn denied_or_other(error: io::Error) -> Unread {
    match error.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Unread::Denied(error),
        _ => Unread::Other(format!("reading its memory: {error}")),
    }
}

/// The record in `bytes` (words then text), checked.
pub fn parse(bytes: &[u8]) -> Result<Recorded, Unread> {
    let word = |index: usize| {
        bytes
            .get(index * 8..index * 8 + 8)
            .and_then(|word| word.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    };
    if word(W_MAGIC) == 0 && word(W_STATE) == 0 {
        return Err(Unread::NotDecided);
    }
    if word(W_MAGIC) != layout::MAGIC {
        return Err(Unread::Other("the record has no valid magic".to_owned()));
    }
    if word(W_VERSION) != layout::VERSION || word(W_SIZE) != RECORD_BYTES as u64 {
        return Err(Unread::Other(format!(
            "record version {} of {} bytes; this memproxy reads version {} of \
             {RECORD_BYTES}",
            word(W_VERSION),
            word(W_SIZE),
            layout::VERSION
        )));
    }
    if word(W_STATE) != layout::COMPLETE {
        return Err(Unread::NotDecided);
    }
    let text = bytes.get(WORDS * 8..).unwrap_or_default();
    let string = |index: Text| -> Vec<u8> {
        let start = word(index.word()) as usize;
        let length = word(index.word() + 1) as usize;
        text.get(start..start.saturating_add(length))
            .unwrap_or_default()
            .to_vec()
    };
    let optional = |index: Text| Some(string(index)).filter(|bytes| !bytes.is_empty());
    let label =
        |labels: &[&'static str], index: usize| layout::label(labels, word(index)).unwrap_or("?");
    let flags = word(W_FLAGS);
    let config_state = label(&CONFIG_STATES, W_CONFIG_STATE);
    let config_detail = match (config_state, word(W_CONFIG_DETAIL)) {
        ("not-regular", kind) => Some(layout::label(&FILE_KINDS, kind).unwrap_or("?").to_owned()),
        ("unreadable", errno) => Some(format!("errno {errno}")),
        _ => None,
    };
    let match_line = Some(word(W_MATCH_LINE)).filter(|&line| line != 0);
    let raw_config = string(Text::Config);
    Ok(Recorded {
        decider_pid: word(W_DECIDER_PID) as u32,
        route: label(&ROUTES, W_ROUTE),
        reason: label(&REASONS, W_REASON),
        allocator: shown(&string(Text::Allocator)),
        api: shown(&string(Text::Api)),
        filled: shown(&string(Text::Filled)),
        straight: straight_names(flags),
        execfn: shown(&string(Text::Execfn)),
        exe: shown(&string(Text::Exe)),
        config: shown(&raw_config),
        config_source: label(&CONFIG_SOURCES, W_CONFIG_SOURCE),
        config_state,
        config_detail,
        config_identity: (flags & layout::FLAG_CONFIG_IDENTITY != 0).then(|| ConfigIdentity {
            device: word(W_CONFIG_DEVICE),
            inode: word(W_CONFIG_INODE),
            size: word(W_CONFIG_SIZE),
            modified: word(W_CONFIG_MTIME_SECONDS) as i64,
            modified_nanoseconds: word(W_CONFIG_MTIME_NANOSECONDS),
        }),
        match_line,
        source: layout::label(&NAME_SOURCES, word(W_MATCH_SOURCE)),
        other: optional(Text::Other).map(|bytes| shown(&bytes)),
        duplicate_of: optional(Text::DuplicateOf).map(|bytes| shown(&bytes)),
        bootstrap_used: flags & layout::FLAG_BOOTSTRAP_USED != 0,
        truncated: flags & layout::FLAG_TRUNCATED != 0,
        decided_at: word(W_DECIDED_SECONDS) as i64,
        raw_execfn: string(Text::Execfn),
        raw_exe: string(Text::Exe),
        raw_config: PathBuf::from(OsString::from_vec(raw_config)),
    })
}

/// The library file a process maps, for [`layout`]: the exact mapped file
/// through `/proc/PID/map_files` when allowed (it survives the file being
/// replaced), else the path as seen from the process's root, else the path.
pub fn mapped_file(pid: u32, start: u64, end: u64, path: &Path) -> io::Result<Vec<u8>> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    std::fs::read(format!("/proc/{pid}/map_files/{start:x}-{end:x}"))
        .or_else(|_| std::fs::read(Path::new(&format!("/proc/{pid}/root")).join(relative)))
        .or_else(|_| std::fs::read(path))
}

/// The straight contracts of a record's flags, as the debug line writes them.
fn straight_names(flags: u64) -> String {
    let bits = (flags >> layout::STRAIGHT_SHIFT) as u8;
    let names: Vec<&str> = Kept::from_bits(bits).iter().map(Contract::name).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    }
}
