//! One way to start a process under test, and what it did.
//!
//! ```no_run
//! # use test_support::{Artifacts, Process};
//! let ran = Process::new("/usr/bin/true")
//!     .preload([&Artifacts::shared().memproxy])
//!     .debug(true)
//!     .run();
//! ran.assert_success();
//! assert_eq!(ran.debug_lines().len(), 1, "{}", ran.describe());
//! ```
//!
//! The environment starts empty but for `PATH` (see [`Process::new`]);
//! every run has a timeout, so a hang fails the test instead of stalling
//! it; and every [`Ran`] carries a shell line that reproduces it, which
//! [`Ran::describe`] (and so every assertion here) shows.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::debug_line::DebugLine;
use crate::namespace::{self, NotRun};
use crate::{ALLOW_NOT_RUN, path_str, scratch};

/// `PATH` of a run unless set: system directories only, so a toolchain shim
/// (pyenv, a `/usr/local/bin` git) never stands in for the distribution's
/// program.
pub const PATH: &str = "/usr/bin:/bin";

/// How long a run may take unless [`Process::timeout`] says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of the test's own environment that would change the run, left
/// out by [`Process::inherit_env`].
pub const SCRUBBED: [&str; 8] = [
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "GLIBC_TUNABLES",
    "MEMPROXY_CONF",
    "MEMPROXY_DEBUG",
    "PROBE_PLUGIN",
    "_",
];

/// Variables, in the order they are set.
type Env = Vec<(String, String)>;

/// A process to start, built up fluently.
#[derive(Clone, Debug)]
pub struct Process {
    argv: Vec<String>,
    env: Env,
    inherit: bool,
    dir: Option<PathBuf>,
    user: Option<u32>,
    etc_preload: Option<String>,
    etc_preload_dir: Option<PathBuf>,
    timeout: Duration,
    own_group: bool,
    no_core: bool,
}

impl Process {
    /// `program`, with an environment of `PATH=/usr/bin:/bin` only: nothing
    /// of the test's own environment leaks in unless asked for.
    pub fn new(program: impl AsRef<OsStr>) -> Process {
        Process {
            argv: vec![os_str(program.as_ref())],
            env: vec![("PATH".into(), PATH.into())],
            inherit: false,
            dir: None,
            user: None,
            etc_preload: None,
            etc_preload_dir: None,
            timeout: TIMEOUT,
            own_group: false,
            no_core: false,
        }
    }

