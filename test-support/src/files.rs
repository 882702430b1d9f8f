//! A test's own directory, built up fluently: configs, data files, scripts
//! and executables. It lives under [`scratch::root`], and executables are
//! laid out with the scratch module's discipline (copied by a child
//! process, hard-linked, never written by the test process), so an exec of
//! them never fails with `ETXTBSY`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::scratch;

/// A fresh directory under the scratch root, removed when dropped.
#[derive(Debug)]
pub struct Dir {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    /// A fresh directory named `PREFIX...` under [`scratch::root`].
    #[track_caller]
    pub fn new(prefix: &str) -> Dir {
        let dir = scratch::directory(prefix)
            .unwrap_or_else(|error| panic!("a scratch directory: {error}"));
        let path = dir.path().canonicalize().unwrap_or_else(|error| {
            panic!("{}: {error}", dir.path().display());
        });
        Dir { dir, path }
    }

    /// A fresh directory, open to every user, on a file system that honours
    /// setuid bits: the scratch root's, unless that is mounted `nosuid` (as
    /// Debian 13 mounts its tmpfs `/tmp`), else one under `/var/tmp`. Panics
    /// with the reason when neither will do, rather than let a setuid test
    /// pass or fail for the mount's sake.
    #[track_caller]
    pub fn setuid_capable(prefix: &str) -> Dir {
        if !mounted_nosuid(scratch::root()) {
            return Dir::new(prefix).open_to_everyone();
        }
        let fallback = Path::new("/var/tmp");
        assert!(
            !mounted_nosuid(fallback),
            "both {} and {} are on nosuid mounts: no place for a setuid test file \
             (set TMPDIR to a directory on a file system mounted without nosuid)",
            scratch::root().display(),
            fallback.display()
        );
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(fallback)
            .unwrap_or_else(|error| panic!("a directory in {}: {error}", fallback.display()));
        let path = dir.path().canonicalize().unwrap_or_else(|error| {
            panic!("{}: {error}", dir.path().display());
        });
        set_mode(&path, 0o755);
        Dir { dir, path }
    }

    /// The canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Lets every user reach what is inside (as `nobody` must): the
    /// directory, and the scratch root above it, become searchable by all.
    #[track_caller]
    pub fn open_to_everyone(self) -> Dir {
        for (path, mode) in [(scratch::root(), 0o711), (self.path(), 0o755)] {
            set_mode(path, mode);
        }
        self
    }

    /// Writes a data file (never one to execute: see [`Dir::script`]).
    #[track_caller]
    pub fn file(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        path
    }

    /// Writes the exclusion list `memproxy.conf`.
    #[track_caller]
    pub fn config(&self, contents: impl AsRef<[u8]>) -> PathBuf {
        self.file("memproxy.conf", contents)
    }

    /// Writes an executable script (mode 0755), in a child process.
    #[track_caller]
    pub fn script(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        scratch::write_executable(&path, contents.as_ref())
            .unwrap_or_else(|error| panic!("{error}"));
        path
    }

    /// Gives the executable `from` the name `name` here, as a hard link to
    /// this process's one copy of it.
    #[track_caller]
    pub fn link(&self, name: impl AsRef<Path>, from: impl AsRef<Path>) -> PathBuf {
        let path = self.join(name);
        scratch::link_executable(from.as_ref(), &path).unwrap_or_else(|error| {
            panic!("{} -> {}: {error}", from.as_ref().display(), path.display())
        });
        path
    }

    /// A copy of its own of `from` (a file whose mode or owner the test
    /// changes, such as a setuid program), made in a child process, with
    /// `mode`.
    #[track_caller]
    pub fn copy(&self, name: impl AsRef<Path>, from: impl AsRef<Path>, mode: u32) -> PathBuf {
        let path = self.join(name);
        scratch::copy_executable(from.as_ref(), &path).unwrap_or_else(|error| panic!("{error}"));
        set_mode(&path, mode);
        path
    }

    /// Sets the mode of `name` here.
    #[track_caller]
    pub fn chmod(&self, name: impl AsRef<Path>, mode: u32) -> PathBuf {
        let path = self.join(name);
        set_mode(&path, mode);
        path
    }

    /// Keeps the directory on disk, past the process's exit (for a
    /// reproduce line), and returns it.
    pub fn keep(self) -> PathBuf {
        let _ = scratch::keep(self.dir);
        self.path
    }
}

#[track_caller]
fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|error| panic!("chmod {mode:o} {}: {error}", path.display()));
}

/// Whether the file system holding `path` ignores setuid bits.
fn mounted_nosuid(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return true;
    };
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and room for one statvfs.
    let result = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    // SAFETY: statvfs filled it in when it returned 0.
    result != 0 || unsafe { stats.assume_init() }.f_flag & libc::ST_NOSUID != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Process;

    #[test]
    fn a_script_and_a_config_laid_out_together() {
        let dir = Dir::new("files-test-");
        let config = dir.config("listed\n");
        let script = dir.script("show", "#!/bin/sh\ncat \"$MEMPROXY_CONF\"\n");
        Process::new(&script)
            .config(&config)
            .current_dir(dir.path())
            .run()
            .assert_success()
            .assert_stdout("listed\n");
        assert!(dir.path().starts_with(scratch::root()));
    }
}
