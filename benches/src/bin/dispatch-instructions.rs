//! Extra instructions per allocator call through memproxy, counted with
//! callgrind, for a libmemproxy.so and a bench-workload fixture built
//! elsewhere: the dispatch benchmark's instruction figures without criterion
//! or cargo, for another architecture's root (ci/cross/callgrind.sh runs it in
//! the i386 root; valgrind runs 32-bit programs natively).
//!
//!     dispatch-instructions MEMPROXY_SO BENCH_WORKLOAD WORK_DIR [--quick]
//!
//! Prints a Markdown table: workload x allocator, `+extra (direct)`
//! instructions per call. The allocators are this machine's, found as the
//! benchmarks find them (memproxy-common's known table, this build's
//! multiarch directory).

use std::path::PathBuf;
use std::process::ExitCode;

use benches::allocators;
use benches::callgrind;
use benches::dispatch_setups;
use benches::workload;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let paths: Vec<PathBuf> = args
        .iter()
        .filter(|arg| !arg.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let [memproxy, fixture, work] = paths.as_slice() else {
        eprintln!("usage: dispatch-instructions MEMPROXY_SO BENCH_WORKLOAD WORK_DIR [--quick]");
        return ExitCode::from(2);
    };
    match run(memproxy, fixture, work, quick) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("dispatch-instructions: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    memproxy: &std::path::Path,
    fixture: &std::path::Path,
    work: &std::path::Path,
    quick: bool,
) -> Result<String, String> {
    let found = allocators::require_all()?;
    callgrind::require_valgrind()?;
    std::fs::create_dir_all(work).map_err(|error| format!("{}: {error}", work.display()))?;
    let compared = dispatch_setups::compared(memproxy, &found, work)?;
    for pair in &compared {
        pair.memproxy.verify_route(fixture, &["--list"])?;
    }
    let workloads = workload::list(fixture)?;
    let counted: Vec<&workload::Workload> = workloads.iter().collect();
    let pairs: Vec<_> = compared
        .iter()
        .map(|pair| (pair.direct.clone(), pair.memproxy.clone()))
        .collect();
    let (calls, repetitions) = if quick { (20_000, 1) } else { (50_000, 3) };
    let counts = dispatch_setups::count_per_call(fixture, &counted, &pairs, calls, repetitions)?;
    let mut table = format!(
        "| workload | {} |\n|---|{}\n",
        compared
            .iter()
            .map(|pair| pair.allocator.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---:|".repeat(compared.len())
    );
    for (workload, row) in workloads.iter().zip(counts.chunks(compared.len())) {
        let cells: Vec<String> = row
            .iter()
            .map(|per_call| format!("{:+.2} ({:.1})", per_call.extra, per_call.direct))
            .collect();
        table.push_str(&format!("| {} | {} |\n", workload.name, cells.join(" | ")));
    }
    Ok(table)
}
