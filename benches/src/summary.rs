//! The results of both benchmarks, their targets, and how they are written.
//!
//! Each benchmark writes its part (`dispatch.json`, `startup.json`) to
//! `target/bench-summary/` (`target/bench-summary/quick/` for a quick run),
//! then renders `summary.md` and `summary.json` from whichever parts are
//! there, so the summary is whole after `cargo bench` and still up to date
//! after `cargo bench --bench startup` alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mode::Mode;
use memproxy_measure::stats::Spread;

/// At most this many extra instructions per allocator call, against the
/// allocator preloaded directly.
pub const EXTRA_INSTRUCTIONS_PER_CALL_LIMIT: f64 = 2.0;
/// What an instructions-per-call figure resolves: the allocators' own paths
/// vary a little with the address layout (which memproxy's presence shifts)
/// and with time (purging), below this.
pub const INSTRUCTIONS_PER_CALL_RESOLUTION: f64 = 0.01;
/// The workload the wall-time target is about.
pub const RATIO_TARGET_WORKLOAD: &str = "malloc_free_64";
/// At most this memproxy/direct wall-time ratio for [`RATIO_TARGET_WORKLOAD`].
pub const RATIO_LIMIT: f64 = 1.03;
/// At most this many extra instructions per process start, against the
/// allocator preloaded directly, with a config of
/// [`STARTUP_TARGET_ENTRIES`] entries.
pub const STARTUP_EXTRA_LIMIT: f64 = 60_000.0;
pub const STARTUP_TARGET_ENTRIES: u64 = 100;
/// At most this many percent more instructions for a whole real program
/// through memproxy than with the same allocator preloaded directly.
pub const PROGRAM_EXTRA_PERCENT_LIMIT: f64 = 0.5;
/// The config scan is linear when the cost per byte of successive size
/// steps differs by at most this fraction.
pub const LINEARITY_TOLERANCE: f64 = 0.10;

/// What was measured, and when.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Provenance {
    pub mode: Mode,
    /// `git describe --always --dirty` of the workspace.
    pub revision: String,
    pub unix_time: u64,
    pub memproxy: PathBuf,
    /// (name, path) of each allocator.
    pub allocators: Vec<(String, PathBuf)>,
}

impl Provenance {
    pub fn now(
        mode: Mode,
        revision: &str,
        memproxy: &Path,
        allocators: &[crate::allocators::Allocator],
    ) -> Provenance {
        Provenance {
            mode,
            revision: revision.to_owned(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs()),
            memproxy: memproxy.to_path_buf(),
            allocators: allocators
                .iter()
                .map(|allocator| (allocator.name.to_owned(), allocator.path.clone()))
                .collect(),
        }
    }
}

/// How a measurement compares with its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Met,
    /// Above the limit by less than the measurement's noise: it cannot be
    /// told from a value at the limit.
    WithinNoise,
    Missed,
}

/// One target, for one subject.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetCheck {
    pub target: String,
    pub subject: String,
    pub value: f64,
    pub limit: f64,
    pub unit: String,
    /// The measurement's own resolution or run-to-run noise.
    pub noise: f64,
    pub status: Status,
}

impl TargetCheck {
    /// A target met when `value <= limit`.
    pub fn at_most(target: &str, subject: String, value: f64, limit: f64, unit: &str) -> Self {
        TargetCheck {
            target: target.to_owned(),
            subject,
            value,
            limit,
            unit: unit.to_owned(),
            noise: 0.0,
            status: if value <= limit {
                Status::Met
            } else {
                Status::Missed
            },
        }
    }

    /// Tells a value above the limit by less than `noise` apart from a miss.
    pub fn within_noise(self, noise: f64) -> Self {
        let status = match self.status {
            Status::Missed if self.value <= self.limit + noise => Status::WithinNoise,
            status => status,
        };
        TargetCheck {
            status,
            noise,
            ..self
        }
    }

    pub fn verdict(&self) -> String {
        match self.status {
            Status::Met => format!("met ({} <= {})", number(self.value), number(self.limit)),
            Status::WithinNoise => format!(
                "within noise: {} > {} by less than the measurement's noise ({})",
                number(self.value),
                number(self.limit),
                number(self.noise)
            ),
            Status::Missed => format!(
                "MISSED by {} {} ({} > {})",
                number(self.value - self.limit),
                self.unit,
                number(self.value),
                number(self.limit)
            ),
        }
    }
}

