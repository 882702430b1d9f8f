//! A process configuration: what is preloaded and which exclusion list
//! memproxy reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which route memproxy must take in a setup; checked once, before any
/// measurement, so that a benchmark never times the wrong thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The preloaded allocator serves the process (the program is not listed).
    Custom,
    /// The program is listed: glibc serves it, although an allocator is
    /// preloaded.
    Excluded,
    /// memproxy alone: glibc serves the process.
    NoCustomAllocator,
}

impl Route {
    /// The fields of memproxy's `MEMPROXY_DEBUG` line that show this route.
    fn debug_fields(self) -> [&'static str; 2] {
        match self {
            Route::Custom => ["route=custom", "reason=not-excluded"],
            Route::Excluded => ["route=glibc", "reason=excluded"],
            Route::NoCustomAllocator => ["route=glibc", "reason=no-custom-allocator"],
        }
    }
}

#[derive(Clone, Debug)]
pub struct Setup {
    /// Unique, short, and usable as a criterion benchmark id.
    pub label: String,
    /// `LD_PRELOAD`, in order; empty for none.
    pub preload: Vec<PathBuf>,
    /// `MEMPROXY_CONF`.
    pub config: Option<PathBuf>,
    /// `Some` when memproxy is preloaded.
    pub route: Option<Route>,
}

impl Setup {
    /// The allocator alone, or no preload at all.
    pub fn direct(label: impl Into<String>, allocator: Option<&Path>) -> Setup {
        Setup {
            label: label.into(),
            preload: allocator.into_iter().map(Path::to_path_buf).collect(),
            config: None,
            route: None,
        }
    }

    /// memproxy first, then the allocator if any, reading `config`.
    pub fn memproxy(
        label: impl Into<String>,
        memproxy: &Path,
        allocator: Option<&Path>,
        config: &Path,
        route: Route,
    ) -> Setup {
        Setup {
            label: label.into(),
            preload: std::iter::once(memproxy)
                .chain(allocator)
                .map(Path::to_path_buf)
                .collect(),
            config: Some(config.to_path_buf()),
            route: Some(route),
        }
    }

    /// Sets the process environment: a fixed, minimal one, so that no
    /// variable of the caller's (an `LD_PRELOAD`, `MALLOC_CONF`,
    /// `GLIBC_TUNABLES`, ...) changes what is measured, and the instruction
    /// counts of two setups differ only by what the setups differ in.
    pub fn apply(&self, command: &mut Command) {
        command.env_clear().env("PATH", "/usr/bin:/bin");
        if !self.preload.is_empty() {
            let list: Vec<&str> = self.preload.iter().map(|path| utf8(path)).collect();
            command.env("LD_PRELOAD", list.join(":"));
        }
        if let Some(config) = &self.config {
            command.env("MEMPROXY_CONF", config);
        }
    }

    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        self.apply(&mut command);
        command
    }

    /// Runs `program args` once with `MEMPROXY_DEBUG=1` and checks that
    /// memproxy took the route this setup is about.
    pub fn verify_route(&self, program: &Path, args: &[&str]) -> Result<(), String> {
        let Some(route) = self.route else {
            return Ok(());
        };
        let output = self
            .command(program)
            .args(args)
            .env("MEMPROXY_DEBUG", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| {
                format!("{}: cannot run {}: {error}", self.label, program.display())
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stderr.lines().find(|line| line.starts_with("memproxy["));
        let ok = output.status.success()
            && line.is_some_and(|line| {
                route
                    .debug_fields()
                    .iter()
                    .all(|field| line.split(' ').any(|word| word == *field))
            });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{}: expected {:?} ({}) from {}, got {} with stderr:\n{stderr}",
                self.label,
                route,
                route.debug_fields().join(" "),
                program.display(),
                output.status
            ))
        }
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}

/// Refuses to measure on a host that preloads something into every
/// process: both sides of every comparison would carry it.
pub fn check_host_preload() -> Result<(), String> {
    let text = std::fs::read_to_string("/etc/ld.so.preload").unwrap_or_default();
    let entries: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    if entries.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "/etc/ld.so.preload preloads {} into every process; empty it for the benchmarks",
            entries.join(" ")
        ))
    }
}
