//! Running a program under the set-up with `MEMPROXY_DEBUG=1`, and reading
//! what the library and ld.so printed: the evidence behind the static
//! checks.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::debug_line::{self, DebugLine};
use crate::report::{Finding, Severity};
use crate::shown::shown_os;
use crate::spawn;

/// A probe that has not finished by then is taken to hang.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What running the probe showed.
#[derive(Debug, Default, Serialize)]
pub(super) struct Probe {
    /// The probe's argv.
    command: Vec<String>,
    /// LD_PRELOAD as the probe got it.
    ld_preload: Option<String>,
    /// The preload file's entries were appended to LD_PRELOAD, since ld.so
    /// reads only /etc/ld.so.preload.
    preload_file_emulated: bool,
    ran: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<i32>,
    timed_out: bool,
    /// The library's decision line, if it printed one.
    decision: Option<DebugLine>,
    /// What ld.so printed about the preload entries.
    loader_messages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs the probe with `MEMPROXY_DEBUG=1`, under `LD_PRELOAD` as inherited
/// unless `ld_preload` (inherited entries plus an emulated preload file)
/// replaces it.
pub(super) fn run_probe(argv: &[String], ld_preload: Option<&OsStr>) -> Probe {
    let mut probe = Probe {
        command: argv.to_vec(),
        preload_file_emulated: ld_preload.is_some(),
        ld_preload: ld_preload
            .map(OsStr::to_owned)
            .or_else(|| std::env::var_os("LD_PRELOAD"))
            .map(|value| shown_os(&value)),
        ..Probe::default()
    };
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).env("MEMPROXY_DEBUG", "1");
    if let Some(value) = ld_preload {
        command.env("LD_PRELOAD", value);
    }
    let finished = match spawn::run_to_end(command, PROBE_TIMEOUT) {
        Ok(finished) => finished,
        Err(error) => {
            probe.error = Some(format!("cannot run {}: {error}", argv[0]));
            return probe;
        }
    };
    probe.ran = true;
    probe.timed_out = finished.timed_out;
    probe.exit_code = finished.exit_code;
    probe.signal = finished.signal;
    let output = finished.stderr;
    let text = String::from_utf8_lossy(&output);
    let decisions: Vec<DebugLine> = text.lines().filter_map(debug_line::parse).collect();
    probe.decision = decisions
        .iter()
        .find(|decision| Some(decision.pid) == finished.pid)
        .or(decisions.first())
        .cloned();
    probe.loader_messages = text
        .lines()
        .filter(|line| line.contains("ld.so:"))
        .map(str::to_owned)
        .collect();
    probe
}

