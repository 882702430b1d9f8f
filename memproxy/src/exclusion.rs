//! Reading the exclusion list without allocating and without ever blocking.

use core::ffi::CStr;

use memproxy_config::{Decision, Identity, ScanError, decide};

use crate::sys::{self, Errno, Fd, FileKind};

/// What reading the config told us.
#[derive(Clone, Copy)]
pub enum Verdict {
    /// Not needed for the route (no custom allocator, or memproxy is not in
    /// effect), and diagnostics are off.
    NotRead,
    /// No file at the path: nothing is excluded.
    Missing,
    /// A FIFO, directory or device: never opened or read, so process start-up
    /// cannot block. Nothing is excluded.
    NotRegular(FileKind),
    /// Open or read failed: nothing is excluded.
    Unreadable(Errno),
    NoMatch,
    /// The last matching line: it excludes, or re-includes (a `!` line).
    Decided(Decision),
}

impl Verdict {
    pub fn excludes(&self) -> bool {
        matches!(self, Verdict::Decided(decision) if decision.excluded)
    }
}

/// Scans the config at `path` for the last entry naming `identity`, using
/// `buf` as the only memory (it must be longer than
/// [`memproxy_config::longest_kept_line`]).
pub fn read(path: &CStr, identity: &Identity<'_>, buf: &mut [u8]) -> Verdict {
    match sys::file_kind(path) {
        Err(libc::ENOENT | libc::ENOTDIR) => return Verdict::Missing,
        Err(errno) => return Verdict::Unreadable(errno),
        Ok(FileKind::Regular) => {}
        Ok(kind) => return Verdict::NotRegular(kind),
    }
    let mut file = match Fd::open_read_only(path) {
        Ok(file) => file,
        Err(libc::ENOENT | libc::ENOTDIR) => return Verdict::Missing,
        Err(errno) => return Verdict::Unreadable(errno),
    };
    // The path may have been replaced between the two checks.
    match file.kind() {
        Ok(FileKind::Regular) => {}
        Ok(kind) => return Verdict::NotRegular(kind),
        Err(errno) => return Verdict::Unreadable(errno),
    }
    match decide(&mut file, buf, identity) {
        Ok(Some(decision)) => Verdict::Decided(decision),
        Ok(None) => Verdict::NoMatch,
        Err(ScanError::Read(errno)) => Verdict::Unreadable(errno),
        Err(ScanError::BufferTooSmall) => Verdict::Unreadable(libc::ENAMETOOLONG),
    }
}
