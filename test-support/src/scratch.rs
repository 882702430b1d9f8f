//! Where the harness puts the programs it runs, laid out so that an exec
//! never fails with `ETXTBSY` and a link never crosses a file system.
//!
//! **`ETXTBSY`.** The kernel refuses to execute a file that any process holds
//! open for writing. A thread that writes an executable while another thread
//! forks hands the child a writable descriptor, which the child keeps until
//! it execs (`O_CLOEXEC` closes it only then); an exec of the fresh file in
//! that window fails. A retry narrows the window without closing it, and
//! renaming the file does not help either: the busy count belongs to the
//! inode. So this process never opens for writing a file that will be
//! executed. Copies and scripts are written by a short-lived child process
//! (`cp`, `sh`), whose descriptors no thread of this process can inherit, and
//! which has exited before anything executes the file. Everything else is a
//! hard link to such a copy.
//!
//! **File systems.** Every case directory lives under one scratch directory
//! per process, and each artifact is copied into it once, so the hard links
//! stay inside one file system whatever `TMPDIR`, `/tmp` and `target/` are
//! (Debian 13 puts `/tmp` on a tmpfs).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// This process's scratch directory (under `TMPDIR`), removed when the
/// process exits unless [`keep`] was asked to keep a directory in it.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("memproxy-harness-")
            .tempdir()
            .unwrap_or_else(|error| panic!("cannot make a scratch directory: {error}"))
            .keep();
        let dir = dir.canonicalize().unwrap_or(dir);
        // Statics are never dropped: remove the directory when the process
        // exits.
        REMOVE_AT_EXIT.get_or_init(|| dir.clone());
        // SAFETY: registering a function that takes no arguments.
        unsafe { libc::atexit(remove_root) };
        dir
    })
}

static REMOVE_AT_EXIT: OnceLock<PathBuf> = OnceLock::new();
/// Set by [`keep`]: the root stays, with what a reproduce line names.
static KEEP_ROOT: AtomicBool = AtomicBool::new(false);

extern "C" fn remove_root() {
    if KEEP_ROOT.load(Ordering::Relaxed) {
        return;
    }
    if let Some(dir) = REMOVE_AT_EXIT.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Keeps `dir` (inside [`root`]) on disk after the process exits, and so
/// the root and what else in it a reproduce line may name (the copy of
/// `/etc`, the staged executables); returns its path.
pub fn keep(dir: tempfile::TempDir) -> PathBuf {
    KEEP_ROOT.store(true, Ordering::Relaxed);
    dir.keep()
}

/// A fresh directory inside [`root`], removed when dropped.
pub fn directory(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir_in(root())
}

/// Gives the executable `from` the name `to` (inside [`root`]) as a hard
/// link to this process's copy of it, which is made on first use.
pub fn link_executable(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(staged(from)?, to)
}

/// Copies the executable `from` to `to` in a child process (see the module
/// docs for why), with `from`'s permission bits less the umask.
pub fn copy_executable(from: &Path, to: &Path) -> std::io::Result<()> {
    let output = Command::new("/bin/cp")
        .arg("--")
        .args([from, to])
        .stdin(Stdio::null())
        .env_remove("LD_PRELOAD")
        .output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "cp {} {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Writes an executable file (a script) with mode 0755, in a child process
/// (see the module docs for why).
pub fn write_executable(to: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut child = Command::new("/bin/sh")
        .args(["-c", r#"cat >"$1" && chmod 755 "$1""#, "sh"])
        .arg(to)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_remove("LD_PRELOAD")
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let written = stdin.write_all(contents);
    drop(stdin);
    let output = child.wait_with_output()?;
    written?;
    if output.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "writing {}: {}",
            to.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// This process's copy of `from`, inside [`root`].
fn staged(from: &Path) -> std::io::Result<PathBuf> {
    static STAGED: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let mut staged = STAGED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(copy) = staged.get(from) {
        return Ok(copy.clone());
    }
    let dir = root().join("staged").join(staged.len().to_string());
    std::fs::create_dir_all(&dir)?;
    let name = from.file_name().unwrap_or("executable".as_ref());
    let copy = dir.join(name);
    copy_executable(from, &copy)?;
    staged.insert(from.to_owned(), copy.clone());
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn links_share_one_staged_copy_inside_the_scratch_directory() {
        let source = tempfile::NamedTempFile::new().expect("a source file");
        let dir = directory("scratch-test-").expect("a directory");
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        link_executable(source.path(), &first).expect("first link");
        link_executable(source.path(), &second).expect("second link");
        let (first, second) = (first.metadata().unwrap(), second.metadata().unwrap());
        assert_eq!(first.ino(), second.ino());
        assert_ne!(first.ino(), source.path().metadata().unwrap().ino());
        assert!(dir.path().starts_with(root()));
    }

    #[test]
    fn scripts_are_written_whole_and_executable() {
        let dir = directory("scratch-test-").expect("a directory");
        let script = dir.path().join("script");
        write_executable(&script, b"#!/bin/sh\necho written\n").expect("write");
        let output = Command::new(&script).output().expect("runs");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "written\n");
    }
}
