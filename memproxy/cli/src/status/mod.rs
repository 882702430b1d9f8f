//! `memproxy status`: which allocator really serves each running process.
//!
//! A process that loaded memproxy is asked directly: the library keeps its
//! decision in a record of its own ([`record`]), which this command reads
//! from the process's memory, so the answer is what the process decided
//! when it started, not what today's config would say. The others are
//! judged by what they map ([`procfs`]): an allocator without memproxy (a
//! direct preload, or a program linking one), glibc alone, or no ld.so at
//! all (statically linked). [`stale`] compares each decision with what a
//! fresh start would decide now.

mod procfs;
mod record;
mod stale;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::elf::{self, Exports, Kind};
use crate::lifecycle::Files;
use crate::report::{self, EXIT_OK, EXIT_PROBLEMS, Failure};
use crate::shown::shown_os;
use procfs::Mapping;
use record::{Layout, Recorded, Unread};
use stale::FreshStart;

const HELP: &str = "\
For each process (all of them, or the PIDs given):
  memproxy  it loaded libmemproxy.so: its route, reason and allocator are read
            from the process's own memory (the decision it recorded at start)
  direct    it maps an allocator but not memproxy (a direct preload, or linked)
  glibc     dynamically linked, glibc's malloc only
  static    statically linked: no ld.so, nothing preloaded
Then the counts per kind, route and allocator.

--stale lists only the processes a fresh start would route differently now:
memproxy disabled or enabled since they started, another allocator in the
preload list, or a config that now excludes them or no longer does. Those
must be restarted to take the current set-up. Each is shown with its
program and start time.

Reading another process's memory needs ptrace access: run as root. As
another user, what cannot be read is shown with the reason.

Exit status:
  0  shown (with --stale: no process is stale)
  1  with --stale: stale processes found
  2  usage or I/O error (a PID that does not exist)

Examples:
  memproxy status
  memproxy status --stale
  memproxy status 1234 --json";

/// Arguments of `memproxy status`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The processes to show (default: every process)
    #[arg(value_name = "PID")]
    pub pids: Vec<u32>,
    /// Only the processes a fresh start would route differently now
    #[arg(long)]
    pub stale: bool,
    /// Print the processes and counts as JSON
    #[arg(long)]
    pub json: bool,
    /// Judge DIR/ld.so.preload instead of /etc's for --stale (tests)
    #[arg(long, value_name = "DIR", hide = true)]
    pub etc: Option<PathBuf>,
}

/// One process.
#[derive(Debug, Serialize)]
struct Process {
    pid: u32,
    /// The command name from /proc/PID/stat.
    command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<String>,
    /// Start time, in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<u64>,
    /// memproxy, direct, glibc, static, kernel or unknown.
    serving: &'static str,
    /// For memproxy: glibc or custom.
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'static str>,
    /// The object whose malloc serves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    allocator: Option<String>,
    /// For memproxy, the recorded reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// For memproxy, everything it recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<Recorded>,
    /// What could not be read, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable: Option<String>,
    /// Why a fresh start would differ (with --stale).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stale: Vec<String>,
    #[serde(skip)]
    ld_preload: Option<Vec<u8>>,
}

#[derive(Debug, Serialize)]
struct Count {
    serving: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allocator: Option<String>,
    processes: usize,
}

#[derive(Debug, Serialize)]
struct Status {
    processes: Vec<Process>,
    counts: Vec<Count>,
    /// With --stale: the preload file judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    preload_file: Option<String>,
}

/// Caches what each mapped file is, across processes.
#[derive(Default)]
struct Objects {
    exports: HashMap<(String, u64), Option<Exports>>,
    layouts: HashMap<(String, u64), Result<Layout, String>>,
}

impl Objects {
    fn exports(&mut self, pid: u32, mapping: &Mapping) -> Option<Exports> {
        let key = (mapping.device.clone(), mapping.inode);
        self.exports
            .entry(key)
            .or_insert_with(|| {
                let path = Path::new("/proc")
                    .join(pid.to_string())
                    .join("root")
                    .join(mapping.path.strip_prefix("/").unwrap_or(&mapping.path));
                match elf::inspect(&path).or_else(|_| elf::inspect(&mapping.path)) {
                    Ok(Kind::SharedObject(exports)) => Some(exports),
                    _ => None,
                }
            })
            .clone()
    }

