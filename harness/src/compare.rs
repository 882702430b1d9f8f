//! Two platforms' reports side by side, from their `report.json`.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::report::Tally;

/// The parts of a `report.json` a comparison needs.
#[derive(Deserialize)]
pub struct Summary {
    pub platform: String,
    pub date: String,
    pub cells: Tally,
    pub allocators: Vec<AllocatorSummary>,
    pub by_allocator: Vec<(String, Tally)>,
    pub by_order: Vec<(String, Tally)>,
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

    fn allocator_cell(&self, name: &str) -> String {
        let Some((_, tally)) = self
            .by_allocator
            .iter()
            .find(|(allocator, _)| allocator == name)
        else {
            return "not run".into();
        };
        let info = self
            .allocators
            .iter()
            .find(|allocator| allocator.name == name);
        let package = info.and_then(|info| info.package.as_deref()).unwrap_or("?");
        let unrouted = info
            .filter(|info| !info.unrouted.is_empty())
            .map(|info| format!("; unrouted: {}", info.unrouted.join(", ")))
            .unwrap_or_default();
        format!("{} ({package}{unrouted})", show(tally))
    }

    fn order_cell(&self, id: &str) -> String {
        self.by_order
            .iter()
            .find(|(order, _)| order == id)
            .map_or("not run".into(), |(_, tally)| show(tally))
    }
}

fn show(tally: &Tally) -> String {
    if tally.total == 0 {
        return "not run".into();
    }
    let mark = if tally.passed == tally.total {
        "pass"
    } else {
        "FAIL"
    };
    format!("{mark} {}/{}", tally.passed, tally.total)
}

/// A Markdown table of allocators and orders, one column per platform.
pub fn side_by_side(reports: &[Summary]) -> String {
    let mut text = String::new();
    let header: Vec<String> = reports
        .iter()
        .map(|report| format!("{} ({})", report.platform, report.date))
        .collect();
    let _ = writeln!(text, "| allocator | {} |", header.join(" | "));
    let _ = writeln!(text, "|---|{}", "---|".repeat(reports.len()));
    let mut allocators: Vec<&str> = Vec::new();
    for report in reports {
        for (name, _) in &report.by_allocator {
            if !allocators.contains(&name.as_str()) {
                allocators.push(name);
            }
        }
    }
    for name in allocators {
        let cells: Vec<String> = reports
            .iter()
            .map(|report| report.allocator_cell(name))
            .collect();
        let _ = writeln!(text, "| {name} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = reports.iter().map(|report| show(&report.cells)).collect();
    let _ = writeln!(text, "| **all cells** | {} |", totals.join(" | "));
    let _ = writeln!(text, "\n| preload order | {} |", header.join(" | "));
    let _ = writeln!(text, "|---|{}", "---|".repeat(reports.len()));
    let mut orders: Vec<&str> = Vec::new();
    for report in reports {
        for (id, _) in &report.by_order {
            if !orders.contains(&id.as_str()) {
                orders.push(id);
            }
        }
    }
    for id in orders {
        let cells: Vec<String> = reports.iter().map(|report| report.order_cell(id)).collect();
        let _ = writeln!(text, "| {id} | {} |", cells.join(" | "));
    }
    text
}