/// The dispatch benchmark's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DispatchReport {
    pub provenance: Provenance,
    /// Interleaved rounds per (workload, allocator) pair.
    pub rounds: usize,
    /// The wall time one sample of the direct setup aims at.
    pub sample_target_ms: f64,
    pub rows: Vec<DispatchRow>,
    pub targets: Vec<TargetCheck>,
}

/// One workload, one allocator: memproxy against direct.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DispatchRow {
    pub workload: String,
    /// `jemalloc`, `mimalloc`, `tcmalloc`, or `glibc` for the excluded route.
    pub allocator: String,
    /// `custom` or `excluded`.
    pub route: String,
    pub calls_per_iteration: u64,
    pub iterations_per_sample: u64,
    /// Medians over the interleaved rounds.
    pub direct_ns_per_call: f64,
    pub memproxy_ns_per_call: f64,
    /// memproxy time / direct time, one ratio per round.
    pub ratio: Spread,
    /// Iterations of the callgrind runs.
    pub callgrind_iterations: Option<u64>,
    pub direct_instructions_per_call: Option<f64>,
    pub extra_instructions_per_call: Option<f64>,
    /// How much the per-call figures move between repeated callgrind runs:
    /// the sum of both setups' interquartile ranges (0 for a deterministic
    /// loop).
    pub instructions_noise_per_call: Option<f64>,
}

impl DispatchRow {
    pub fn column(&self) -> String {
        column(&self.allocator, &self.route)
    }
}

/// A table column: the allocator, or `glibc (excluded)` for the excluded
/// route.
fn column(allocator: &str, route: &str) -> String {
    match route {
        "excluded" => format!("{allocator} (excluded)"),
        _ => allocator.to_owned(),
    }
}

/// The real-programs benchmark's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramsReport {
    pub provenance: Provenance,
    /// Interleaved rounds (every set-up of a program once per round).
    pub rounds: usize,
    /// Each program's command line, as run.
    pub commands: Vec<(String, String)>,
    pub rows: Vec<ProgramRow>,
    pub targets: Vec<TargetCheck>,
}

/// One program, one allocator: memproxy in front of it against the
/// allocator preloaded directly; or, for `glibc`, memproxy excluding the
/// program (jemalloc preloaded behind it) against no preload at all.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramRow {
    pub program: String,
    pub allocator: String,
    /// `custom` or `excluded`.
    pub route: String,
    /// Whole process, from callgrind: the direct (or no-preload) set-up's,
    /// then memproxy's.
    pub base_instructions: u64,
    pub memproxy_instructions: u64,
    pub extra_instructions_percent: f64,
    /// Wall time of a run, milliseconds.
    pub base_wall_ms: Spread,
    pub memproxy_wall_ms: Spread,
    /// memproxy / base, paired within each round.
    pub wall_ratio: Spread,
    /// Peak RSS from wait4, KiB.
    pub base_max_rss_kib: Spread,
    pub memproxy_max_rss_kib: Spread,
}

impl ProgramRow {
    pub fn column(&self) -> String {
        column(&self.allocator, &self.route)
    }
}

/// The start-up benchmark's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartupReport {
    pub provenance: Provenance,
    /// The program started: trivial, so the start is all there is.
    pub program: PathBuf,
    /// Interleaved rounds (every setup once per round).
    pub rounds: usize,
    pub rows: Vec<StartupRow>,
    /// The config scan's cost between successive config sizes.
    pub scan: Vec<ScanStep>,
    pub targets: Vec<TargetCheck>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartupRow {
    pub label: String,
    /// What is preloaded, in words.
    pub preload: String,
    /// The allocator whose direct preload this row compares against.
    pub allocator: Option<String>,
    /// `None` when memproxy is not preloaded.
    pub config_entries: Option<u64>,
    /// "names" (exact entries) or "patterns" (globs and `!` lines).
    #[serde(default)]
    pub config_kind: Option<String>,
    pub config_bytes: Option<u64>,
    pub instructions: u64,
    pub extra_instructions_vs_none: i64,
    pub extra_instructions_vs_direct: Option<i64>,
    /// Wall time of a start, spawn to exit, microseconds.
    pub wall_us: Spread,
    /// Paired differences within each round, microseconds.
    pub extra_wall_us_vs_none: Spread,
    pub extra_wall_us_vs_direct: Option<Spread>,
}

