//! `memproxy enable` and `memproxy disable`: the host-wide preload file,
//! written so that a mistake cannot take the host down.
//!
//! - [`edit`]: the file's contents before and after, as pure functions;
//! - [`preflight`]: the programs a host cannot live without, run under the
//!   new file in a private mount namespace before it is written;
//! - [`enable`] and [`disable`]: the subcommands;
//! - [`rescue`]: `disable` for a system that cannot start a shell, also
//!   as the kernel's init.
//!
//! Both take an exclusive `flock` on `ld.so.preload.memproxy-lock` next to
//! the file for the whole read, check and write, so two runs at once never
//! interleave; and both replace the file atomically (a temporary file in the
//! same directory, `fsync`, `rename(2)`, `fsync` of the directory), after
//! keeping the previous contents in `ld.so.preload.memproxy-prev`. ld.so
//! reads the file in every process start, so it must always see the old
//! file or the new one, whole.
//!
//! The directory is `/etc`, or the hidden `--etc DIR` (or `MEMPROXY_ETC`),
//! for tests that work on a private copy; the pre-flight always binds its
//! file over the real `/etc/ld.so.preload`, in its own namespace.

mod disable;
mod edit;
mod enable;
mod preflight;
mod rescue;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::report::Failure;
use crate::shown::{shown, shown_os};

pub use disable::{Args as DisableArgs, run as disable};
pub use enable::{Args as EnableArgs, run as enable};
pub use rescue::{Args as RescueArgs, run as rescue, run_as_init, started_as_init};

/// The preload file's name in its directory.
const PRELOAD_NAME: &str = "ld.so.preload";
const PREVIOUS_NAME: &str = "ld.so.preload.memproxy-prev";
const LOCK_NAME: &str = "ld.so.preload.memproxy-lock";
/// The temporary file a new version is written to before the rename; a
/// fixed name, since only the holder of the lock writes it.
const NEW_NAME: &str = "ld.so.preload.memproxy-new";
/// Overrides the directory, like the hidden `--etc`.
const ETC_VARIABLE: &str = "MEMPROXY_ETC";
/// Seconds to sleep between writing the new file and renaming it: lets the
/// tests kill a write half-way. Read by this command only.
const PAUSE_VARIABLE: &str = "MEMPROXY_TEST_PAUSE_BEFORE_RENAME";

