//! `memproxy`: the administrator's side of the preload library.
//!
//! The library decides silently inside every process; this command makes
//! its decisions visible and its set-up safe to try. It links the same
//! `memproxy-config` parser and matcher as the library, so what it says about
//! a config line is what the library does with it.

mod check;
mod compare;
mod config_file;
mod debug_line;
mod doctor;
mod elf;
mod explain;
mod lib_dir;
mod library;
mod lifecycle;
mod preload;
mod report;
mod run;
mod shown;
mod spawn;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use report::{EXIT_ERROR, Failure};

/// Exit status of `run` when memproxy itself cannot set up (as `env` uses).
const EXIT_RUN_SET_UP_FAILED: u8 = 125;

const HELP: &str = concat!(
    "\
Exit status (check, explain, doctor):
  0  ok
  1  problems found (check, doctor) or the program cannot be executed (explain)
  2  usage or I/O error
`run` exits with the command's status (see memproxy run --help).

Every subcommand takes --json for scripts (run prints it on stderr).

Built-in config: ",
    env!("MEMPROXY_DEFAULT_CONFIG"),
    " (MEMPROXY_CONF overrides it, as in the library)

Examples:
  memproxy check                         judge the exclusion list
  memproxy check --strict memproxy.conf  fail on warnings too
  memproxy explain top                   would `top` be excluded, and why?
  memproxy doctor                        is memproxy in effect here?
  memproxy run --allocator mimalloc --debug -- ./server
  memproxy run --exclude -- /bin/sh -c 'echo hi'
  memproxy compare -- sort -o /dev/null big.txt   which allocator suits sort?"
);

/// Check the memproxy exclusion list, explain a program's route, diagnose the
/// preload set-up, or run one command under memproxy.
#[derive(Debug, Parser)]
#[command(name = "memproxy", version, after_help = HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List a config's entries and warn about lines that will not do what
    /// they seem to
    Check(check::Args),
    /// Show the names the library sees for a program and whether the config
    /// excludes it
    Explain(explain::Args),
    /// Check LD_PRELOAD, /etc/ld.so.preload and the config, then probe the
    /// route actually taken
    Doctor(doctor::Args),
    /// Run one command under memproxy with a chosen allocator, without
    /// editing any global file
    Run(run::Args),
    /// Run one command under glibc and each allocator in interleaved rounds:
    /// wall time, CPU, peak RSS, and whether the output stays the same
    Compare(compare::Args),
    /// Write /etc/ld.so.preload (memproxy, then the allocator) after checks
    /// and a pre-flight of the programs a host cannot live without
    Enable(lifecycle::EnableArgs),
    /// Remove from /etc/ld.so.preload exactly what enable added
    Disable(lifecycle::DisableArgs),
    /// Show which allocator serves each running process, as it decided
    Status(status::Args),
    /// Print where a built libmemproxy.so goes under the prefix
    /// (lib/<multiarch tuple>, found by ld.so's $LIB)
    LibDir(lib_dir::Args),
    /// Remount / read-write and remove memproxy from /etc/ld.so.preload;
    /// also what memproxy does when the kernel starts it as init
    Rescue(lifecycle::RescueArgs),
}

fn main() -> ExitCode {
    let arguments: Vec<_> = std::env::args_os().collect();
    // As init (`init=/usr/local/bin/memproxy`) clap must not run: its exit
    // on an unknown argument would panic the kernel.
    if std::process::id() == 1 {
        let subcommands: Vec<String> = <Cli as clap::CommandFactory>::command()
            .get_subcommands()
            .map(|command| command.get_name().to_owned())
            .collect();
        if lifecycle::started_as_init(&arguments, &subcommands) {
            lifecycle::run_as_init(&arguments);
        }
    }
    let cli = Cli::parse_from(arguments);
    let (result, json, failure_status) = match &cli.command {
        Command::Check(args) => (check::run(args), args.json, EXIT_ERROR),
        Command::Explain(args) => (explain::run(args), args.json, EXIT_ERROR),
        Command::Doctor(args) => (doctor::run(args), args.json, EXIT_ERROR),
        // Scripts read run's JSON from stderr; its errors stay text there.
        Command::Run(args) => (run::run(args), false, EXIT_RUN_SET_UP_FAILED),
        Command::Compare(args) => (compare::run(args), args.json, EXIT_ERROR),
        Command::Enable(args) => (lifecycle::enable(args), args.json, EXIT_ERROR),
        Command::Disable(args) => (lifecycle::disable(args), args.json, EXIT_ERROR),
        Command::Status(args) => (status::run(args), args.json, EXIT_ERROR),
        Command::LibDir(args) => (lib_dir::run(args), args.json, EXIT_ERROR),
        Command::Rescue(args) => (lifecycle::rescue(args), args.json, EXIT_ERROR),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(failure) => {
            report_failure(&failure, json);
            ExitCode::from(failure_status)
        }
    }
}

fn report_failure(failure: &Failure, json: bool) {
    eprintln!("memproxy: error: {failure}");
    if json {
        println!("{}", serde_json::json!({ "error": failure.to_string() }));
    }
}
