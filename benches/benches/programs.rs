//! What memproxy costs real programs.
//!
//! Allocation-heavy programs from Debian packages (installed by
//! `ci/setup`), each on an input generated here: `sort` on text lines, a
//! Python object churn, `sqlite3` inserting and indexing, `xz`, `jq` on a
//! JSON array, a Perl hash churn, and `git log -p` on a generated
//! repository. Each runs with nothing preloaded, with memproxy excluding it
//! (the glibc route, jemalloc behind), and under each allocator directly
//! and with memproxy in front of it.
//!
//! Measured two ways: interleaved rounds (every set-up of a program once
//! per round, in a rotating order) for wall time and peak RSS, with
//! `memproxy_measure` as `memproxy compare` measures; then callgrind's
//! exact instruction count of the whole process. Every run's output must be
//! the same as with nothing preloaded, or the benchmark fails.
//!
//! `MEMPROXY_BENCH_PROGRAMS=sort,jq` measures only those programs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use benches::allocators::{self, Allocator};
use benches::artifacts::Artifacts;
use benches::callgrind::{self, Run};
use benches::mode::Mode;
use benches::setup::{self, Route, Setup};
use benches::summary::{
    self, PROGRAM_EXTRA_PERCENT_LIMIT, ProgramRow, ProgramsReport, Provenance, TargetCheck,
};
use memproxy_measure::child;
use memproxy_measure::stats::{self, Spread};

const FILTER_VAR: &str = "MEMPROXY_BENCH_PROGRAMS";

fn main() {
    let mode = Mode::detect();
    if let Err(error) = run(mode) {
        eprintln!("programs benchmark: {error}");
        std::process::exit(1);
    }
}

/// One program and its arguments.
struct Program {
    name: &'static str,
    path: PathBuf,
    args: Vec<String>,
    /// Fixed hash seeds: Python and Perl randomise their hashes per run,
    /// which changes the work a run does, and so its instruction count.
    env: &'static [(&'static str, &'static str)],
}

impl Program {
    fn new(name: &'static str, path: &str, args: &[&str]) -> Program {
        Program {
            name,
            path: PathBuf::from(path),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: &[],
        }
    }

    fn with_env(self, env: &'static [(&'static str, &'static str)]) -> Program {
        Program { env, ..self }
    }

    /// For the summary: shell-quoted, the generated inputs' directory
    /// shown as `$WORK`.
    fn command_line(&self, work: &Path) -> String {
        let work = format!("{}/", work.display());
        let quoted: Vec<String> = self
            .args
            .iter()
            .map(|arg| {
                let arg = arg.replace(&work, "$WORK/");
                if arg.contains([' ', '\'', '(', '|', '*']) {
                    format!("'{}'", arg.replace('\'', "'\\''"))
                } else {
                    arg
                }
            })
            .collect();
        format!("{} {}", self.path.display(), quoted.join(" "))
    }
}

/// memproxy against its base: the allocator directly, or no preload for
/// the excluded route. Indices into the program's set-ups.
struct Pair {
    allocator: &'static str,
    route: &'static str,
    base: usize,
    memproxy: usize,
}

