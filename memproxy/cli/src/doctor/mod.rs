//! `memproxy doctor`: is memproxy really in effect here, and if not, why?
//!
//! A preload set-up fails quietly: ld.so prints a one-line warning and goes
//! on, and an allocator preloaded before memproxy simply wins. The doctor
//! reads both preload lists the way ld.so does, says what each entry is and
//! whether the order lets memproxy decide, summarises the config, then runs a
//! probe under the very same set-up and reads the library's own
//! `MEMPROXY_DEBUG` line, so that the verdict rests on what happened rather
//! than on this command's model of ld.so.
//!
//! - [`order`]: what each preload entry is, and whether the order lets
//!   memproxy decide;
//! - [`probe`]: running a program under the set-up and reading its verdict.

mod abis;
mod order;
mod probe;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check;
use crate::config_file::{self, ConfigPath, Source, State};
use crate::preload::{self, ListSource, SYSTEM_PRELOAD_FILE};
use crate::report::{self, Counts, EXIT_OK, EXIT_PROBLEMS, Failure, Finding, Severity};
use crate::shown::{shown, shown_os};
pub use order::Listed;
use probe::Probe;

const HELP: &str = "\
Reads LD_PRELOAD (from this environment) and then /etc/ld.so.preload, in
that order, as ld.so does; checks each entry (exists? a shared object for
this machine? a linker script? defines malloc? memproxy? glibc?) and the
order (libmemproxy.so before every object that defines malloc, a custom
allocator after it); summarises the config like `memproxy check`; then runs
the probe (/bin/true unless --probe) with MEMPROXY_DEBUG=1 and reports the
route the library actually chose. Every problem comes with its fix.

Entries may use ld.so's $LIB, $PLATFORM and $ORIGIN (or ${LIB}, ...): they
are expanded for this machine's programs, and every entry is also checked
for the programs of each other ABI installed here (an ABI counts when its
libc, /lib/<tuple>/libc.so.6, is): on a multilib host one preload line must
serve 64-bit and 32-bit programs alike, e.g.
  /usr/local/$LIB/libmemproxy.so /usr/$LIB/libjemalloc.so.2
An entry with $ORIGIN differs for each program's directory: it is flagged,
never checked.

With --preload-file FILE, that file is judged instead of /etc/ld.so.preload,
and the probe appends its entries to LD_PRELOAD: a way to try a preload file
before installing it (where a mistake would break every process).

Exit status:
  0  memproxy is in effect and nothing is wrong (warnings allowed)
  1  problems found (each with a fix)
  2  usage error

Examples:
  memproxy doctor
  LD_PRELOAD=/usr/local/lib/libmemproxy.so:libjemalloc.so.2 memproxy doctor
  memproxy doctor --preload-file ./ld.so.preload.new
  memproxy doctor --probe 'python3 -c pass' --json";

/// Arguments of `memproxy doctor`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The command run under the set-up, split at blanks
    #[arg(long, value_name = "CMD", default_value = "/bin/true")]
    pub probe: String,
    /// Judge this preload file instead of /etc/ld.so.preload
    #[arg(long, value_name = "FILE")]
    pub preload_file: Option<PathBuf>,
    /// Print the diagnosis as JSON
    #[arg(long)]
    pub json: bool,
}

/// The config as the checks found it.
#[derive(Debug, Serialize)]
pub struct ConfigSummary {
    path: String,
    source: Source,
    state: &'static str,
    entries: usize,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Debug, Serialize)]
struct Diagnosis {
    ld_preload: Option<String>,
    preload_file: String,
    /// "read", "absent", or why it was not read.
    preload_file_state: String,
    /// The ABIs whose programs run here (the host's first): every entry
    /// is checked for each.
    abis: Vec<abis::Abi>,
    objects: Vec<Listed>,
    config: ConfigSummary,
    probe: Probe,
    findings: Vec<Finding>,
    ok: bool,
}

