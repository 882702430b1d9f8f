//! Starting a probe the way a case says: named, laid out and launched per
//! the [`NameCase`], preloaded per the [`Order`], with the case's exclusion
//! list.
//!
//! ```no_run
//! # use harness::{run::Run, allocators::Allocator, names, orders};
//! # use test_support::artifacts::Artifacts;
//! let artifacts = Artifacts::shared();
//! let outcome = Run::new(artifacts, &artifacts.probes[0])
//!     .named(names::find("symlink-name").unwrap())
//!     .preloaded(orders::find("seed").unwrap(), &Allocator::glibc())
//!     .go()
//!     .unwrap();
//! println!("{}", outcome.command);
//! ```

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::allocators::{Allocator, LIB_DIR};
use crate::expect::{self, KernelNames};
use crate::names::{Launch, Layout, NameCase};
use crate::orders::{self, Order, Source, Tokens};
use test_support::artifacts::{Artifacts, Probe};
use test_support::scratch;

/// glibc's real object; `LIBC` in an order. Never the `libc.so` linker script.
pub const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
/// Small blocks must move glibc's `mallinfo2` counters for the oracle.
pub const TUNABLES: &str = "glibc.malloc.tcache_count=0";
/// No probe needs more; a hang is a failure, not a stuck suite.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of the harness's own environment that would change the run.
const SCRUBBED: [&str; 8] = [
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "GLIBC_TUNABLES",
    "MEMPROXY_CONF",
    "MEMPROXY_DEBUG",
    "PROBE_PLUGIN",
    "_",
];

/// One probe run, built up fluently.
pub struct Run<'a> {
    artifacts: &'a Artifacts,
    probe: &'a Probe,
    case: Option<&'a NameCase>,
    order: Option<(&'a Order, &'a Allocator)>,
    debug: bool,
    config: Option<Vec<u8>>,
    extra_env: Vec<(String, String)>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// A shell command line that reproduces the run (while `dir` exists).
    pub command: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// The names the specification says the kernel gave the program.
    pub names: KernelNames,
    /// The case directory; kept on disk when [`Outcome::keep`] is called.
    pub dir: tempfile::TempDir,
    pub config: String,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    /// Keeps the case directory for inspection and returns its path.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

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