    fn layout(&mut self, pid: u32, mapping: &Mapping) -> Result<Layout, String> {
        let key = (mapping.device.clone(), mapping.inode);
        self.layouts
            .entry(key)
            .or_insert_with(|| {
                record::mapped_file(pid, mapping.start, mapping.end, &mapping.path)
                    .map_err(|error| format!("cannot read {}: {error}", shown_os(&mapping.path)))
                    .and_then(|data| record::layout(&data))
            })
            .clone()
    }
}

/// Runs `memproxy status`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let explicit = !args.pids.is_empty();
    let pids = if explicit {
        args.pids.clone()
    } else {
        procfs::all_pids().map_err(|error| Failure(format!("cannot list /proc: {error}")))?
    };
    let boot_time = procfs::boot_time();
    let mut objects = Objects::default();
    let mut processes = Vec::new();
    for pid in pids {
        if !explicit && pid == std::process::id() {
            continue;
        }
        match inspect(pid, boot_time, &mut objects) {
            Ok(process) if process.serving == "kernel" && !explicit => {}
            Ok(process) => processes.push(process),
            Err(error) if explicit => {
                return Err(Failure(format!("process {pid}: {error}")));
            }
            // Gone since /proc was listed.
            Err(_) => {}
        }
    }
    let mut preload_file = None;
    if args.stale {
        let files = Files::choose(args.etc.as_deref());
        let contents = files.read()?;
        let mut fresh = FreshStart::new(contents.as_deref());
        for process in &mut processes {
            process.stale = match (&process.decision, process.serving) {
                (Some(recorded), _) => fresh.differences(recorded, process.ld_preload.as_deref()),
                (None, "direct" | "glibc")
                    if fresh.loads_memproxy(process.ld_preload.as_deref()) =>
                {
                    vec![
                        "started before memproxy was enabled: it does not load memproxy, but \
                         the preload list now names it"
                            .to_owned(),
                    ]
                }
                _ => Vec::new(),
            };
        }
        processes.retain(|process| !process.stale.is_empty());
        preload_file = Some(shown_os(files.preload()));
    }
    let status = Status {
        counts: counts(&processes),
        processes,
        preload_file,
    };
    if args.json {
        report::print_json(&status)?;
    } else {
        print_text(&status, args.stale);
    }
    Ok(if args.stale && !status.processes.is_empty() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}

/// What serves process `pid`; `Err` when it does not exist.
fn inspect(pid: u32, boot_time: Option<u64>, objects: &mut Objects) -> std::io::Result<Process> {
    let stat = procfs::stat(pid, boot_time)?;
    let mut process = Process {
        pid,
        command: stat.command,
        exe: None,
        started: stat.started,
        serving: "unknown",
        route: None,
        allocator: None,
        reason: None,
        decision: None,
        unreadable: None,
        stale: Vec::new(),
        ld_preload: None,
    };
    match procfs::exe(pid) {
        Ok(exe) => process.exe = Some(shown_os(exe)),
        // Kernel threads have no program.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            process.serving = "kernel";
            return Ok(process);
        }
        Err(_) => {}
    }
    let maps = match procfs::maps(pid) {
        Ok(maps) => maps,
        Err(error) => {
            process.unreadable = Some(format!(
                "cannot read /proc/{pid}/maps ({error}): another user's process needs ptrace \
                 read access (root)"
            ));
            return Ok(process);
        }
    };
    if maps.is_empty() {
        process.serving = "kernel";
        return Ok(process);
    }
    process.ld_preload = procfs::ld_preload(pid).ok().flatten();
    if procfs::has_interpreter(pid) == Some(false) {
        process.serving = "static";
        return Ok(process);
    }
    let mut memproxy = Vec::new();
    let mut allocators = Vec::new();
    let mut glibc = None;
    for mapping in maps.iter().filter(|mapping| mapping.offset == 0) {
        let Some(exports) = objects.exports(pid, mapping) else {
            continue;
        };
        if exports.memproxy {
            memproxy.push(mapping.clone());
        } else if exports.glibc {
            glibc = Some(mapping.path.clone());
        } else if exports.is_allocator() {
            allocators.push(mapping.path.clone());
        }
    }
    if !memproxy.is_empty() {
        process.serving = "memproxy";
        read_decision(&mut process, &memproxy, objects);
    } else if let Some(first) = allocators.first() {
        process.serving = "direct";
        process.allocator = Some(shown_os(first));
    } else if let Some(libc) = glibc {
        process.serving = "glibc";
        process.allocator = Some(shown_os(libc));
    } else if !maps.iter().any(|mapping| is_loader(&mapping.path)) {
        process.serving = "static";
    }
    Ok(process)
}

