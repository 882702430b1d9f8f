//! `memproxy check`: what a config means to the library, and what in it is
//! probably a mistake.
//!
//! The library never complains: a config line that can never match is
//! silently useless, and a config it cannot read excludes nothing. This
//! command is where an administrator hears about it. Lines are split,
//! classified and judged by `memproxy-config`, the code compiled into the
//! library, so the listing is what the library sees; the warnings only add
//! why an entry may not mean what its author hoped.
//!
//! - [`judge`]: the model, entries and findings from a config's bytes;
//! - [`text`]: the report for people (`--json` serialises the same values).

mod judge;
mod patterns;
mod text;

use std::path::PathBuf;

use serde::Serialize;

use crate::config_file;
use crate::report::{self, EXIT_OK, EXIT_PROBLEMS, Failure};
use judge::Summary;
pub use judge::{Inspection, inspect};

const HELP: &str = concat!(
    "\
The rules (one entry per line):
  name           excluded when it equals the last component of the path the
                 program was executed by, or of /proc/self/exe
  /full/path     excluded when it equals either whole path
  python3.*      a shell pattern: * ? [...] (with ! or ^ and ranges) and \\
                 as in fnmatch(3); no wildcard matches '/'
  !name          re-included: not excluded (blanks after the '!' are ignored)
  # ; comment    lines starting with # or ; (blanks and CR around are ignored)
The LAST matching line decides; no match means not excluded. Lines without
pattern characters or a leading '!' mean exactly what they always did.
Opt-in list (only two services get the custom allocator):
  *
  !mysqld
  !redis-server
A malformed pattern (unclosed '[', trailing '\\', unknown class) never
matches; so does one longer than 4096 bytes.

Exit status:
  0  the config is fine (warnings allowed unless --strict)
  1  problems: the file is missing, unreadable or not a regular file
     (the library then excludes nothing), a '*' excludes every program, or
     --strict and any warning
  2  usage error

Which file: CONFIG if given, else $MEMPROXY_CONF if set to an absolute path (as
the library does, except in setuid programs), else the built-in default:
",
    env!("MEMPROXY_DEFAULT_CONFIG"),
    ".

Examples:
  memproxy check
  memproxy check /usr/local/etc/memproxy.conf
  memproxy check --strict ./memproxy.conf && install -m 644 memproxy.conf /usr/local/etc/
  memproxy check --json | jq '.findings[] | select(.severity == \"warning\")'"
);

/// Arguments of `memproxy check`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The config to check [default: $MEMPROXY_CONF, else the built-in path
    /// shown below]
    pub config: Option<PathBuf>,
    /// Treat warnings as problems (exit 1)
    #[arg(long)]
    pub strict: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `memproxy check`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let inspection = inspect(&config_file::choose(args.config.as_deref()));
    let summary = inspection.summary();
    let counts = summary.counts;
    let exit_code = if counts.errors > 0 || (args.strict && counts.warnings > 0) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    };
    let report = Report {
        inspection,
        summary,
        strict: args.strict,
        exit_code,
    };
    if args.json {
        report::print_json(&report)?;
    } else {
        text::print(&report);
    }
    Ok(exit_code)
}

/// Everything `memproxy check` reports, in text or as JSON.
#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    inspection: Inspection,
    summary: Summary,
    /// Whether warnings count as problems for the exit status.
    strict: bool,
    exit_code: u8,
}