impl<'a> Run<'a> {
    pub fn new(artifacts: &'a Artifacts, probe: &'a Probe) -> Run<'a> {
        Run {
            artifacts,
            probe,
            case: None,
            order: None,
            debug: false,
            config: None,
            extra_env: Vec::new(),
        }
    }

    /// Names, lays out and launches the probe as `case` says, with its
    /// exclusion list. Without it the probe runs as `probe-plain`, unlisted.
    pub fn named(mut self, case: &'a NameCase) -> Self {
        self.case = Some(case);
        self
    }

    pub fn preloaded(mut self, order: &'a Order, allocator: &'a Allocator) -> Self {
        self.order = Some((order, allocator));
        self
    }

    /// Sets `MEMPROXY_DEBUG=1`.
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Replaces the case's exclusion list.
    pub fn config(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.config = Some(bytes.into());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.extra_env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn go(self) -> Result<Outcome, NotRun> {
        let case = self.case.unwrap_or(&PLAIN);
        let dir = scratch::directory("case-")
            .map_err(|error| NotRun::Setup(format!("temporary directory: {error}")))?;
        let dir_path = dir
            .path()
            .canonicalize()
            .map_err(|error| NotRun::Setup(error.to_string()))?;
        let setup =
            |error: std::io::Error| NotRun::Setup(format!("laying out {}: {error}", case.id));
        lay_out(&self.probe.path, case, &dir_path).map_err(setup)?;
        let config_path = dir_path.join("memproxy.conf");
        let config = match &self.config {
            Some(bytes) => bytes.clone(),
            None => expect::config_text(case, &dir_path).into_bytes(),
        };
        std::fs::write(&config_path, &config).map_err(setup)?;

        let mut env: Vec<(String, String)> = vec![
            ("GLIBC_TUNABLES".into(), TUNABLES.into()),
            ("MEMPROXY_CONF".into(), path_str(&config_path)),
            ("PROBE_PLUGIN".into(), path_str(&self.artifacts.plugin)),
        ];
        if self.debug {
            env.push(("MEMPROXY_DEBUG".into(), "1".into()));
        }
        let mut etc_preload = None;
        if let Some((order, allocator)) = self.order {
            let (tokens_owned, library_path) = tokens(self.artifacts, allocator, order);
            let tokens = Tokens {
                memproxy: &tokens_owned.0,
                libc: &tokens_owned.1,
                alloc: tokens_owned.2.as_deref(),
            };
            if order.source != Source::EtcPreload {
                env.push(("LD_PRELOAD".into(), orders::expand(order.env, &tokens)));
            }
            if order.source != Source::Environment {
                etc_preload = Some(orders::expand(order.etc, &tokens));
            }
            if let Some(library_path) = library_path {
                env.push(("LD_LIBRARY_PATH".into(), library_path));
            }
        }
        env.extend(self.extra_env.iter().cloned());

        let program = path_str(&dir_path.join(case.file));
        let mut argv: Vec<String> = match case.launch {
            Launch::Absolute | Launch::Underscore(_) => vec![program],
            Launch::Relative => {
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    r#"cd "$1" && exec ./"$2""#.into(),
                    "sh".into(),
                    path_str(&dir_path),
                    case.file.into(),
                ]
            }
            Launch::PathLookup => vec![
                "/bin/sh".into(),
                "-c".into(),
                r#"exec "$1""#.into(),
                "sh".into(),
                case.file.into(),
            ],
            Launch::SpoofedArgv0(name) => {
                vec![
                    "/bin/bash".into(),
                    "-c".into(),
                    r#"exec -a "$1" "$2""#.into(),
                    "bash".into(),
                    name.into(),
                    program,
                ]
            }
            Launch::EmptyEnvironment => {
                let mut argv = vec!["/usr/bin/env".to_owned(), "-i".to_owned()];
                argv.extend(env.iter().map(|(name, value)| format!("{name}={value}")));
                argv.push(program);
                argv
            }
            Launch::Python => vec![
                "/usr/bin/python3".into(),
                "-c".into(),
                "import subprocess, sys; sys.exit(subprocess.call([sys.argv[1]]) & 0xff)".into(),
                program,
            ],
        };
        if let Launch::PathLookup = case.launch {
            let path = std::env::var("PATH").unwrap_or_default();
            env.push(("PATH".into(), format!("{}:{path}", path_str(&dir_path))));
        }
        if let Launch::Underscore(value) = case.launch {
            env.push(("_".into(), value.into()));
        }
        if let Some(contents) = etc_preload {
            let mut wrapped = with_etc_preload(&contents, &dir_path)?;
            wrapped.append(&mut argv);
            argv = wrapped;
        }

        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).current_dir(&dir_path);
        for name in SCRUBBED {
            command.env_remove(name);
        }
        for (name, value) in &env {
            command.env(name, value);
        }
        let shown = show(&dir_path, &env, &argv);
        let (status, timed_out, stdout, stderr) = execute(command)
            .map_err(|error| NotRun::Setup(format!("cannot start {}: {error}", argv[0])))?;
        Ok(Outcome {
            command: shown,
            status,
            timed_out,
            stdout,
            stderr,
            names: expect::kernel_names(case, &dir_path),
            dir,
            config: String::from_utf8_lossy(&config).into_owned(),
        })
    }
}

/// The probe under its own unlisted name, started directly.
const PLAIN: NameCase = NameCase {
    id: "plain",
    about: "an unlisted name, started directly",
    file: "probe-plain",
    layout: Layout::Copy,
    launch: Launch::Absolute,
    config: "",
};

