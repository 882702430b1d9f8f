//! Several platforms' reports side by side, from their `report.json`: other
//! releases, other architectures. One set of rows, shown as an aligned table
//! on the terminal, as Markdown and as JSON.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::report::Tally;

/// The parts of a `report.json` a comparison needs.
#[derive(Deserialize)]
pub struct Summary {
    pub platform: String,
    /// Empty in reports written before the field existed.
    #[serde(default)]
    pub architecture: String,
    pub date: String,
    pub cells: Tally,
    pub allocators: Vec<AllocatorSummary>,
    /// Allocators left out on purpose, with why.
    #[serde(default)]
    pub narrowed_out: Vec<(String, String)>,
    /// How the groups were narrowed on purpose, if they were.
    #[serde(default)]
    pub selection: Option<String>,
    pub by_allocator: Vec<(String, Tally)>,
    pub by_order: Vec<(String, Tally)>,
    /// Each group's result: only whether and why it did not run is read.
    #[serde(default)]
    pub results: Vec<GroupSummary>,
}

#[derive(Deserialize)]
pub struct GroupSummary {
    pub not_run: Option<String>,
}

#[derive(Deserialize)]
pub struct AllocatorSummary {
    pub name: String,
    pub package: Option<String>,
    pub unrouted: Vec<String>,
}

impl Summary {
    pub fn read(path: &std::path::Path) -> Result<Summary, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    pub fn passed(&self) -> bool {
        self.cells.passed == self.cells.total
            && self.allocators.iter().all(|info| info.unrouted.is_empty())
    }

    fn allocator(&self, name: &str) -> Cell {
        let Some((_, tally)) = self
            .by_allocator
            .iter()
            .find(|(allocator, _)| allocator == name)
        else {
            let why = self
                .narrowed_out
                .iter()
                .find(|(allocator, _)| allocator == name)
                .map_or("not in this platform's run", |(_, why)| why.as_str());
            return Cell::not_run(why);
        };
        let info = self
            .allocators
            .iter()
            .find(|allocator| allocator.name == name);
        Cell {
            tally: Some(*tally),
            package: info.and_then(|info| info.package.clone()),
            unrouted: info.map(|info| info.unrouted.clone()).unwrap_or_default(),
            not_run: (tally.total == 0).then(|| "no cell of it ran".to_owned()),
        }
    }

    /// Groups that did not run, counted by reason.
    fn not_run(&self) -> Vec<NotRun> {
        let mut counted: Vec<NotRun> = Vec::new();
        for why in self
            .results
            .iter()
            .filter_map(|group| group.not_run.as_ref())
        {
            match counted.iter_mut().find(|entry| entry.reason == *why) {
                Some(entry) => entry.groups += 1,
                None => counted.push(NotRun {
                    reason: why.clone(),
                    groups: 1,
                }),
            }
        }
        counted
    }

    fn order(&self, id: &str) -> Cell {
        match self.by_order.iter().find(|(order, _)| order == id) {
            Some((_, tally)) => Cell::of(*tally),
            None => Cell::not_run("not in this platform's run"),
        }
    }
}

/// One platform's result for one row.
#[derive(Serialize, Clone, Default)]
pub struct Cell {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    tally: Option<Tally>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unrouted: Vec<String>,
    /// Why nothing ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_run: Option<String>,
}

impl Cell {
    fn of(tally: Tally) -> Cell {
        Cell {
            not_run: (tally.total == 0).then(|| "no cell of it ran".to_owned()),
            tally: Some(tally),
            ..Cell::default()
        }
    }

    fn not_run(why: &str) -> Cell {
        Cell {
            not_run: Some(why.to_owned()),
            ..Cell::default()
        }
    }

    fn show(&self) -> String {
        let (Some(tally), None) = (self.tally, &self.not_run) else {
            return format!(
                "not run ({})",
                self.not_run.as_deref().unwrap_or("no cell of it ran")
            );
        };
        let mark = if tally.passed == tally.total && self.unrouted.is_empty() {
            "pass"
        } else {
            "FAIL"
        };
        let mut text = format!("{mark} {}/{}", tally.passed, tally.total);
        let mut notes: Vec<String> = self.package.iter().cloned().collect();
        if !self.unrouted.is_empty() {
            notes.push(format!("unrouted: {}", self.unrouted.join(", ")));
        }
        if !notes.is_empty() {
            let _ = write!(text, " ({})", notes.join("; "));
        }
        text
    }
}

