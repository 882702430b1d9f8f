//! `memproxy run`: one command under memproxy, with a chosen allocator and
//! exclusion, touching no global file.
//!
//! Trying memproxy should not mean editing `/etc/ld.so.preload`, where one
//! mistake breaks every process on the host. This sets `LD_PRELOAD` and
//! `MEMPROXY_CONF` for one command only. The temporary config must exist
//! until the command and everything it starts have read it, so the command
//! is spawned and waited for rather than exec'd, and this process ignores
//! the terminal's interrupt meanwhile: the command decides how to react, and
//! its status is passed on.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use memproxy_config::{Identity, Line, basename, classify_line};
use serde::Serialize;

use crate::library;
use crate::preload;
use crate::report::Failure;
use crate::shown::{shown, shown_os};

/// The command could not be executed (as `env` and the shells report it).
const EXIT_NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
const EXIT_NOT_FOUND: u8 = 127;

const HELP: &str = "\
The command runs with LD_PRELOAD=<libmemproxy.so>:<allocator> (before any
LD_PRELOAD already set) and MEMPROXY_CONF pointing at a temporary config:
empty by default (or with a bare --include), listing the command's name with
a bare --exclude. Only the command itself is excluded; programs it starts get
the allocator unless their own names are listed. /etc/ld.so.preload still
applies after LD_PRELOAD.

--exclude=PATTERN and --include=PATTERN (repeatable; note the '=') write
config lines instead: each --exclude=P a line 'P', then each --include=P a
line '!P', so an --include wins over an --exclude (the last matching line
decides). For example, every Python but 3.11:
  memproxy run --exclude='python3*' --include=python3.11 -- make test

Allocators: jemalloc, mimalloc, tcmalloc (tcmalloc_minimal), tcmalloc-full
(gperftools' tcmalloc), tbb (the oneTBB proxy), each by the file this Debian
release installs; glibc or none (no custom allocator); a path; or a library
name.

libmemproxy.so: --lib, else $MEMPROXY_LIB, else next to this executable,
else <dir of this executable>/../lib, else the built-in lib directory.

Exit status: the command's; 128+N if a signal N killed it; 125 if memproxy
could not set up (allocator or library missing); 126 if the command cannot
be executed; 127 if it is not found; 2 for a usage error.

Examples:
  memproxy run -- ./server --port 8080
  memproxy run --allocator mimalloc --debug -- /bin/sh -c 'echo hi'
  memproxy run --allocator jemalloc --exclude --debug -- python3 script.py
  memproxy run --allocator /opt/alloc/libmyalloc.so -- make -j2";

/// Arguments of `memproxy run`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The custom allocator: jemalloc, mimalloc, tcmalloc, tbb, glibc/none, a
    /// path or a library name
    #[arg(long, value_name = "NAME|PATH", default_value = "jemalloc")]
    pub allocator: OsString,
    /// Exclude the command (bare), or programs matching PATTERN: they get
    /// glibc's malloc
    #[arg(
        long,
        value_name = "PATTERN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        action = clap::ArgAction::Append
    )]
    pub exclude: Vec<OsString>,
    /// Re-include programs matching PATTERN (a '!' line, after every
    /// --exclude); bare, it keeps the default empty config
    #[arg(
        long,
        value_name = "PATTERN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        action = clap::ArgAction::Append
    )]
    pub include: Vec<OsString>,
    /// The libmemproxy.so to preload
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// Set MEMPROXY_DEBUG=1: the library prints its decision on stderr
    #[arg(long)]
    pub debug: bool,
    /// Print the set-up as one JSON line on stderr before the command starts
    /// (stdout belongs to the command)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub command: CommandLine,
}

/// The command that `run` and `compare` start, after `--`.
#[derive(Debug, clap::Args)]
pub struct CommandLine {
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

/// What the command will run with, for `--json`.
#[derive(Serialize)]
struct SetUp {
    command: Vec<String>,
    lib: String,
    allocator: Option<String>,
    ld_preload: String,
    memproxy_conf: String,
    config_contents: String,
    excluded: bool,
    debug: bool,
}

/// Runs `memproxy run`; the result is the exit status to pass on.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let lib = library::find_memproxy(args.lib.as_deref()).map_err(Failure)?;
    let allocator = library::find_allocator(&args.allocator).map_err(Failure)?;
    let ld_preload = preload_value(&lib, allocator.as_deref())?;
    let program = args
        .command
        .command
        .first()
        .ok_or_else(|| Failure("no command given".to_owned()))?;
    let config_contents = config_lines(program.as_bytes(), &args.exclude, &args.include)?;
    let config = write_config(&config_contents)?;

    if args.json {
        let set_up = SetUp {
            command: args.command.command.iter().map(shown_os).collect(),
            lib: shown_os(&lib),
            allocator: allocator.as_ref().map(shown_os),
            ld_preload: shown_os(&ld_preload),
            memproxy_conf: shown_os(config.path()),
            config_contents: String::from_utf8_lossy(&config_contents).into_owned(),
            excluded: excludes(&config_contents, program.as_bytes()),
            debug: args.debug,
        };
        let line = serde_json::to_string(&set_up)
            .map_err(|error| Failure(format!("cannot encode JSON: {error}")))?;
        eprintln!("{line}");
    }

