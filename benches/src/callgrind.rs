//! Instruction counts from `valgrind --tool=callgrind`.
//!
//! Callgrind counts every instruction the process executes, exactly and
//! repeatably (the same program, arguments and environment give the same
//! count), and it does not replace malloc, so `LD_PRELOAD` works under it.
//! That makes a difference of a few instructions per call visible where
//! wall time on a shared VM cannot resolve it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::setup::Setup;

/// One program run to count.
#[derive(Clone, Debug)]
pub struct Run {
    pub setup: Setup,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Count only inside the functions matching this pattern (callgrind's
    /// `--toggle-collect`); the whole process when `None`.
    pub only_inside: Option<String>,
    /// Variables set after the setup's environment.
    pub env: Vec<(String, String)>,
}

impl Run {
    /// A run that counts the whole process.
    pub fn new(setup: &Setup, program: &Path, args: &[&str]) -> Run {
        Run {
            setup: setup.clone(),
            program: program.to_path_buf(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            only_inside: None,
            env: Vec::new(),
        }
    }

    /// Sets `env` for the program, after the setup's environment.
    pub fn with_env(self, env: &[(&str, &str)]) -> Run {
        Run {
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            ..self
        }
    }

    /// Counts only inside the functions matching `pattern`.
    pub fn only_inside(self, pattern: &str) -> Run {
        Run {
            only_inside: Some(pattern.to_owned()),
            ..self
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} {} [{}]",
            self.program.display(),
            self.args.join(" "),
            self.setup.label
        )
    }

    /// The instruction count of the whole process, threads included, or of
    /// what runs inside [`Run::only_inside`]'s functions.
    pub fn instructions(&self) -> Result<u64, String> {
        let mut command = Command::new("valgrind");
        self.setup.apply(&mut command);
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        // The count is in the closing lines on stderr; the profile itself is
        // not needed.
        command
            .args([
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                "--error-exitcode=99",
            ])
            .args(
                self.only_inside
                    .iter()
                    .map(|pattern| format!("--toggle-collect={pattern}")),
            )
            .arg(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let output = command
            .output()
            .map_err(|error| format!("cannot run valgrind: {error}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "{} failed under callgrind ({}):\n{stderr}",
                self.describe(),
                output.status
            ));
        }
        collected(&stderr).ok_or_else(|| {
            format!(
                "{}: no \"Collected\" line in callgrind's output:\n{stderr}",
                self.describe()
            )
        })
    }
}

/// Checks that valgrind is there before anything is measured.
pub fn require_valgrind() -> Result<(), String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => {
            Err("valgrind is not installed. Install with:\n    apt-get install -y valgrind".into())
        }
    }
}

/// Counts every run, on as many threads as there are cores (counts do not
/// depend on load), and returns the counts in the order of `runs`.
pub fn count_all(runs: &[Run]) -> Result<Vec<u64>, String> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<u64, String>>>> = Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(runs.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = runs.get(index) else { break };
                    let result = run.instructions();
                    results.lock().expect("no panics while locked")[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no panics while locked")
        .into_iter()
        .map(|result| result.expect("every run was counted"))
        .collect()
}

/// The number in callgrind's `==PID== Collected : N` line.
fn collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, count) = line.split_once("Collected :")?;
        count.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_collected_line() {
        let stderr = "==12769== \n==12769== Events    : Ir\n==12769== Collected : 128719\n\
                      ==12769== \n==12769== I   refs:      128,719\n";
        assert_eq!(collected(stderr), Some(128_719));
        assert_eq!(collected("==1== I   refs:      128,719\n"), None);
    }
}
