//! Allocation-free system primitives.
//!
//! Everything here may run inside the first `malloc` of a process, before any
//! constructor, on any thread. So each function:
//! - allocates nothing and takes no lock;
//! - uses raw system calls rather than glibc's wrappers, which are
//!   cancellation points and may be interposed by other preloaded tools;
//! - never touches `errno` (the caller of an exported hook saves and restores
//!   it around the whole decision anyway).
//!
//! This module and [`crate::loader`] are the only ones that talk to the kernel
//! or read memory the loader owns (see the unsafe edge in the crate docs).

use core::ffi::{CStr, c_int};
use memproxy_config::ReadBytes;

/// A positive `errno` value.
pub type Errno = i32;

#[cfg(target_arch = "x86_64")]
unsafe fn syscall5(
    number: libc::c_long,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux system call ABI: number in rax, arguments in
    // rdi, rsi, rdx, r10, r8; the kernel clobbers rcx and r11 only. Callers
    // pass pointers valid for what the call reads or writes.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            in("r8") e,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn syscall5(
    number: libc::c_long,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
) -> isize {
    // SAFETY: as for the x86_64 version; glibc's generic `syscall` is not a
    // cancellation point. It sets errno, which the decision restores.
    unsafe {
        let ret = libc::syscall(number, a, b, c, d, e);
        if ret < 0 {
            -(*libc::__errno_location()) as isize
        } else {
            ret as isize
        }
    }
}

/// A call of four arguments or fewer.
unsafe fn syscall4(number: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: the caller's contract; the kernel ignores the unused argument.
    unsafe { syscall5(number, a, b, c, d, 0) }
}

fn check(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(-ret as Errno)
    } else {
        Ok(ret as usize)
    }
}

/// What kind of file a path or descriptor refers to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileKind {
    Regular,
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl FileKind {
    fn of(mode: libc::mode_t) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => FileKind::Regular,
            libc::S_IFDIR => FileKind::Directory,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFCHR => FileKind::CharDevice,
            libc::S_IFBLK => FileKind::BlockDevice,
            libc::S_IFSOCK => FileKind::Socket,
            _ => FileKind::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FileKind::Regular => "regular file",
            FileKind::Directory => "directory",
            FileKind::Fifo => "FIFO",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Socket => "socket",
            FileKind::Other => "special file",
        }
    }
}

/// What `stat_at` reports, at full width whatever the word size: a 32-bit
/// `struct stat` truncates inode numbers and times.
struct Status {
    mode: libc::mode_t,
    device: u64,
    inode: u64,
    size: u64,
    modified_seconds: i64,
    modified_nanoseconds: u64,
}

/// `fstatat`, through `statx`, which has the same layout on every
/// architecture and 64-bit fields on 32-bit ones too. Kernels before 4.11, and
/// sandboxes whose seccomp filter answers `ENOSYS` to it, get the
/// architecture's own call instead.
fn stat_at(dirfd: c_int, path: &CStr, flags: c_int) -> Result<Status, Errno> {
    // SAFETY: an all-zero `statx` is a valid value of a plain C struct.
    let mut st: libc::statx = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is writable for the kernel's
    // `struct statx`, which is libc's; the fifth argument (the buffer) is
    // passed as statx's mask says: the basic fields only.
    let ret = unsafe {
        syscall5(
            libc::SYS_statx,
            dirfd as usize,
            path.as_ptr() as usize,
            (flags | libc::AT_STATX_SYNC_AS_STAT) as usize,
            libc::STATX_BASIC_STATS as usize,
            &raw mut st as usize,
        )
    };
    match check(ret) {
        Ok(_) => Ok(Status {
            mode: libc::mode_t::from(st.stx_mode),
            device: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
            inode: st.stx_ino,
            size: st.stx_size,
            modified_seconds: st.stx_mtime.tv_sec,
            modified_nanoseconds: u64::from(st.stx_mtime.tv_nsec),
        }),
        Err(libc::ENOSYS) => legacy_stat_at(dirfd, path, flags),
        Err(errno) => Err(errno),
    }
}

