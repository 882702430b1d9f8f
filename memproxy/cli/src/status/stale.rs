//! `status --stale`: would a fresh start of this program decide what the
//! running process decided?
//!
//! A fresh start loads `LD_PRELOAD` (the process's own, from
//! `/proc/PID/environ`) and then the preload file as it is now, and reads
//! the config the process read, as it is now. The names it matches are the
//! ones the process recorded, so the verdict is the library's own matcher on
//! the same input. A process differs, and must be restarted to take the
//! current set-up, when:
//!
//! - memproxy is no longer listed, or an allocator now comes before it, or
//!   no longer does;
//! - the allocator listed after memproxy is not the one serving it;
//! - the config now excludes it, or no longer does;
//! - it does not load memproxy, but the lists now name it (it started
//!   before memproxy was enabled).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memproxy_config::Identity;

use super::record::Recorded;
use crate::config_file::{self, State};
use crate::elf::{self, Kind};
use crate::explain;
use crate::preload;
use crate::shown::shown_os;

/// What one preload entry is, for a fresh start.
#[derive(Debug, Clone)]
enum Entry {
    Memproxy,
    /// Defines `malloc`.
    Allocator(PathBuf),
    /// Exports only a prefixed API.
    Prefixed(PathBuf),
    Other,
}

/// What a fresh start would load, from the current preload file.
pub struct FreshStart {
    file: Vec<Vec<u8>>,
    entries: HashMap<Vec<u8>, Entry>,
}

/// The order of a fresh start, as memproxy's decision sees it.
#[derive(Debug, Default)]
struct Expected {
    memproxy: bool,
    /// An allocator listed before memproxy: it would serve.
    before: Option<PathBuf>,
    /// The allocator memproxy would route to.
    after: Option<PathBuf>,
}

impl FreshStart {
    /// With the preload file's current `contents` (`None`: no file).
    pub fn new(contents: Option<&[u8]>) -> FreshStart {
        FreshStart {
            file: contents.map(preload::split_file).unwrap_or_default(),
            entries: HashMap::new(),
        }
    }

    /// Whether a fresh start with this `LD_PRELOAD` loads memproxy.
    pub fn loads_memproxy(&mut self, ld_preload: Option<&[u8]>) -> bool {
        self.expected(ld_preload).memproxy
    }

    fn entry(&mut self, name: &[u8]) -> Entry {
        self.entries
            .entry(name.to_vec())
            .or_insert_with(|| {
                let Some(path) = preload::locate(name) else {
                    return Entry::Other;
                };
                match elf::inspect(&path) {
                    Ok(Kind::SharedObject(exports)) if exports.memproxy => Entry::Memproxy,
                    Ok(Kind::SharedObject(exports)) if exports.is_allocator() && exports.malloc => {
                        Entry::Allocator(path)
                    }
                    Ok(Kind::SharedObject(exports)) if exports.is_allocator() => {
                        Entry::Prefixed(path)
                    }
                    _ => Entry::Other,
                }
            })
            .clone()
    }

    fn expected(&mut self, ld_preload: Option<&[u8]>) -> Expected {
        let mut names = ld_preload
            .map(preload::split_environment)
            .unwrap_or_default();
        names.extend(self.file.iter().cloned());
        let entries: Vec<Entry> = names.iter().map(|name| self.entry(name)).collect();
        let mut expected = Expected::default();
        let mut prefixed = None;
        for entry in entries {
            match (entry, expected.memproxy) {
                (Entry::Memproxy, _) => expected.memproxy = true,
                (Entry::Allocator(path), false) if expected.before.is_none() => {
                    expected.before = Some(path)
                }
                (Entry::Allocator(path), true) if expected.after.is_none() => {
                    expected.after = Some(path)
                }
                (Entry::Prefixed(path), _) if prefixed.is_none() => prefixed = Some(path),
                _ => {}
            }
        }
        if expected.after.is_none() && expected.before.is_none() {
            expected.after = prefixed;
        }
        expected
    }

    /// Why a fresh start of the process that recorded `recorded` would
    /// decide otherwise; empty when it would not.
    pub fn differences(&mut self, recorded: &Recorded, ld_preload: Option<&[u8]>) -> Vec<String> {
        let expected = self.expected(ld_preload);
        let mut reasons = Vec::new();
        if !expected.memproxy {
            reasons.push(
                "memproxy is no longer in LD_PRELOAD or the preload file (disabled since it \
                 started)"
                    .to_owned(),
            );
            return reasons;
        }
        match (&expected.before, recorded.reason) {
            (Some(before), reason) if reason != "not-first" => reasons.push(format!(
                "{} is now preloaded before memproxy and would serve it",
                shown_os(before)
            )),
            (None, "not-first") => reasons
                .push("memproxy now comes first: its route would follow the config".to_owned()),
            _ => {}
        }
        if let (None, Some(allocator)) = (&expected.before, &expected.after) {
            match recorded.reason {
                "excluded" | "not-excluded"
                    if recorded.route == "custom" && !same_file(allocator, &recorded.allocator) =>
                {
                    reasons.push(format!(
                        "the preload list now names {} after memproxy; it runs on {}",
                        shown_os(allocator),
                        recorded.allocator
                    ));
                }
                "no-custom-allocator" => reasons.push(format!(
                    "an allocator is now preloaded after memproxy: {}",
                    shown_os(allocator)
                )),
                _ => {}
            }
        }
        if matches!(recorded.reason, "excluded" | "not-excluded") {
            reasons.extend(config_difference(recorded));
        }
        reasons
    }
}

/// The config, as it is now, matched against the recorded names.
fn config_difference(recorded: &Recorded) -> Option<String> {
    let identity = Identity {
        execfn: &recorded.raw_execfn,
        exe: &recorded.raw_exe,
    };
    let now = match config_file::load(&recorded.raw_config) {
        State::Read { contents, .. } => {
            explain::decision(&identity, &contents).filter(|decision| decision.excluded)
        }
        _ => None,
    };
    let config = shown_os(&recorded.raw_config);
    match (recorded.reason, now) {
        ("not-excluded", Some(found)) => Some(format!(
            "the config {config} now excludes it (line {}, by its {})",
            found.line,
            found.source.label()
        )),
        ("excluded", None) => Some(format!(
            "the config {config} no longer excludes it (line {} did)",
            recorded.match_line.unwrap_or(0)
        )),
        _ => None,
    }
}

/// Whether two paths name the same file (symlinks resolved).
fn same_file(path: &Path, other: &str) -> bool {
    let canonical = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    canonical(path) == canonical(Path::new(other))
}
