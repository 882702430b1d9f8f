//! `harness contracts`: which parts of the C and C++ allocation contract each
//! allocator's own functions keep, measured, against what memproxy's table
//! says ([`memproxy_common::contracts::PROVEN`]).
//!
//! memproxy routes `calloc`, `posix_memalign`, the `operator new`s and the
//! sized `operator delete`s straight to an allocator's own functions only
//! where the table says they keep the contract, and checks arguments and
//! handles failure itself everywhere else. A wrong entry either breaks
//! programs (a claim the allocator does not keep) or costs a check for
//! nothing (a kept contract left unclaimed), so the table must say exactly
//! what is measured here, for the object's `DT_SONAME`:
//!
//! - *measured kept*: with the allocator preloaded alone (no memproxy; glibc
//!   is no preload at all), every one of the contract's
//!   [`Contract::checks`] of `fixtures/c/semantics.cpp`, each in a process of
//!   its own, prints `ok:true` and exits 0; a crash, an abort or a hang is a
//!   failure;
//! - *applicable*: the object defines every one of the contract's
//!   [`Contract::functions`] (their ILP32 names in a 32-bit object). memproxy
//!   cannot route to a function the object lacks, and a check that passes
//!   without it measured libstdc++'s or glibc's function instead.
//!
//! Among the applicable contracts, the table must claim exactly the kept
//! ones. A claim for a contract that is not applicable is not used, and not
//! a mismatch: the table names an object by soname on every architecture,
//! and the library routes only to functions the object defines (mimalloc
//! 3.0.1's i386 build has its sized deletes under the 64-bit names only; see
//! docs/findings.md). An allocator added by path whose soname the table does
//! not name is reported, not judged: memproxy keeps its own checks for it.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use memproxy_common::contracts::{self, Contract};
use serde::Serialize;
use test_support::{Process, Ran};

use crate::allocators::{Allocator, SharedObject};
use crate::run::{LIBC, TUNABLES};

/// Where the table is, for the messages that say what to change.
pub const TABLE: &str = "memproxy/common/src/contracts.rs";

/// How long one check may take (under qemu-user too); a hang is a failure.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// The functions of `contract` that `object` does not define, by their
/// names in its class (ILP32 in a 32-bit object).
pub fn missing(object: &SharedObject, contract: Contract) -> Vec<&'static str> {
    contract
        .functions()
        .iter()
        .map(|&(lp64, ilp32)| if object.ilp32 { ilp32 } else { lp64 })
        .filter(|name| !object.defines(name))
        .collect()
}

/// Whether a contract's checks passed under the allocator alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Measured {
    Kept,
    /// The first check that failed, and how.
    NotKept {
        check: String,
        why: String,
    },
}

/// One contract, for one allocator.
#[derive(Clone, Debug, Serialize)]
pub struct ContractResult {
    #[serde(rename = "contract", serialize_with = "contract_name")]
    pub which: Contract,
    /// Whether [`contracts::PROVEN`] says the object keeps it.
    pub claimed: bool,
    /// Its functions the object does not define; none: applicable.
    pub missing: Vec<&'static str>,
    pub measured: Measured,
}

fn contract_name<S: serde::Serializer>(contract: &Contract, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(contract.name())
}

impl ContractResult {
    pub fn applicable(&self) -> bool {
        self.missing.is_empty()
    }

    /// Kept and applicable: what the table must claim.
    pub fn holds(&self) -> bool {
        self.applicable() && self.measured == Measured::Kept
    }

    /// Applicable, and the table says otherwise than what was measured.
    pub fn mismatched(&self) -> bool {
        self.applicable() && self.claimed != self.holds()
    }
}

/// One allocator, its contracts, and where the table disagrees.
#[derive(Clone, Debug, Serialize)]
pub struct Judged {
    pub allocator: String,
    pub object: PathBuf,
    pub soname: Option<String>,
    /// Added by path rather than built in.
    pub added: bool,
    /// Whether [`contracts::PROVEN`] names the soname.
    pub in_table: bool,
    pub contracts: Vec<ContractResult>,
    /// What to change in the table, one line per contract it gets wrong.
    pub mismatches: Vec<String>,
}

