//! The conformance report: a table for the terminal, JSON and Markdown for
//! CI, built from group results.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::matrix::GroupResult;

/// Passed and total cells.
#[derive(Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Tally {
    pub passed: usize,
    pub total: usize,
}

impl Tally {
    fn add(&mut self, result: &GroupResult) {
        if result.not_run.is_none() {
            self.total += result.cells.len();
            // A run problem (a crash, stray stderr) fails all the group's
            // cells, even those whose recorded owner was right.
            if result.problems.is_empty() {
                self.passed += result.cells.iter().filter(|cell| cell.passed).count();
            }
        }
    }

    fn show(&self) -> String {
        if self.total == 0 {
            "not run".into()
        } else {
            format!("{}/{}", self.passed, self.total)
        }
    }
}

/// The architecture the harness (and so every probe it runs) was built for,
/// as Rust's target triples name it, `x86` as `i686`.
pub const ARCHITECTURE: &str = match std::env::consts::ARCH.as_bytes() {
    b"x86" => "i686",
    _ => std::env::consts::ARCH,
};

#[derive(Serialize)]
pub struct Report<'a> {
    pub platform: String,
    pub architecture: &'static str,
    /// UTC date of the run, YYYY-MM-DD.
    pub date: String,
    pub allocators: Vec<AllocatorInfo>,
    pub narrowed_out: Vec<(String, String)>,
    /// How the groups were narrowed on purpose, if they were: which, and
    /// how many of the whole product ran.
    pub selection: Option<String>,
    pub orders: Vec<&'static str>,
    pub cases: Vec<&'static str>,
    pub kinds: usize,
    pub cells: Tally,
    /// Cells per allocator, in allocator order.
    pub by_allocator: Vec<(String, Tally)>,
    /// Cells per preload order, in order order.
    pub by_order: Vec<(String, Tally)>,
    pub groups_not_run: usize,
    pub results: &'a [GroupResult],
}

#[derive(Serialize)]
pub struct AllocatorInfo {
    pub name: String,
    pub path: Option<String>,
    pub owner: String,
    pub added: bool,
    /// Heap functions it exports that memproxy does not route (a failure).
    pub unrouted: Vec<String>,
    /// The Debian package and version that installed it, if dpkg knows.
    pub package: Option<String>,
}

impl Report<'_> {
    pub fn failed(&self) -> bool {
        self.cells.passed != self.cells.total
            || self
                .allocators
                .iter()
                .any(|allocator| !allocator.unrouted.is_empty())
    }

    fn by<F: Fn(&GroupResult) -> &str>(&self, key: F) -> BTreeMap<(String, String), Tally> {
        let mut table: BTreeMap<(String, String), Tally> = BTreeMap::new();
        for result in self.results {
            table
                .entry((key(result).to_owned(), result.allocator.clone()))
                .or_default()
                .add(result);
        }
        table
    }

    fn table(
        &self,
        title: &str,
        rows: &[&'static str],
        key: impl Fn(&GroupResult) -> &str,
        markdown: bool,
    ) -> String {
        let counts = self.by(key);
        let names: Vec<&str> = self
            .allocators
            .iter()
            .map(|allocator| allocator.name.as_str())
            .collect();
        let mut text = String::new();
        let width = rows
            .iter()
            .map(|row| row.len())
            .max()
            .unwrap_or(0)
            .max(title.len());
        if markdown {
            let _ = writeln!(text, "| {title} | {} |", names.join(" | "));
            let _ = writeln!(text, "|---|{}", "---|".repeat(names.len()));
        } else {
            let _ = write!(text, "{title:width$}");
            for name in &names {
                let _ = write!(text, "  {name:>12}");
            }
            text.push('\n');
        }
        for row in rows {
            let cells: Vec<String> = names
                .iter()
                .map(|name| {
                    counts
                        .get(&((*row).to_owned(), (*name).to_owned()))
                        .copied()
                        .unwrap_or_default()
                        .show()
                })
                .collect();
            if markdown {
                let _ = writeln!(text, "| {row} | {} |", cells.join(" | "));
            } else {
                let _ = write!(text, "{row:width$}");
                for cell in &cells {
                    let _ = write!(text, "  {cell:>12}");
                }
                text.push('\n');
            }
        }
        text
    }

    fn failures(&self) -> String {
        let mut text = String::new();
        for result in self
            .results
            .iter()
            .filter(|result| result.not_run.is_none() && !result.passed())
        {
            text.push_str(&result.failure_report());
        }
        text
    }

    fn not_run(&self) -> String {
        let mut reasons: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for result in self.results {
            if let Some(why) = &result.not_run {
                reasons.entry(why).or_default().push(format!(
                    "{}/{}/{}",
                    result.allocator, result.order, result.case
                ));
            }
        }
        let mut text = String::new();
        for (why, groups) in reasons {
            let _ = writeln!(text, "{} groups {why}", groups.len());
        }
        for (name, why) in &self.narrowed_out {
            let _ = writeln!(
                text,
                "allocator {name} not run: narrowed on purpose ({why})"
            );
        }
        if let Some(selection) = &self.selection {
            let _ = writeln!(text, "narrowed on purpose: {selection}");
        }
        text
    }

    fn summary_line(&self) -> String {
        format!(
            "{}: {} allocators x {} orders x {} name cases x {} kinds: {} of {} cells passed{}",
            self.platform,
            self.allocators.len(),
            self.orders.len(),
            self.cases.len(),
            self.kinds,
            self.cells.passed,
            self.cells.total,
            if self.groups_not_run > 0 {
                format!(", {} groups not run", self.groups_not_run)
            } else {
                String::new()
            }
        )
    }

    /// The report for a terminal.
    pub fn text(&self) -> String {
        let mut text = String::new();
        text.push_str(&self.table("name case", &self.cases, |result| result.case, false));
        text.push('\n');
        text.push_str(&self.table("preload order", &self.orders, |result| result.order, false));
        let not_run = self.not_run();
        if !not_run.is_empty() {
            let _ = write!(text, "\nNot run:\n{not_run}");
        }
        let failures = self.failures();
        if !failures.is_empty() {
            let _ = write!(text, "\nFailures:\n{failures}");
        }
        for allocator in self
            .allocators
            .iter()
            .filter(|allocator| !allocator.unrouted.is_empty())
        {
            let _ = writeln!(
                text,
                "\n{} exports heap functions memproxy does not route: {}",
                allocator.name,
                allocator.unrouted.join(", ")
            );
        }
        let _ = writeln!(text, "\n{}", self.summary_line());
        text
    }

    pub fn markdown(&self) -> String {
        let mut text = format!(
            "# memproxy conformance report\n\n{}\n\n",
            self.summary_line()
        );
        text.push_str(
            "## Allocators\n\n| name | object | owner reported by | added |\n|---|---|---|---|\n",
        );
        for allocator in &self.allocators {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} |",
                allocator.name,
                allocator
                    .path
                    .as_deref()
                    .unwrap_or("(glibc, no custom allocator)"),
                allocator.owner,
                if allocator.added { "yes" } else { "no" }
            );
        }
        text.push_str("\n## By name case\n\n");
        text.push_str(&self.table("name case", &self.cases, |result| result.case, true));
        text.push_str("\n## By preload order\n\n");
        text.push_str(&self.table("preload order", &self.orders, |result| result.order, true));
        let not_run = self.not_run();
        if !not_run.is_empty() {
            let _ = write!(text, "\n## Not run\n\n```\n{not_run}```\n");
        }
        let failures = self.failures();
        if !failures.is_empty() {
            let _ = write!(text, "\n## Failures\n\n```\n{failures}```\n");
        }
        text
    }
}

