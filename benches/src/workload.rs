//! The workload fixture (`fixtures/c/bench.cpp`): its workloads, and one
//! long-lived process per setup that runs them on request, so that a sample
//! costs a line on a pipe rather than an exec, and every sample of a setup
//! runs in the same warmed-up process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::setup::Setup;

/// Narrows every part of the dispatch benchmark to these workloads
/// (comma-separated names, as `bench-workload --list` prints them).
pub const ONLY_VAR: &str = "MEMPROXY_BENCH_WORKLOADS";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub name: String,
    /// Allocator calls (malloc, free, realloc, new, ...) per iteration.
    pub calls_per_iteration: u64,
}

/// The fixture's workloads, narrowed by [`ONLY_VAR`] if it is set.
pub fn list(fixture: &Path) -> Result<Vec<Workload>, String> {
    let output = Command::new(fixture)
        .arg("--list")
        .env_remove("LD_PRELOAD")
        .output()
        .map_err(|error| format!("cannot run {}: {error}", fixture.display()))?;
    if !output.status.success() {
        return Err(format!("{} --list failed", fixture.display()));
    }
    let all = parse_list(&String::from_utf8_lossy(&output.stdout))?;
    let only = std::env::var(ONLY_VAR).unwrap_or_default();
    narrow(all, &only)
}

fn parse_list(text: &str) -> Result<Vec<Workload>, String> {
    text.lines()
        .map(|line| {
            let (name, calls) = line
                .split_once(' ')
                .ok_or_else(|| format!("bad --list line {line:?}"))?;
            let calls_per_iteration = calls
                .parse()
                .map_err(|_| format!("bad call count in --list line {line:?}"))?;
            Ok(Workload {
                name: name.to_owned(),
                calls_per_iteration,
            })
        })
        .collect()
}

fn narrow(all: Vec<Workload>, only: &str) -> Result<Vec<Workload>, String> {
    let wanted: Vec<&str> = only.split(',').filter(|name| !name.is_empty()).collect();
    if wanted.is_empty() {
        return Ok(all);
    }
    if let Some(unknown) = wanted
        .iter()
        .find(|name| !all.iter().any(|workload| workload.name == **name))
    {
        return Err(format!("{ONLY_VAR}: no workload named {unknown}"));
    }
    Ok(all
        .into_iter()
        .filter(|workload| wanted.contains(&workload.name.as_str()))
        .collect())
}

/// A `bench-workload --serve` process in one setup, started on first use.
pub struct Server {
    fixture: PathBuf,
    setup: Setup,
    process: Option<Process>,
}

struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn new(fixture: &Path, setup: Setup) -> Server {
        Server {
            fixture: fixture.to_path_buf(),
            setup,
            process: None,
        }
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// Ends the process; the next [`Server::run`] starts a new one. Each
    /// process draws its own address layout (ASLR), and where the heap and
    /// the stack land moves a loop's time by tens of percent (cache sets,
    /// 4 KiB aliasing) for the whole life of the process: a comparison of one
    /// process per setup would compare two layouts, not two setups.
    pub fn restart(&mut self) {
        if let Some(process) = self.process.take() {
            process.end();
        }
    }

    /// Runs `iterations` of `workload` and returns the time the fixture
    /// measured around its loop. Panics if the fixture fails: a benchmark
    /// cannot go on without it.
    pub fn run(&mut self, workload: &str, iterations: u64) -> Duration {
        let label = &self.setup.label;
        let process = self.process.get_or_insert_with(|| {
            let mut child = self
                .setup
                .command(&self.fixture)
                .arg("--serve")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|error| panic!("{label}: cannot start bench-workload: {error}"));
            Process {
                stdin: child.stdin.take().expect("piped stdin"),
                stdout: BufReader::new(child.stdout.take().expect("piped stdout")),
                child,
            }
        });
        writeln!(process.stdin, "{workload} {iterations}")
            .and_then(|()| process.stdin.flush())
            .unwrap_or_else(|error| panic!("{label}: bench-workload is gone: {error}"));
        let mut answer = String::new();
        match process.stdout.read_line(&mut answer) {
            Ok(0) | Err(_) => panic!("{label}: bench-workload died running {workload}"),
            Ok(_) => {}
        }
        let nanos: u64 = answer.trim().parse().unwrap_or_else(|_| {
            panic!("{label}: bench-workload answered {answer:?} to {workload} {iterations}")
        });
        Duration::from_nanos(nanos)
    }
}

impl Process {
    fn end(mut self) {
        // End of input ends the serve loop.
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.restart();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_list() {
        let workloads = parse_list("malloc_free_64 2\ncross_thread 1024\n").unwrap();
        assert_eq!(
            workloads,
            [
                Workload {
                    name: "malloc_free_64".into(),
                    calls_per_iteration: 2
                },
                Workload {
                    name: "cross_thread".into(),
                    calls_per_iteration: 1024
                }
            ]
        );
        assert!(parse_list("malloc_free_64\n").is_err());
    }

    #[test]
    fn narrows_by_name_and_rejects_unknown_names() {
        let all = parse_list("a 2\nb 2\nc 14\n").unwrap();
        let names = |list: Vec<Workload>| list.into_iter().map(|w| w.name).collect::<Vec<_>>();
        assert_eq!(names(narrow(all.clone(), "").unwrap()), ["a", "b", "c"]);
        assert_eq!(names(narrow(all.clone(), "c,a").unwrap()), ["a", "c"]);
        assert!(narrow(all, "a,zz").is_err());
    }
}