    let mut command = Command::new(program);
    command
        .args(&args.command.command[1..])
        .env("LD_PRELOAD", &ld_preload)
        .env("MEMPROXY_CONF", config.path());
    if args.debug {
        command.env("MEMPROXY_DEBUG", "1");
    }
    let status = match command.spawn() {
        Ok(mut child) => {
            ignore_terminal_signals();
            child
                .wait()
                .map_err(|error| Failure(format!("waiting for the command: {error}")))?
        }
        Err(error) => {
            eprintln!("memproxy run: {}: {error}", shown_os(program));
            return Ok(match error.kind() {
                std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_NOT_EXECUTABLE,
            });
        }
    };
    drop(config);
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => 1,
    })
}

/// `<lib>:<allocator>` before any `LD_PRELOAD` already set.
fn preload_value(lib: &Path, allocator: Option<&Path>) -> Result<OsString, Failure> {
    let mut names: Vec<&OsStr> = vec![lib.as_os_str()];
    names.extend(allocator.map(Path::as_os_str));
    preload_list(&names)?;
    let existing = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    if !existing.is_empty() {
        names.push(&existing);
    }
    Ok(preload::join(&names))
}

/// `names` as one `LD_PRELOAD` value, refused when a name holds a byte that
/// ld.so splits entries at.
pub(crate) fn preload_list(names: &[&OsStr]) -> Result<OsString, Failure> {
    for name in names {
        if name
            .as_bytes()
            .iter()
            .any(|byte| matches!(byte, b' ' | b':'))
        {
            return Err(Failure(format!(
                "{} cannot go in LD_PRELOAD: ld.so splits entries at spaces and colons",
                shown_os(name)
            )));
        }
    }
    Ok(preload::join(names))
}

/// The temporary config: one line per `--exclude` (the command's name for a
/// bare one), then a `!` line per `--include`.
fn config_lines(
    program: &[u8],
    excluded: &[OsString],
    included: &[OsString],
) -> Result<Vec<u8>, Failure> {
    let mut config = Vec::new();
    for pattern in excluded {
        if pattern.is_empty() {
            config.extend(exclusion_entry(program)?);
        } else {
            config.extend(pattern_line(b"", pattern.as_bytes())?);
        }
    }
    for pattern in included.iter().filter(|pattern| !pattern.is_empty()) {
        config.extend(pattern_line(b"!", pattern.as_bytes())?);
    }
    Ok(config)
}

/// `prefix` and `pattern` as one config line, refused when the library
/// would not read it as that entry or it could never match.
fn pattern_line(prefix: &[u8], pattern: &[u8]) -> Result<Vec<u8>, Failure> {
    let line = [prefix, pattern].concat();
    let usable = match classify_line(&line) {
        Line::Entry(entry) => {
            entry.bytes() == pattern && entry.can_match() && !pattern.contains(&b'\n')
        }
        _ => false,
    };
    if !usable {
        let why = match memproxy_config::glob::problem(pattern) {
            Some(_) => "is not a valid pattern (see memproxy check)",
            None => "cannot be a config line that matches a program",
        };
        return Err(Failure(format!("'{}' {why}", shown(pattern))));
    }
    Ok([line.as_slice(), b"\n"].concat())
}

/// Whether `config` excludes the command by the name it was given.
fn excludes(config: &[u8], program: &[u8]) -> bool {
    let identity = Identity {
        execfn: program,
        exe: b"",
    };
    let mut buffer = vec![0u8; memproxy_config::longest_kept_line(&identity) + 1];
    memproxy_config::decide(&mut &config[..], &mut buffer, &identity)
        .ok()
        .flatten()
        .is_some_and(|decision| decision.excluded)
}

/// The config line that excludes `program`, checked with the library's own
/// parser and matcher: a name that cannot be written as an entry (it starts
/// with '#', holds a newline, ...) is refused rather than silently missed.
fn exclusion_entry(program: &[u8]) -> Result<Vec<u8>, Failure> {
    let name = basename(program);
    let identity = Identity {
        execfn: program,
        exe: b"",
    };
    let listed = match classify_line(name) {
        Line::Entry(entry) if entry.bytes() == name && !name.contains(&b'\n') => {
            entry.matches(&identity).is_some()
        }
        _ => false,
    };
    if !listed {
        return Err(Failure(format!(
            "'{}' cannot be listed in a config by name; write a config by hand and set \
             MEMPROXY_CONF",
            shown(name)
        )));
    }
    Ok([name, b"\n"].concat())
}

pub(crate) fn write_config(contents: &[u8]) -> Result<tempfile::NamedTempFile, Failure> {
    let failed =
        |error: std::io::Error| Failure(format!("cannot write a temporary config: {error}"));
    let mut config = tempfile::Builder::new()
        .prefix("memproxy-run-")
        .suffix(".conf")
        .tempfile()
        .map_err(failed)?;
    config.write_all(contents).map_err(failed)?;
    config.flush().map_err(failed)?;
    Ok(config)
}

/// The terminal sends SIGINT and SIGQUIT to the whole foreground group; the
/// command handles them, and this process must live on to remove the
/// temporary config and report the command's status.
fn ignore_terminal_signals() {
    for signal in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: installing SIG_IGN has no preconditions; the child has
        // already been spawned with the default dispositions.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
}