impl Judged {
    /// Puts the table's claims for `elf`'s soname beside `measured` (one
    /// per [`Contract::ALL`], in order) and works out the mismatches.
    pub fn new(
        allocator: &str,
        object: &Path,
        added: bool,
        elf: &SharedObject,
        measured: Vec<Measured>,
    ) -> Judged {
        assert_eq!(measured.len(), Contract::ALL.len(), "one per contract");
        let soname = elf.soname.clone();
        let name = soname.as_deref().unwrap_or_default();
        let claimed = contracts::kept_by(name.as_bytes());
        let contracts: Vec<ContractResult> = Contract::ALL
            .into_iter()
            .zip(measured)
            .map(|(which, measured)| ContractResult {
                which,
                claimed: claimed.contains(which),
                missing: missing(elf, which),
                measured,
            })
            .collect();
        let in_table = soname
            .as_deref()
            .is_some_and(|soname| contracts::PROVEN.iter().any(|p| p.soname == soname));
        let mut judged = Judged {
            allocator: allocator.to_owned(),
            object: object.to_owned(),
            soname,
            added,
            in_table,
            contracts,
            mismatches: Vec::new(),
        };
        judged.mismatches = judged.find_mismatches();
        judged
    }

    /// Not judged: added by path, and its soname is not in the table.
    pub fn unjudged(&self) -> bool {
        self.added && !self.in_table
    }

    fn find_mismatches(&self) -> Vec<String> {
        if self.unjudged() {
            return Vec::new();
        }
        let soname = self.soname.as_deref().unwrap_or("(no DT_SONAME)");
        let mut found = Vec::new();
        for result in &self.contracts {
            let (name, variant) = (result.which.name(), format!("{:?}", result.which));
            let claim = format!("PROVEN claims {name} for {soname}");
            let remove = format!("remove {variant} from its entry in {TABLE}");
            if !result.applicable() {
                continue;
            }
            if let (true, Measured::NotKept { check, why }) = (result.claimed, &result.measured) {
                found.push(format!("{claim} but {check} fails: {why}: {remove}"));
            } else if !result.claimed && result.holds() {
                let fix = match (&self.soname, self.in_table) {
                    (None, _) => "memproxy knows an object by its soname: give it one".to_owned(),
                    (Some(_), true) => format!("add {variant} to its entry in {TABLE}"),
                    (Some(_), false) => format!("add an entry for {soname} to PROVEN in {TABLE}"),
                };
                found.push(format!(
                    "{soname} keeps {name} but PROVEN does not say so: {fix}"
                ));
            }
        }
        found
    }

    /// The contracts its own functions keep (applicable ones only).
    pub fn kept(&self) -> Vec<&'static str> {
        self.contracts
            .iter()
            .filter(|result| result.holds())
            .map(|result| result.which.name())
            .collect()
    }
}

/// Measures and judges every allocator in turn, running `semantics` (the
/// fixture) once per check.
pub fn judge_all(semantics: &Path, allocators: &[Allocator]) -> Result<Vec<Judged>, String> {
    allocators
        .iter()
        .map(|allocator| judge(semantics, allocator))
        .collect()
}

/// Measures and judges one allocator; glibc's object is the `libc.so.6` the
/// fixture loads.
pub fn judge(semantics: &Path, allocator: &Allocator) -> Result<Judged, String> {
    let preload = allocator.path.as_deref();
    let object = preload.unwrap_or(Path::new(LIBC));
    let facts = SharedObject::read(object)?;
    let measured = Contract::ALL
        .into_iter()
        .map(|contract| measure(semantics, preload, contract))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{}: {error}", allocator.name))?;
    Ok(Judged::new(
        &allocator.name,
        object,
        allocator.added,
        &facts,
        measured,
    ))
}

/// Runs each of `contract`'s checks in its own process, `preload` alone
/// preloaded; the first that fails says why the contract is not kept.
pub fn measure(
    semantics: &Path,
    preload: Option<&Path>,
    contract: Contract,
) -> Result<Measured, String> {
    for check in contract.checks() {
        let ran = Process::new(semantics)
            .arg(check)
            .preload(preload)
            .env("GLIBC_TUNABLES", TUNABLES)
            .timeout(CHECK_TIMEOUT)
            .no_core_files()
            .try_run()
            .map_err(|error| error.to_string())?;
        if let Some(error) = not_preloaded(&ran) {
            return Err(error);
        }
        if let Some(why) = verdict(check, &ran.stdout, &ran.stderr, ran.status, ran.timed_out) {
            return Ok(Measured::NotKept {
                check: (*check).to_owned(),
                why,
            });
        }
    }
    Ok(Measured::Kept)
}

