//! `/etc/ld.so.preload` for one command: a private mount namespace in
//! which a copy of `/etc` is bound over `/etc` and a per-run file over its
//! `ld.so.preload`, so that nothing outside the namespace sees either. As
//! root the namespace is plain; otherwise it is made inside a user namespace
//! if the kernel allows it; in a chroot, where `/` is not a mount point, it
//! is used only after checking that its mounts cannot reach the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{path_str, scratch};

/// Why a run could not be made.
#[derive(Debug)]
pub enum NotRun {
    /// The order needs a private mount namespace and this user cannot make
    /// one (not root, and unprivileged user namespaces are off).
    NoMountNamespace(String),
    Setup(String),
}

impl std::fmt::Display for NotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRun::NoMountNamespace(why) => {
                write!(f, "not run: needs a private mount namespace ({why})")
            }
            NotRun::Setup(why) => write!(f, "not run: {why}"),
        }
    }
}

/// The argv prefix that runs a command with `/etc/ld.so.preload` holding
/// `contents`, inside a private mount namespace: a copy of `/etc` is bound
/// over `/etc`, and a file written in `scratch` over its `ld.so.preload`.
/// Nothing outside the namespace sees either.
pub fn with_etc_preload(contents: &str, scratch: &Path) -> Result<Vec<String>, NotRun> {
    let preload_file = scratch.join("ld.so.preload");
    std::fs::write(&preload_file, contents)
        .map_err(|error| NotRun::Setup(format!("writing {}: {error}", preload_file.display())))?;
    let etc = etc_copy().map_err(NotRun::Setup)?;
    let mut argv = mount_namespace_prefix().map_err(NotRun::NoMountNamespace)?;
    argv.extend([
        "/bin/sh".into(),
        "-c".into(),
        r#"mount --bind "$1" /etc && mount --bind "$2" /etc/ld.so.preload && shift 2 && exec "$@""#
            .into(),
        "sh".into(),
        path_str(etc),
        path_str(&preload_file),
    ]);
    Ok(argv)
}

/// Whether [`with_etc_preload`] can work here, for a caller that must know
/// before it starts anything.
pub fn available() -> Result<(), NotRun> {
    etc_copy().map_err(NotRun::Setup)?;
    mount_namespace_prefix()
        .map(drop)
        .map_err(NotRun::NoMountNamespace)
}

/// A copy of `/etc` for the mount namespace, made once per process, with an
/// empty `ld.so.preload` for a per-run file to be bound over.
fn etc_copy() -> Result<&'static Path, String> {
    static COPY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let copy = COPY.get_or_init(|| {
        let dir = scratch::root().join("etc");
        std::fs::create_dir(&dir).map_err(|error| error.to_string())?;
        copy_tree(Path::new("/etc"), &dir);
        std::fs::write(dir.join("ld.so.preload"), "").map_err(|error| error.to_string())?;
        Ok(dir)
    });
    copy.as_deref().map_err(Clone::clone)
}

/// Copies what can be copied: an unreadable file in /etc must not stop the
/// run, and ld.so needs only a few of them.
fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for entry in entries.flatten() {
        let (source, destination) = (entry.path(), to.join(entry.file_name()));
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            if let Ok(target) = std::fs::read_link(&source) {
                let _ = std::os::unix::fs::symlink(target, &destination);
            }
        } else if kind.is_dir() {
            if std::fs::create_dir(&destination).is_ok() {
                copy_tree(&source, &destination);
            }
        } else if kind.is_file() {
            let _ = std::fs::copy(&source, &destination);
        }
    }
}

/// `unshare` arguments for a private mount namespace: plain as root, inside
/// a user namespace otherwise (if the kernel allows it).
///
/// Where `/` is not a mount point (a chroot), `unshare --propagation
/// private` fails: it cannot change the propagation of a directory, and the
/// mount that holds the chroot cannot be named from inside it. The copy of
/// that mount in a new namespace then keeps its propagation, so the
/// namespace is usable only if that mount is not shared with the parent's:
/// otherwise the bind mounts over `/etc` would reach the host. This is
/// checked, not assumed, with a bind of `/etc` onto itself (harmless: the
/// same files) that is undone at once.
pub fn mount_namespace_prefix() -> Result<Vec<String>, String> {
    static PREFIX: OnceLock<Result<Vec<String>, String>> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            let user = if root {
                "root"
            } else {
                "this unprivileged user"
            };
            let prefix = |propagation: &str| {
                let mut prefix = vec!["/usr/bin/unshare".to_owned()];
                if !root {
                    prefix.push("--map-root-user".into());
                }
                prefix.extend(["--mount", "--propagation", propagation, "--"].map(String::from));
                prefix
            };
            let private = prefix("private");
            let Err(why) = namespace_check(&private, "mount --bind /etc /etc") else {
                return Ok(private);
            };
            if root_is_mount_point() != Some(false) {
                return Err(format!(
                    "{user} cannot bind-mount in a private namespace: {why}"
                ));
            }
            let unchanged = prefix("unchanged");
            match namespace_check(&unchanged, memproxy_common::namespace::BIND_LEAK_CHECK) {
                Ok(()) => Ok(unchanged),
                Err(leak) => Err(format!(
                    "'/' is not a mount point here (a chroot?), so unshare cannot make the new \
                     namespace's mounts private ({why}), and the mount holding '/' is shared \
                     with the parent namespace, so bind mounts would reach it ({leak}); run \
                     inside 'unshare --mount --propagation private' or bind the root onto \
                     itself before chroot"
                )),
            }
        })
        .clone()
}

/// Runs `script` with `/bin/sh` behind `prefix`; the error is its stderr.
fn namespace_check(prefix: &[String], script: &str) -> Result<(), String> {
    let output = Command::new(&prefix[0])
        .args(&prefix[1..])
        .args(["/bin/sh", "-c", script])
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run unshare: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if why.is_empty() {
        why = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    }
    Err(why)
}

/// Whether this process's `/` is a mount point, from `/proc/self/mountinfo`
/// (`None` if that cannot be read). Inside a chroot of a plain directory,
/// no mount has the mount point `/`.
fn root_is_mount_point() -> Option<bool> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    Some(memproxy_common::namespace::root_is_mount_point(&mounts))
}
