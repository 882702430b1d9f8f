//! The harness's commands: `report` runs the whole conformance matrix and
//! reports it; `compare`, `hook-shape` and `contracts` (see `--help`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Args, Parser, Subcommand};
use harness::allocators;
use harness::matrix::{self, GroupResult};
use harness::report;
use harness::through_memproxy;
use test_support::artifacts::Artifacts;

#[derive(Parser)]
#[command(about = "The memproxy conformance harness", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every allocator x preload order x name case x allocation kind and
    /// prints the matrix; writes report.json and report.md.
    #[command(after_help = "Examples:\n  \
        cargo run --release -p harness -- report\n  \
        cargo run --release -p harness -- report --allocator tbb=/lib/<multiarch>/libtbbmalloc_proxy.so.2\n  \
        cargo run --release -p harness -- report --only glibc,jemalloc --order seed --case listed\n\n\
        Exit status: 0 when every cell passed, 1 when any failed, 2 on a set-up error.")]
    Report(ReportArgs),
    /// Prints several platforms' (releases', architectures') report.json
    /// side by side; writes the same as Markdown and JSON on request.
    #[command(after_help = "Example:\n  \
        harness compare target/conformance/host/report.json target/conformance/trixie/report.json\n\n\
        Exit status: 0 when every report passed every cell, 1 otherwise, 2 on a read error.")]
    Compare {
        /// The report.json files, one per platform.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Also write the tables to this file, as Markdown.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the comparison to this file, as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Checks that every plain hook of libmemproxy.so files (x86_64, i686 or
    /// aarch64, by their ELF header) is its architecture's one-jump
    /// trampoline through its own slot.
    #[command(after_help = "Example:\n  \
        harness hook-shape target/release/libmemproxy.so \
        target/cross/build/*/release/libmemproxy.so\n\n\
        Exit status: 0 when every hook of every file has its shape, 1 otherwise, 2 on a read error.")]
    HookShape {
        /// The libraries (release builds: the check reads .symtab).
        #[arg(required = true)]
        libraries: Vec<PathBuf>,
    },
    /// Measures which contracts (calloc, posix_memalign, new, nothrow_new,
    /// sized_delete) each allocator's own functions keep, preloaded alone,
    /// and compares with memproxy's table (memproxy/common/src/contracts.rs);
    /// then runs every check through memproxy in front of each allocator,
    /// excluded and not, libc.so.6 listed and not.
    #[command(after_help = "Examples:\n  \
        cargo run --release -p harness -- contracts\n  \
        cargo run --release -p harness -- contracts --allocator tcmalloc-full=/lib/<multiarch>/libtcmalloc.so.4\n\n\
        Exit status: 0 when the table says exactly what was measured and every check passes \
        through memproxy, 1 on any mismatch or failure, 2 on a set-up error.")]
    Contracts(ContractsArgs),
}

#[derive(Args)]
struct ContractsArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Also write the results to this file, as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Which allocators a run covers.
#[derive(Args)]
struct SelectionArgs {
    /// Adds an allocator, as NAME=PATH (repeatable). Its owner is read from
    /// the ownership queries it exports; none means 'unclaimed'.
    #[arg(long = "allocator", value_name = "NAME=PATH")]
    added: Vec<String>,
    /// Narrows the run to these built-in allocators, on purpose
    /// (comma-separated: glibc,jemalloc,mimalloc,tcmalloc).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
}

impl SelectionArgs {
    /// The selection, with `MEMPROXY_HARNESS_ALLOCATORS`' additions too.
    fn select(mut self) -> Result<allocators::Selection, String> {
        if let Ok(list) = std::env::var(allocators::ADDED_VAR) {
            self.added.extend(
                list.split(',')
                    .filter(|spec| !spec.is_empty())
                    .map(str::to_owned),
            );
        }
        allocators::select(self.only.as_deref(), &self.added)
    }
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Runs only these preload orders (repeatable).
    #[arg(long = "order")]
    orders: Vec<String>,
    /// Runs only these name cases (repeatable).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Runs a covering selection instead of the whole product, on purpose
    /// (where each run is slow, as under emulation): every preload order
    /// with the listed and unlisted name cases, every name case with the
    /// seed order, every config form and allocation kind. The report says
    /// so.
    #[arg(long)]
    cover: bool,
    /// Where report.json and report.md go.
    #[arg(long, default_value_os_t = default_out_dir())]
    out: PathBuf,
    /// Parallel runs (default: the number of CPUs).
    #[arg(long)]
    jobs: Option<usize>,
    /// A name for this platform in the report.
    #[arg(long)]
    platform: Option<String>,
    /// Copies the built library and probes into DIR and exits, for a
    /// platform root without a Rust toolchain (see ci/platform).
    #[arg(long, value_name = "DIR")]
    export_artifacts: Option<PathBuf>,
}

fn default_out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace")
                .join("target")
        });
    target.join("conformance")
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Report(args) => report(args),
        Command::Compare { reports, out, json } => {
            compare(&reports, out.as_deref(), json.as_deref())
        }
        Command::HookShape { libraries } => hook_shape(&libraries),
        Command::Contracts(args) => contracts(args),
    }
}

/// Measures each selected allocator's contracts, prints them beside the
/// table's claims; fails on any mismatch.
fn contracts(args: ContractsArgs) -> ExitCode {
    let judged = args.selection.select().and_then(|selection| {
        for (name, why) in &selection.narrowed_out {
            println!("not run: {name}: {why}");
        }
        let artifacts = Artifacts::obtain()?;
        let semantics = artifacts.fixtures_dir.join("semantics");
        if !semantics.is_file() {
            return Err(format!(
                "the semantics fixture is missing: {} (fixtures/build.rs builds it; a \
                     prebuilt directory must hold it, see `harness report --export-artifacts`)",
                semantics.display()
            ));
        }
        let judged = harness::contracts::judge_all(&semantics, &selection.allocators)?;
        let semantics = through_memproxy::Semantics::list(&semantics)?;
        let through =
            through_memproxy::run_all(&semantics, &artifacts.memproxy, &selection.allocators)?;
        Ok((judged, through))
    });
    let (judged, through) = match judged {
        Ok(results) => results,
        Err(error) => {
            eprintln!("harness: {error}");
            return ExitCode::from(2);
        }
    };
    print!("{}", harness::contracts::text(&judged));
    println!("\nThrough memproxy (memproxy preloaded first, then the allocator):");
    print!("{}", through_memproxy::text(&through));
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "platform": platform_name(),
            "table": harness::contracts::TABLE,
            "allocators": judged,
            "through_memproxy": through,
        });
        let text = serde_json::to_string_pretty(&json).expect("plain data serialises") + "\n";
        let written = match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            Some(dir) => std::fs::create_dir_all(dir).and_then(|()| std::fs::write(path, text)),
            None => std::fs::write(path, text),
        };
        if let Err(error) = written {
            eprintln!("harness: writing {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    if judged.iter().all(|one| one.mismatches.is_empty())
        && through.iter().all(through_memproxy::RouteResult::passed)
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints each library's hook check; fails if any hook is not its shape.
fn hook_shape(libraries: &[PathBuf]) -> ExitCode {
    let mut all_passed = true;
    for library in libraries {
        let checked = std::fs::read(library)
            .map_err(|error| error.to_string())
            .and_then(|bytes| test_support::hook_shape::check_library(&bytes));
        match checked {
            Ok(checked) => {
                print!("{}: {checked}", library.display());
                all_passed &= checked.passed();
            }
            Err(error) => {
                eprintln!("harness: {}: {error}", library.display());
                return ExitCode::from(2);
            }
        }
    }
    if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints platforms' reports side by side, and writes them to `markdown` and
/// `json`.
fn compare(
    paths: &[PathBuf],
    markdown: Option<&std::path::Path>,
    json: Option<&std::path::Path>,
) -> ExitCode {
    let mut reports = Vec::new();
    for path in paths {
        match harness::compare::Summary::read(path) {
            Ok(summary) => reports.push(summary),
            Err(error) => {
                eprintln!("harness: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let comparison = harness::compare::compare(&reports);
    print!("{}", comparison.text());
    let outputs = [
        (markdown, comparison.markdown()),
        (
            json,
            serde_json::to_string_pretty(&comparison).expect("plain data serialises") + "\n",
        ),
    ];
    for (path, text) in outputs {
        let written = path.map(|path| (path, std::fs::write(path, text)));
        if let Some((path, Err(error))) = written {
            eprintln!("harness: writing {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    let all_passed = reports.iter().all(harness::compare::Summary::passed);
    if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn report(args: ReportArgs) -> ExitCode {
    let ReportArgs {
        selection,
        orders,
        cases,
        cover,
        out,
        jobs,
        platform,
        export_artifacts,
    } = args;
    let selection = match selection.select() {
        Ok(selection) => selection,
        Err(error) => {
            eprintln!("harness: {error}");
            return ExitCode::from(2);
        }
    };
    let artifacts = match Artifacts::obtain() {
        Ok(artifacts) => artifacts,
        Err(error) => {
            eprintln!("harness: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = export_artifacts {
        return match artifacts.export(&dir) {
            Ok(()) => {
                println!("artifacts copied to {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("harness: {error}");
                ExitCode::from(2)
            }
        };
    }
    let unknown_order = orders.iter().find(|id| harness::orders::find(id).is_none());
    let unknown_case = cases.iter().find(|id| harness::names::find(id).is_none());
    if let Some(what) = unknown_order
        .map(|id| format!("order {id:?}"))
        .or_else(|| unknown_case.map(|id| format!("name case {id:?}")))
    {
        eprintln!("harness: unknown {what}");
        return ExitCode::from(2);
    }
    let product = matrix::groups(&selection.allocators);
    let product_size = product.len();
    let groups: Vec<_> = product
        .into_iter()
        .filter(|group| orders.is_empty() || orders.iter().any(|id| id == group.order.id))
        .filter(|group| cases.is_empty() || cases.iter().any(|id| id == group.case.id))
        .filter(|group| !cover || matrix::covers(group))
        .collect();
    let mut narrowing = Vec::new();
    if cover {
        narrowing.push(format!("covering selection ({})", matrix::COVER_RULE));
    }
    if !orders.is_empty() {
        narrowing.push(format!("preload orders {}", orders.join(", ")));
    }
    if !cases.is_empty() {
        narrowing.push(format!("name cases {}", cases.join(", ")));
    }
    let selection_note = (!narrowing.is_empty()).then(|| {
        format!(
            "{}: {} of {product_size} groups",
            narrowing.join("; "),
            groups.len()
        )
    });

    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, GroupResult)>> = Mutex::new(Vec::with_capacity(groups.len()));
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(group) = groups.get(index) else {
                        break;
                    };
                    let result = group.run(&artifacts);
                    let mut results = results
                        .lock()
                        .expect("no worker panics while holding the lock");
                    results.push((index, result));
                    if results.len() % 100 == 0 {
                        eprintln!("harness: {}/{} groups", results.len(), groups.len());
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().expect("workers finished");
    results.sort_by_key(|(index, _)| *index);
    let results: Vec<GroupResult> = results.into_iter().map(|(_, result)| result).collect();

    let kinds = artifacts.probes.iter().map(|probe| probe.kinds.len()).sum();
    let platform = platform.unwrap_or_else(platform_name);
    let report = report::build(
        platform,
        &artifacts.memproxy,
        &selection.allocators,
        selection.narrowed_out,
        selection_note,
        kinds,
        &results,
    );
    print!("{}", report.text());
    println!(
        "({} groups in {:.1} s)",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if let Err(error) = write_files(&report, &out) {
        eprintln!("harness: writing {}: {error}", out.display());
        return ExitCode::from(2);
    }
    println!("wrote {}/report.json and report.md", out.display());
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_files(report: &report::Report<'_>, out: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_vec(report).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(out.join("report.md"), report.markdown())
}

/// "Debian GNU/Linux 12 (bookworm), glibc 2.36", from os-release and libc.
fn platform_name() -> String {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown OS".into());
    // SAFETY: gnu_get_libc_version returns a static string.
    let glibc = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) }
        .to_string_lossy()
        .into_owned();
    format!("{os}, {}, glibc {glibc}", report::ARCHITECTURE)
}

unsafe extern "C" {
    fn gnu_get_libc_version() -> *const std::ffi::c_char;
}
