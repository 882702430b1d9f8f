//! The pre-flight: the programs a host cannot live without, run under the
//! new preload file before it is written.
//!
//! Each program runs twice, in a private mount namespace made for that run:
//! once with the current file bound over `/etc/ld.so.preload`, once with
//! the new one. The two runs must agree: same exit status, same stdout, same
//! stderr (some programs print their version there; any byte the new file
//! adds or takes away is a failure). When the host has no
//! `/etc/ld.so.preload` there is nothing to bind over, and creating one on
//! the host is what the pre-flight must not do; then `/etc` is covered, in
//! the namespace only, by an overlay whose upper layer (a tmpfs) holds the
//! file.
//!
//! The namespace is made in the child between `fork` and `exec` with raw
//! system calls (`unshare`, `mount`, and for the overlay `mkdir`, `open`,
//! `write`): no helper program runs under either file, and nothing outside
//! the namespace ever sees the mounts. `/` is made private first, so the
//! binds cannot propagate back to the host.

use memproxy_common::namespace;
use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::report::Failure;
use crate::shown::{shown, shown_os};
use crate::spawn::{self, Finished};

/// The path every process's ld.so reads.
const REAL_PRELOAD_FILE: &str = "/etc/ld.so.preload";
/// A program still running by then is taken to hang.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How much of an output a difference quotes.
const EXCERPT: usize = 72;

/// A program a host cannot live without, and harmless arguments for it.
struct Essential {
    name: &'static str,
    /// Where it may be; the first that exists is run.
    paths: &'static [&'static str],
    args: &'static [&'static str],
}

const ESSENTIALS: &[Essential] = &[
    Essential {
        name: "sh",
        paths: &["/bin/sh", "/usr/bin/sh"],
        args: &["-c", "echo ok"],
    },
    Essential {
        name: "bash",
        paths: &["/bin/bash", "/usr/bin/bash"],
        args: &["-c", "echo ok"],
    },
    Essential {
        name: "ls",
        paths: &["/bin/ls", "/usr/bin/ls"],
        args: &["-d", "/"],
    },
    Essential {
        name: "env",
        paths: &["/usr/bin/env", "/bin/env"],
        args: &["--version"],
    },
    Essential {
        name: "id",
        paths: &["/usr/bin/id", "/bin/id"],
        args: &[],
    },
    Essential {
        name: "sudo",
        paths: &["/usr/bin/sudo", "/bin/sudo"],
        args: &["-V"],
    },
    Essential {
        name: "su",
        paths: &["/bin/su", "/usr/bin/su"],
        args: &["--version"],
    },
    Essential {
        name: "login",
        paths: &["/bin/login", "/usr/bin/login"],
        args: &["--help"],
    },
    Essential {
        name: "systemctl",
        paths: &["/bin/systemctl", "/usr/bin/systemctl"],
        args: &["--version"],
    },
    Essential {
        name: "journalctl",
        paths: &["/bin/journalctl", "/usr/bin/journalctl"],
        args: &["--version"],
    },
    Essential {
        name: "apt-get",
        paths: &["/usr/bin/apt-get"],
        args: &["--version"],
    },
    Essential {
        name: "dpkg",
        paths: &["/usr/bin/dpkg", "/bin/dpkg"],
        args: &["--version"],
    },
    Essential {
        name: "python3",
        paths: &["/usr/bin/python3", "/bin/python3"],
        args: &["-c", "print(42)"],
    },
    Essential {
        name: "perl",
        paths: &["/usr/bin/perl", "/bin/perl"],
        args: &["-le", "print 42"],
    },
    Essential {
        name: "ssh",
        paths: &["/usr/bin/ssh", "/bin/ssh"],
        args: &["-V"],
    },
    Essential {
        name: "mount",
        paths: &["/bin/mount", "/usr/bin/mount"],
        args: &["--version"],
    },
    Essential {
        name: "ps",
        paths: &["/bin/ps", "/usr/bin/ps"],
        args: &["--version"],
    },
];