fn run(mode: Mode) -> Result<(), String> {
    let all = ["sort", "python3", "sqlite3", "xz", "jq", "perl", "git"];
    let chosen = chosen(&all)?;
    if mode == Mode::List {
        for name in &chosen {
            println!("programs/{name}: benchmark");
        }
        return Ok(());
    }
    setup::check_host_preload()?;
    let allocators = allocators::require_all()?;
    callgrind::require_valgrind()?;
    let artifacts = Artifacts::build()?;
    let work = artifacts.work_dir()?.join("programs");
    std::fs::create_dir_all(&work).map_err(|error| format!("{}: {error}", work.display()))?;
    // A quick run uses inputs a tenth of the size.
    let scale = mode.pick(1, 10);
    let programs: Vec<Program> = chosen
        .iter()
        .map(|name| program(name, &work, scale))
        .collect::<Result<_, _>>()?;
    for program in &programs {
        if !program.path.is_file() {
            return Err(format!(
                "{} is not installed: run ci/setup (it installs every program this \
                 benchmark starts)",
                program.path.display()
            ));
        }
    }
    let empty_config = work.join("empty.conf");
    write(&empty_config, "")?;
    let (setups, pairs) = setups(&artifacts, &allocators, &empty_config);

    let rounds = mode.pick(11, 1);
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    let mut measured = Vec::new();
    for program in &programs {
        let args: Vec<&str> = program.args.iter().map(String::as_str).collect();
        let exclusion = work.join(format!("exclude-{}.conf", program.name));
        write(&exclusion, &format!("{}\n", basename(&program.path)))?;
        let setups: Vec<Setup> = setups
            .iter()
            .map(|setup| Setup {
                config: setup.config.as_ref().map(|config| match setup.route {
                    Some(Route::Excluded) => exclusion.clone(),
                    _ => config.clone(),
                }),
                ..setup.clone()
            })
            .collect();
        for setup in &setups {
            setup.verify_route(&program.path, &args)?;
        }
        eprintln!(
            "programs: {}: {rounds} interleaved rounds of {} set-ups",
            program.name,
            setups.len()
        );
        measured.push(interleave(program, &setups, rounds)?);
        runs.extend(
            setups
                .iter()
                .map(|setup| Run::new(setup, &program.path, &args).with_env(program.env)),
        );
    }
    eprintln!("programs: counting instructions with callgrind");
    let instructions = callgrind::count_all(&runs)?;
    for (index, (program, samples)) in programs.iter().zip(&measured).enumerate() {
        let counts = &instructions[index * setups.len()..(index + 1) * setups.len()];
        for pair in &pairs {
            rows.push(row(program, pair, counts, samples));
        }
    }
    let report = ProgramsReport {
        provenance: Provenance::now(mode, &artifacts.revision, &artifacts.memproxy, &allocators),
        rounds,
        commands: programs
            .iter()
            .map(|program| (program.name.to_owned(), program.command_line(&work)))
            .collect(),
        targets: targets(&rows),
        rows,
    };
    summary::publish(
        &artifacts.summary_dir(mode),
        summary::PROGRAMS_PART,
        &report,
        &summary::render_programs(&report),
        &report.targets,
    )?;
    Ok(())
}

