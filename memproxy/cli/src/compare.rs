//! `memproxy compare`: what each allocator costs one command, in wall time,
//! CPU and peak RSS, and whether it still does the same thing.
//!
//! Admins choose an allocator for a program, or exclude the program, on
//! their own workload. This runs the command under glibc and each allocator
//! in interleaved rounds (every set-up once per round, in a rotating order,
//! so that the machine's drift falls on all of them alike), with the same
//! measurement and statistics as the project's benchmarks
//! (`memproxy_measure`). glibc is the reference: a set-up whose exit status
//! or standard output differs from glibc's, or that crashes, is flagged and
//! left out of every figure.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use memproxy_config::basename;
use memproxy_measure::child::{self, End, Measured};
use memproxy_measure::stats::{self, Spread};
use serde::Serialize;

use crate::library;
use crate::report::{EXIT_OK, EXIT_PROBLEMS, Failure};
use crate::run::{CommandLine, write_config};
use crate::shown::{shown, shown_os};

/// The set-up every other one is compared with.
const REFERENCE: &str = "glibc";
/// Variables of this process's environment that would change what a
/// set-up is; each set-up sets its own.
const SCRUBBED: [&str; 3] = ["LD_PRELOAD", "MEMPROXY_CONF", "MEMPROXY_DEBUG"];

const HELP: &str = "\
Each round runs the command once under every set-up, starting one set-up
later than the round before; figures are medians over the rounds, ratios
are paired within a round (this set-up / glibc), and the best value in each
column is starred. With --via-memproxy (the default) each allocator runs
behind libmemproxy.so with an empty config, as a host running memproxy would
serve the command; glibc is libmemproxy.so alone. With --direct each
allocator is preloaded alone and glibc means nothing preloaded. LD_PRELOAD,
MEMPROXY_CONF and MEMPROXY_DEBUG of this shell are not passed on;
/etc/ld.so.preload still applies.

glibc always runs: it is the reference. A set-up whose exit status or
standard output differs from glibc's in any round, or that is killed by a
signal, is flagged and left out of every figure. Standard output is compared,
not shown; standard input is /dev/null. CPU is user+sys and peak RSS the
largest process's, over the command and the children it waited for.

A progress line goes to stderr when it is a terminal.

Exit status: 0 when every set-up matched glibc; 1 when some set-up was
flagged; 2 for a usage error, an unknown allocator or a command not found.

Examples:
  memproxy compare -- sort -o /dev/null big.txt
  memproxy compare --allocator glibc,mimalloc --rounds 20 -- python3 job.py
  memproxy compare --direct --json -- xz -9 -c data > report.json";

/// Arguments of `memproxy compare`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The set-ups, comma-separated: glibc, jemalloc, mimalloc, tcmalloc,
    /// tcmalloc-full, tbb, a path or a library name (glibc is always added)
    #[arg(
        long,
        value_name = "NAME|PATH,...",
        value_delimiter = ',',
        default_value = "glibc,jemalloc,mimalloc,tcmalloc"
    )]
    pub allocator: Vec<OsString>,
    /// Rounds: each runs every set-up once
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rounds: u32,
    /// Each allocator behind libmemproxy.so, as a host runs it (the default)
    #[arg(long, conflicts_with = "direct")]
    pub via_memproxy: bool,
    /// Each allocator preloaded alone, without memproxy
    #[arg(long)]
    pub direct: bool,
    /// The libmemproxy.so to preload (found as `run` finds it otherwise)
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// One JSON document on stdout instead of the table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub command: CommandLine,
}

/// One way to run the command.
struct SetUp {
    name: String,
    allocator: Option<PathBuf>,
    /// Empty for nothing preloaded.
    ld_preload: OsString,
}

/// Why a set-up is left out of the figures.
#[derive(Clone, Debug, Serialize)]
struct Flag {
    /// "crashed" or "differs".
    kind: &'static str,
    /// Counted from 1.
    round: usize,
    detail: String,
}