/// Runs `memproxy doctor`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let probe_command: Vec<String> = args.probe.split_whitespace().map(str::to_owned).collect();
    if probe_command.is_empty() {
        return Err(Failure("--probe must name a command".to_owned()));
    }
    let emulated_file = args.preload_file.clone();
    let preload_file = emulated_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_PRELOAD_FILE));

    let ld_preload = std::env::var_os("LD_PRELOAD");
    let (file_names, preload_file_state, comments) = read_preload_file(&preload_file);
    let mut names: Vec<(ListSource, Vec<u8>)> = Vec::new();
    if let Some(value) = &ld_preload {
        names.extend(
            preload::split_environment(value.as_bytes())
                .into_iter()
                .map(|name| (ListSource::Environment, name)),
        );
    }
    names.extend(
        file_names
            .iter()
            .cloned()
            .map(|name| (ListSource::File, name)),
    );
    let Checks {
        mut objects,
        config,
        mut findings,
    } = check_set_up(names, &config_file::choose(None));
    findings.extend(comments);
    let other_abis = abis::installed_others();
    abis::judge(&mut objects, &other_abis, &mut findings);
    let installed_abis: Vec<abis::Abi> = abis::host().into_iter().chain(other_abis).collect();

    let probe_ld_preload = emulated_file.as_ref().map(|_| {
        let mut all: Vec<&OsStr> = Vec::new();
        if let Some(value) = ld_preload.as_deref().filter(|value| !value.is_empty()) {
            all.push(value);
        }
        all.extend(file_names.iter().map(|name| OsStr::from_bytes(name)));
        preload::join(&all)
    });
    let probe = probe::run_probe(&probe_command, probe_ld_preload.as_deref());
    probe::judge_probe(&probe, &mut findings);

    let ok = !findings
        .iter()
        .any(|finding| finding.severity == Severity::Error);
    let diagnosis = Diagnosis {
        ld_preload: ld_preload.as_ref().map(shown_os),
        preload_file: shown_os(&preload_file),
        preload_file_state,
        abis: installed_abis,
        objects,
        config,
        probe,
        findings,
        ok,
    };
    if args.json {
        report::print_json(&diagnosis)?;
    } else {
        print_text(&diagnosis);
    }
    Ok(if ok { EXIT_OK } else { EXIT_PROBLEMS })
}

/// What the static checks found: each preload entry, the config, and every
/// problem with its fix.
pub struct Checks {
    pub objects: Vec<Listed>,
    pub config: ConfigSummary,
    pub findings: Vec<Finding>,
}

/// The checks `doctor` makes before it runs its probe, and `enable` before
/// it writes a preload file: each entry (does it exist, is it a shared
/// object for this machine's class and architecture, a linker script, what
/// it defines), their order, and the config's errors and warnings.
pub fn check_set_up(names: Vec<(ListSource, Vec<u8>)>, config: &ConfigPath) -> Checks {
    let host = abis::host();
    let objects: Vec<Listed> = names
        .into_iter()
        .enumerate()
        .map(|(index, (source, name))| order::inspect_entry(index + 1, source, name, host.as_ref()))
        .collect();
    let mut findings = Vec::new();
    order::judge_entries(&objects, &mut findings);
    order::judge_order(&objects, &mut findings);
    let config = judge_config(config, &mut findings);
    Checks {
        objects,
        config,
        findings,
    }
}

/// An error when ld.so would read part of the preload file's comments as
/// object names.
pub fn comments_read_as_names(file: &str, contents: &[u8]) -> Option<Finding> {
    let read = preload::split_file(contents);
    if read == preload::split_file_intended(contents) {
        return None;
    }
    let intended = preload::split_file_intended(contents);
    let extra: Vec<String> = read
        .iter()
        .filter(|name| !intended.contains(name))
        .map(|name| format!("'{}'", shown(name)))
        .collect();
    Some(
        Finding::error(
            "comment-read-as-names",
            format!(
                "ld.so reads part of the comments in {file} as objects to preload ({}): glibc's \
                 ld.so ignores a '#' comment only within a window that shrinks by each \
                 comment's offset from the start of the file and by its length",
                extra.join(", ")
            ),
        )
        .with_fix("remove the comment lines, or keep one short comment at the very top"),
    )
}

