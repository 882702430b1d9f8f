//! `harness contracts`' second table: the contract as memproxy keeps it.
//!
//! [`crate::contracts`] measures each allocator's own functions preloaded
//! alone; memproxy then routes a contract straight to them only where its
//! table says they keep it, and checks the rest itself. What a program gets
//! is what is measured here: every check of `fixtures/c/semantics.cpp`, with
//! memproxy preloaded first and the allocator after it, on each [`Route`]:
//! the program not excluded (the allocator serves it) and excluded by a
//! config naming the fixture (glibc serves it), each with `libc.so.6` listed
//! between them or not. One process per route runs every check; a check
//! that ends the process early (an abort, a crash, a hang) leaves the later
//! ones without a result, and each of those then runs in a process of its
//! own, so every check has a verdict ([`crate::contracts::verdict`]).
//!
//! The process runs with `MEMPROXY_DEBUG=1`: its decision line says which
//! route memproxy took and which contracts went straight to the route's own
//! functions (`straight=`), shown beside the verdicts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use memproxy_common::debug_line::key;
use serde::Serialize;
use test_support::{Process, Ran, path_str, scratch};

use crate::allocators::Allocator;
use crate::contracts::{CHECK_TIMEOUT, not_preloaded, signal_name, verdict};
use crate::run::{LIBC, TUNABLES};

/// The fixture's file name, which an excluding config names.
pub const FIXTURE: &str = "semantics";

/// How a program reaches its allocator through memproxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The config names the program: glibc serves it.
    pub excluded: bool,
    /// `libc.so.6` is listed in the preload between memproxy and the
    /// allocator (as the seed README's set-up had it).
    pub libc_listed: bool,
}

impl Route {
    pub const ALL: [Route; 4] = [
        Route {
            excluded: false,
            libc_listed: false,
        },
        Route {
            excluded: true,
            libc_listed: false,
        },
        Route {
            excluded: false,
            libc_listed: true,
        },
        Route {
            excluded: true,
            libc_listed: true,
        },
    ];

    /// The route memproxy's decision line must name.
    fn expected_decision(self, allocator: &Allocator) -> &'static str {
        if self.excluded || allocator.path.is_none() {
            "glibc"
        } else {
            "custom"
        }
    }
}

/// The fixture and the checks it makes, from its `--list`.
#[derive(Clone, Debug)]
pub struct Semantics {
    pub path: PathBuf,
    pub checks: Vec<String>,
}

impl Semantics {
    pub fn list(path: &Path) -> Result<Semantics, String> {
        let listed = Process::new(path)
            .arg("--list")
            .timeout(CHECK_TIMEOUT)
            .try_run()
            .map_err(|error| error.to_string())?;
        let checks: Vec<String> = listed.stdout.lines().map(str::to_owned).collect();
        if !listed.succeeded() || checks.is_empty() {
            return Err(format!(
                "{} --list names no check: {}",
                path.display(),
                listed.describe()
            ));
        }
        Ok(Semantics {
            path: path.to_owned(),
            checks,
        })
    }
}

/// A check that failed, or (`check: None`) the run as a whole: an exit
/// status, a decision line or stderr output that the checks' lines do not
/// account for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub check: Option<String>,
    pub why: String,
}

/// Every check, through memproxy, for one allocator on one route.
#[derive(Clone, Debug, Serialize)]
pub struct RouteResult {
    pub allocator: String,
    pub route: Route,
    /// What memproxy's decision line says: `route=`, and the contracts that
    /// went straight to the route's own functions (`straight=`).
    pub decision: Option<String>,
    pub straight: Option<String>,
    pub checks: usize,
    pub failures: Vec<Failure>,
    /// Runs every check again the same way (its config is kept on disk
    /// when a check failed).
    pub reproduce: String,
}

impl RouteResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Every route for every allocator, in order.
pub fn run_all(
    semantics: &Semantics,
    memproxy: &Path,
    allocators: &[Allocator],
) -> Result<Vec<RouteResult>, String> {
    allocators
        .iter()
        .flat_map(|allocator| Route::ALL.map(|route| (allocator, route)))
        .map(|(allocator, route)| run(semantics, memproxy, allocator, route))
        .collect()
}