/// Why a run measured the wrong thing: ld.so carries on without an object
/// it cannot preload, and the checks would measure glibc and libstdc++
/// instead.
pub fn not_preloaded(ran: &Ran) -> Option<String> {
    ran.stderr.contains("cannot be preloaded").then(|| {
        format!(
            "the allocator was not preloaded: {}\n  reproduce: {}",
            ran.stderr.trim(),
            ran.command
        )
    })
}

/// Why `check`'s run failed: its own `ok:false` detail, or how the process
/// ended; `None` when it printed `ok:true` and exited 0.
pub fn verdict(
    check: &str,
    stdout: &str,
    stderr: &str,
    status: Option<ExitStatus>,
    timed_out: bool,
) -> Option<String> {
    let line = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["check"] == check);
    let ok = line.as_ref().is_some_and(|line| line["ok"] == true);
    let exited_zero = !timed_out && status.is_some_and(|status| status.success());
    if ok && exited_zero {
        return None;
    }
    let mut why = Vec::new();
    if let Some(line) = line.as_ref().filter(|_| !ok) {
        why.push(line["detail"].as_str().unwrap_or_default().to_owned());
    }
    if timed_out {
        why.push(format!("timed out after {} s", CHECK_TIMEOUT.as_secs()));
    } else if let Some(signal) = status.and_then(|status| status.signal()) {
        why.push(format!(
            "killed by signal {signal} ({})",
            signal_name(signal)
        ));
    } else if let Some(code) = status.and_then(|status| status.code()).filter(|&c| c != 0) {
        if line.is_none() {
            why.push(format!("exited with status {code}"));
        }
    } else if status.is_none() {
        why.push("could not be waited for".to_owned());
    }
    if line.is_none() {
        why.push("printed no result".to_owned());
    }
    if let Some(first) = stderr.lines().map(str::trim).find(|line| !line.is_empty()) {
        let first: String = first.chars().take(120).collect();
        why.push(format!("stderr {first:?}"));
    }
    Some(why.join("; "))
}

pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        _ => "see kill -l",
    }
}