/// One program's two runs, compared.
#[derive(Debug, Serialize)]
pub struct Run {
    /// `sh`, `python3`, ... or `probe` for a `--probe`.
    pub name: String,
    /// The command line, as run.
    pub command: String,
    /// The current file's run, summarised.
    pub before: String,
    /// The new file's run, summarised.
    pub after: String,
    pub passed: bool,
    /// What differed, each a sentence.
    pub differences: Vec<String>,
}

/// The whole pre-flight.
#[derive(Debug, Serialize)]
pub struct Preflight {
    pub runs: Vec<Run>,
    /// Essential programs this host does not have.
    pub absent: Vec<&'static str>,
    /// How `/etc/ld.so.preload` was replaced in the namespaces: `bind` or
    /// `overlay` (the host has no such file to bind over).
    pub method: &'static str,
    pub passed: bool,
}

impl Preflight {
    pub fn failures(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|run| !run.passed)
    }
}

/// Runs the essential programs and `probes` under `current` and under
/// `candidate` (the preload file's contents; `None` for no file), with
/// `MEMPROXY_CONF=config` when given.
pub fn run(
    current: Option<&[u8]>,
    candidate: &[u8],
    probes: &[Vec<String>],
    config: Option<&Path>,
) -> Result<Preflight, Failure> {
    let private = check_isolation_possible()?;
    let scratch = tempfile::Builder::new()
        .prefix("memproxy-preflight-")
        .tempdir()
        .map_err(|error| Failure(format!("cannot make a temporary directory: {error}")))?;
    let bind = Path::new(REAL_PRELOAD_FILE).exists();
    let before = Arc::new(Isolation::new(
        scratch.path(),
        "before",
        current.unwrap_or_default(),
        bind,
        private,
    )?);
    let after = Arc::new(Isolation::new(
        scratch.path(),
        "after",
        candidate,
        bind,
        private,
    )?);

    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    let mut absent = Vec::new();
    for essential in ESSENTIALS {
        match essential.paths.iter().find(|path| Path::new(path).exists()) {
            Some(path) => {
                let mut argv = vec![(*path).to_owned()];
                argv.extend(essential.args.iter().map(|arg| (*arg).to_owned()));
                commands.push((essential.name.to_owned(), argv));
            }
            None => absent.push(essential.name),
        }
    }
    commands.extend(probes.iter().map(|argv| ("probe".to_owned(), argv.clone())));

    let mut runs = Vec::new();
    for (name, argv) in commands {
        let before_run = run_isolated(&argv, &before, config)?;
        let after_run = run_isolated(&argv, &after, config)?;
        let differences = compare(&before_run, &after_run);
        runs.push(Run {
            name,
            command: command_line(&argv),
            before: summary(&before_run),
            after: summary(&after_run),
            passed: differences.is_empty(),
            differences,
        });
    }
    let passed = runs.iter().all(|run| run.passed);
    Ok(Preflight {
        runs,
        absent,
        method: if bind { "bind" } else { "overlay" },
        passed,
    })
}

fn run_isolated(
    argv: &[String],
    isolation: &Arc<Isolation>,
    config: Option<&Path>,
) -> Result<Finished, Failure> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir("/");
    for name in [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "MEMPROXY_DEBUG",
        "MEMPROXY_CONF",
    ] {
        command.env_remove(name);
    }
    if let Some(config) = config {
        command.env("MEMPROXY_CONF", config);
    }
    let isolation = Arc::clone(isolation);
    // SAFETY: the closure runs in the forked child before exec and makes
    // only plain system calls on memory prepared before the fork: it
    // neither allocates nor takes a lock (see `Isolation::enter`).
    unsafe {
        command.pre_exec(move || isolation.enter());
    }
    match spawn::run_to_end(command, TIMEOUT) {
        Ok(finished) => Ok(finished),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(Finished {
            exit_code: Some(127),
            stderr: format!("cannot run {}: {error}", argv[0]).into_bytes(),
            ..Finished::default()
        }),
        Err(error) => Err(Failure(format!(
            "pre-flight: cannot run {} in a private mount namespace with {} replaced: {error}",
            argv[0], REAL_PRELOAD_FILE
        ))),
    }
}