/// Runs every check through memproxy for `allocator` on `route`; `Err` only
/// when the run could not be set up (a set-up error, not a verdict).
pub fn run(
    semantics: &Semantics,
    memproxy: &Path,
    allocator: &Allocator,
    route: Route,
) -> Result<RouteResult, String> {
    let setup = |error: String| format!("{} through memproxy: {error}", allocator.name);
    let dir = scratch::directory("through-memproxy-")
        .map_err(|error| setup(format!("temporary directory: {error}")))?;
    let config = dir.path().join("memproxy.conf");
    let excluding = if route.excluded {
        format!("{FIXTURE}\n")
    } else {
        String::new()
    };
    std::fs::write(&config, excluding)
        .map_err(|error| setup(format!("{}: {error}", config.display())))?;
    let mut preload = vec![path_str(memproxy)];
    if route.libc_listed {
        preload.push(LIBC.to_owned());
    }
    preload.extend(allocator.path.as_deref().map(path_str));
    let start = |checks: &[String]| {
        Process::new(&semantics.path)
            .args(checks)
            .preload(&preload)
            .config(&config)
            .debug(true)
            .env("GLIBC_TUNABLES", TUNABLES)
            .timeout(CHECK_TIMEOUT)
            .no_core_files()
            .try_run()
            .map_err(|error| setup(error.to_string()))
            .and_then(|ran| match not_preloaded(&ran) {
                Some(error) => Err(setup(error)),
                None => Ok(ran),
            })
    };

    let all = start(&[])?;
    let lines = all.debug_lines();
    let decision = lines.first().map(|line| line.route().to_owned());
    let straight = lines
        .first()
        .and_then(|line| line.get(key::STRAIGHT))
        .map(str::to_owned);
    let mut failures = Vec::new();
    let whole = |why: String| Failure { check: None, why };
    match (lines.len(), decision.as_deref()) {
        (0, _) => failures.push(whole("memproxy printed no decision line".to_owned())),
        (1, Some(decided)) if decided == route.expected_decision(allocator) => {}
        (1, decided) => failures.push(whole(format!(
            "memproxy routed to {decided:?}, not to {}",
            route.expected_decision(allocator)
        ))),
        (many, _) => failures.push(whole(format!("memproxy printed {many} decision lines"))),
    }
    let mut unreported = Vec::new();
    for check in &semantics.checks {
        let printed = all
            .stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .any(|line| line["check"] == check.as_str());
        if !printed {
            unreported.push(check.clone());
        } else if let Some(why) = verdict(check, &all.stdout, "", Some(success()), false) {
            failures.push(Failure {
                check: Some(check.clone()),
                why,
            });
        }
    }
    let some_check_failed = !failures.is_empty();
    if unreported.is_empty() {
        if let Some(why) = ended_badly(&all, some_check_failed) {
            failures.push(whole(why));
        }
    } else {
        failures.push(whole(format!(
            "stopped before {} of {} checks, each run alone below: {}",
            unreported.len(),
            semantics.checks.len(),
            ended_badly(&all, some_check_failed).unwrap_or_else(|| "exited 0".to_owned())
        )));
        for check in unreported {
            let alone = start(std::slice::from_ref(&check))?;
            let stderr = alone.stderr_without_debug();
            if let Some(why) = verdict(
                &check,
                &alone.stdout,
                &stderr,
                alone.status,
                alone.timed_out,
            ) {
                failures.push(Failure {
                    check: Some(check),
                    why,
                });
            }
        }
    }
    let reproduce = all.command.clone();
    if !failures.is_empty() {
        scratch::keep(dir);
    }
    Ok(RouteResult {
        allocator: allocator.name.clone(),
        route,
        decision,
        straight,
        checks: semantics.checks.len(),
        failures,
        reproduce,
    })
}

/// An exit status of 0, for judging a check by its line alone.
fn success() -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(0)
}