#[derive(Serialize)]
struct Report {
    command: Vec<String>,
    /// "via-memproxy" or "direct".
    mode: &'static str,
    lib: Option<String>,
    rounds: u32,
    reference: &'static str,
    /// The set-ups in the order they ran, one list per round.
    run_order: Vec<Vec<String>>,
    /// Whether glibc printed the same output in every round; when it did
    /// not, outputs are not compared, only exit statuses.
    stdout_compared: bool,
    /// The name that would exclude the command in memproxy.conf.
    config_name: String,
    setups: Vec<SetUpReport>,
    winners: Winners,
    sentences: Vec<String>,
}

#[derive(Serialize)]
struct SetUpReport {
    name: String,
    allocator: Option<String>,
    ld_preload: String,
    /// "ok", "differs" or "crashed".
    status: &'static str,
    flag: Option<Flag>,
    /// The figures, `None` for a flagged set-up.
    figures: Option<Figures>,
    /// Each round's run, in round order, flagged or not.
    runs: Vec<RunReport>,
}

#[derive(Clone, Serialize)]
struct Figures {
    wall_seconds: Spread,
    cpu_seconds: Spread,
    max_rss_kib: Spread,
    /// Paired ratios against glibc; `None` for glibc itself or when glibc
    /// was flagged.
    vs_glibc: Option<Ratios>,
}

#[derive(Clone, Serialize)]
struct Ratios {
    wall: Spread,
    cpu: Spread,
    max_rss: Spread,
}

#[derive(Serialize)]
struct RunReport {
    wall_seconds: f64,
    user_seconds: f64,
    system_seconds: f64,
    max_rss_kib: u64,
    end: End,
    stdout_bytes: u64,
}

/// The set-up with the lowest median in each column, among those not
/// flagged.
#[derive(Default, Serialize)]
struct Winners {
    wall: Option<String>,
    cpu: Option<String>,
    max_rss: Option<String>,
}

/// Runs `memproxy compare`; the result is the exit status.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let program = resolve(&args.command.command[0])?;
    let direct = args.direct;
    let lib = if direct {
        None
    } else {
        Some(library::find_memproxy(args.lib.as_deref()).map_err(Failure)?)
    };
    let setups = setups(&args.allocator, lib.as_deref())?;
    // An empty config: the command is not listed, so memproxy routes it to
    // the allocator behind it, as on a host that does not exclude it.
    let config = match lib {
        Some(_) => Some(write_config(b"")?),
        None => None,
    };

    let rounds = args.rounds as usize;
    let progress = std::io::stderr().is_terminal();
    let mut runs: Vec<Vec<Measured>> = setups.iter().map(|_| Vec::new()).collect();
    let mut run_order = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut order = Vec::with_capacity(setups.len());
        for index in stats::rotation(round, setups.len()) {
            let setup = &setups[index];
            if progress {
                eprint!("\r\x1b[Kround {}/{}: {}", round + 1, rounds, setup.name);
            }
            let mut command = Command::new(&program);
            command
                .arg0(&args.command.command[0])
                .args(&args.command.command[1..]);
            for name in SCRUBBED {
                command.env_remove(name);
            }
            if !setup.ld_preload.is_empty() {
                command.env("LD_PRELOAD", &setup.ld_preload);
            }
            if let Some(config) = &config {
                command.env("MEMPROXY_CONF", config.path());
            }
            let measured = child::run(&mut command)
                .map_err(|error| Failure(format!("cannot run {}: {error}", shown_os(&program))))?;
            runs[index].push(measured);
            order.push(setup.name.clone());
        }
        run_order.push(order);
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    drop(config);

    let report = report(args, &setups, &runs, run_order, lib.as_deref());
    let flagged = report.setups.iter().any(|setup| setup.flag.is_some());
    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|error| Failure(format!("cannot encode JSON: {error}")))?;
        writeln!(stdout, "{text}")
    } else {
        write!(stdout, "{}", render(&report))
    };
    written.map_err(|error| Failure(format!("cannot write the report: {error}")))?;
    Ok(if flagged { EXIT_PROBLEMS } else { EXIT_OK })
}