// The architecture's own `fstatat` and its `struct stat`: on 32-bit x86 the
// one with 64-bit inode numbers and sizes.
#[cfg(target_arch = "x86")]
use libc::{SYS_fstatat64 as SYS_LEGACY_FSTATAT, stat64 as LegacyStat};
#[cfg(target_pointer_width = "64")]
use libc::{SYS_newfstatat as SYS_LEGACY_FSTATAT, stat as LegacyStat};

// The time fields are narrower on 32-bit x86: `from` widens them there.
#[allow(clippy::useless_conversion)]
fn legacy_stat_at(dirfd: c_int, path: &CStr, flags: c_int) -> Result<Status, Errno> {
    // SAFETY: an all-zero `stat` is a valid value of a plain C struct.
    let mut st: LegacyStat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is writable for the kernel's
    // structure of that call, which is libc's.
    let ret = unsafe {
        syscall4(
            SYS_LEGACY_FSTATAT,
            dirfd as usize,
            path.as_ptr() as usize,
            &raw mut st as usize,
            flags as usize,
        )
    };
    check(ret).map(|_| Status {
        mode: st.st_mode,
        device: st.st_dev,
        inode: st.st_ino,
        size: st.st_size as u64,
        modified_seconds: i64::from(st.st_mtime),
        modified_nanoseconds: st.st_mtime_nsec as u64,
    })
}

/// The kind of file at `path`, following symlinks, without opening it: opening
/// a FIFO blocks and opening a device can have side effects.
pub fn file_kind(path: &CStr) -> Result<FileKind, Errno> {
    stat_at(libc::AT_FDCWD, path, 0).map(|st| FileKind::of(st.mode))
}

/// What identifies a file's version: where it is, and its size and
/// modification time.
#[derive(Clone, Copy)]
pub struct FileIdentity {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub modified_seconds: i64,
    pub modified_nanoseconds: u64,
}

/// The identity of the file at `path`, following symlinks, without opening it.
pub fn file_identity(path: &CStr) -> Result<FileIdentity, Errno> {
    stat_at(libc::AT_FDCWD, path, 0).map(|st| FileIdentity {
        device: st.device,
        inode: st.inode,
        size: st.size,
        modified_seconds: st.modified_seconds,
        modified_nanoseconds: st.modified_nanoseconds,
    })
}