    /// `argv[0]` and its arguments.
    pub fn argv<I, S>(argv: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut argv = argv.into_iter();
        let program = argv.next().expect("an argv names a program");
        Process::new(program).args(argv)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Process {
        self.argv.push(os_str(arg.as_ref()));
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.argv
            .extend(args.into_iter().map(|arg| os_str(arg.as_ref())));
        self
    }

    /// Sets a variable (replacing an earlier value).
    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Process {
        self.env.retain(|(existing, _)| existing != name);
        self.env.push((name.to_owned(), os_str(value.as_ref())));
        self
    }

    pub fn envs<I, K, V>(self, vars: I) -> Process
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<OsStr>,
    {
        vars.into_iter().fold(self, |process, (name, value)| {
            process.env(name.as_ref(), value)
        })
    }

    pub fn env_remove(mut self, name: &str) -> Process {
        self.env.retain(|(existing, _)| existing != name);
        self
    }

    /// Starts from the test's own environment, less [`SCRUBBED`], instead
    /// of an empty one; variables set here still win.
    pub fn inherit_env(mut self) -> Process {
        self.inherit = true;
        self.env.retain(|(name, _)| name != "PATH");
        self
    }

    /// `LD_PRELOAD`: the entries joined with `:` (none: unset).
    pub fn preload<I, S>(self, entries: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let entries: Vec<String> = entries
            .into_iter()
            .map(|entry| os_str(entry.as_ref()))
            .collect();
        if entries.is_empty() {
            self.env_remove("LD_PRELOAD")
        } else {
            self.env("LD_PRELOAD", entries.join(":"))
        }
    }

    /// `MEMPROXY_CONF`: the exclusion list memproxy reads.
    pub fn config(self, path: impl AsRef<Path>) -> Process {
        self.env("MEMPROXY_CONF", path.as_ref())
    }

    /// `MEMPROXY_DEBUG=1`, or unset.
    pub fn debug(self, debug: bool) -> Process {
        if debug {
            self.env("MEMPROXY_DEBUG", "1")
        } else {
            self.env_remove("MEMPROXY_DEBUG")
        }
    }

    /// The working directory (the test's own otherwise).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Process {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Runs the program as `uid` (and its group `uid`, no supplementary
    /// groups), through `setpriv`. The variables reach the program through
    /// `/usr/bin/env` after `setpriv`, so no other process of the chain
    /// starts with them (with [`Process::etc_preload`] those processes are
    /// preloaded too, and would print their own debug lines).
    pub fn as_user(mut self, uid: u32) -> Process {
        self.user = Some(uid);
        self
    }

    /// Runs with `/etc/ld.so.preload` holding `contents`, in a private mount
    /// namespace (see [`namespace::with_etc_preload`]).
    pub fn etc_preload(mut self, contents: impl Into<String>) -> Process {
        self.etc_preload = Some(contents.into());
        self
    }

    /// Where [`Process::etc_preload`] writes its `ld.so.preload` (a fresh
    /// scratch directory, removed with the [`Ran`], otherwise): a directory
    /// that outlives the run, so that its reproduce line still works.
    pub fn etc_preload_dir(mut self, dir: impl AsRef<Path>) -> Process {
        self.etc_preload_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Process {
        self.timeout = timeout;
        self
    }

    /// Leads a process group of its own, killed whole when the program
    /// exits or times out, so that a forked child that hangs does not
    /// outlive the test (nor hold its pipes open).
    pub fn own_process_group(mut self) -> Process {
        self.own_group = true;
        self
    }

    /// No core file, whatever the host's limit: for programs that crash on
    /// purpose (a platform limitation shown without memproxy).
    pub fn no_core_files(mut self) -> Process {
        self.no_core = true;
        self
    }

    /// Starts it and waits; panics if it cannot be started at all.
    #[track_caller]
    pub fn run(self) -> Ran {
        self.try_run().unwrap_or_else(|why| {
            panic!("{why}; a private mount namespace needs root, or set {ALLOW_NOT_RUN}=1")
        })
    }

    /// As [`Process::run`], but `None` (said aloud, `NOT RUN`) where a
    /// private mount namespace is impossible and [`ALLOW_NOT_RUN`] allows
    /// that.
    #[track_caller]
    pub fn run_unless_not_allowed(self) -> Option<Ran> {
        match self.try_run() {
            Ok(ran) => Some(ran),
            Err(NotRun::NoMountNamespace(why)) if std::env::var_os(ALLOW_NOT_RUN).is_some() => {
                crate::not_run(&format!("(needs a private mount namespace: {why})"));
                None
            }
            Err(why) => panic!("{why}; run as root, or set {ALLOW_NOT_RUN}=1"),
        }
    }

    /// Starts it and waits.
    pub fn try_run(self) -> Result<Ran, NotRun> {
        let mut keep = None;
        let (argv, env) = self.command_line(&mut keep)?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).stdin(Stdio::null());
        if self.inherit {
            for name in SCRUBBED {
                command.env_remove(name);
            }
        } else {
            command.env_clear();
        }
        command.envs(env.iter().map(|(name, value)| (name, value)));
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        if self.own_group {
            command.process_group(0);
        }
        if self.no_core {
            // SAFETY: setrlimit is async-signal-safe and touches no memory
            // of ours.
            unsafe {
                command.pre_exec(|| {
                    let none = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::setrlimit(libc::RLIMIT_CORE, &none) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let shown = shell_line(self.dir.as_deref(), !self.inherit, &env, &argv);
        let started = Instant::now();
        let (status, timed_out, stdout, stderr) = execute(command, self.timeout, self.own_group)
            .map_err(|error| {
                NotRun::Setup(format!("cannot start {}: {error}\n  {shown}", argv[0]))
            })?;
        Ok(Ran {
            command: shown,
            status,
            timed_out,
            stdout,
            stderr,
            elapsed: started.elapsed(),
            _etc_preload: keep,
        })
    }

    /// The argv and environment of the outermost process: the program's
    /// own, or a chain of wrappers (the namespace, `setpriv`) that ends in
    /// it. `keep` receives the directory of the `/etc/ld.so.preload` file.
    fn command_line(
        &self,
        keep: &mut Option<tempfile::TempDir>,
    ) -> Result<(Vec<String>, Env), NotRun> {
        let mut argv = Vec::new();
        if let Some(contents) = &self.etc_preload {
            if let Some(dir) = &self.etc_preload_dir {
                argv = namespace::with_etc_preload(contents, dir)?;
            } else {
                let dir = scratch::directory("etc-preload-")
                    .map_err(|error| NotRun::Setup(format!("a scratch directory: {error}")))?;
                argv = namespace::with_etc_preload(contents, dir.path())?;
                *keep = Some(dir);
            }
        }
        let mut env = self.env.clone();
        if let Some(uid) = self.user {
            argv.extend([
                "/usr/bin/setpriv".to_owned(),
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".to_owned(),
                "--".to_owned(),
                "/usr/bin/env".to_owned(),
            ]);
            argv.extend(env.iter().map(|(name, value)| format!("{name}={value}")));
            env = vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())];
        }
        argv.extend(self.argv.iter().cloned());
        Ok((argv, env))
    }
}

/// What a process did.
#[derive(Debug)]
pub struct Ran {
    /// A shell line that reproduces the run (while its files exist).
    pub command: String,
    /// `None` only if it could not be waited for.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The `/etc/ld.so.preload` file the command line names.
    _etc_preload: Option<tempfile::TempDir>,
}

impl Ran {
    /// A run that never started, and why (on its stderr).
    pub fn not_started(why: NotRun) -> Ran {
        Ran {
            command: String::new(),
            status: None,
            timed_out: false,
            stdout: String::new(),
            stderr: why.to_string(),
            elapsed: Duration::ZERO,
            _etc_preload: None,
        }
    }

    /// Exited 0 in time.
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|status| status.success())
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.and_then(|status| status.signal())
    }

    /// The raw wait status, to compare two runs' ends exactly.
    pub fn wait_status(&self) -> Option<i32> {
        self.status.map(|status| status.into_raw())
    }

    /// memproxy's debug lines on stderr.
    pub fn debug_lines(&self) -> Vec<DebugLine> {
        self.stderr.lines().filter_map(DebugLine::parse).collect()
    }

    /// Stderr without memproxy's debug lines.
    pub fn stderr_without_debug(&self) -> String {
        self.stderr
            .lines()
            .filter(|line| DebugLine::parse(line).is_none())
            .map(|line| format!("{line}\n"))
            .collect()
    }

    /// What it did, with the line that reproduces it, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "status {:?}{} after {:.2} s\n  stdout: {}\n  stderr: {}\n  reproduce: {}",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
            self.elapsed.as_secs_f64(),
            excerpt(&self.stdout),
            excerpt(&self.stderr),
            self.command
        )
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Ran {
        assert!(!self.timed_out, "timed out: {}", self.describe());
        assert!(self.succeeded(), "failed: {}", self.describe());
        self
    }