/// The program as the shell would find it, refused before anything runs
/// when there is none.
fn resolve(program: &OsStr) -> Result<PathBuf, Failure> {
    let executable = |path: &Path| {
        std::fs::metadata(path)
            .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        let path = Path::new(program);
        return if executable(path) {
            Ok(path.to_path_buf())
        } else if path.exists() {
            Err(Failure(format!(
                "{}: not an executable file",
                shown_os(program)
            )))
        } else {
            Err(Failure(format!("{}: no such file", shown_os(program))))
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&search)
        .map(|dir| dir.join(program))
        .find(|path| executable(path))
        .ok_or_else(|| {
            Failure(format!(
                "{}: command not found in PATH ({})",
                shown_os(program),
                shown_os(&search)
            ))
        })
}

/// glibc first, then each allocator asked for, each once.
fn setups(choices: &[OsString], lib: Option<&Path>) -> Result<Vec<SetUp>, Failure> {
    let mut names: Vec<&OsStr> = vec![OsStr::new(REFERENCE)];
    for choice in choices {
        if choice.is_empty() {
            return Err(Failure("--allocator: an empty name in the list".to_owned()));
        }
        let no_allocator = library::NO_ALLOCATOR.contains(&choice.to_string_lossy().as_ref());
        if no_allocator {
            continue;
        }
        if names.contains(&choice.as_os_str()) {
            return Err(Failure(format!(
                "--allocator: {} is listed twice",
                shown_os(choice)
            )));
        }
        names.push(choice);
    }
    names
        .into_iter()
        .map(|name| {
            let allocator = library::find_allocator(name).map_err(Failure)?;
            let preloaded: Vec<&OsStr> = lib
                .map(Path::as_os_str)
                .into_iter()
                .chain(allocator.as_deref().map(Path::as_os_str))
                .collect();
            Ok(SetUp {
                name: shown_os(name),
                ld_preload: crate::run::preload_list(&preloaded)?,
                allocator,
            })
        })
        .collect()
}

fn report(
    args: &Args,
    setups: &[SetUp],
    runs: &[Vec<Measured>],
    run_order: Vec<Vec<String>>,
    lib: Option<&Path>,
) -> Report {
    let reference_runs = &runs[0];
    let reference = &reference_runs[0];
    let stdout_compared = reference_runs.iter().all(|run| same_stdout(run, reference));
    let flags: Vec<Option<Flag>> = runs
        .iter()
        .map(|runs| flag(runs, reference, stdout_compared))
        .collect();
    let reference_ok = flags[0].is_none();
    let seconds =
        |runs: &[Measured], of: fn(&Measured) -> f64| -> Vec<f64> { runs.iter().map(of).collect() };
    let wall = |run: &Measured| run.wall.as_secs_f64();
    let cpu = |run: &Measured| run.cpu().as_secs_f64();
    let rss = |run: &Measured| run.max_rss_kib as f64;
    let setup_reports: Vec<SetUpReport> = setups
        .iter()
        .zip(runs)
        .zip(&flags)
        .enumerate()
        .map(|(index, ((setup, runs), flag))| {
            let figures = flag.is_none().then(|| {
                let ratio = |of: fn(&Measured) -> f64| {
                    let ratios =
                        stats::paired_ratios(&seconds(runs, of), &seconds(reference_runs, of));
                    Spread::of(&ratios).expect("at least one round")
                };
                Figures {
                    wall_seconds: Spread::of(&seconds(runs, wall)).expect("at least one round"),
                    cpu_seconds: Spread::of(&seconds(runs, cpu)).expect("at least one round"),
                    max_rss_kib: Spread::of(&seconds(runs, rss)).expect("at least one round"),
                    vs_glibc: (index > 0 && reference_ok).then(|| Ratios {
                        wall: ratio(wall),
                        cpu: ratio(cpu),
                        max_rss: ratio(rss),
                    }),
                }
            });
            SetUpReport {
                name: setup.name.clone(),
                allocator: setup.allocator.as_ref().map(shown_os),
                ld_preload: shown_os(&setup.ld_preload),
                status: flag.as_ref().map_or("ok", |flag| flag.kind),
                flag: flag.clone(),
                figures,
                runs: runs
                    .iter()
                    .map(|run| RunReport {
                        wall_seconds: run.wall.as_secs_f64(),
                        user_seconds: run.user.as_secs_f64(),
                        system_seconds: run.system.as_secs_f64(),
                        max_rss_kib: run.max_rss_kib,
                        end: run.end,
                        stdout_bytes: run.stdout_bytes,
                    })
                    .collect(),
            }
        })
        .collect();
    let winner = |of: fn(&Figures) -> f64| {
        setup_reports
            .iter()
            .filter_map(|setup| Some((setup, of(setup.figures.as_ref()?))))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(setup, _)| setup.name.clone())
    };
    let winners = Winners {
        wall: winner(|figures| figures.wall_seconds.median),
        cpu: winner(|figures| figures.cpu_seconds.median),
        max_rss: winner(|figures| figures.max_rss_kib.median),
    };
    let config_name = shown(basename(args.command.command[0].as_bytes()));
    let sentences = sentences(&setup_reports, &config_name);
    Report {
        command: args.command.command.iter().map(shown_os).collect(),
        mode: if lib.is_some() {
            "via-memproxy"
        } else {
            "direct"
        },
        lib: lib.map(shown_os),
        rounds: args.rounds,
        reference: REFERENCE,
        run_order,
        stdout_compared,
        config_name,
        setups: setup_reports,
        winners,
        sentences,
    }
}