/// The files `enable` and `disable` work on.
#[derive(Debug, Clone)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    /// `--etc DIR`, else `$MEMPROXY_ETC`, else `/etc`.
    pub fn choose(etc: Option<&Path>) -> Files {
        let dir = etc
            .map(Path::to_owned)
            .or_else(|| {
                std::env::var_os(ETC_VARIABLE)
                    .filter(|value| !value.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("/etc"));
        Files { dir }
    }

    pub fn preload(&self) -> PathBuf {
        self.dir.join(PRELOAD_NAME)
    }

    pub fn previous(&self) -> PathBuf {
        self.dir.join(PREVIOUS_NAME)
    }

    /// Takes the lock, waiting (and saying so) while another run holds it.
    pub fn lock(&self) -> Result<Lock, Failure> {
        let path = self.dir.join(LOCK_NAME);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|error| Failure(format!("cannot open {}: {error}", shown_os(&path))))?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            eprintln!(
                "memproxy: waiting for another enable or disable to finish (lock {})",
                shown_os(&path)
            );
            flock(&file, libc::LOCK_EX)
                .map_err(|error| Failure(format!("cannot lock {}: {error}", shown_os(&path))))?;
        }
        Ok(Lock { _file: file })
    }

    /// The preload file's contents; `None` when there is none.
    pub fn read(&self) -> Result<Option<Vec<u8>>, Failure> {
        let path = self.preload();
        match std::fs::read(&path) {
            Ok(contents) => Ok(Some(contents)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Failure(format!("cannot read {}: {error}", shown_os(&path)))),
        }
    }

    /// Replaces the preload file with `contents` (`None`: removes it), after
    /// keeping `previous` (`None`: there was no file) as the `-prev` file.
    pub fn replace(&self, previous: Option<&[u8]>, contents: Option<&[u8]>) -> Result<(), Failure> {
        let failed = |what: &str, error: io::Error| Failure(format!("{what}: {error}"));
        let mode = std::fs::metadata(self.preload())
            .map(|metadata| metadata.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        match previous {
            Some(bytes) => self.write_atomically(PREVIOUS_NAME, bytes, mode, false)?,
            None => remove(&self.previous()).map_err(|error| {
                failed(&format!("removing {}", shown_os(self.previous())), error)
            })?,
        }
        match contents {
            Some(bytes) => self.write_atomically(PRELOAD_NAME, bytes, mode, true)?,
            None => remove(&self.preload()).map_err(|error| {
                failed(&format!("removing {}", shown_os(self.preload())), error)
            })?,
        }
        sync_dir(&self.dir)
            .map_err(|error| failed(&format!("fsync {}", shown_os(&self.dir)), error))
    }

    /// Writes `name` through a temporary file and `rename(2)`.
    fn write_atomically(
        &self,
        name: &str,
        contents: &[u8],
        mode: u32,
        pause: bool,
    ) -> Result<(), Failure> {
        let temporary = self.dir.join(NEW_NAME);
        let target = self.dir.join(name);
        let failed = |error: io::Error| {
            Failure(format!(
                "cannot write {} (through {}): {error}",
                shown_os(&target),
                shown_os(&temporary)
            ))
        };
        // A run killed before its rename leaves the file behind; only the
        // lock holder writes it, so it is stale.
        remove(&temporary).map_err(failed)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&temporary)
            .map_err(failed)?;
        file.write_all(contents).map_err(failed)?;
        // The mode given to open is masked by the umask.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(failed)?;
        file.sync_all().map_err(failed)?;
        drop(file);
        if pause {
            test_pause(&temporary);
        }
        std::fs::rename(&temporary, &target).map_err(failed)?;
        Ok(())
    }
}

/// Held while a run reads, checks and writes; released on drop (and by the
/// kernel if the process dies).
pub struct Lock {
    _file: File,
}

fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor this File owns; no memory is passed.
        let ret = unsafe { libc::flock(file.as_raw_fd(), operation) };
        if ret == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Makes the renames in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn test_pause(temporary: &Path) {
    let Some(seconds) = std::env::var(PAUSE_VARIABLE)
        .ok()
        .and_then(|value| value.parse::<f64>().ok())
    else {
        return;
    };
    eprintln!(
        "memproxy: {PAUSE_VARIABLE}: {} written, pausing {seconds} s before the rename",
        shown_os(temporary)
    );
    std::thread::sleep(Duration::from_secs_f64(seconds.max(0.0)));
}

/// The file before and after, for the report.
#[derive(Debug, Serialize)]
pub struct Change {
    pub file: String,
    /// `None`: there was no file.
    pub before: Option<String>,
    /// `None`: there will be no file.
    pub after: Option<String>,
    /// The line diff, each line prefixed with `-`, `+` or a space.
    pub diff: Vec<String>,
}

impl Change {
    pub fn new(file: &Path, before: Option<&[u8]>, after: Option<&[u8]>) -> Change {
        let diff = edit::diff(before.unwrap_or_default(), after.unwrap_or_default())
            .into_iter()
            .map(|line| match line {
                edit::DiffLine::Same(text) => format!("  {}", shown(&text)),
                edit::DiffLine::Removed(text) => format!("- {}", shown(&text)),
                edit::DiffLine::Added(text) => format!("+ {}", shown(&text)),
            })
            .collect();
        Change {
            file: shown_os(file),
            before: before.map(shown),
            after: after.map(shown),
            diff,
        }
    }

    pub fn print(&self) {
        // Like println!, minus the panic on a closed stdout.
        let _ = self.write_to(&mut io::stdout().lock());
    }

    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        match (&self.before, &self.after) {
            (None, _) => writeln!(out, "--- {} (absent)", self.file)?,
            _ => writeln!(out, "--- {}", self.file)?,
        }
        match &self.after {
            None => writeln!(out, "+++ {} (removed)", self.file)?,
            Some(_) => writeln!(out, "+++ {} (new)", self.file)?,
        }
        for line in &self.diff {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}
