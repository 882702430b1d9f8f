//! Running cells and judging them against the specification.
//!
//! Cells are run a group at a time: one (allocator, order, name case) starts
//! each probe once, and every kind that probe makes is a cell.

use crate::configs::{self, ConfigForm};
use serde::Serialize;

use crate::allocators::{Allocator, Owner};
use crate::expect;
use crate::names::{NAME_CASES, NameCase};
use crate::orders::{ORDERS, Order};
use crate::probe::{Output, Seen};
use crate::run::Run;
use test_support::Artifacts;
use test_support::NotRun;

/// One (allocator, order, name case).
#[derive(Clone, Copy)]
pub struct Group<'a> {
    pub allocator: &'a Allocator,
    pub order: &'static Order,
    pub case: &'static NameCase,
    /// How the case's list is written.
    pub form: &'static ConfigForm,
}

/// The verdict on one cell.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub allocator: String,
    pub order: &'static str,
    pub case: &'static str,
    pub probe: &'static str,
    pub kind: String,
    pub expected: Owner,
    pub seen: Seen,
    pub passed: bool,
}

/// The verdict on a group: its cells, and what went wrong with the runs
/// themselves (crashes, stray output, a missing diagnostic).
#[derive(Debug, Serialize)]
pub struct GroupResult {
    pub allocator: String,
    pub order: &'static str,
    pub case: &'static str,
    /// The config form's id (`exact` for the case's own list).
    pub config: &'static str,
    pub listed: bool,
    pub expected: Owner,
    pub cells: Vec<Cell>,
    pub problems: Vec<String>,
    /// Set when the group could not run here (and why).
    pub not_run: Option<String>,
    /// Commands that reproduce the failed runs.
    pub commands: Vec<String>,
}

impl GroupResult {
    pub fn passed(&self) -> bool {
        self.not_run.is_none()
            && self.problems.is_empty()
            && self.cells.iter().all(|cell| cell.passed)
    }

    /// A readable account of everything that failed.
    pub fn failure_report(&self) -> String {
        let mut text = format!(
            "allocator={} order={} case={} config={} (listed: {}, expected owner: {})\n",
            self.allocator, self.order, self.case, self.config, self.listed, self.expected
        );
        if let Some(why) = &self.not_run {
            text.push_str(&format!("  {why}\n"));
        }
        for problem in &self.problems {
            text.push_str(&format!("  problem: {problem}\n"));
        }
        for cell in self.cells.iter().filter(|cell| !cell.passed) {
            text.push_str(&format!(
                "  {} {}: expected {}, seen {:?}\n",
                cell.probe, cell.kind, cell.expected, cell.seen
            ));
        }
        for command in &self.commands {
            text.push_str(&format!("  reproduce: {command}\n"));
        }
        text
    }
}

/// Every group for these allocators.
pub fn groups(allocators: &[Allocator]) -> Vec<Group<'_>> {
    let mut groups = Vec::new();
    for allocator in allocators {
        for order in &ORDERS {
            for case in &NAME_CASES {
                for form in configs::forms_for(order, case) {
                    groups.push(Group {
                        allocator,
                        order,
                        case,
                        form,
                    });
                }
            }
        }
    }
    groups
}

/// What [`covers`] keeps, in words for the report.
pub const COVER_RULE: &str = "every preload order with the listed and unlisted name cases, \
    every name case with the seed order, every config form and allocation kind";

/// Whether the covering selection keeps `group`: see [`COVER_RULE`]. Each
/// order, name case, config form, allocator and kind is in it at least once.
pub fn covers(group: &Group<'_>) -> bool {
    covers_ids(group.order.id, group.case.id)
}

fn covers_ids(order: &str, case: &str) -> bool {
    order == "seed" || matches!(case, "listed" | "unlisted")
}