/// Builds a report from results.
pub fn build<'a>(
    platform: String,
    memproxy: &std::path::Path,
    allocators: &[crate::allocators::Allocator],
    narrowed_out: Vec<(String, String)>,
    selection: Option<String>,
    kinds: usize,
    results: &'a [GroupResult],
) -> Report<'a> {
    let mut cells = Tally::default();
    for result in results {
        cells.add(result);
    }
    Report {
        platform,
        architecture: ARCHITECTURE,
        allocators: allocators
            .iter()
            .map(|allocator| AllocatorInfo {
                name: allocator.name.clone(),
                path: allocator
                    .path
                    .as_ref()
                    .map(|path| path.display().to_string()),
                owner: allocator.owner.to_string(),
                added: allocator.added,
                unrouted: crate::allocators::unrouted_takeovers(allocator, memproxy)
                    .unwrap_or_else(|error| vec![format!("cannot check: {error}")]),
                package: package_of(
                    allocator
                        .path
                        .as_deref()
                        .unwrap_or(std::path::Path::new(crate::run::LIBC)),
                ),
            })
            .collect(),
        narrowed_out,
        selection,
        orders: crate::orders::ORDERS
            .iter()
            .map(|order| order.id)
            .filter(|id| results.iter().any(|result| result.order == *id))
            .collect(),
        cases: crate::names::NAME_CASES
            .iter()
            .map(|case| case.id)
            .filter(|id| results.iter().any(|result| result.case == *id))
            .collect(),
        kinds,
        cells,
        by_allocator: allocators
            .iter()
            .map(|allocator| {
                (
                    allocator.name.clone(),
                    tally(results, |result| result.allocator == allocator.name),
                )
            })
            .collect(),
        by_order: crate::orders::ORDERS
            .iter()
            .filter(|order| results.iter().any(|result| result.order == order.id))
            .map(|order| {
                (
                    order.id.to_owned(),
                    tally(results, |result| result.order == order.id),
                )
            })
            .collect(),
        date: utc_date(),
        groups_not_run: results
            .iter()
            .filter(|result| result.not_run.is_some())
            .count(),
        results,
    }
}

fn tally(results: &[GroupResult], keep: impl Fn(&GroupResult) -> bool) -> Tally {
    let mut tally = Tally::default();
    for result in results.iter().filter(|result| keep(result)) {
        tally.add(result);
    }
    tally
}

/// "libjemalloc2 5.3.0-1", from dpkg's database.
fn package_of(path: &std::path::Path) -> Option<String> {
    let query = |args: &[&str]| {
        let output = std::process::Command::new("dpkg-query")
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    // dpkg records /usr/lib on merged-/usr systems and /lib on older ones.
    let canonical = path.canonicalize().ok()?;
    let owner = query(&["-S", &canonical.display().to_string()])
        .or_else(|| query(&["-S", &path.display().to_string()]))?;
    // `libc6:i386: /usr/lib/...`: the architecture qualifier stays, or a root
    // with both libc6:amd64 and libc6:i386 answers with two versions.
    let package = owner.lines().next()?.split(": ").next()?.trim().to_owned();
    let version = query(&["-W", "-f", "${Version}", &package])?;
    Some(format!("{package} {version}"))
}

/// Today's date in UTC, from the system clock.
fn utc_date() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (year, month, day) = memproxy_common::civil::date((seconds / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}