/// The namespace must keep its binds from the host. Where `/` is a mount
/// point, each run's namespace is made private. In a chroot of a plain
/// directory it cannot be, and the namespace is used as it is only when a
/// trial bind is shown not to reach this namespace
/// (`memproxy_common::namespace`); the answer says whether to make it
/// private.
fn check_isolation_possible() -> Result<bool, Failure> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|error| Failure(format!("cannot read /proc/self/mountinfo: {error}")))?;
    if namespace::root_is_mount_point(&mounts) {
        return Ok(true);
    }
    let output = std::process::Command::new("/usr/bin/unshare")
        .args([
            "--mount",
            "--propagation",
            "unchanged",
            "--",
            "/bin/sh",
            "-c",
        ])
        .arg(namespace::BIND_LEAK_CHECK)
        .env_remove("LD_PRELOAD")
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => Ok(false),
        Ok(output) => Err(Failure(format!(
            "pre-flight: '/' is not a mount point here (a chroot?), so a new mount namespace \
             cannot be made private, and a trial bind in one was not kept from this one ({}); \
             bind the root onto itself before chroot, or run enable on the host itself",
            String::from_utf8_lossy(&output.stdout).trim()
        ))),
        Err(error) => Err(Failure(format!(
            "pre-flight: '/' is not a mount point here (a chroot?), and /usr/bin/unshare, which \
             checks whether a namespace would keep its binds, cannot run: {error}"
        ))),
    }
}

/// How one run's namespace replaces `/etc/ld.so.preload`; everything the
/// child needs is made here, before the fork.
struct Isolation {
    method: Method,
    /// Make the namespace private (impossible, and shown unneeded, in a
    /// chroot).
    private: bool,
}

enum Method {
    /// Bind `source` over the existing `/etc/ld.so.preload`.
    Bind { source: CString },
    /// Mount a tmpfs on `scratch`, write `contents` to `file` in its `upper`
    /// directory, and mount an overlay of `/etc` with it.
    Overlay {
        scratch: CString,
        upper: CString,
        work: CString,
        file: CString,
        contents: Vec<u8>,
        options: CString,
    },
}

fn c_path(path: &Path) -> Result<CString, Failure> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Failure(format!("{} holds a NUL byte", shown_os(path))))
}

