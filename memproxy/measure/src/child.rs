//! One run of a command to its end, and what it cost.
//!
//! The child is reaped with `wait4`, whose resource usage covers the child
//! and every descendant it waited for: CPU time is the whole tree's, peak
//! RSS the largest single process's (Linux keeps a maximum, not a sum).
//! Standard output is read as it comes and kept only as a digest, so that
//! two runs' outputs compare without holding either in memory.

use std::hash::Hasher as _;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How much of standard error is kept, to show why a run failed.
const STDERR_KEPT: usize = 16 * 1024;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl End {
    pub fn success(self) -> bool {
        self == End::Exited(0)
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Exited(code) => write!(formatter, "exit status {code}"),
            End::Signaled(signal) => write!(formatter, "killed by signal {signal}"),
        }
    }
}

/// What one run cost, and what it printed.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// From just before the spawn to the reaping.
    pub wall: Duration,
    pub user: Duration,
    pub system: Duration,
    /// `ru_maxrss`: the peak resident set of the largest process, KiB.
    pub max_rss_kib: u64,
    pub end: End,
    /// Of standard output: equal outputs have equal digests (within one
    /// build of this crate; the digest is not stable across Rust versions).
    pub stdout_digest: u64,
    pub stdout_bytes: u64,
    /// The start of standard error, at most 16 KiB.
    pub stderr: Vec<u8>,
}

impl Measured {
    /// User plus system time.
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

/// Runs `command` to its end with standard input from `/dev/null` and both
/// outputs read here; an error when it cannot be started.
pub fn run(command: &mut Command) -> std::io::Result<Measured> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let digest = std::thread::spawn(move || {
        let mut hasher = std::hash::DefaultHasher::new();
        let mut bytes = 0u64;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => {
                    hasher.write(&buffer[..read]);
                    bytes += read as u64;
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (hasher.finish(), bytes)
    });
    let kept = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stderr)
            .take(STDERR_KEPT as u64)
            .read_to_end(&mut kept);
        // Drain the rest, so that a chatty child never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let reaped = reap(child.id());
    let wall = started.elapsed();
    // std's handle must not wait for a child already reaped.
    drop(child);
    let (stdout_digest, stdout_bytes) = digest.join().unwrap_or_default();
    let stderr = kept.join().unwrap_or_default();
    let (end, usage) = reaped?;
    Ok(Measured {
        wall,
        user: usage.user,
        system: usage.system,
        max_rss_kib: usage.max_rss_kib,
        end,
        stdout_digest,
        stdout_bytes,
        stderr,
    })
}

struct Usage {
    user: Duration,
    system: Duration,
    max_rss_kib: u64,
}

/// Waits for child `pid` with `wait4`, retrying when a signal interrupts.
fn reap(pid: u32) -> std::io::Result<(End, Usage)> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types;
        // `pid` is our own child, not yet reaped (std only reaps in wait).
        let result = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if result == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let end = if libc::WIFSIGNALED(status) {
        End::Signaled(libc::WTERMSIG(status))
    } else {
        End::Exited(libc::WEXITSTATUS(status))
    };
    let time = |value: libc::timeval| {
        Duration::from_secs(value.tv_sec as u64) + Duration::from_micros(value.tv_usec as u64)
    };
    Ok((
        end,
        Usage {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Measured {
        run(Command::new("/bin/sh").args(["-c", script])).expect("sh runs")
    }

    #[test]
    fn exit_status_signal_and_output() {
        let hello = sh("echo hello; echo oops >&2; exit 3");
        assert_eq!(hello.end, End::Exited(3));
        assert_eq!(hello.stdout_bytes, 6);
        assert_eq!(hello.stderr, b"oops\n");
        assert_eq!(sh("printf 'hello\\n'").stdout_digest, hello.stdout_digest);
        assert_ne!(sh("echo hellO").stdout_digest, hello.stdout_digest);
        assert_eq!(sh("kill -SEGV $$").end, End::Signaled(libc::SIGSEGV));
    }

    #[test]
    fn cpu_and_peak_rss_cover_the_waited_for_children() {
        // A grandchild that fills 64 MiB and spins for a while, then
        // exits: its usage reaches the shell's rusage, which wait4 returns.
        let measured = sh("python3 -c 'b = bytearray(64 << 20)'; \
             i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done");
        assert!(measured.end.success(), "{measured:?}");
        assert!(
            measured.max_rss_kib >= 64 * 1024,
            "python3 held 64 MiB: {measured:?}"
        );
        assert!(measured.cpu() > Duration::from_millis(10), "{measured:?}");
        assert!(measured.wall >= measured.cpu() / 2, "{measured:?}");
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let error = run(&mut Command::new("/nonexistent/program")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }
}
