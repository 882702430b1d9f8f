//! `memproxy rescue`, and memproxy started by the kernel as init
//! (`init=/usr/local/bin/memproxy`): repairs a system whose preload file
//! makes every dynamically linked program crash, systemd and the shells
//! included, before any of them runs.
//!
//! It remounts the root read-write if it is read-only, removes what
//! `enable` added to `etc/ld.so.preload` with [`disable::remove_managed`]
//! (atomically, under the lock, foreign entries kept), or, in a file written
//! by hand, every line naming a `libmemproxy.so` (with the allocator it
//! names), and syncs. As
//! `memproxy rescue` it then exits (or reboots with `--reboot`); as PID 1
//! it then execs `/sbin/init`, so the boot continues, now without memproxy.
//!
//! As PID 1 nothing may end the process: the kernel panics when init exits.
//! So every error is printed to the console and the boot goes on.

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::disable::{self, Removed};
use super::{Change, Files};
use crate::report::{self, EXIT_OK, Failure};
use crate::shown::shown_os;

const HELP: &str = "\
For a system on which every dynamically linked program crashes because of
a library in /etc/ld.so.preload (systemd, the shells and sudo included):
remounts the root read-write if it is read-only, removes the entries
`memproxy enable` wrote (as `memproxy disable` does: atomically, foreign
entries kept, the previous file in /etc/ld.so.preload.memproxy-prev), and
syncs. In a file `enable` did not write, it removes instead every line
that names a libmemproxy.so, whole (the one-line form names the allocator
too); other lines stay.

The statically linked memproxy that install.sh installs needs no ld.so, so
it runs where nothing else does. When no shell can start, boot with the
kernel argument

    init=/usr/local/bin/memproxy

(the path install.sh put it at): memproxy then runs as PID 1, repairs the
file as above, prints what it did on the console, and execs /sbin/init, so
the boot continues without memproxy. Kernel arguments after `--` reach it:
`init=/usr/local/bin/memproxy -- reboot` reboots instead of continuing;
others (`single`, `emergency`) are passed on to /sbin/init. As PID 1 it
never exits (that would panic the kernel): errors are printed and the boot
continues.

--root DIR repairs the system mounted at DIR (DIR/etc/ld.so.preload), e.g.
from rescue media.

Exit status:
  0  repaired, or nothing to remove
  2  usage or I/O error (the root cannot be remounted, the file cannot be
     written)";

/// The init the boot continues with.
const INIT: &str = "/sbin/init";
/// The kernel argument (after `--`) that makes init mode reboot.
const REBOOT_ARGUMENT: &str = "reboot";

/// Arguments of `memproxy rescue`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The root of the system to repair
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Reboot when done (needs CAP_SYS_BOOT)
    #[arg(long)]
    pub reboot: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    root: String,
    /// The root was read-only and has been remounted read-write.
    remounted: bool,
    change: Change,
    /// The entry lines removed.
    removed: Vec<String>,
    written: bool,
}

/// Runs `memproxy rescue`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let mut stdout = io::stdout().lock();
    let mut quiet = io::sink();
    let out: &mut dyn Write = if args.json { &mut quiet } else { &mut stdout };
    let (remounted, removed) = repair(&args.root, out)?;
    if args.json {
        report::print_json(&Report {
            root: shown_os(&args.root),
            remounted,
            change: removed.change,
            removed: removed.removed,
            written: removed.written,
        })?;
    }
    if args.reboot {
        return Err(reboot());
    }
    Ok(EXIT_OK)
}

/// The three steps, each reported on `out` as it is done.
fn repair(root: &Path, out: &mut dyn Write) -> Result<(bool, Removed), Failure> {
    let remounted = remount_read_write(root)?;
    if remounted {
        let _ = writeln!(out, "remounted {} read-write", shown_os(root));
    }
    let files = Files {
        dir: root.join("etc"),
    };
    let mut removed = disable::remove_managed(&files, false)?;
    if !removed.found {
        // Written by hand, as the README's one-line form: the lines naming
        // libmemproxy.so, which name the allocator it fronts too.
        removed = disable::remove_memproxy_lines(&files)?;
    }
    let _ = removed.write_text(&files, false, out);
    sync();
    let _ = writeln!(out, "synced");
    Ok((remounted, removed))
}