fn same_stdout(run: &Measured, reference: &Measured) -> bool {
    (run.stdout_digest, run.stdout_bytes) == (reference.stdout_digest, reference.stdout_bytes)
}

/// The first round in which a set-up crashed or parted from glibc's first
/// run.
fn flag(runs: &[Measured], reference: &Measured, stdout_compared: bool) -> Option<Flag> {
    if let Some((round, run)) = runs
        .iter()
        .enumerate()
        .find(|(_, run)| matches!(run.end, End::Signaled(_)))
    {
        return Some(Flag {
            kind: "crashed",
            round: round + 1,
            detail: with_stderr(run.end.to_string(), run),
        });
    }
    let (round, run) = runs.iter().enumerate().find(|(_, run)| {
        run.end != reference.end || (stdout_compared && !same_stdout(run, reference))
    })?;
    let detail = if run.end != reference.end {
        with_stderr(format!("{}, glibc's {}", run.end, reference.end), run)
    } else {
        format!(
            "standard output differs from glibc's ({} bytes, glibc's {})",
            run.stdout_bytes, reference.stdout_bytes
        )
    };
    Some(Flag {
        kind: "differs",
        round: round + 1,
        detail,
    })
}

/// `what`, then the first line of the run's standard error if it printed
/// any: usually the reason.
fn with_stderr(what: String, run: &Measured) -> String {
    let first = run
        .stderr
        .split(|&byte| byte == b'\n')
        .find(|line| !line.is_empty());
    match first {
        Some(line) => format!("{what}; stderr: {}", shown(line)),
        None => what,
    }
}