/// The cost of the config scan from one config size to the next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScanStep {
    /// "names" or "patterns".
    #[serde(default)]
    pub kind: String,
    pub from_entries: u64,
    pub to_entries: u64,
    pub instructions_per_byte: f64,
    pub instructions_per_entry: f64,
    pub wall_ns_per_byte: f64,
}

/// Both parts, as `summary.json` holds them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub dispatch: Option<DispatchReport>,
    pub startup: Option<StartupReport>,
    #[serde(default)]
    pub programs: Option<ProgramsReport>,
}

pub const DISPATCH_PART: &str = "dispatch.json";
pub const STARTUP_PART: &str = "startup.json";
pub const PROGRAMS_PART: &str = "programs.json";

/// Writes one part, then `summary.md` and `summary.json` from every part in
/// `dir`; returns the path of `summary.md`.
pub fn write_part<T: Serialize>(dir: &Path, part: &str, report: &T) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    write(&dir.join(part), &to_json(report)?)?;
    let read = |name: &str| -> Result<Option<serde_json::Value>, String> {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| format!("{}: {error}", dir.join(name).display())),
            Err(_) => Ok(None),
        }
    };
    // A part left by an older version of this code that no longer parses
    // is dropped from the summary rather than failing the run.
    let summary = Summary {
        dispatch: read(DISPATCH_PART)?.and_then(|value| serde_json::from_value(value).ok()),
        startup: read(STARTUP_PART)?.and_then(|value| serde_json::from_value(value).ok()),
        programs: read(PROGRAMS_PART)?.and_then(|value| serde_json::from_value(value).ok()),
    };
    write(&dir.join("summary.json"), &to_json(&summary)?)?;
    let markdown_path = dir.join("summary.md");
    write(&markdown_path, &render(&summary))?;
    Ok(markdown_path)
}

/// Writes one part and the summary as [`write_part`] does, and prints the
/// part's tables, its targets and where the summary is.
pub fn publish<T: Serialize>(
    dir: &Path,
    part: &str,
    report: &T,
    rendered: &str,
    targets: &[TargetCheck],
) -> Result<PathBuf, String> {
    let summary_path = write_part(dir, part, report)?;
    println!("\n{rendered}");
    println!("{}", render_targets(&targets.iter().collect::<Vec<_>>()));
    println!("Summary: {}", summary_path.display());
    Ok(summary_path)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|error| error.to_string())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

/// The whole summary as Markdown.
pub fn render(summary: &Summary) -> String {
    let mut out = String::from("# memproxy benchmark summary\n\n");
    if let Some(dispatch) = &summary.dispatch {
        out += &render_dispatch(dispatch);
    }
    if let Some(startup) = &summary.startup {
        out += &render_startup(startup);
    }
    if let Some(programs) = &summary.programs {
        out += &render_programs(programs);
    }
    let targets: Vec<&TargetCheck> = summary
        .dispatch
        .iter()
        .flat_map(|report| &report.targets)
        .chain(summary.startup.iter().flat_map(|report| &report.targets))
        .chain(summary.programs.iter().flat_map(|report| &report.targets))
        .collect();
    if !targets.is_empty() {
        out += "## Targets\n\n";
        out += &render_targets(&targets);
    }
    out
}

fn provenance_line(provenance: &Provenance) -> String {
    let mut line = format!(
        "{} run of `{}` ({}), unix time {}",
        provenance.mode.label(),
        provenance.revision,
        provenance.memproxy.display(),
        provenance.unix_time
    );
    if provenance.mode != Mode::Full {
        line += ". **Quick run: too few samples for the numbers to mean anything.**";
    }
    line + "\n\n"
}