/// Remounts the file system at `root` read-write if it is read-only;
/// returns whether it did. The mount's other flags (nosuid, noexec, ...)
/// are kept.
fn remount_read_write(root: &Path) -> Result<bool, Failure> {
    let path = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| Failure(format!("{} contains a NUL byte", shown_os(root))))?;
    // SAFETY: a zeroed statvfs is a valid value for the kernel to fill.
    let mut info: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated and info is a valid statvfs to write.
    if unsafe { libc::statvfs(path.as_ptr(), &mut info) } != 0 {
        let error = io::Error::last_os_error();
        return Err(Failure(format!("cannot stat {}: {error}", shown_os(root))));
    }
    if info.f_flag & libc::ST_RDONLY == 0 {
        return Ok(false);
    }
    let kept = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_SYNCHRONOUS, libc::MS_SYNCHRONOUS),
        (libc::ST_MANDLOCK, libc::MS_MANDLOCK),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    let flags = kept
        .iter()
        .filter(|(st, _)| info.f_flag & st != 0)
        .fold(libc::MS_REMOUNT, |flags, (_, ms)| flags | ms);
    // SAFETY: a remount takes no source, type or data; path is
    // NUL-terminated.
    let ret = unsafe {
        libc::mount(
            std::ptr::null(),
            path.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        let error = io::Error::last_os_error();
        return Err(Failure(format!(
            "{} is read-only and cannot be remounted read-write: {error}",
            shown_os(root)
        )));
    }
    Ok(true)
}

fn sync() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
}

/// Reboots; returns only when the kernel refused.
fn reboot() -> Failure {
    sync();
    // SAFETY: reboot with RB_AUTOBOOT takes no pointer; without
    // CAP_SYS_BOOT it fails with EPERM and nothing happens.
    unsafe { libc::reboot(libc::RB_AUTOBOOT) };
    Failure(format!("cannot reboot: {}", io::Error::last_os_error()))
}

/// Whether this process was started as init: it is PID 1 and its first
/// argument names no subcommand (the kernel passes init only what follows
/// `--` on its command line). A `memproxy status` run as PID 1 of a PID
/// namespace keeps its meaning.
pub fn started_as_init(arguments: &[OsString], subcommands: &[String]) -> bool {
    std::process::id() == 1
        && arguments
            .get(1)
            .is_none_or(|first| !subcommands.iter().any(|name| first == name.as_str()))
}

/// memproxy as PID 1: repairs `/`, then execs /sbin/init (or reboots, when
/// `reboot` is among the arguments) and never returns.
pub fn run_as_init(arguments: &[OsString]) -> ! {
    // The kernel opened /dev/console on 0, 1 and 2; a write that fails is
    // dropped, never a panic.
    let mut console = io::stderr();
    let out: &mut dyn Write = &mut console;
    let _ = writeln!(
        out,
        "memproxy: started as init (PID 1): removing memproxy from /etc/ld.so.preload"
    );
    if let Err(failure) = repair(Path::new("/"), out) {
        let _ = writeln!(out, "memproxy: error: {failure}");
    }
    sync();
    let passed_on: Vec<&OsString> = arguments
        .iter()
        .skip(1)
        .filter(|argument| *argument != REBOOT_ARGUMENT)
        .collect();
    if passed_on.len() + 1 < arguments.len() {
        let _ = writeln!(out, "memproxy: rebooting");
        let failure = reboot();
        let _ = writeln!(out, "memproxy: {failure}; continuing the boot instead");
    }
    let _ = writeln!(out, "memproxy: continuing the boot: exec {INIT}");
    let error = Command::new(INIT).arg0(INIT).args(passed_on).exec();
    let _ = writeln!(
        out,
        "memproxy: cannot exec {INIT}: {error}; the file is repaired: power the machine off \
         and boot without init="
    );
    loop {
        // SAFETY: pause has no preconditions; it returns on a signal.
        unsafe { libc::pause() };
    }
}
