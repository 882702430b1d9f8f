//! Running a program to completion with a deadline, collecting both output
//! streams: what `doctor`'s probe and `enable`'s pre-flight both need.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a finished (or abandoned) program ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Finished {
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Killed at the deadline.
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Spawns `command` with standard input from `/dev/null` and both outputs
/// piped, and waits for it, killing it at `timeout`. Each output is read on
/// its own thread, so a chatty program cannot fill a pipe and stall.
pub fn run_to_end(mut command: Command, timeout: Duration) -> std::io::Result<Finished> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let pid = child.id();
    let reader = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut output = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut output);
            }
            output
        })
    };
    let stdout = reader(child.stdout.take().map(|out| Box::new(out) as _));
    let stderr = reader(child.stderr.take().map(|err| Box::new(err) as _));
    let deadline = Instant::now() + timeout;
    let mut finished = Finished {
        pid: Some(pid),
        ..Finished::default()
    };
    let status = loop {
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            None => {
                finished.timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
        }
    };
    if let Some(status) = status {
        finished.exit_code = status.code();
        finished.signal = status.signal();
    }
    finished.stdout = stdout.join().unwrap_or_default();
    finished.stderr = stderr.join().unwrap_or_default();
    Ok(finished)
}