/// The dispatch tables: ratios with instruction deltas beside them, then
/// every figure per row.
pub fn render_dispatch(report: &DispatchReport) -> String {
    let mut out = String::from("## Dispatch: memproxy / direct preload\n\n");
    out += &provenance_line(&report.provenance);
    let _ = write!(
        out,
        "Each cell: the median of {} interleaved wall-time ratios (memproxy / direct; samples \
         of about {} ms, each round in new processes), then the extra instructions per \
         allocator call counted by callgrind. \"glibc (excluded)\" is memproxy on the glibc \
         route (program listed, jemalloc preloaded) against no preload at all.\n\n",
        report.rounds,
        number(report.sample_target_ms)
    );
    let mut columns: Vec<String> = Vec::new();
    let mut workloads: Vec<(String, u64)> = Vec::new();
    for row in &report.rows {
        if !columns.contains(&row.column()) {
            columns.push(row.column());
        }
        if !workloads.iter().any(|(name, _)| *name == row.workload) {
            workloads.push((row.workload.clone(), row.calls_per_iteration));
        }
    }
    let _ = writeln!(out, "| workload | calls/iter | {} |", columns.join(" | "));
    let _ = writeln!(out, "|---|---:|{}", "---:|".repeat(columns.len()));
    for (workload, calls) in &workloads {
        let cells: Vec<String> = columns
            .iter()
            .map(|column| {
                report
                    .rows
                    .iter()
                    .find(|row| row.workload == *workload && row.column() == *column)
                    .map_or_else(
                        || "-".to_owned(),
                        |row| format!("x{:.3} ({})", row.ratio.median, extra_instructions(row)),
                    )
            })
            .collect();
        let _ = writeln!(out, "| {workload} | {calls} | {} |", cells.join(" | "));
    }
    out += "\nDetails (ns per allocator call are medians of the interleaved samples; \
            the ratio's quartiles show the noise):\n\n";
    out += "| workload | allocator | direct ns/call | memproxy ns/call | ratio | ratio p25-p75 \
            | direct instr/call | extra instr/call |\n";
    out += "|---|---|---:|---:|---:|---:|---:|---:|\n";
    for row in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3}-{:.3} | {} | {} |",
            row.workload,
            row.column(),
            row.direct_ns_per_call,
            row.memproxy_ns_per_call,
            row.ratio.median,
            row.ratio.p25,
            row.ratio.p75,
            row.direct_instructions_per_call
                .map_or_else(|| "-".to_owned(), |value| format!("{value:.2}")),
            extra_instructions(row),
        );
    }
    out + "\n"
}

/// The start-up table and the scan's cost per byte.
pub fn render_startup(report: &StartupReport) -> String {
    let mut out = String::from("## Start-up: what memproxy adds to a process start\n\n");
    out += &provenance_line(&report.provenance);
    let _ = write!(
        out,
        "`{}` started in each setup; instructions from callgrind (exact, whole process), wall \
         time spawn-to-exit over {} interleaved rounds (median; the extra columns are medians \
         of the differences within a round). \"vs direct\" compares with the same allocator \
         preloaded alone. The program is never listed, so memproxy reads the whole config.\n\n",
        report.program.display(),
        report.rounds
    );
    out += "| setup | config entries | config bytes | instructions | extra vs none \
            | extra vs direct | wall us | extra wall us vs none | extra wall us vs direct |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for row in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {} | {} |",
            match &row.config_kind {
                Some(kind) if kind != "names" => format!("{} ({kind})", row.preload),
                _ => row.preload.clone(),
            },
            row.config_entries.map_or_else(|| "-".to_owned(), grouped),
            row.config_bytes.map_or_else(|| "-".to_owned(), grouped),
            grouped(row.instructions),
            signed_grouped(row.extra_instructions_vs_none),
            row.extra_instructions_vs_direct
                .map_or_else(|| "-".to_owned(), signed_grouped),
            row.wall_us.median,
            signed_wall(&row.extra_wall_us_vs_none),
            row.extra_wall_us_vs_direct
                .as_ref()
                .map_or_else(|| "-".to_owned(), signed_wall),
        );
    }
    if !report.scan.is_empty() {
        out += "\nConfig scan cost between successive sizes (memproxy + jemalloc); \
                linear means a constant cost per byte:\n\n";
        out += "| config | entries | instructions/byte | instructions/entry | wall ns/byte |\n";
        out += "|---|---|---:|---:|---:|\n";
        for step in &report.scan {
            let _ = writeln!(
                out,
                "| {} | {} -> {} | {:.2} | {:.1} | {:.2} |",
                step.kind,
                grouped(step.from_entries),
                grouped(step.to_entries),
                step.instructions_per_byte,
                step.instructions_per_entry,
                step.wall_ns_per_byte
            );
        }
    }
    out + "\n"
}