/// The programs named in [`FILTER_VAR`], or all.
fn chosen(all: &[&'static str]) -> Result<Vec<&'static str>, String> {
    let Some(filter) = std::env::var(FILTER_VAR)
        .ok()
        .filter(|value| !value.is_empty())
    else {
        return Ok(all.to_vec());
    };
    filter
        .split(',')
        .map(|name| {
            all.iter()
                .copied()
                .find(|known| *known == name)
                .ok_or_else(|| {
                    format!(
                        "{FILTER_VAR}: unknown program '{name}'; known: {}",
                        all.join(", ")
                    )
                })
        })
        .collect()
}

/// Nothing preloaded, memproxy excluding the program (jemalloc behind it),
/// then each allocator directly and behind memproxy; and the pairs to
/// compare. The excluded set-up's config is replaced per program.
fn setups(
    artifacts: &Artifacts,
    allocators: &[Allocator],
    empty_config: &Path,
) -> (Vec<Setup>, Vec<Pair>) {
    let memproxy = &artifacts.memproxy;
    let mut setups = vec![
        Setup::direct("none", None),
        Setup::memproxy(
            "glibc/excluded",
            memproxy,
            Some(&allocators[0].path),
            empty_config,
            Route::Excluded,
        ),
    ];
    let mut pairs = Vec::new();
    for allocator in allocators {
        let base = setups.len();
        setups.push(Setup::direct(
            format!("{}/direct", allocator.name),
            Some(&allocator.path),
        ));
        setups.push(Setup::memproxy(
            format!("{}/memproxy", allocator.name),
            memproxy,
            Some(&allocator.path),
            empty_config,
            Route::Custom,
        ));
        pairs.push(Pair {
            allocator: allocator.name,
            route: "custom",
            base,
            memproxy: base + 1,
        });
    }
    pairs.push(Pair {
        allocator: "glibc",
        route: "excluded",
        base: 0,
        memproxy: 1,
    });
    (setups, pairs)
}

/// Wall time (ms) and peak RSS (KiB) of every set-up, one run of each per
/// round; every run must succeed and print what the first one printed.
struct Samples {
    wall_ms: Vec<Vec<f64>>,
    max_rss_kib: Vec<Vec<f64>>,
}

fn interleave(program: &Program, setups: &[Setup], rounds: usize) -> Result<Samples, String> {
    let mut samples = Samples {
        wall_ms: vec![Vec::with_capacity(rounds); setups.len()],
        max_rss_kib: vec![Vec::with_capacity(rounds); setups.len()],
    };
    let mut expected = None;
    for round in 0..rounds {
        for index in stats::rotation(round, setups.len()) {
            let setup = &setups[index];
            let mut command = setup.command(&program.path);
            command
                .args(&program.args)
                .envs(program.env.iter().copied());
            let run = child::run(&mut command)
                .map_err(|error| format!("cannot run {}: {error}", program.path.display()))?;
            let output = (run.stdout_digest, run.stdout_bytes);
            let expected = *expected.get_or_insert(output);
            if !run.end.success() || output != expected {
                return Err(format!(
                    "{} {} [{}]: {} with {} bytes of output, where the first run printed {}; \
                     stderr:\n{}",
                    program.path.display(),
                    program.args.join(" "),
                    setup.label,
                    run.end,
                    run.stdout_bytes,
                    expected.1,
                    String::from_utf8_lossy(&run.stderr)
                ));
            }
            samples.wall_ms[index].push(run.wall.as_secs_f64() * 1e3);
            samples.max_rss_kib[index].push(run.max_rss_kib as f64);
        }
    }
    Ok(samples)
}

fn row(program: &Program, pair: &Pair, instructions: &[u64], samples: &Samples) -> ProgramRow {
    let spread = |values: &[f64]| Spread::of(values).expect("at least one round");
    let (base, memproxy) = (pair.base, pair.memproxy);
    ProgramRow {
        program: program.name.to_owned(),
        allocator: pair.allocator.to_owned(),
        route: pair.route.to_owned(),
        base_instructions: instructions[base],
        memproxy_instructions: instructions[memproxy],
        extra_instructions_percent: (instructions[memproxy] as f64 / instructions[base] as f64
            - 1.0)
            * 100.0,
        base_wall_ms: spread(&samples.wall_ms[base]),
        memproxy_wall_ms: spread(&samples.wall_ms[memproxy]),
        wall_ratio: spread(&stats::paired_ratios(
            &samples.wall_ms[memproxy],
            &samples.wall_ms[base],
        )),
        base_max_rss_kib: spread(&samples.max_rss_kib[base]),
        memproxy_max_rss_kib: spread(&samples.max_rss_kib[memproxy]),
    }
}

fn targets(rows: &[ProgramRow]) -> Vec<TargetCheck> {
    rows.iter()
        .filter(|row| row.route == "custom")
        .map(|row| {
            TargetCheck::at_most(
                "at most +0.5% instructions per real program",
                format!(
                    "{}: memproxy + {} vs {} directly",
                    row.program, row.allocator, row.allocator
                ),
                row.extra_instructions_percent,
                PROGRAM_EXTRA_PERCENT_LIMIT,
                "%",
            )
        })
        .collect()
}

fn basename(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

/// A small deterministic generator (xorshift64*): the inputs are the same
/// on every run and every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

const PYTHON_CHURN: &str = "\
import sys
n = int(sys.argv[1])
total = 0
for round in range(2):
    table = {}
    for i in range(n):
        table[str(i) * 3] = [i, str(i), (i, i + 1), {'a': i}]
    total += sum(len(value[1]) for value in table.values())
    table = {key: value for key, value in table.items() if value[0] % 3}
print(total, len(table))
";

const PERL_CHURN: &str = r#"use strict;
my $n = shift;
my %h;
for my $i (1 .. $n) { $h{"key$i"} = [$i, "v" x ($i % 32)]; }
my $t = 0;
for my $k (sort keys %h) { $t += length $h{$k}[1]; }
delete @h{grep { /7/ } keys %h};
print scalar(keys %h), " $t\n";
"#;

const JQ_FILTER: &str = "group_by(.k) | map({k: .[0].k, n: length, s: (map(.v) | add)})";

/// The program `name` on an input of the size for `scale` (1 full, 10 a
/// tenth), generated in `work`.
fn program(name: &'static str, work: &Path, scale: u64) -> Result<Program, String> {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    // Writes an input file; its path, for the command line.
    let generated = |name: &str, contents: &str| -> Result<String, String> {
        let path = work.join(name);
        write(&path, contents)?;
        Ok(path.display().to_string())
    };
    Ok(match name {
        "sort" => {
            let mut text = String::new();
            for index in 0..100_000 / scale {
                let _ = writeln!(
                    text,
                    "{:08x} {} {index}",
                    random.next() as u32,
                    "w".repeat(random.below(16) as usize)
                );
            }
            let path = generated("lines.txt", &text)?;
            Program::new(name, "/usr/bin/sort", &[&path])
        }
        "python3" => {
            let script = generated("churn.py", PYTHON_CHURN)?;
            Program::new(
                name,
                "/usr/bin/python3",
                &[&script, &(30_000 / scale).to_string()],
            )
            .with_env(&[("PYTHONHASHSEED", "0")])
        }
        "sqlite3" => {
            let sql = format!(
                "CREATE TABLE t(a INTEGER, b TEXT); \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
                 INSERT INTO t SELECT (i * 2654435761) % 1000003, \
                 printf('row-%08d-%s', i, hex(i * 7)) FROM n; \
                 CREATE INDEX ta ON t(a); CREATE INDEX tb ON t(b); \
                 SELECT count(*), sum(a) FROM t WHERE a BETWEEN 1000 AND 500000;",
                60_000 / scale
            );
            Program::new(name, "/usr/bin/sqlite3", &[":memory:", &sql])
        }
        "xz" => {
            let mut text = String::new();
            for index in 0..50_000 / scale {
                let _ = writeln!(
                    text,
                    "line {index} of the text {}",
                    "abc".repeat(random.below(8) as usize)
                );
            }
            let path = generated("text.txt", &text)?;
            Program::new(name, "/usr/bin/xz", &["-T1", "-3", "-c", &path])
        }
        "jq" => {
            let mut json = String::from("[");
            for index in 0..10_000 / scale {
                if index > 0 {
                    json.push(',');
                }
                let _ = write!(
                    json,
                    r#"{{"k":"k{}","v":{},"s":"{}","a":[1,2,3]}}"#,
                    random.below(256),
                    random.below(65_536),
                    "x".repeat(random.below(16) as usize)
                );
            }
            json.push(']');
            let path = generated("data.json", &json)?;
            Program::new(name, "/usr/bin/jq", &["-c", JQ_FILTER, &path])
        }
        "perl" => {
            let script = generated("churn.pl", PERL_CHURN)?;
            Program::new(
                name,
                "/usr/bin/perl",
                &[&script, &(40_000 / scale).to_string()],
            )
            .with_env(&[("PERL_HASH_SEED", "0"), ("PERL_PERTURB_KEYS", "0")])
        }
        "git" => {
            let repository = work.join("repository");
            generate_repository(&repository, 300 / scale, &mut random)?;
            let repository = repository.display().to_string();
            Program::new(
                name,
                "/usr/bin/git",
                &["-C", &repository, "log", "-p", "--stat"],
            )
        }
        _ => unreachable!("{name} is in the list of programs"),
    })
}

/// A repository of `commits` commits, each changing a few lines of three of
/// ten files, written with `git fast-import` (fixed names and dates, so the
/// same every time).
fn generate_repository(dir: &Path, commits: u64, random: &mut Random) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    }
    let git = |args: &[&str]| {
        let mut command = Command::new("/usr/bin/git");
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .arg("-C")
            .arg(dir)
            .args(args);
        command
    };
    std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let status = git(&["init", "--quiet", "--initial-branch=main"])
        .status()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if !status.success() {
        return Err(format!("git init {}: {status}", dir.display()));
    }
    let mut files: Vec<Vec<String>> = (0..10)
        .map(|file| {
            (0..200)
                .map(|line| format!("file {file} line {line}"))
                .collect()
        })
        .collect();
    let mut stream = String::new();
    for commit in 1..=commits {
        let message = format!("commit {commit}\n");
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{commit}\n\
             committer Bench <bench@example.org> {} +0000\ndata {}\n{message}",
            1_700_000_000 + commit * 60,
            message.len()
        );
        if commit > 1 {
            let _ = writeln!(stream, "from :{}", commit - 1);
        }
        for _ in 0..3 {
            let file = random.below(10) as usize;
            for _ in 0..5 {
                let line = random.below(200) as usize;
                files[file][line] = format!("file {file} line {line} changed in {commit}");
            }
            let content = files[file].join("\n") + "\n";
            let _ = write!(
                stream,
                "M 100644 inline file-{file}.txt\ndata {}\n{content}",
                content.len()
            );
        }
        stream.push('\n');
    }
    let mut import = git(&["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run git fast-import: {error}"))?;
    std::io::Write::write_all(
        import.stdin.as_mut().expect("stdin is piped"),
        stream.as_bytes(),
    )
    .map_err(|error| format!("git fast-import: {error}"))?;
    drop(import.stdin.take());
    let status = import
        .wait()
        .map_err(|error| format!("git fast-import: {error}"))?;
    if !status.success() {
        return Err(format!("git fast-import into {}: {status}", dir.display()));
    }
    Ok(())
}