fn path_str(path: &Path) -> String {
    path.to_str()
        .expect("paths under test are UTF-8")
        .to_owned()
}

/// (memproxy, libc, allocator) as the order writes them, and the
/// `LD_LIBRARY_PATH` that bare names need.
fn tokens(
    artifacts: &Artifacts,
    allocator: &Allocator,
    order: &Order,
) -> ((String, String, Option<String>), Option<String>) {
    let memproxy = path_str(&artifacts.memproxy);
    let alloc = allocator.path.as_deref().map(path_str);
    if !order.bare_names {
        return ((memproxy, LIBC.into(), alloc), None);
    }
    let file_name = |path: &str| {
        Path::new(path)
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
    };
    let directory = |path: &str| Path::new(path).parent().map(path_str).unwrap_or_default();
    let mut dirs = vec![directory(&memproxy)];
    if let Some(alloc) = &alloc {
        dirs.push(directory(alloc));
    }
    dirs.push(LIB_DIR.into());
    let bare = (
        file_name(&memproxy).unwrap_or_default(),
        "libc.so.6".to_owned(),
        alloc.as_deref().and_then(file_name),
    );
    (bare, Some(dirs.join(":")))
}

fn lay_out(probe: &Path, case: &NameCase, dir: &Path) -> std::io::Result<()> {
    // Within the case's own directory, and never a file this process has
    // open for writing: see the scratch module.
    let place = |name: &str| scratch::link_executable(probe, &dir.join(name));
    match case.layout {
        Layout::Copy => place(case.file),
        Layout::Symlink { target } => {
            place(target)?;
            std::os::unix::fs::symlink(target, dir.join(case.file))
        }
        Layout::Hardlink { original } => {
            place(original)?;
            std::fs::hard_link(dir.join(original), dir.join(case.file))
        }
        Layout::Script { interpreter } => {
            place(interpreter)?;
            let shebang = format!("#!{}\n", path_str(&dir.join(interpreter)));
            scratch::write_executable(&dir.join(case.file), shebang.as_bytes())
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
fn mount_namespace_prefix() -> Result<Vec<String>, String> {
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
            // Counts the parent namespace's mounts on /etc before and after
            // the bind: one more means the bind propagated to it.
            let leak_check = r#"count() {
                    n=0
                    while read -r _ _ _ _ point _; do [ "$point" = /etc ] && n=$((n + 1)); done \
                        <"/proc/$PPID/mountinfo"
                    echo "$n"
                }
                before=$(count) && mount --bind /etc /etc || exit 2
                after=$(count); umount /etc
                [ "$after" = "$before" ] || { echo "the bind reached the parent namespace"; exit 3; }"#;
            match namespace_check(&unchanged, leak_check) {
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
    Some(
        mounts
            .lines()
            .any(|line| line.split(' ').nth(4) == Some("/")),
    )
}

/// Runs with a timeout, collecting both streams: (status, timed out,
/// stdout, stderr). The status is `None` only if the child could not be
/// waited for.
pub fn execute(
    mut command: Command,
) -> std::io::Result<(Option<ExitStatus>, bool, String, String)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let stdout = out_reader.join().map(text).unwrap_or_default();
    let stderr = err_reader.join().map(text).unwrap_or_default();
    Ok((status, timed_out, stdout, stderr))
}

/// A copy-pasteable shell line: the directory, the environment, the argv.
fn show(dir: &Path, env: &[(String, String)], argv: &[String]) -> String {
    let quote = |text: &str| {
        if !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+".contains(c))
        {
            text.to_owned()
        } else {
            format!("'{}'", text.replace('\'', r"'\''"))
        }
    };
    let mut line = format!("cd {} &&", quote(&path_str(dir)));
    for (name, value) in env {
        let _ = write!(line, " {}", quote(&format!("{name}={value}")));
    }
    for arg in argv {
        let _ = write!(line, " {}", quote(arg));
    }
    line
}
