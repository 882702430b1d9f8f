//! `memproxy enable`: writes the host's preload file, memproxy first and
//! the allocator after it, once the checks and the pre-flight have passed.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Change, Files, edit, preflight};
use crate::config_file::{BUILT_IN_CONFIG, ConfigPath, Source};
use crate::doctor::{self, Checks, ConfigSummary, Listed};
use crate::library;
use crate::preload::{self, ListSource};
use crate::report::{self, Counts, EXIT_OK, EXIT_PROBLEMS, Failure, Finding, Severity};
use crate::shown::shown_os;

const HELP: &str = "\
Computes the new /etc/ld.so.preload: a marker comment (ld.so ignores it),
then libmemproxy.so and the allocator on one line, then every other entry
of the current file, unchanged and in order. Runs doctor's checks on it
(each entry's ELF class and machine, linker scripts, the order, the
config), then the pre-flight: sh, bash, ls, env, id, sudo, su, login,
systemctl, journalctl, apt-get, dpkg, python3, perl, ssh, mount and ps
(those present) and every --probe run twice, each time in a private mount
namespace with a file bound over /etc/ld.so.preload: the current one, then
the new one. Exit status, stdout and stderr must be the same.

Only then is the file replaced: a temporary file in /etc, fsync, rename(2),
fsync of /etc. The previous contents are kept in
/etc/ld.so.preload.memproxy-prev. A refused enable leaves the file as it
was, byte for byte. A lock (/etc/ld.so.preload.memproxy-lock) keeps two
enable or disable runs from interleaving.

Exit status:
  0  written (with --dry-run: would be written)
  1  refused: a check or the pre-flight failed; nothing written
  2  usage or I/O error

Examples:
  memproxy enable --allocator jemalloc --dry-run
  memproxy enable --allocator /opt/alloc/libmyalloc.so --probe '/usr/sbin/nginx -t'";

/// Arguments of `memproxy enable`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The custom allocator: jemalloc, mimalloc, tcmalloc, tbb, a path or a
    /// library name
    #[arg(long, value_name = "NAME|PATH")]
    pub allocator: std::ffi::OsString,
    /// The config the checks judge and the pre-flight's programs read
    /// (default: the built-in path, which every process reads)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Another command the pre-flight runs, split at blanks (repeatable)
    #[arg(long, value_name = "CMD")]
    pub probe: Vec<String>,
    /// Show the change and the pre-flight's result; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The libmemproxy.so to preload (default: as `run` finds it)
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Work on DIR/ld.so.preload instead of /etc's (tests)
    #[arg(long, value_name = "DIR", hide = true)]
    pub etc: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    change: Change,
    objects: Vec<Listed>,
    config: ConfigSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    preflight: Option<preflight::Preflight>,
    findings: Vec<Finding>,
    dry_run: bool,
    /// The file was replaced.
    written: bool,
    /// The file already held exactly this.
    unchanged: bool,
    ok: bool,
}