/// The real-programs tables: the extra instructions and the wall ratio per
/// program and allocator, then every figure per row.
pub fn render_programs(report: &ProgramsReport) -> String {
    let mut out = String::from("## Real programs: memproxy / the same allocator directly\n\n");
    out += &provenance_line(&report.provenance);
    let _ = write!(
        out,
        "Each cell: the extra instructions of the whole process through memproxy (callgrind, \
         exact), then the median of {} interleaved wall-time ratios (memproxy / direct, each \
         round running every set-up of the program once, in a rotating order). memproxy reads \
         an empty config. \"glibc (excluded)\" is memproxy on the glibc route (the program \
         listed, jemalloc preloaded behind it) against no preload at all: its instructions \
         include loading jemalloc.\n\n",
        report.rounds
    );
    let mut columns: Vec<String> = Vec::new();
    let mut programs: Vec<&str> = Vec::new();
    for row in &report.rows {
        if !columns.contains(&row.column()) {
            columns.push(row.column());
        }
        if !programs.contains(&row.program.as_str()) {
            programs.push(&row.program);
        }
    }
    let _ = writeln!(out, "| program | {} |", columns.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len()));
    for program in &programs {
        let cells: Vec<String> = columns
            .iter()
            .map(|column| {
                report
                    .rows
                    .iter()
                    .find(|row| row.program == *program && row.column() == *column)
                    .map_or_else(
                        || "-".to_owned(),
                        |row| {
                            format!(
                                "{:+.3}% x{:.3}",
                                row.extra_instructions_percent, row.wall_ratio.median
                            )
                        },
                    )
            })
            .collect();
        let _ = writeln!(out, "| {program} | {} |", cells.join(" | "));
    }
    out += "\nDetails (instructions of the whole process; wall ms and peak RSS are medians \
            over the rounds; \"base\" is the allocator directly, or nothing preloaded for \
            the excluded route):\n\n";
    out += "| program | allocator | base instructions | memproxy instructions | extra \
            | base wall ms | ratio | ratio p25-p75 | base peak RSS MiB | memproxy peak RSS MiB |\n";
    out += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for row in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} ({:+.3}%) | {:.1} | {:.3} | {:.3}-{:.3} | {:.1} | {:.1} |",
            row.program,
            row.column(),
            grouped(row.base_instructions),
            grouped(row.memproxy_instructions),
            signed_grouped(row.memproxy_instructions as i64 - row.base_instructions as i64),
            row.extra_instructions_percent,
            row.base_wall_ms.median,
            row.wall_ratio.median,
            row.wall_ratio.p25,
            row.wall_ratio.p75,
            row.base_max_rss_kib.median / 1024.0,
            row.memproxy_max_rss_kib.median / 1024.0,
        );
    }
    out += "\nCommands (`$WORK` is `target/bench-summary/work/programs/`, where the inputs \
            are generated):\n\n";
    for (program, command) in &report.commands {
        let _ = writeln!(out, "- {program}: `{command}`");
    }
    out + "\n"
}

/// Every miss on its own line; the targets met, counted per target.
pub fn render_targets(targets: &[&TargetCheck]) -> String {
    let mut out = String::from("| target | subject | verdict |\n|---|---|---|\n");
    let mut names: Vec<&str> = Vec::new();
    for check in targets {
        if !names.contains(&check.target.as_str()) {
            names.push(&check.target);
        }
    }
    for name in names {
        let checks: Vec<&&TargetCheck> = targets.iter().filter(|c| c.target == name).collect();
        let met: Vec<&&TargetCheck> = checks
            .iter()
            .copied()
            .filter(|c| c.status == Status::Met)
            .collect();
        for check in checks.iter().filter(|check| check.status != Status::Met) {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                name,
                check.subject,
                check.verdict()
            );
        }
        if met.len() == 1 {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                name,
                met[0].subject,
                met[0].verdict()
            );
        } else if !met.is_empty() {
            let worst = met
                .iter()
                .map(|check| check.value)
                .fold(f64::NEG_INFINITY, f64::max);
            let _ = writeln!(
                out,
                "| {} | {} of {} subjects | met (worst {} <= {}) |",
                name,
                met.len(),
                checks.len(),
                number(worst),
                number(met[0].limit)
            );
        }
    }
    out
}

/// A number with few enough digits to read: integers grouped, small values
/// with 2 or 3 decimals.
fn number(value: f64) -> String {
    if value.abs() >= 1000.0 {
        let rounded = value.round() as i64;
        if rounded < 0 {
            format!("-{}", grouped(rounded.unsigned_abs()))
        } else {
            grouped(rounded.unsigned_abs())
        }
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn signed_grouped(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "+" };
    format!("{sign}{}", grouped(value.unsigned_abs()))
}

/// The extra instructions per call, with their noise when there is any
/// worth showing.
fn extra_instructions(row: &DispatchRow) -> String {
    let extra = signed_option(row.extra_instructions_per_call);
    match row.instructions_noise_per_call {
        Some(noise) if noise >= 0.005 => format!("{extra} ±{noise:.2}"),
        _ => extra,
    }
}

fn signed_option(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:+.2}"))
}

