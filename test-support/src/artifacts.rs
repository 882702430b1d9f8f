//! The things under test: libmemproxy.so and the probes, built in release
//! mode by cargo, or taken from a directory of prebuilt copies (for a
//! platform root that has no Rust toolchain).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

/// A directory holding `libmemproxy.so`, `probe-c`, `probe-rs` and
/// `libprobe-plugin.so`, used instead of building.
pub const PREBUILT_VAR: &str = "MEMPROXY_HARNESS_ARTIFACTS";

#[derive(Clone, Debug)]
pub struct Probe {
    pub name: &'static str,
    pub path: PathBuf,
    /// Every kind it makes, from its `--list`.
    pub kinds: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Artifacts {
    pub memproxy: PathBuf,
    pub plugin: PathBuf,
    pub probes: Vec<Probe>,
    /// Where the C fixtures were built (listed in its `fixtures.json`).
    pub fixtures_dir: PathBuf,
}

impl Artifacts {
    /// Builds with cargo, or loads from [`PREBUILT_VAR`] when it is set.
    pub fn obtain() -> Result<Artifacts, String> {
        match std::env::var_os(PREBUILT_VAR) {
            Some(dir) => Artifacts::prebuilt(Path::new(&dir)),
            None => Artifacts::build(),
        }
    }

    /// The artifacts for this process, obtained once.
    pub fn shared() -> &'static Artifacts {
        static SHARED: OnceLock<Result<Artifacts, String>> = OnceLock::new();
        match SHARED.get_or_init(Artifacts::obtain) {
            Ok(artifacts) => artifacts,
            Err(error) => panic!("cannot obtain the artifacts under test: {error}"),
        }
    }

    pub fn prebuilt(dir: &Path) -> Result<Artifacts, String> {
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("{} is missing", path.display()))
            }
        };
        Artifacts::complete(
            file("libmemproxy.so")?,
            dir.to_owned(),
            file("probe-c")?,
            file("probe-rs")?,
        )
    }

    /// Two cargo builds, not one: built together with the fixtures, the
    /// library would get the features cargo unifies across the packages of
    /// one build (`libc` with `std`, which the fixtures use), and so would
    /// not be the library `memproxy/install.sh` builds (it loses its
    /// `DT_NEEDED` on libc.so.6, for one).
    fn build() -> Result<Artifacts, String> {
        let mut memproxy = None;
        for message in cargo_build("memproxy")? {
            if message.reason == "compiler-artifact" && message.target_name() == "memproxy" {
                memproxy = message
                    .filenames
                    .into_iter()
                    .find(|file| file.ends_with("libmemproxy.so"));
            }
        }
        let mut probe_rs = None;
        let mut fixtures_out = None;
        for message in cargo_build("fixtures")? {
            let package = message.package_id.as_deref().unwrap_or_default();
            match message.reason.as_str() {
                "compiler-artifact" if message.target_name() == "probe-rs" => {
                    probe_rs = message.executable
                }
                "build-script-executed" if is_fixtures_package(package) => {
                    fixtures_out = message.out_dir
                }
                _ => {}
            }
        }
        let memproxy = memproxy.ok_or("cargo built no libmemproxy.so")?;
        let probe_rs = probe_rs.ok_or("cargo built no probe-rs")?;
        let out = fixtures_out.ok_or("the fixtures build script did not run")?;
        Artifacts::complete(memproxy, out.clone(), out.join("probe-c"), probe_rs)
    }

    fn complete(
        memproxy: PathBuf,
        fixtures_dir: PathBuf,
        probe_c: PathBuf,
        probe_rs: PathBuf,
    ) -> Result<Artifacts, String> {
        let probes = vec![
            Probe::new("probe-c", probe_c)?,
            Probe::new("probe-rs", probe_rs)?,
        ];
        let plugin = fixtures_dir.join("libprobe-plugin.so");
        Ok(Artifacts {
            memproxy,
            plugin,
            probes,
            fixtures_dir,
        })
    }

    /// The probe named `name` (`probe-c`, `probe-rs`).
    #[track_caller]
    pub fn probe(&self, name: &str) -> &Probe {
        self.probes
            .iter()
            .find(|probe| probe.name == name)
            .unwrap_or_else(|| panic!("no probe {name} among the artifacts"))
    }

    /// A C fixture built next to the probes, by its file name in
    /// `fixtures.json`.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let path = self.fixtures_dir.join(name);
        assert!(
            path.exists(),
            "fixture {} was not built (fixtures/build.rs builds every fixture; a prebuilt \
             directory must hold them all, see `harness report --export-artifacts`)",
            path.display()
        );
        path
    }

    /// Copies everything into `dir` under the names [`Artifacts::prebuilt`]
    /// expects.
    pub fn export(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        // Every C fixture is listed in fixtures.json, the plugin included.
        let manifest = std::fs::read_to_string(self.fixtures_dir.join("fixtures.json"))
            .map_err(|error| format!("fixtures.json: {error}"))?;
        let fixtures: std::collections::BTreeMap<String, PathBuf> =
            serde_json::from_str(&manifest).map_err(|error| format!("fixtures.json: {error}"))?;
        let copies = [(&self.memproxy, "libmemproxy.so")]
            .into_iter()
            .chain(self.probes.iter().map(|probe| (&probe.path, probe.name)))
            .chain(fixtures.iter().map(|(name, path)| (path, name.as_str())));
        for (from, name) in copies {
            std::fs::copy(from, dir.join(name))
                .map_err(|error| format!("{} -> {}: {error}", from.display(), name))?;
        }
        let local: std::collections::BTreeMap<&String, PathBuf> =
            fixtures.keys().map(|name| (name, dir.join(name))).collect();
        let manifest = serde_json::to_string(&local).map_err(|error| error.to_string())?;
        std::fs::write(dir.join("fixtures.json"), manifest).map_err(|error| error.to_string())
    }
}

impl Probe {
    fn new(name: &'static str, path: PathBuf) -> Result<Probe, String> {
        let output = Command::new(&path)
            .arg("--list")
            .env_remove("LD_PRELOAD")
            .output()
            .map_err(|error| format!("cannot run {}: {error}", path.display()))?;
        if !output.status.success() {
            return Err(format!("{} --list failed", path.display()));
        }
        let kinds = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        Ok(Probe { name, path, kinds })
    }
}

/// `cargo build --release -p PACKAGE`, run from the workspace with the
/// cargo that runs the tests; its JSON messages.
fn cargo_build(package: &str) -> Result<Vec<Message>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(crate::workspace())
        .args(["build", "--release", "-p", package])
        .arg("--message-format=json-render-diagnostics")
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build --release -p {package} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .collect())
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    package_id: Option<String>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    out_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
}

impl Message {
    fn target_name(&self) -> &str {
        self.target
            .as_ref()
            .map_or("", |target| target.name.as_str())
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

#[cfg(test)]
mod tests {
    use super::is_fixtures_package;

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
