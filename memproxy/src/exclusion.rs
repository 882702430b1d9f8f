//! Reading the exclusion list without allocating and without ever blocking.

use core::ffi::CStr;

use memproxy_config::{Found, Identity, ScanError, find_first_match};

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
    Excluded(Found),
}

impl Verdict {
    pub fn excludes(&self) -> bool {
        matches!(self, Verdict::Excluded(_))
    }
}

/// Scans the config at `path` for an entry naming `identity`, using `buf` as
/// the only memory (it must be longer than any name in `identity`).
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
    match find_first_match(&mut file, buf, identity) {
        Ok(Some(found)) => Verdict::Excluded(found),
        Ok(None) => Verdict::NoMatch,
        Err(ScanError::Read(errno)) => Verdict::Unreadable(errno),
        Err(ScanError::BufferTooSmall) => Verdict::Unreadable(libc::ENAMETOOLONG),
    }
}