/// The verdict in words, one sentence per allocator, then the advice.
fn sentences(setups: &[SetUpReport], config_name: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let reference = &setups[0];
    if let Some(flag) = &reference.flag {
        sentences.push(format!(
            "glibc itself {} in round {} ({}): there is nothing to compare with.",
            flag.kind, flag.round, flag.detail
        ));
        return sentences;
    }
    for setup in &setups[1..] {
        match (
            &setup.flag,
            setup.figures.as_ref().and_then(|f| f.vs_glibc.as_ref()),
        ) {
            (Some(flag), _) => sentences.push(format!(
                "{}: {} in round {} ({}); do not give it this program.",
                setup.name,
                if flag.kind == "crashed" {
                    "crashed"
                } else {
                    "did not do what glibc did"
                },
                flag.round,
                flag.detail
            )),
            (None, Some(ratios)) => sentences.push(format!(
                "{}: {}, {}.",
                setup.name,
                change(
                    &ratios.max_rss,
                    "less peak RSS",
                    "more peak RSS",
                    "the same peak RSS"
                ),
                change(
                    &ratios.wall,
                    "faster",
                    "slower",
                    "no measurable difference in time"
                )
            )),
            (None, None) => {}
        }
    }
    let advice = format!("add `{config_name}` to memproxy.conf");
    // Faster means measurably so: the middle half of the rounds' ratios
    // below 1.
    let fastest = setups[1..]
        .iter()
        .filter_map(|setup| {
            let wall = &setup.figures.as_ref()?.vs_glibc.as_ref()?.wall;
            (wall.p75 < 1.0).then_some((setup.name.as_str(), wall.median))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    sentences.push(match fastest {
        Some((name, ratio)) => format!(
            "{name} is the fastest here ({:.0}% faster than glibc); to keep glibc for this \
             program instead, {advice}.",
            (1.0 - ratio) * 100.0
        ),
        None => format!(
            "No allocator is measurably faster than glibc here: to keep glibc for this \
             program, {advice}."
        ),
    });
    sentences
}

/// A ratio's median as "N% less" or "N% more"; `same` when the middle half
/// of the rounds' ratios spans 1 (no measurable difference) or it rounds to
/// 0%.
fn change(ratio: &Spread, less: &str, more: &str, same: &str) -> String {
    let percent = ((ratio.median - 1.0) * 100.0).round();
    if ratio.spans(1.0) || percent == 0.0 {
        same.to_owned()
    } else if percent < 0.0 {
        format!("{}% {less}", -percent)
    } else {
        format!("{percent}% {more}")
    }
}

/// The table and the sentences.
fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memproxy compare: {} ({} rounds, {}, glibc the reference)\n",
        report.command.join(" "),
        report.rounds,
        match report.mode {
            "direct" => "each allocator preloaded alone",
            _ => "each allocator behind memproxy",
        }
    );
    let header = [
        "set-up",
        "wall s",
        "p25-p75",
        "vs glibc",
        "CPU s",
        "vs glibc",
        "peak RSS MiB",
        "vs glibc",
        "output",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|cell| cell.to_string()).collect()];
    let starred = |value: String, setup: &SetUpReport, winner: &Option<String>| {
        if winner.as_deref() == Some(setup.name.as_str()) {
            format!("{value} *")
        } else {
            value
        }
    };
    let ratio = |ratio: Option<&Spread>| {
        ratio.map_or_else(|| "-".to_owned(), |r| format!("x{:.3}", r.median))
    };
    for setup in &report.setups {
        let output = match (&setup.flag, setup.name == REFERENCE) {
            (Some(flag), _) => format!(
                "{} (round {}): {}",
                flag.kind.to_uppercase(),
                flag.round,
                flag.detail
            ),
            (None, true) if report.stdout_compared => "reference".to_owned(),
            (None, true) => "reference (varies; only exit statuses compared)".to_owned(),
            (None, false) => "same".to_owned(),
        };
        let row = match &setup.figures {
            Some(figures) => {
                let vs = figures.vs_glibc.as_ref();
                vec![
                    setup.name.clone(),
                    starred(
                        format!("{:.3}", figures.wall_seconds.median),
                        setup,
                        &report.winners.wall,
                    ),
                    format!(
                        "{:.3}-{:.3}",
                        figures.wall_seconds.p25, figures.wall_seconds.p75
                    ),
                    ratio(vs.map(|vs| &vs.wall)),
                    starred(
                        format!("{:.3}", figures.cpu_seconds.median),
                        setup,
                        &report.winners.cpu,
                    ),
                    ratio(vs.map(|vs| &vs.cpu)),
                    starred(
                        format!("{:.1}", figures.max_rss_kib.median / 1024.0),
                        setup,
                        &report.winners.max_rss,
                    ),
                    ratio(vs.map(|vs| &vs.max_rss)),
                    output,
                ]
            }
            None => {
                let mut row = vec![setup.name.clone()];
                row.extend(std::iter::repeat_n("-".to_owned(), header.len() - 2));
                row.push(output);
                row
            }
        };
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            let width = widths[column];
            if column == 0 || column + 1 == row.len() {
                let _ = write!(line, "{cell:<width$}  ");
            } else {
                let _ = write!(line, "{cell:>width$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out += "* the best in its column; vs glibc: median of the rounds' ratios (this / glibc)\n\n";
    for sentence in &report.sentences {
        let _ = writeln!(out, "{sentence}");
    }
    out
}