/// The wall-clock time, as seconds and nanoseconds since the epoch; zero if
/// the clock cannot be read.
// `time_t` is 32 bits wide on 32-bit targets: `from` widens it there.
#[allow(clippy::useless_conversion)]
pub fn realtime() -> (i64, u64) {
    #[cfg(target_pointer_width = "32")]
    if let Some(now) = realtime64() {
        return now;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is writable for the kernel's `struct timespec`, which is
    // libc's on this target.
    let ret = unsafe {
        syscall4(
            libc::SYS_clock_gettime,
            libc::CLOCK_REALTIME as usize,
            &raw mut now as usize,
            0,
            0,
        )
    };
    match check(ret) {
        Ok(_) => (i64::from(now.tv_sec), now.tv_nsec as u64),
        Err(_) => (0, 0),
    }
}

/// `clock_gettime64`, which 32-bit kernels have had since 5.1: the plain
/// call's 32-bit `time_t` ends in 2038.
#[cfg(target_pointer_width = "32")]
fn realtime64() -> Option<(i64, u64)> {
    /// The kernel's `struct __kernel_timespec`.
    #[repr(C)]
    struct Timespec64 {
        seconds: i64,
        nanoseconds: i64,
    }
    #[cfg(target_arch = "x86")]
    const SYS_CLOCK_GETTIME64: libc::c_long = 403;
    let mut now = Timespec64 {
        seconds: 0,
        nanoseconds: 0,
    };
    // SAFETY: `now` is writable for the kernel's `struct __kernel_timespec`.
    let ret = unsafe {
        syscall4(
            SYS_CLOCK_GETTIME64,
            libc::CLOCK_REALTIME as usize,
            &raw mut now as usize,
            0,
            0,
        )
    };
    check(ret)
        .ok()
        .map(|_| (now.seconds, now.nanoseconds as u64))
}

/// An open file descriptor, closed on drop.
pub struct Fd(c_int);

impl Fd {
    /// Opens `path` read-only. `O_NONBLOCK` keeps a FIFO swapped in after
    /// [`file_kind`] from blocking; the caller re-checks the kind with
    /// [`Fd::kind`].
    pub fn open_read_only(path: &CStr) -> Result<Fd, Errno> {
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        // SAFETY: `path` is NUL-terminated.
        let ret = unsafe {
            syscall4(
                libc::SYS_openat,
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                flags as usize,
                0,
            )
        };
        check(ret).map(|fd| Fd(fd as c_int))
    }

    pub fn kind(&self) -> Result<FileKind, Errno> {
        stat_at(self.0, c"", libc::AT_EMPTY_PATH).map(|st| FileKind::of(st.mode))
    }
}

impl ReadBytes for Fd {
    type Error = Errno;
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        loop {
            // SAFETY: `buf` is writable for `buf.len()` bytes.
            let ret = unsafe {
                syscall4(
                    libc::SYS_read,
                    self.0 as usize,
                    buf.as_mut_ptr() as usize,
                    buf.len(),
                    0,
                )
            };
            match check(ret) {
                Err(libc::EINTR) => continue,
                other => return other,
            }
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closing a descriptor this value owns; errors are moot.
        unsafe { syscall4(libc::SYS_close, self.0 as usize, 0, 0, 0) };
    }
}

/// Reads a symlink's target into `buf`. `Ok(None)` when the target does not
/// fit, since a truncated path would be a wrong name.
pub fn read_link<'b>(path: &CStr, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Errno> {
    // SAFETY: `path` is NUL-terminated, `buf` is writable for its length.
    let ret = unsafe {
        syscall4(
            libc::SYS_readlinkat,
            libc::AT_FDCWD as usize,
            path.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    };
    let length = check(ret)?;
    Ok(if length < buf.len() {
        buf.get(..length)
    } else {
        None
    })
}

/// Writes all of `bytes` to standard error, giving up silently on error:
/// diagnostics must never disturb the program.
pub fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is readable for its length.
        let ret = unsafe { syscall4(libc::SYS_write, 2, bytes.as_ptr() as usize, bytes.len(), 0) };
        match check(ret) {
            Ok(0) => return,
            Ok(written) => bytes = bytes.get(written..).unwrap_or(&[]),
            Err(libc::EINTR) => continue,
            Err(_) => return,
        }
    }
}

pub fn process_id() -> i32 {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { syscall4(libc::SYS_getpid, 0, 0, 0, 0) as i32 }
}

/// Ends the process at once, without unwinding or running any handler but
/// SIGABRT's.
pub fn abort() -> ! {
    // SAFETY: abort is always safe to call.
    unsafe { libc::abort() }
}

/// The calling thread's `errno`. glibc's `__errno_location` reads the thread
/// pointer; it neither allocates nor locks.
pub fn errno() -> c_int {
    // SAFETY: `__errno_location` always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(value: c_int) {
    // SAFETY: as for `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// An auxiliary vector entry, 0 when absent. The kernel's auxv is read by
/// glibc at start-up, before any code of ours can run.
pub fn aux_value(key: libc::c_ulong) -> usize {
    // SAFETY: getauxval only reads the saved auxiliary vector.
    unsafe { libc::getauxval(key) as usize }
}

/// A NUL-terminated string from the auxiliary vector (`AT_EXECFN`), or empty.
pub fn aux_string(key: libc::c_ulong) -> &'static [u8] {
    let pointer = aux_value(key) as *const libc::c_char;
    if pointer.is_null() {
        return &[];
    }
    // SAFETY: the kernel places auxv strings on the initial stack, which lives
    // as long as the process.
    unsafe { CStr::from_ptr(pointer) }.to_bytes()
}