impl Isolation {
    fn new(
        dir: &Path,
        name: &str,
        contents: &[u8],
        bind: bool,
        private: bool,
    ) -> Result<Isolation, Failure> {
        let failed = |error: io::Error| {
            Failure(format!(
                "cannot prepare the pre-flight in {}: {error}",
                shown_os(dir)
            ))
        };
        if bind {
            let source = dir.join(name);
            std::fs::write(&source, contents).map_err(failed)?;
            std::fs::set_permissions(&source, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(failed)?;
            return Ok(Isolation {
                method: Method::Bind {
                    source: c_path(&source)?,
                },
                private,
            });
        }
        let scratch: PathBuf = dir.join(name);
        std::fs::create_dir(&scratch).map_err(failed)?;
        let (upper, work) = (scratch.join("upper"), scratch.join("work"));
        let options = format!(
            "lowerdir=/etc,upperdir={},workdir={}",
            upper.display(),
            work.display()
        );
        if scratch
            .as_os_str()
            .as_bytes()
            .iter()
            .any(|byte| matches!(byte, b',' | b':'))
        {
            return Err(Failure(format!(
                "{} holds ',' or ':', which overlay options cannot carry",
                shown_os(&scratch)
            )));
        }
        Ok(Isolation {
            method: Method::Overlay {
                scratch: c_path(&scratch)?,
                file: c_path(&upper.join("ld.so.preload"))?,
                upper: c_path(&upper)?,
                work: c_path(&work)?,
                contents: contents.to_vec(),
                options: CString::new(options).map_err(|_| Failure("NUL in a path".to_owned()))?,
            },
            private,
        })
    }

    /// Runs in the child between fork and exec: raw system calls only.
    fn enter(&self) -> io::Result<()> {
        unshare_mounts()?;
        if self.private {
            mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        }
        match &self.method {
            Method::Bind { source } => mount(
                Some(source),
                c"/etc/ld.so.preload",
                None,
                libc::MS_BIND,
                None,
            ),
            Method::Overlay {
                scratch,
                upper,
                work,
                file,
                contents,
                options,
            } => {
                let tmpfs = libc::MS_NOSUID | libc::MS_NODEV;
                mount(
                    Some(c"memproxy-preflight"),
                    scratch,
                    Some(c"tmpfs"),
                    tmpfs,
                    Some(c"mode=0755"),
                )?;
                make_dir(upper)?;
                make_dir(work)?;
                write_new_file(file, contents)?;
                mount(
                    Some(c"memproxy-preflight"),
                    c"/etc",
                    Some(c"overlay"),
                    0,
                    Some(options),
                )
            }
        }
    }
}

// The system calls the child makes. Each is the plain libc wrapper: no
// allocation, no lock, safe between fork and exec.

fn checked(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn unshare_mounts() -> io::Result<()> {
    // SAFETY: unshare takes no pointers.
    checked(unsafe { libc::unshare(libc::CLONE_NEWNS) }).map(drop)
}

fn mount(
    source: Option<&CStr>,
    target: &CStr,
    kind: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let pointer = |text: Option<&CStr>| text.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL (which mount allows for these) or a
    // NUL-terminated string that outlives the call.
    checked(unsafe {
        libc::mount(
            pointer(source),
            target.as_ptr(),
            pointer(kind),
            flags,
            pointer(data).cast(),
        )
    })
    .map(drop)
}

fn make_dir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated.
    checked(unsafe { libc::mkdir(path.as_ptr(), 0o755) }).map(drop)
}

fn write_new_file(path: &CStr, contents: &[u8]) -> io::Result<()> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated.
    let fd = checked(unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) })?;
    let mut rest = contents;
    while !rest.is_empty() {
        // SAFETY: `rest` is readable for its length; `fd` is open.
        let written = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if written < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
            continue;
        }
        rest = rest.get(written as usize..).unwrap_or_default();
    }
    // SAFETY: closing the descriptor opened above.
    checked(unsafe { libc::close(fd) }).map(drop)
}

/// What differs between the two runs; empty when they agree.
fn compare(before: &Finished, after: &Finished) -> Vec<String> {
    let mut differences = Vec::new();
    let (was, is) = (status(before), status(after));
    if was != is {
        differences.push(format!(
            "{is} with the new file, {was} with the current one"
        ));
    }
    if before.stdout != after.stdout {
        differences.push(format!(
            "stdout differs: {} with the new file, {} with the current one",
            excerpt(&after.stdout),
            excerpt(&before.stdout)
        ));
    }
    if before.stderr != after.stderr {
        let gained = after
            .stderr
            .strip_prefix(before.stderr.as_slice())
            .or_else(|| after.stderr.strip_suffix(before.stderr.as_slice()));
        differences.push(match gained {
            Some(new) => format!("new stderr output with the new file: {}", excerpt(new)),
            None => format!(
                "stderr differs: {} with the new file, {} with the current one",
                excerpt(&after.stderr),
                excerpt(&before.stderr)
            ),
        });
    }
    differences
}

fn status(run: &Finished) -> String {
    if run.timed_out {
        return format!("no exit within {} s (killed)", TIMEOUT.as_secs());
    }
    match (run.exit_code, run.signal) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}{}", signal_name(signal)),
        (None, None) => "no exit status".to_owned(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

fn summary(run: &Finished) -> String {
    format!(
        "{}, {} bytes on stdout, {} on stderr",
        status(run),
        run.stdout.len(),
        run.stderr.len()
    )
}

/// `argv` as a shell would need it typed.
fn command_line(argv: &[String]) -> String {
    let word = |arg: &String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._=:,+-".contains(c));
        if plain {
            arg.clone()
        } else {
            format!("'{}'", shown(arg.as_bytes()).replace('\'', r"'\''"))
        }
    };
    argv.iter().map(word).collect::<Vec<_>>().join(" ")
}

fn excerpt(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".to_owned();
    }
    let text = shown(bytes);
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("'{}'...", &text[..cut]),
        None => format!("'{text}'"),
    }
}