/// A row: what it is about, and one cell per platform.
#[derive(Serialize)]
pub struct Row {
    pub name: String,
    pub cells: Vec<Cell>,
}

/// The comparison: allocators, then all cells, then preload orders.
#[derive(Serialize)]
pub struct Comparison {
    pub platforms: Vec<Platform>,
    pub allocators: Vec<Row>,
    pub all_cells: Vec<Cell>,
    pub orders: Vec<Row>,
}

#[derive(Serialize)]
pub struct Platform {
    pub platform: String,
    pub architecture: String,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
    /// Groups that could not run there, by reason.
    pub not_run: Vec<NotRun>,
    pub passed: bool,
}

#[derive(Serialize)]
pub struct NotRun {
    pub reason: String,
    pub groups: usize,
}

/// Names in first-seen order across the reports.
fn union<'a>(lists: impl Iterator<Item = &'a [(String, Tally)]>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for list in lists {
        for (name, _) in list {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

pub fn compare(reports: &[Summary]) -> Comparison {
    let mut allocators = union(reports.iter().map(|report| report.by_allocator.as_slice()));
    for report in reports {
        for (name, _) in &report.narrowed_out {
            if !allocators.contains(name) {
                allocators.push(name.clone());
            }
        }
    }
    let orders = union(reports.iter().map(|report| report.by_order.as_slice()));
    Comparison {
        platforms: reports
            .iter()
            .map(|report| Platform {
                platform: report.platform.clone(),
                architecture: report.architecture.clone(),
                date: report.date.clone(),
                selection: report.selection.clone(),
                not_run: report.not_run(),
                passed: report.passed(),
            })
            .collect(),
        allocators: allocators
            .into_iter()
            .map(|name| Row {
                cells: reports
                    .iter()
                    .map(|report| report.allocator(&name))
                    .collect(),
                name,
            })
            .collect(),
        all_cells: reports
            .iter()
            .map(|report| Cell::of(report.cells))
            .collect(),
        orders: orders
            .into_iter()
            .map(|id| Row {
                cells: reports.iter().map(|report| report.order(&id)).collect(),
                name: id,
            })
            .collect(),
    }
}

impl Comparison {
    /// The two tables, allocators then preload orders, each as a header and
    /// rows of strings.
    fn tables(&self, headings: &[String]) -> [Vec<Vec<String>>; 2] {
        let row = |name: &str, cells: &[Cell]| -> Vec<String> {
            std::iter::once(name.to_owned())
                .chain(cells.iter().map(Cell::show))
                .collect()
        };
        let header = |first: &str| -> Vec<String> {
            std::iter::once(first.to_owned())
                .chain(headings.iter().cloned())
                .collect()
        };
        let mut allocators = vec![header("allocator")];
        allocators.extend(self.allocators.iter().map(|r| row(&r.name, &r.cells)));
        allocators.push(row("all cells", &self.all_cells));
        let mut orders = vec![header("preload order")];
        orders.extend(self.orders.iter().map(|r| row(&r.name, &r.cells)));
        [allocators, orders]
    }

    fn headings(&self) -> Vec<String> {
        self.platforms
            .iter()
            .map(|platform| match &platform.selection {
                Some(selection) => format!(
                    "{} ({}; narrowed on purpose: {selection})",
                    platform.platform, platform.date
                ),
                None => format!("{} ({})", platform.platform, platform.date),
            })
            .collect()
    }

    /// One line per platform and reason for groups that did not run.
    fn not_run_lines(&self, names: &[String]) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, platform) in names.iter().zip(&self.platforms) {
            for entry in &platform.not_run {
                lines.push(format!(
                    "{name}: {} groups not run: {}",
                    entry.groups, entry.reason
                ));
            }
        }
        lines
    }

    pub fn markdown(&self) -> String {
        let mut text = String::new();
        for (index, table) in self.tables(&self.headings()).iter().enumerate() {
            if index > 0 {
                text.push('\n');
            }
            for (line, row) in table.iter().enumerate() {
                let _ = writeln!(text, "| {} |", row.join(" | "));
                if line == 0 {
                    let _ = writeln!(text, "|{}", "---|".repeat(row.len()));
                }
            }
        }
        let not_run = self.not_run_lines(&self.headings());
        if !not_run.is_empty() {
            text.push('\n');
            for line in not_run {
                let _ = writeln!(text, "- {line}");
            }
        }
        text
    }

    /// For the terminal: one column per platform, numbered, with the
    /// platforms' names listed above (they are too long for headings).
    pub fn text(&self) -> String {
        let mut text = String::new();
        let numbers: Vec<String> = (1..=self.platforms.len())
            .map(|n| format!("[{n}]"))
            .collect();
        for (number, heading) in numbers.iter().zip(self.headings()) {
            let _ = writeln!(text, "{number} {heading}");
        }
        for table in self.tables(&numbers) {
            text.push('\n');
            text.push_str(&aligned(&table));
        }
        let not_run = self.not_run_lines(&numbers);
        if !not_run.is_empty() {
            text.push('\n');
            for line in not_run {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }
}

/// `table` as text, each column as wide as its widest cell, two spaces
/// apart.
pub fn aligned(table: &[Vec<String>]) -> String {
    let columns = table.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| table.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(text, "{}", line.join("  ").trim_end());
    }
    text
}

/// The words of an [`aligned`] table's first row below its header, for
/// tests of the tables built with it.
#[cfg(test)]
pub(crate) fn first_row(table: &str) -> Vec<&str> {
    table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(architecture: &str, jemalloc: Option<(usize, usize)>) -> Summary {
        let by_allocator: Vec<(String, Tally)> = [("glibc", (10, 10))]
            .into_iter()
            .chain(jemalloc.map(|tally| ("jemalloc", tally)))
            .map(|(name, (passed, total))| (name.to_owned(), Tally { passed, total }))
            .collect();
        let passed = by_allocator.iter().map(|(_, tally)| tally.passed).sum();
        let total = by_allocator.iter().map(|(_, tally)| tally.total).sum();
        Summary {
            platform: format!("Debian 13, {architecture}, glibc 2.41"),
            architecture: architecture.to_owned(),
            date: "2026-11-27".into(),
            cells: Tally { passed, total },
            allocators: vec![],
            selection: None,
            narrowed_out: if jemalloc.is_none() {
                vec![("jemalloc".into(), "no such package here".into())]
            } else {
                vec![]
            },
            by_allocator,
            by_order: vec![("seed".into(), Tally { passed, total })],
            results: if architecture == "aarch64" {
                vec![GroupSummary {
                    not_run: Some("not run under qemu-user: why".into()),
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn an_allocator_missing_on_one_platform_is_not_run_with_its_reason() {
        let comparison = compare(&[
            summary("x86_64", Some((10, 10))),
            summary("i686", None),
            summary("aarch64", Some((9, 10))),
        ]);
        let jemalloc = &comparison.allocators[1];
        assert_eq!(jemalloc.name, "jemalloc");
        let shown: Vec<String> = jemalloc.cells.iter().map(Cell::show).collect();
        assert_eq!(
            shown,
            ["pass 10/10", "not run (no such package here)", "FAIL 9/10"]
        );
        let markdown = comparison.markdown();
        assert!(
            markdown
                .contains("| jemalloc | pass 10/10 | not run (no such package here) | FAIL 9/10 |"),
            "{markdown}"
        );
        let text = comparison.text();
        assert!(
            text.contains("[2] Debian 13, i686, glibc 2.41 (2026-11-27)"),
            "{text}"
        );
        let json = serde_json::to_value(&comparison).expect("serialisable");
        assert_eq!(
            json["allocators"][1]["cells"][1]["not_run"],
            "no such package here"
        );
        assert_eq!(json["allocators"][1]["cells"][2]["passed"], 9);
        assert_eq!(json["platforms"][2]["passed"], false);
        assert_eq!(json["platforms"][0]["passed"], true);
        assert_eq!(json["platforms"][2]["not_run"][0]["groups"], 1);
        assert!(
            text.contains("[3]: 1 groups not run: not run under qemu-user: why"),
            "{text}"
        );
    }
}