    #[track_caller]
    pub fn assert_stderr(&self, expected: &str) -> &Ran {
        assert_eq!(self.stderr, expected, "stderr: {}", self.describe());
        self
    }

    #[track_caller]
    pub fn assert_stdout(&self, expected: &str) -> &Ran {
        assert_eq!(self.stdout, expected, "stdout: {}", self.describe());
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Ran {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Ran {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {}",
            self.describe()
        );
        self
    }

    /// Its one `MEMPROXY_DEBUG` line.
    #[track_caller]
    pub fn one_debug_line(&self) -> DebugLine {
        let mut lines = self.debug_lines();
        assert_eq!(
            lines.len(),
            1,
            "one debug line expected: {}",
            self.describe()
        );
        lines.remove(0)
    }
}

/// At most 600 bytes of `text`, quoted.
pub fn excerpt(text: &str) -> String {
    const LIMIT: usize = 600;
    if text.len() <= LIMIT {
        return format!("{text:?}");
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

/// Runs `command` with a timeout, collecting both streams: (status, timed
/// out, stdout, stderr). The status is `None` only if the child could not
/// be waited for. With `group`, the command leads its own process group,
/// which is killed whole at the end: forked children that outlived it hold
/// the pipes open.
pub fn execute(
    mut command: Command,
    timeout: Duration,
    group: bool,
) -> std::io::Result<(Option<ExitStatus>, bool, String, String)> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let kill_group = |child: &std::process::Child| {
        if group {
            // SAFETY: signalling the process group this function started;
            // it may already be empty.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        }
    };
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
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            timed_out = true;
            kill_group(&child);
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    kill_group(&child);
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let stdout = out_reader.join().map(text).unwrap_or_default();
    let stderr = err_reader.join().map(text).unwrap_or_default();
    Ok((status, timed_out, stdout, stderr))
}

/// A copy-pasteable shell line: the directory, the environment (`env -i`
/// when nothing else is inherited), the argv.
pub fn shell_line(
    dir: Option<&Path>,
    clean: bool,
    env: &[(String, String)],
    argv: &[String],
) -> String {
    let mut line = String::new();
    if let Some(dir) = dir {
        let _ = write!(line, "cd {} && ", quote(&path_str(dir)));
    }
    if clean {
        line.push_str("env -i ");
    }
    for (name, value) in env {
        let _ = write!(line, "{} ", quote(&format!("{name}={value}")));
    }
    let argv: Vec<String> = argv.iter().map(|arg| quote(arg)).collect();
    line + &argv.join(" ")
}

/// `text` as one shell word.
pub fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn os_str(text: &OsStr) -> String {
    text.to_str()
        .unwrap_or_else(|| panic!("{text:?} is not UTF-8"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_empty_unless_set() {
        let ran = Process::new("/usr/bin/env").env("ONE", "1").run();
        let mut seen: Vec<&str> = ran.assert_success().stdout.lines().collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            ["ONE=1", &format!("PATH={PATH}")],
            "{}",
            ran.describe()
        );
        assert!(ran.command.starts_with("env -i PATH="), "{}", ran.command);
    }

    #[test]
    fn a_hang_times_out_and_its_group_is_killed() {
        let ran = Process::argv(["/bin/sh", "-c", "sleep 30 & sleep 30"])
            .timeout(Duration::from_millis(200))
            .own_process_group()
            .run();
        assert!(ran.timed_out && !ran.succeeded(), "{}", ran.describe());
        assert!(ran.elapsed < Duration::from_secs(10), "{}", ran.describe());
    }

    #[test]
    fn the_reproduce_line_quotes_what_the_shell_would_split() {
        let ran = Process::argv(["/bin/echo", "a b", "it's"]).run();
        ran.assert_stdout("a b it's\n");
        assert!(
            ran.command.ends_with(r"/bin/echo 'a b' 'it'\''s'"),
            "{}",
            ran.command
        );
    }
}