fn signed_wall(spread: &Spread) -> String {
    format!("{:+.0}", spread.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_say_by_how_much() {
        let met = TargetCheck::at_most("t", "s".into(), 1.01, 1.03, "x");
        assert_eq!(met.status, Status::Met);
        assert_eq!(met.verdict(), "met (1.010 <= 1.030)");
        let missed = TargetCheck::at_most("t", "s".into(), 152_000.0, 60_000.0, "instructions");
        assert_eq!(missed.status, Status::Missed);
        assert_eq!(
            missed.verdict(),
            "MISSED by 92,000 instructions (152,000 > 60,000)"
        );
    }

    #[test]
    fn noise_can_excuse_a_value_just_above_the_limit() {
        let check = TargetCheck::at_most("t", "s".into(), 2.01, 2.0, "i").within_noise(0.02);
        assert_eq!(check.status, Status::WithinNoise);
        assert!(check.verdict().starts_with("within noise"));
        let check = TargetCheck::at_most("t", "s".into(), 2.5, 2.0, "i").within_noise(0.02);
        assert_eq!(check.status, Status::Missed);
        let check = TargetCheck::at_most("t", "s".into(), 1.9, 2.0, "i").within_noise(0.02);
        assert_eq!(check.status, Status::Met);
    }

    #[test]
    fn groups_digits() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_204_952), "2,204,952");
        assert_eq!(signed_grouped(-1500), "-1,500");
        assert_eq!(signed_grouped(42), "+42");
    }

    #[test]
    fn the_programs_table_has_a_column_per_route_and_allocator() {
        let spread = |value: f64| Spread::of(&[value]).unwrap();
        let row = |allocator: &str, route: &str, memproxy_instructions: u64| ProgramRow {
            program: "sort".into(),
            allocator: allocator.into(),
            route: route.into(),
            base_instructions: 1_000_000,
            memproxy_instructions,
            extra_instructions_percent: (memproxy_instructions as f64 / 1e6 - 1.0) * 100.0,
            base_wall_ms: spread(10.0),
            memproxy_wall_ms: spread(10.1),
            wall_ratio: spread(1.01),
            base_max_rss_kib: spread(2048.0),
            memproxy_max_rss_kib: spread(3072.0),
        };
        let report = ProgramsReport {
            provenance: Provenance::now(Mode::Quick, "abc", Path::new("/m.so"), &[]),
            rounds: 1,
            commands: vec![("sort".into(), "/usr/bin/sort $WORK/lines.txt".into())],
            rows: vec![
                row("jemalloc", "custom", 1_006_000),
                row("glibc", "excluded", 1_020_000),
            ],
            targets: Vec::new(),
        };
        let table = render_programs(&report);
        assert!(
            table.contains("| program | jemalloc | glibc (excluded) |"),
            "{table}"
        );
        assert!(
            table.contains("| sort | +0.600% x1.010 | +2.000% x1.010 |"),
            "{table}"
        );
        assert!(table.contains("| sort | jemalloc | 1,000,000 | 1,006,000 | +6,000 (+0.600%)"));
        assert!(table.contains("| 2.0 | 3.0 |"), "peak RSS in MiB: {table}");
        // A summary written before this part existed still reads.
        let old: Summary = serde_json::from_str(r#"{"dispatch": null, "startup": null}"#).unwrap();
        assert!(old.programs.is_none());
    }

    #[test]
    fn targets_list_misses_and_count_the_rest() {
        let checks = [
            TargetCheck::at_most("instr", "a".into(), 2.0, 2.0, "instructions/call"),
            TargetCheck::at_most("instr", "b".into(), 3.5, 2.0, "instructions/call"),
            TargetCheck::at_most("instr", "c".into(), 1.0, 2.0, "instructions/call"),
        ];
        let refs: Vec<&TargetCheck> = checks.iter().collect();
        let table = render_targets(&refs);
        assert!(table.contains("| instr | b | MISSED by 1.500 instructions/call"));
        assert!(table.contains("| instr | 2 of 3 subjects | met (worst 2.000 <= 2.000) |"));
    }
}