/// Findings from what the probe showed, skipping what the static checks
/// already reported.
pub(super) fn judge_probe(probe: &Probe, findings: &mut Vec<Finding>) {
    let reported: BTreeSet<&'static str> = findings.iter().map(|finding| finding.code).collect();
    let static_errors = findings
        .iter()
        .any(|finding| finding.severity == Severity::Error);
    let command = probe.command.join(" ");
    if let Some(error) = &probe.error {
        findings.push(
            Finding::error("probe-failed", error.clone())
                .with_fix("name a runnable probe with --probe CMD"),
        );
        return;
    }
    if probe.timed_out {
        findings.push(
            Finding::error(
                "probe-hung",
                format!(
                    "the probe `{command}` did not finish within {} s under this set-up",
                    PROBE_TIMEOUT.as_secs()
                ),
            )
            .with_fix(
                "run the probe by hand under this LD_PRELOAD, and remove preload entries until \
                 it finishes",
            ),
        );
    }
    if let Some(signal) = probe.signal.filter(|_| !probe.timed_out) {
        findings.push(
            Finding::error(
                "probe-crashed",
                format!("the probe `{command}` was killed by signal {signal} under this set-up"),
            )
            .with_fix(
                "try the allocator alone with `memproxy run --allocator PATH -- CMD`, and \
                 remove entries until the probe passes",
            ),
        );
    }
    if let Some(code) = probe.exit_code.filter(|&code| code != 0) {
        findings.push(
            Finding::warning(
                "probe-failed",
                format!("the probe `{command}` exited with status {code}"),
            )
            .with_fix("check that the probe succeeds without LD_PRELOAD, or choose another"),
        );
    }
    if !static_errors && !probe.loader_messages.is_empty() {
        for message in &probe.loader_messages {
            findings.push(
                Finding::error("loader-error", message.clone())
                    .with_fix("correct or remove the preload entry ld.so names"),
            );
        }
    }
    let Some(decision) = &probe.decision else {
        let already_explained = reported.contains("memproxy-not-preloaded");
        if probe.signal.is_none() && !probe.timed_out && !already_explained {
            findings.push(
                Finding::error(
                    "probe-not-loaded",
                    format!(
                        "the probe `{command}` printed no memproxy line: libmemproxy.so is not \
                         loaded into it"
                    ),
                )
                .with_fix(if static_errors {
                    "fix the problems above".to_owned()
                } else {
                    "preload libmemproxy.so (LD_PRELOAD or /etc/ld.so.preload); a setuid probe \
                     ignores LD_PRELOAD paths"
                        .to_owned()
                }),
            );
        }
        return;
    };
    match decision.field("reason").unwrap_or("") {
        "not-first" if !reported.contains("before-memproxy") => findings.push(
            Finding::error(
                "probe-not-first",
                format!(
                    "in the probe, {} defines malloc before memproxy and serves every program",
                    decision.field("first").unwrap_or("another object")
                ),
            )
            .with_fix("put libmemproxy.so first in the preload order"),
        ),
        "no-custom-allocator" if !reported.contains("no-allocator") => findings.push(
            Finding::error(
                "probe-no-allocator",
                "in the probe, no custom allocator follows memproxy: every program gets glibc's \
                 malloc",
            )
            .with_fix("preload an allocator after libmemproxy.so"),
        ),
        "allocator-unusable" => findings.push(
            Finding::error(
                "allocator-unusable",
                format!(
                    "the allocator {} lacks free, realloc or aligned allocation: glibc serves \
                     every program",
                    decision.field("unusable").unwrap_or("?")
                ),
            )
            .with_fix("preload a complete allocator (jemalloc, mimalloc, tcmalloc)"),
        ),
        "excluded" => findings.push(Finding::note(
            "probe-excluded",
            format!(
                "the probe `{command}` is excluded by the config (line {}, by its {}): choose \
                 another with --probe to see the custom route",
                decision.field("match").unwrap_or("?"),
                decision.field("source").unwrap_or("name")
            ),
        )),
        _ => {}
    }
    let first_copy = decision
        .field("duplicate-of")
        .filter(|_| !reported.contains("memproxy-twice"));
    if let Some(first_copy) = first_copy {
        findings.push(
            Finding::warning(
                "memproxy-twice",
                format!("another copy of memproxy, {first_copy}, is loaded first and decides"),
            )
            .with_fix("preload one copy of libmemproxy.so only"),
        );
    }
}

/// The probe section of the text report.
pub(super) fn print_probe(probe: &Probe) {
    let command = probe.command.join(" ");
    match &probe.decision {
        Some(decision) => {
            println!(
                "probe        {command}: route={} reason={}",
                decision.field("route").unwrap_or("?"),
                decision.field("reason").unwrap_or("?")
            );
            println!("  {}", decision.line);
        }
        None if probe.ran => println!("probe        {command}: no memproxy line"),
        None => println!("probe        {command}: did not run"),
    }
    for message in &probe.loader_messages {
        println!("  {message}");
    }
    if probe.preload_file_emulated {
        println!("  (the preload file's entries were appended to LD_PRELOAD for the probe)");
    }
}
