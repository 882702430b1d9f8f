//! libmemproxy.so and bench-workload, built by cargo in release mode, and
//! where the results go.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The name of the workload fixture in the fixtures' `fixtures.json`.
const BENCH_WORKLOAD: &str = "bench-workload";
/// The library with nothing in it, what any preload costs.
const BENCH_EMPTY: &str = "libbench-empty.so";

#[derive(Clone, Debug)]
pub struct Artifacts {
    pub memproxy: PathBuf,
    pub bench_workload: PathBuf,
    /// A shared library with one function and nothing else.
    pub empty_library: PathBuf,
    /// cargo's target directory: the summary goes to `bench-summary/` in it.
    pub target_dir: PathBuf,
    /// `git describe`-like label of the sources measured, for the summary.
    pub revision: String,
}

impl Artifacts {
    /// Builds libmemproxy.so and the fixtures as every test does
    /// (a no-op when they are fresh).
    pub fn build() -> Result<Artifacts, String> {
        let built = test_support::Artifacts::obtain()?;
        let fixture = |name: &str| {
            let path = built.fixtures_dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{} is missing: fixtures/build.rs must build it",
                    path.display()
                ))
            }
        };
        let bench_workload = fixture(BENCH_WORKLOAD)?;
        let empty_library = fixture(BENCH_EMPTY)?;
        let workspace = test_support::workspace();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Ok(Artifacts {
            memproxy: built.memproxy,
            bench_workload,
            empty_library,
            target_dir: target_dir(&cargo, workspace)?,
            revision: revision(workspace),
        })
    }

    /// `target/bench-summary`, or `target/bench-summary/quick` for a quick
    /// run, which must not overwrite the numbers of a full one.
    pub fn summary_dir(&self, mode: crate::mode::Mode) -> PathBuf {
        let dir = self.target_dir.join("bench-summary");
        match mode {
            crate::mode::Mode::Full => dir,
            _ => dir.join("quick"),
        }
    }

    /// Scratch files (configs, the empty library): regenerated as needed.
    pub fn work_dir(&self) -> Result<PathBuf, String> {
        let dir = self.target_dir.join("bench-summary").join("work");
        std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        Ok(dir)
    }
}

fn target_dir(cargo: &std::ffi::OsStr, workspace: &Path) -> Result<PathBuf, String> {
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|error| format!("cannot run cargo metadata: {error}"))?;
    serde_json::from_slice::<Metadata>(&output.stdout)
        .map(|metadata| metadata.target_directory)
        .map_err(|error| format!("cargo metadata: {error}"))
}

/// The commit, with `-dirty` when the work tree has changes; "unknown"
/// outside a git checkout.
fn revision(workspace: &Path) -> String {
    Command::new("git")
        .current_dir(workspace)
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}