/// The table, the reasons behind it, and the mismatches, as text.
pub fn text(judged: &[Judged]) -> String {
    let mut rows = vec![
        ["allocator", "soname"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                Contract::ALL
                    .iter()
                    .map(|contract| contract.name().to_owned()),
            )
            .collect::<Vec<String>>(),
    ];
    for one in judged {
        let mut row = vec![
            one.allocator.clone(),
            one.soname.clone().unwrap_or_else(|| "(none)".into()),
        ];
        for result in &one.contracts {
            let state = if !result.applicable() {
                "n/a"
            } else if result.measured == Measured::Kept {
                "kept"
            } else {
                "not kept"
            };
            let wrong = !one.unjudged() && result.mismatched();
            row.push(format!("{state}{}", if wrong { " *" } else { "" }));
        }
        rows.push(row);
    }
    let mut out = crate::compare::aligned(&rows);
    out.push_str(
        "(kept: every check passed with the allocator alone; n/a: the object lacks a function \
         memproxy would route to; *: PROVEN says otherwise)\n",
    );
    let mut not_kept = String::new();
    let mut not_applicable = String::new();
    for one in judged {
        for result in &one.contracts {
            let name = result.which.name();
            if !result.applicable() {
                let _ = writeln!(
                    not_applicable,
                    "  {} {name}: does not define {}{}",
                    one.allocator,
                    result.missing.join(", "),
                    if result.claimed {
                        " (PROVEN's claim is not used here: memproxy keeps its own)"
                    } else {
                        ""
                    }
                );
            } else if let Measured::NotKept { check, why } = &result.measured {
                let _ = writeln!(not_kept, "  {} {name}: {check}: {why}", one.allocator);
            }
        }
    }
    for (title, lines) in [("not kept", not_kept), ("not applicable", not_applicable)] {
        if !lines.is_empty() {
            let _ = write!(out, "{title}:\n{lines}");
        }
    }
    for one in judged.iter().filter(|one| one.unjudged()) {
        let kept = one.kept();
        let _ = writeln!(
            out,
            "{} ({}) is not in PROVEN: memproxy keeps its own checks for it; its own functions keep {}",
            one.allocator,
            one.soname.as_deref().unwrap_or("no DT_SONAME"),
            if kept.is_empty() {
                "none of the contracts".to_owned()
            } else {
                kept.join(", ")
            }
        );
    }
    let mismatches: Vec<String> = judged
        .iter()
        .flat_map(|one| {
            one.mismatches
                .iter()
                .map(move |mismatch| format!("MISMATCH {}: {mismatch}", one.allocator))
        })
        .collect();
    if mismatches.is_empty() {
        let _ = writeln!(
            out,
            "PROVEN ({TABLE}) says exactly what every allocator keeps"
        );
    } else {
        for mismatch in mismatches {
            let _ = writeln!(out, "{mismatch}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions_of(contracts: &[Contract], ilp32: bool) -> Vec<&'static str> {
        contracts
            .iter()
            .flat_map(|contract| contract.functions())
            .map(|&(lp64, ilp32_name)| if ilp32 { ilp32_name } else { lp64 })
            .collect()
    }

    /// An LP64 object named `soname` that defines the functions of
    /// `defining`, and whose checks all pass but the first of each `broken`.
    fn judged(soname: &str, added: bool, defining: &[Contract], broken: &[Contract]) -> Judged {
        let object = SharedObject::synthetic(Some(soname), false, &functions_of(defining, false));
        let measured = Contract::ALL
            .into_iter()
            .map(|contract| match broken.contains(&contract) {
                true => Measured::NotKept {
                    check: contract.checks()[0].to_owned(),
                    why: "result (nil) errno 0".to_owned(),
                },
                false => Measured::Kept,
            })
            .collect();
        Judged::new("test", Path::new("/lib/test.so"), added, &object, measured)
    }

    /// As [`judged`], defining every function.
    fn complete(soname: &str, added: bool, broken: &[Contract]) -> Judged {
        judged(soname, added, &Contract::ALL, broken)
    }

    #[test]
    fn what_the_table_claims_and_is_measured_is_no_mismatch() {
        let jemalloc = complete("libjemalloc.so.2", false, &[]);
        assert_eq!(jemalloc.mismatches, Vec::<String>::new());
        let tcmalloc = complete("libtcmalloc_minimal.so.4", false, &[Contract::Calloc]);
        assert_eq!(tcmalloc.mismatches, Vec::<String>::new());
    }

    #[test]
    fn a_claim_that_a_check_breaks_is_a_mismatch_naming_the_check() {
        let jemalloc = complete("libjemalloc.so.2", false, &[Contract::ThrowingNew]);
        assert_eq!(
            jemalloc.mismatches,
            [format!(
                "PROVEN claims new for libjemalloc.so.2 but new_runs_the_handler_then_throws \
                 fails: result (nil) errno 0: remove ThrowingNew from its entry in {TABLE}"
            )]
        );
    }

    #[test]
    fn a_claim_for_a_function_the_object_lacks_is_not_used_and_no_mismatch() {
        // Every check passes (libstdc++'s operators answer them), but the
        // object has no sized delete of its own: the library routes only to
        // functions the object defines, so the claim costs nothing.
        let defining = [
            Contract::Calloc,
            Contract::PosixMemalign,
            Contract::ThrowingNew,
            Contract::NothrowNew,
        ];
        let jemalloc = judged("libjemalloc.so.2", false, &defining, &[]);
        assert_eq!(jemalloc.mismatches, Vec::<String>::new());
        let sized = jemalloc
            .contracts
            .iter()
            .find(|result| result.which == Contract::SizedDelete)
            .expect("every contract is judged");
        assert!(sized.claimed && !sized.applicable() && !sized.mismatched());
        assert!(text(&[jemalloc]).contains("PROVEN's claim is not used here"));
    }

    #[test]
    fn a_kept_contract_the_table_leaves_out_is_a_mismatch() {
        let tcmalloc = complete("libtcmalloc.so.4", false, &[]);
        assert_eq!(
            tcmalloc.mismatches,
            [format!(
                "libtcmalloc.so.4 keeps calloc but PROVEN does not say so: add Calloc to its \
                 entry in {TABLE}"
            )]
        );
    }

    #[test]
    fn a_built_in_allocator_the_table_does_not_name_must_be_added() {
        let unknown = judged("libmimalloc.so.4", false, &[Contract::Calloc], &[]);
        assert_eq!(
            unknown.mismatches,
            [format!(
                "libmimalloc.so.4 keeps calloc but PROVEN does not say so: add an entry for \
                 libmimalloc.so.4 to PROVEN in {TABLE}"
            )]
        );
    }

    #[test]
    fn an_added_allocator_the_table_does_not_name_is_reported_not_judged() {
        let added = complete("libtbbmalloc_proxy.so.2", true, &[Contract::Calloc]);
        assert!(added.unjudged());
        assert_eq!(added.mismatches, Vec::<String>::new());
        let text = text(std::slice::from_ref(&added));
        assert!(
            text.contains(
                "test (libtbbmalloc_proxy.so.2) is not in PROVEN: memproxy keeps its own checks \
                 for it; its own functions keep posix_memalign, new, nothrow_new, sized_delete"
            ),
            "{text}"
        );
        assert!(!text.lines().take(2).any(|row| row.contains('*')), "{text}");
        // Added by path but named in the table: judged like any other.
        let full = complete("libtcmalloc.so.4", true, &[]);
        assert_eq!(full.mismatches.len(), 1, "{:?}", full.mismatches);
    }

    #[test]
    fn a_contract_neither_applicable_nor_claimed_is_no_mismatch() {
        // glibc: calloc and posix_memalign, no C++ operators; libstdc++'s
        // pass the checks, which says nothing of glibc's own.
        let defining = [Contract::Calloc, Contract::PosixMemalign];
        let glibc = judged("libc.so.6", false, &defining, &[]);
        assert_eq!(glibc.mismatches, Vec::<String>::new());
        let table = text(std::slice::from_ref(&glibc));
        assert_eq!(
            crate::compare::first_row(&table),
            ["test", "libc.so.6", "kept", "kept", "n/a", "n/a", "n/a"],
            "{table}"
        );
        assert!(table.contains("says exactly what"), "{table}");
    }

    #[test]
    fn a_32_bit_object_is_read_by_its_ilp32_names() {
        let lp64_names = functions_of(&Contract::ALL, false);
        let with_lp64_names = SharedObject::synthetic(None, true, &lp64_names);
        assert_eq!(missing(&with_lp64_names, Contract::ThrowingNew).len(), 4);
        assert_eq!(
            missing(&with_lp64_names, Contract::Calloc),
            Vec::<&str>::new()
        );
        let ilp32_names = functions_of(&Contract::ALL, true);
        let with_ilp32_names = SharedObject::synthetic(None, true, &ilp32_names);
        for contract in Contract::ALL {
            assert_eq!(missing(&with_ilp32_names, contract), Vec::<&str>::new());
        }
    }

    #[test]
    fn a_mismatch_is_marked_in_the_table() {
        let jemalloc = complete("libjemalloc.so.2", false, &[Contract::Calloc]);
        let table = text(std::slice::from_ref(&jemalloc));
        assert!(table.contains("not kept *"), "{table}");
        assert!(
            table.contains("MISMATCH test: PROVEN claims calloc"),
            "{table}"
        );
        assert!(
            table.contains("test calloc: calloc_overflow_fails_with_enomem: result (nil) errno 0"),
            "{table}"
        );
    }

    #[test]
    fn a_check_passes_only_with_its_ok_line_and_exit_zero() {
        let check = "new_runs_the_handler_then_throws";
        let ok = format!("{{\"check\":\"{check}\",\"ok\":true,\"detail\":\"\"}}\n");
        let exited = |code: i32| Some(ExitStatus::from_raw(code << 8));
        assert_eq!(verdict(check, &ok, "", exited(0), false), None);
        assert_eq!(
            verdict(check, &ok, "", exited(0), true).as_deref(),
            Some("timed out after 60 s")
        );
        assert_eq!(
            verdict(
                check,
                "",
                "mimalloc: error: out of memory\n",
                Some(ExitStatus::from_raw(6)),
                false
            )
            .as_deref(),
            Some(
                "killed by signal 6 (SIGABRT); printed no result; \
                 stderr \"mimalloc: error: out of memory\""
            )
        );
        let failed = format!("{{\"check\":\"{check}\",\"ok\":false,\"detail\":\"threw 0\"}}\n");
        assert_eq!(
            verdict(check, &failed, "", exited(1), false).as_deref(),
            Some("threw 0")
        );
        let other = "{\"check\":\"other\",\"ok\":true,\"detail\":\"\"}\n";
        assert_eq!(
            verdict(check, other, "", exited(0), false).as_deref(),
            Some("printed no result")
        );
        assert_eq!(
            verdict(check, "", "", exited(2), false).as_deref(),
            Some("exited with status 2; printed no result")
        );
    }
}