/// Runs `memproxy enable`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let probes: Vec<Vec<String>> = args
        .probe
        .iter()
        .map(|probe| {
            probe
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    if probes.iter().any(Vec::is_empty) {
        return Err(Failure("--probe must name a command".to_owned()));
    }
    // Canonical: the file must name it the same way whatever the current
    // directory or the way this command found it (`bin/../lib/...`).
    let lib = library::find_memproxy(args.lib.as_deref()).map_err(Failure)?;
    let lib = std::fs::canonicalize(&lib)
        .map_err(|error| Failure(format!("{}: {error}", shown_os(&lib))))?;
    let allocator = library::find_allocator(&args.allocator)
        .map_err(Failure)?
        .ok_or_else(|| {
            Failure(
                "enable needs a custom allocator: without one memproxy changes nothing (to go \
                 back to glibc everywhere, use memproxy disable)"
                    .to_owned(),
            )
        })?;
    for path in [&lib, &allocator] {
        check_entry(path)?;
    }
    let config = match &args.config {
        Some(path) => ConfigPath {
            path: std::path::absolute(path)
                .map_err(|error| Failure(format!("{}: {error}", shown_os(path))))?,
            source: Source::Argument,
        },
        None => ConfigPath {
            path: PathBuf::from(BUILT_IN_CONFIG),
            source: Source::BuiltIn,
        },
    };

    let files = Files::choose(args.etc.as_deref());
    let _lock = files.lock()?;
    let current = files.read()?;
    let candidate = edit::enabled(
        current.as_deref(),
        &[lib.as_os_str().as_bytes(), allocator.as_os_str().as_bytes()],
    );
    let unchanged = current.as_deref() == Some(candidate.as_slice());
    let names = preload::split_file(&candidate)
        .into_iter()
        .map(|name| (ListSource::File, name))
        .collect();
    let Checks {
        objects,
        config: config_summary,
        mut findings,
    } = doctor::check_set_up(names, &config);
    findings.extend(doctor::comments_read_as_names(
        &shown_os(files.preload()),
        &candidate,
    ));
    if config.source == Source::Argument && config.path != Path::new(BUILT_IN_CONFIG) {
        findings.push(Finding::note(
            "config-not-built-in",
            format!(
                "the checks and the pre-flight use {}, but processes read {BUILT_IN_CONFIG} \
                 (this build's path) unless MEMPROXY_CONF names another",
                shown_os(&config.path)
            ),
        ));
    }
    let checks_passed = !has_errors(&findings);
    let preflight = if checks_passed && !unchanged {
        let explicit_config = args.config.as_ref().map(|_| config.path.as_path());
        let preflight = preflight::run(current.as_deref(), &candidate, &probes, explicit_config)?;
        let failures: Vec<&preflight::Run> = preflight.failures().collect();
        if let Some(first) = failures.first() {
            findings.push(
                Finding::error(
                    "preflight-failed",
                    format!(
                        "pre-flight: {} of {} programs behave differently under the new file; \
                         the first, {} (`{}`): {}",
                        failures.len(),
                        preflight.runs.len(),
                        first.name,
                        first.command,
                        first.differences.join("; ")
                    ),
                )
                .with_fix(format!(
                    "try it with `memproxy run --allocator {} -- {}`; exclude the programs in \
                     the config, or choose another allocator",
                    shown_os(&allocator),
                    first.command
                )),
            );
        }
        Some(preflight)
    } else {
        None
    };
    let ok = !has_errors(&findings);
    let written = ok && !unchanged && !args.dry_run;
    if written {
        files.replace(current.as_deref(), Some(&candidate))?;
    }
    let report = Report {
        change: Change::new(&files.preload(), current.as_deref(), Some(&candidate)),
        objects,
        config: config_summary,
        preflight,
        findings,
        dry_run: args.dry_run,
        written,
        unchanged,
        ok,
    };
    if args.json {
        report::print_json(&report)?;
    } else {
        print_text(&report, &files);
    }
    Ok(if ok { EXIT_OK } else { EXIT_PROBLEMS })
}

fn has_errors(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|finding| finding.severity == Severity::Error)
}

/// ld.so splits the file at blanks, colons and `#`: a path holding one
/// cannot be listed.
fn check_entry(path: &Path) -> Result<(), Failure> {
    let bytes = path.as_os_str().as_bytes();
    if bytes
        .iter()
        .any(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b':' | b'#'))
    {
        return Err(Failure(format!(
            "{} cannot be listed in /etc/ld.so.preload: ld.so splits entries at blanks and \
             colons, and '#' starts a comment",
            shown_os(path)
        )));
    }
    Ok(())
}

fn print_text(report: &Report, files: &Files) {
    report.change.print();
    doctor::print_objects(&report.objects);
    doctor::print_config(&report.config);
    if let Some(preflight) = &report.preflight {
        println!(
            "pre-flight   {} programs, each run with the current and the new file ({} over \
             /etc/ld.so.preload in a private mount namespace):",
            preflight.runs.len(),
            preflight.method
        );
        for run in &preflight.runs {
            let verdict = if run.passed { "same" } else { "DIFFERS" };
            println!("  {verdict:<8} {:<10} {}", run.name, run.command);
            for difference in &run.differences {
                println!("           {difference}");
            }
        }
        if !preflight.absent.is_empty() {
            println!("  absent on this host: {}", preflight.absent.join(", "));
        }
    }
    for finding in &report.findings {
        report::print_finding("enable", finding);
    }
    let counts = Counts::of(&report.findings);
    let outcome = match (report.ok, report.unchanged, report.dry_run) {
        (false, _, _) => format!(
            "refused: {}; {} left as it was",
            counts.sentence(),
            report.change.file
        ),
        (true, true, _) => format!("unchanged: {} already holds this", report.change.file),
        (true, false, true) => format!("dry run: {}; nothing written", counts.sentence()),
        (true, false, false) => format!(
            "enabled: wrote {} (previous contents in {}); programs started from now on load \
             memproxy; see memproxy status --stale for those to restart",
            report.change.file,
            shown_os(files.previous())
        ),
    };
    println!("{outcome}");
}