/// How a run of every check ended, when that is not what its lines account
/// for: exit 0 (1 when `some_check_failed`), nothing on stderr but
/// memproxy's decision line.
fn ended_badly(ran: &Ran, some_check_failed: bool) -> Option<String> {
    let stderr = ran.stderr_without_debug();
    let expected = i32::from(some_check_failed);
    let mut why = Vec::new();
    if ran.timed_out {
        why.push(format!("timed out after {} s", CHECK_TIMEOUT.as_secs()));
    } else if let Some(signal) = ran.signal() {
        why.push(format!(
            "killed by signal {signal} ({})",
            signal_name(signal)
        ));
    } else {
        match ran.status.and_then(|status| status.code()) {
            Some(code) if code == expected => {}
            Some(code) => why.push(format!("exited with status {code}")),
            None => why.push("could not be waited for".to_owned()),
        }
    }
    if let Some(last) = ran.stdout.lines().last() {
        if !why.is_empty() {
            why.push(format!("last line {last:?}"));
        }
    }
    if !stderr.trim().is_empty() {
        let first: String = stderr.trim().chars().take(200).collect();
        why.push(format!("stderr {first:?}"));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// The table (one row per allocator and route) and every failure, as text.
pub fn text(results: &[RouteResult]) -> String {
    let mut rows = vec![
        [
            "allocator",
            "excluded",
            "libc listed",
            "route",
            "straight",
            "checks",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_owned();
    for result in results {
        let failed_checks = result
            .failures
            .iter()
            .filter(|failure| failure.check.is_some())
            .count();
        let mut verdict = format!(
            "{}/{} pass",
            result.checks - failed_checks.min(result.checks),
            result.checks
        );
        if !result.passed() {
            verdict.push_str(" *");
        }
        rows.push(vec![
            result.allocator.clone(),
            yes_no(result.route.excluded),
            yes_no(result.route.libc_listed),
            result.decision.clone().unwrap_or_else(|| "?".into()),
            result.straight.clone().unwrap_or_else(|| "?".into()),
            verdict,
        ]);
    }
    let mut out = crate::compare::aligned(&rows);
    out.push_str(
        "(route and straight: memproxy's MEMPROXY_DEBUG line, the contracts it routed straight \
         to the route's own functions; *: a failure, below)\n",
    );
    let mut failed = 0;
    for result in results.iter().filter(|result| !result.passed()) {
        failed += 1;
        let _ = writeln!(
            out,
            "FAILED {} (excluded: {}, libc listed: {}):",
            result.allocator,
            yes_no(result.route.excluded),
            yes_no(result.route.libc_listed)
        );
        for failure in &result.failures {
            let what = failure.check.as_deref().unwrap_or("the run");
            let _ = writeln!(out, "  {what}: {}", failure.why);
        }
        let _ = writeln!(out, "  reproduce: {}", result.reproduce);
    }
    if failed == 0 {
        let _ = writeln!(
            out,
            "memproxy kept every check on every route ({} runs)",
            results.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(failures: Vec<Failure>) -> RouteResult {
        RouteResult {
            allocator: "tcmalloc".to_owned(),
            route: Route::ALL[0],
            decision: Some("custom".to_owned()),
            straight: Some("posix_memalign,new".to_owned()),
            checks: 26,
            failures,
            reproduce: "LD_PRELOAD=... semantics".to_owned(),
        }
    }

    #[test]
    fn a_route_that_passes_shows_its_decision_and_count() {
        let table = text(&[result(Vec::new())]);
        assert_eq!(
            crate::compare::first_row(&table),
            [
                "tcmalloc",
                "no",
                "no",
                "custom",
                "posix_memalign,new",
                "26/26",
                "pass"
            ],
            "{table}"
        );
        assert!(table.contains("memproxy kept every check on every route (1 runs)"));
    }

    #[test]
    fn a_failure_is_marked_counted_and_detailed() {
        let failures = vec![
            Failure {
                check: Some("calloc_overflow_fails_with_enomem".to_owned()),
                why: "result (nil) errno 0".to_owned(),
            },
            Failure {
                check: None,
                why: "killed by signal 6 (SIGABRT)".to_owned(),
            },
        ];
        let table = text(&[result(failures)]);
        assert!(table.contains("25/26 pass *"), "{table}");
        assert!(
            table.contains("FAILED tcmalloc (excluded: no, libc listed: no):"),
            "{table}"
        );
        assert!(
            table.contains("  calloc_overflow_fails_with_enomem: result (nil) errno 0\n"),
            "{table}"
        );
        assert!(
            table.contains("  the run: killed by signal 6 (SIGABRT)\n"),
            "{table}"
        );
        assert!(!table.contains("kept every check"), "{table}");
    }
}
