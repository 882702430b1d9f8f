//! `memproxy disable`: removes what `enable` added to the preload file, and
//! nothing else.
//!
//! This must work on a host where every dynamically linked program crashes
//! (a broken allocator in the preload file): it starts no program and reads
//! nothing but the file, so a statically linked `memproxy` (as `install.sh`
//! builds it), which ld.so never touches, can repair such a host.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::{Change, Files, edit};
use crate::report::{self, EXIT_OK, Failure};
use crate::shown::{shown, shown_os};

const HELP: &str = "\
Removes the marker comment `memproxy enable` wrote and the line after it,
and keeps every other byte of /etc/ld.so.preload; removes the file if
enable created it and nothing else is left. Running it again changes
nothing. The previous contents are kept in /etc/ld.so.preload.memproxy-prev.

It runs no other program, so the statically linked memproxy that
install.sh installs repairs a host on which every dynamically linked
program crashes because of a preloaded library.

Exit status:
  0  removed, or nothing to remove
  2  usage or I/O error";

/// Arguments of `memproxy disable`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// Show the change; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Work on DIR/ld.so.preload instead of /etc's (tests)
    #[arg(long, value_name = "DIR", hide = true)]
    pub etc: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    change: Change,
    /// The entry lines removed.
    removed: Vec<String>,
    dry_run: bool,
    written: bool,
}

/// What [`remove_managed`] found and did.
pub struct Removed {
    /// The file before and after.
    pub change: Change,
    /// The entry lines removed.
    pub removed: Vec<String>,
    /// Some marker was found.
    pub found: bool,
    /// The file was rewritten (or removed).
    pub written: bool,
    /// Whether a file is left after the removal.
    pub file_left: bool,
}

/// Removes the managed lines from `files`' preload file under the lock,
/// atomically, keeping the previous contents; with `dry_run`, only says
/// what it would do. `memproxy rescue` runs exactly this.
pub fn remove_managed(files: &Files, dry_run: bool) -> Result<Removed, Failure> {
    remove_with(files, dry_run, edit::without_managed)
}

/// Removes, the same way, every line that names a libmemproxy.so from a
/// file `enable` did not write: `memproxy rescue`'s second resort.
pub fn remove_memproxy_lines(files: &Files) -> Result<Removed, Failure> {
    remove_with(files, false, edit::without_memproxy_lines)
}

fn remove_with(
    files: &Files,
    dry_run: bool,
    edit: fn(&[u8]) -> edit::Removal,
) -> Result<Removed, Failure> {
    let _lock = files.lock()?;
    let current = files.read()?;
    let removal = current.as_deref().map(edit);
    let after = match &removal {
        None => None,
        Some(removal) if removal.created && removal.rest.is_empty() => None,
        Some(removal) => Some(removal.rest.clone()),
    };
    let found = removal.as_ref().is_some_and(|removal| removal.found);
    let written = found && !dry_run;
    if written {
        files.replace(current.as_deref(), after.as_deref())?;
    }
    Ok(Removed {
        change: Change::new(&files.preload(), current.as_deref(), after.as_deref()),
        removed: removal
            .map(|removal| removal.removed.iter().map(|line| shown(line)).collect())
            .unwrap_or_default(),
        found,
        written,
        file_left: after.is_some(),
    })
}

impl Removed {
    /// The text report: the diff and what was done.
    pub fn write_text(&self, files: &Files, dry_run: bool, out: &mut dyn Write) -> io::Result<()> {
        if !self.found {
            return writeln!(
                out,
                "nothing to remove: {} holds no memproxy-managed entries",
                self.change.file
            );
        }
        self.change.write_to(out)?;
        if dry_run {
            return writeln!(out, "dry run: nothing written");
        }
        let done = if self.file_left {
            format!("wrote {}", self.change.file)
        } else {
            format!("removed {}, which enable had created", self.change.file)
        };
        writeln!(
            out,
            "disabled: {done} (previous contents in {}); programs started from now on do not \
             load memproxy; running ones keep it until they restart",
            shown_os(files.previous())
        )
    }
}

/// Runs `memproxy disable`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let files = Files::choose(args.etc.as_deref());
    let removed = remove_managed(&files, args.dry_run)?;
    if args.json {
        report::print_json(&Report {
            change: removed.change,
            removed: removed.removed,
            dry_run: args.dry_run,
            written: removed.written,
        })?;
    } else {
        // Like println!, minus the panic on a closed stdout.
        let _ = removed.write_text(&files, args.dry_run, &mut io::stdout().lock());
    }
    Ok(EXIT_OK)
}