impl Group<'_> {
    /// The verdict on one kind: passed when the one owner seen is the one
    /// expected.
    fn cell(&self, probe: &'static str, kind: &str, expected: Owner, seen: Seen) -> Cell {
        Cell {
            allocator: self.allocator.name.clone(),
            order: self.order.id,
            case: self.case.id,
            probe,
            kind: kind.to_owned(),
            expected,
            passed: seen == Seen::Owner(expected),
            seen,
        }
    }

    /// Runs both probes and judges every kind.
    pub fn run(&self, artifacts: &Artifacts) -> GroupResult {
        // MEMPROXY_DEBUG is on only where the specification is about what it
        // says; everywhere else memproxy must print nothing at all.
        let debug = expect::allocator_comes_first(self.allocator, self.order);
        let mut result = GroupResult {
            allocator: self.allocator.name.clone(),
            order: self.order.id,
            case: self.case.id,
            config: self.form.id,
            listed: false,
            expected: Owner::Glibc,
            cells: Vec::new(),
            problems: Vec::new(),
            not_run: None,
            commands: Vec::new(),
        };
        if let Some(why) = crate::emulation::cannot_run(self.case) {
            result.not_run = Some(why);
            return result;
        }
        for probe in &artifacts.probes {
            let outcome = match Run::new(artifacts, probe)
                .named(self.case)
                .config_form(self.form)
                .preloaded(self.order, self.allocator)
                .debug(debug)
                .go()
            {
                Ok(outcome) => outcome,
                Err(why @ NotRun::NoMountNamespace(_)) => {
                    result.not_run = Some(why.to_string());
                    return result;
                }
                Err(NotRun::Setup(why)) => {
                    result.problems.push(format!("{}: {why}", probe.name));
                    let expected = result.expected;
                    result.cells.extend(
                        probe
                            .kinds
                            .iter()
                            .map(|kind| self.cell(probe.name, kind, expected, Seen::Missing)),
                    );
                    continue;
                }
            };
            result.listed = expect::listed(&outcome.config, &outcome.names);
            result.expected = expect::expected_owner(self.allocator, self.order, result.listed);
            let output = Output::parse(&outcome.stdout);
            let mut problems = Vec::new();
            if outcome.timed_out {
                problems.push(format!("{} timed out", probe.name));
            } else if !outcome.succeeded() {
                problems.push(format!("{} exited with {:?}", probe.name, outcome.status));
            }
            if !output.started {
                problems.push(format!("{} wrote no start record", probe.name));
            }
            if output.end != Some(probe.kinds.len() as u64) {
                problems.push(format!(
                    "{} ended with {:?} of {} records",
                    probe.name,
                    output.end,
                    probe.kinds.len()
                ));
            }
            if !output.garbage.is_empty() {
                problems.push(format!(
                    "{} wrote non-record output: {:?}",
                    probe.name, output.garbage
                ));
            }
            if debug {
                // Wrappers (sh, env, python) are preloaded too: each prints
                // its own line, and every line must say the same.
                let all_say_not_first = outcome.stderr.lines().all(|line| {
                    line.starts_with("memproxy[")
                        && line.contains(" route=custom reason=not-first ")
                });
                if outcome.stderr.is_empty() || !all_say_not_first {
                    problems.push(format!(
                        "{}: MEMPROXY_DEBUG must say memproxy is not first, and nothing else; stderr: {:?}",
                        probe.name, outcome.stderr
                    ));
                }
            } else if !outcome.stderr.is_empty() {
                problems.push(format!(
                    "{}: unexpected stderr: {:?}",
                    probe.name, outcome.stderr
                ));
            }
            let failed_before = result.cells.iter().filter(|cell| !cell.passed).count();
            for kind in &probe.kinds {
                let cell = self.cell(probe.name, kind, result.expected, output.seen(kind));
                result.cells.push(cell);
            }
            let failed_now =
                result.cells.iter().filter(|cell| !cell.passed).count() > failed_before;
            if failed_now || !problems.is_empty() {
                result.commands.push(outcome.command.clone());
                result.problems.extend(problems);
                let kept = outcome.keep();
                result
                    .commands
                    .push(format!("# case directory kept at {}", kept.display()));
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_covering_selection_has_every_order_case_and_form_and_is_smaller() {
        let mut kept = Vec::new();
        let mut product = 0;
        for order in &ORDERS {
            for case in &NAME_CASES {
                for form in configs::forms_for(order, case) {
                    product += 1;
                    if covers_ids(order.id, case.id) {
                        kept.push((order.id, case.id, form.id));
                    }
                }
            }
        }
        for order in &ORDERS {
            assert!(
                kept.iter().any(|(id, _, _)| *id == order.id),
                "{}",
                order.id
            );
        }
        for case in &NAME_CASES {
            assert!(kept.iter().any(|(_, id, _)| *id == case.id), "{}", case.id);
        }
        for form in &configs::FORMS {
            assert!(kept.iter().any(|(_, _, id)| *id == form.id), "{}", form.id);
        }
        assert!(kept.len() * 3 < product, "{} of {product}", kept.len());
    }
}