fn is_loader(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("ld-"))
}

/// Reads the record of the copy of memproxy that serves the process (the
/// first whose record does not name another copy).
fn read_decision(process: &mut Process, copies: &[Mapping], objects: &mut Objects) {
    let mut why = Vec::new();
    for mapping in copies {
        let layout = match objects.layout(process.pid, mapping) {
            Ok(layout) => layout,
            Err(error) => {
                why.push(format!("{}: {error}", shown_os(&mapping.path)));
                continue;
            }
        };
        match record::read(process.pid, mapping.start, &layout) {
            Ok(recorded) if recorded.duplicate_of.is_some() && copies.len() > 1 => {}
            Ok(recorded) => {
                process.route = Some(recorded.route);
                process.reason = Some(recorded.reason);
                process.allocator = Some(recorded.allocator.clone());
                process.decision = Some(recorded);
                return;
            }
            Err(Unread::Denied(error)) => why.push(format!(
                "cannot read /proc/{}/mem ({error}): reading another process's memory needs \
                 ptrace attach access (root, or CAP_SYS_PTRACE)",
                process.pid
            )),
            Err(Unread::NotDecided) => why.push("it has not decided yet".to_owned()),
            Err(Unread::Other(error)) => why.push(error),
        }
    }
    process.unreadable = Some(why.join("; "));
}

fn counts(processes: &[Process]) -> Vec<Count> {
    let mut counts: BTreeMap<(&'static str, Option<&'static str>, Option<String>), usize> =
        BTreeMap::new();
    for process in processes {
        let serving = if process.serving == "memproxy" && process.route.is_none() {
            "memproxy (unread)"
        } else if process.serving == "unknown" {
            "unreadable"
        } else {
            process.serving
        };
        *counts
            .entry((serving, process.route, process.allocator.clone()))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((serving, route, allocator), processes)| Count {
            serving,
            route,
            allocator,
            processes,
        })
        .collect()
}

fn print_text(status: &Status, stale: bool) {
    if let Some(file) = &status.preload_file {
        if status.processes.is_empty() {
            println!(
                "no stale process: every process decided what a fresh start would now ({file} and the config)"
            );
            return;
        }
        println!(
            "{} processes must be restarted to take the current set-up ({file} and the config):",
            status.processes.len()
        );
    }
    println!(
        "{:>7}  {:<19}  {:<8}  {:<6}  {:<19}  {:<40}  PROGRAM",
        "PID", "STARTED (UTC)", "SERVING", "ROUTE", "REASON", "ALLOCATOR"
    );
    for process in &status.processes {
        println!(
            "{:>7}  {:<19}  {:<8}  {:<6}  {:<19}  {:<40}  {}",
            process.pid,
            process.started.map(utc).unwrap_or_default(),
            process.serving,
            process.route.unwrap_or("-"),
            process.reason.unwrap_or("-"),
            process.allocator.as_deref().unwrap_or("-"),
            process.exe.as_deref().unwrap_or(&process.command),
        );
        if let Some(why) = &process.unreadable {
            println!("         unreadable: {why}");
        }
        for reason in &process.stale {
            println!("         stale: {reason}");
        }
    }
    if !stale {
        println!("counts:");
        for count in &status.counts {
            println!(
                "  {:>5}  {:<17}  {:<6}  {}",
                count.processes,
                count.serving,
                count.route.unwrap_or(""),
                count.allocator.as_deref().unwrap_or("")
            );
        }
    }
}

/// `seconds` since the epoch as `YYYY-MM-DD HH:MM:SS`, in UTC.
fn utc(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = memproxy_common::civil::date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_785_258), "2026-11-27 13:14:18");
    }
}