/// The preload file's names, read without ever blocking on a FIFO.
fn read_preload_file(path: &Path) -> (Vec<Vec<u8>>, String, Option<Finding>) {
    match config_file::load(path) {
        State::Read { contents, .. } => (
            preload::split_file(&contents),
            "read".to_owned(),
            comments_read_as_names(&shown_os(path), &contents),
        ),
        State::Missing => (Vec::new(), "absent".to_owned(), None),
        State::NotRegular(kind) => (Vec::new(), format!("not read: a {kind}"), None),
        State::Unreadable(error) => (Vec::new(), format!("not read: {error}"), None),
    }
}

fn judge_config(config: &ConfigPath, findings: &mut Vec<Finding>) -> ConfigSummary {
    let inspection = check::inspect(config);
    let counts = inspection.counts();
    let summary = ConfigSummary {
        path: inspection.config.clone(),
        source: inspection.config_source,
        state: inspection.state,
        entries: inspection.entries.len(),
        counts,
    };
    for finding in inspection
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
    {
        let mut finding = finding.clone();
        finding.message = format!("config {}: {}", inspection.config, finding.message);
        if finding.code == "config-missing" && config.source == Source::BuiltIn {
            finding.severity = Severity::Note;
            finding.fix = None;
        }
        findings.push(finding);
    }
    if counts.warnings > 0 {
        findings.push(
            Finding::warning(
                "config-warnings",
                format!(
                    "config {} has {}",
                    inspection.config,
                    report::plural(counts.warnings, "warning")
                ),
            )
            .with_fix(format!("see memproxy check {}", inspection.config)),
        );
    }
    summary
}

fn print_text(diagnosis: &Diagnosis) {
    println!(
        "LD_PRELOAD   {}",
        diagnosis.ld_preload.as_deref().unwrap_or("(unset)")
    );
    println!(
        "preload file {}: {}",
        diagnosis.preload_file, diagnosis.preload_file_state
    );
    let abis: Vec<String> = diagnosis
        .abis
        .iter()
        .map(|abi| {
            format!(
                "{}{} ($PLATFORM={})",
                abi.tuple,
                if abi.host { ", this machine's" } else { "" },
                abi.platform.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    println!("programs     {}", abis.join("; "));
    print_objects(&diagnosis.objects);
    print_config(&diagnosis.config);
    probe::print_probe(&diagnosis.probe);
    for finding in &diagnosis.findings {
        report::print_finding("doctor", finding);
    }
    let counts = Counts::of(&diagnosis.findings);
    println!(
        "{}: {}",
        if diagnosis.ok { "ok" } else { "problems" },
        counts.sentence()
    );
}

/// The preload order, one entry a line, as ld.so loads it.
pub fn print_objects(objects: &[Listed]) {
    if objects.is_empty() {
        println!("preload order: empty");
    } else {
        println!("preload order (as ld.so loads it):");
        for object in objects {
            let what = match (object.kind, object.defines_malloc, object.api) {
                ("memproxy", _, _) => "memproxy".to_owned(),
                ("glibc", _, _) => "glibc".to_owned(),
                ("allocator", true, _) => "allocator (defines malloc)".to_owned(),
                ("allocator", false, Some(api)) => format!("allocator ({api})"),
                ("other", true, _) => "defines malloc".to_owned(),
                ("other", false, _) => "no malloc".to_owned(),
                (kind, _, _) => kind.to_owned(),
            };
            let resolved = match &object.path {
                Some(path) if *path != object.name => format!(" -> {path}"),
                _ => String::new(),
            };
            println!(
                "  {}. {:<12} {}{resolved}  [{what}]",
                object.position,
                object.source.label(),
                object.name
            );
            for abi in &object.abis {
                let place = abi.path.as_ref().or(abi.expanded.as_ref());
                println!(
                    "       for {}: {}[{}]",
                    abi.tuple,
                    place.map(|place| format!("{place} ")).unwrap_or_default(),
                    abi.state
                );
            }
        }
    }
}

/// The config line of the report.
pub fn print_config(config: &ConfigSummary) {
    if config.state == "read" {
        println!(
            "config       {} ({}): {}, {}",
            config.path,
            config.source.describe(),
            report::plural(config.entries, "entry"),
            config.counts.sentence()
        );
    } else {
        println!(
            "config       {} ({}): {}, nothing is excluded",
            config.path,
            config.source.describe(),
            config.state
        );
    }
}