// Linking libc by name here, and not only through the libc crate, keeps
// DT_NEEDED libc.so.6 and versioned imports (malloc@GLIBC_2.2.5 ...) in the
// library whatever else is built with it: a build that also selects a crate
// enabling libc's `std` feature (the CLI, the fixtures) makes the libc crate
// leave the linking to std, which this library does not have.
#[link(name = "c")]
unsafe extern "C" {
    static environ: *const *const libc::c_char;
}

/// An environment variable, copied into caller-owned memory.
pub enum EnvVar<'s> {
    Unset,
    Set(&'s [u8]),
    /// Set, but longer than the memory given for it.
    TooLong,
}

impl<'s> EnvVar<'s> {
    pub fn value(self) -> Option<&'s [u8]> {
        match self {
            EnvVar::Set(value) => Some(value),
            EnvVar::Unset | EnvVar::TooLong => None,
        }
    }
}

/// An environment variable as it was when the process started.
///
/// glibc's `environ` is only set by libc's own initialiser. An allocation made
/// before that (by ld.so or another library's constructor) would see it
/// empty, so in that case the variable is read from `/proc/self/environ`
/// into `scratch`.
pub fn start_env<'s>(name: &[u8], scratch: &'s mut [u8]) -> EnvVar<'s> {
    // SAFETY: reading a pointer-sized global of glibc.
    let table = unsafe { environ };
    if table.is_null() {
        return proc_environ(name, scratch);
    }
    let mut cursor = table;
    loop {
        // SAFETY: `environ` is a NULL-terminated array of C strings.
        let entry = unsafe { *cursor };
        if entry.is_null() {
            return EnvVar::Unset;
        }
        // SAFETY: each entry is a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
        if let Some(value) = value_of(bytes, name) {
            let Some(copy) = scratch.get_mut(..value.len()) else {
                return EnvVar::TooLong;
            };
            copy.copy_from_slice(value);
            return EnvVar::Set(copy);
        }
        // SAFETY: still within the array, which ends at the NULL seen above.
        cursor = unsafe { cursor.add(1) };
    }
}

fn value_of<'e>(entry: &'e [u8], name: &[u8]) -> Option<&'e [u8]> {
    entry.strip_prefix(name)?.strip_prefix(b"=")
}

/// Streams `/proc/self/environ` (NUL-separated) looking for `name=`.
fn proc_environ<'s>(name: &[u8], scratch: &'s mut [u8]) -> EnvVar<'s> {
    let Ok(mut file) = Fd::open_read_only(c"/proc/self/environ") else {
        return EnvVar::Unset;
    };
    let mut chunk = [0u8; 512];
    // Bytes of the current entry compared so far, or None once it differs.
    let mut matched: Option<usize> = Some(0);
    let mut value_length: Option<usize> = None;
    loop {
        let Ok(count) = file.read(&mut chunk) else {
            return EnvVar::Unset;
        };
        let finished = |length: usize, scratch: &'s mut [u8]| match scratch.get(..length) {
            Some(value) => EnvVar::Set(value),
            None => EnvVar::TooLong,
        };
        if count == 0 {
            return match value_length {
                Some(length) => finished(length, scratch),
                None => EnvVar::Unset,
            };
        }
        for &byte in chunk.get(..count).unwrap_or(&[]) {
            if let Some(length) = value_length {
                if byte == 0 {
                    return finished(length, scratch);
                }
                let Some(slot) = scratch.get_mut(length) else {
                    return EnvVar::TooLong;
                };
                *slot = byte;
                value_length = Some(length + 1);
            } else if byte == 0 {
                matched = Some(0);
            } else if let Some(position) = matched {
                matched = match name.get(position) {
                    Some(&expected) if expected == byte => Some(position + 1),
                    None if byte == b'=' => {
                        value_length = Some(0);
                        None
                    }
                    _ => None,
                };
            }
        }
    }
}
