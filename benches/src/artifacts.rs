//! libmemproxy.so and bench-workload, built by cargo in release mode, and
//! where the results go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The name of the workload fixture in the fixtures' `fixtures.json`.
const BENCH_WORKLOAD: &str = "bench-workload";

#[derive(Clone, Debug)]
pub struct Artifacts {
    pub memproxy: PathBuf,
    pub bench_workload: PathBuf,
    /// cargo's target directory: the summary goes to `bench-summary/` in it.
    pub target_dir: PathBuf,
    /// `git describe`-like label of the sources measured, for the summary.
    pub revision: String,
}

impl Artifacts {
    /// Builds libmemproxy.so and the fixtures with the same cargo that runs
    /// the benchmark (a no-op when they are fresh).
    pub fn build() -> Result<Artifacts, String> {
        let workspace = workspace_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(&cargo)
            .current_dir(&workspace)
            .args(["build", "--release", "-p", "memproxy", "-p", "fixtures"])
            .arg("--message-format=json-render-diagnostics")
            .output()
            .map_err(|error| format!("cannot run cargo: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo build --release -p memproxy -p fixtures failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let built = Built::from_messages(&String::from_utf8_lossy(&output.stdout))?;
        let manifest_path = built.fixtures_out_dir.join("fixtures.json");
        let manifest: BTreeMap<String, PathBuf> = std::fs::read(&manifest_path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|error| error.to_string()))
            .map_err(|error| format!("{}: {error}", manifest_path.display()))?;
        let bench_workload = manifest.get(BENCH_WORKLOAD).cloned().ok_or_else(|| {
            format!(
                "{} lists no {BENCH_WORKLOAD}: fixtures/build.rs must build it",
                manifest_path.display()
            )
        })?;
        Ok(Artifacts {
            memproxy: built.memproxy,
            bench_workload,
            target_dir: target_dir(&cargo, &workspace)?,
            revision: revision(&workspace),
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

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is in the workspace")
        .to_path_buf()
}

/// What one `cargo build --message-format=json` reported.
struct Built {
    memproxy: PathBuf,
    fixtures_out_dir: PathBuf,
}

impl Built {
    fn from_messages(stdout: &str) -> Result<Built, String> {
        let mut memproxy = None;
        let mut fixtures_out_dir = None;
        for line in stdout.lines() {
            let Ok(message) = serde_json::from_str::<Message>(line) else {
                continue;
            };
            match message.reason.as_str() {
                "compiler-artifact"
                    if message
                        .target
                        .as_ref()
                        .is_some_and(|t| t.name == "memproxy") =>
                {
                    memproxy = message
                        .filenames
                        .into_iter()
                        .find(|file| file.ends_with("libmemproxy.so"));
                }
                "build-script-executed" if is_fixtures_package(&message.package_id) => {
                    fixtures_out_dir = message.out_dir;
                }
                _ => {}
            }
        }
        Ok(Built {
            memproxy: memproxy.ok_or("cargo built no libmemproxy.so")?,
            fixtures_out_dir: fixtures_out_dir.ok_or("the fixtures build script did not run")?,
        })
    }
}

/// Package ids are `path+file:///.../fixtures#0.1.0` (cargo >= 1.77) or
/// `fixtures 0.1.0 (path+file:///...)`.
fn is_fixtures_package(package_id: &str) -> bool {
    package_id.starts_with("fixtures ")
        || package_id
            .split_once('#')
            .is_some_and(|(url, _)| url.ends_with("/fixtures"))
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

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    package_id: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
    #[serde(default)]
    out_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_both_artifacts_in_cargo_messages() {
        let stdout = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/memproxy#0.1.0","target":{"name":"memproxy"},"filenames":["/w/target/release/libmemproxy.so"]}
{"reason":"build-script-executed","package_id":"path+file:///w/fixtures#0.1.0","out_dir":"/w/target/release/build/fixtures-1/out"}
{"reason":"build-script-executed","package_id":"path+file:///w/not-fixtures#0.1.0","out_dir":"/elsewhere"}
{"reason":"build-finished","success":true}"#;
        let built = Built::from_messages(stdout).unwrap();
        assert_eq!(
            built.memproxy,
            PathBuf::from("/w/target/release/libmemproxy.so")
        );
        assert_eq!(
            built.fixtures_out_dir,
            PathBuf::from("/w/target/release/build/fixtures-1/out")
        );
    }

    #[test]
    fn recognises_both_package_id_formats() {
        assert!(is_fixtures_package("path+file:///w/fixtures#0.1.0"));
        assert!(is_fixtures_package(
            "fixtures 0.1.0 (path+file:///w/fixtures)"
        ));
        assert!(!is_fixtures_package("path+file:///w/fixtures-extra#0.1.0"));
        assert!(!is_fixtures_package(
            "harness 0.1.0 (path+file:///w/fixtures)"
        ));
    }
}
