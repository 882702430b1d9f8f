//! `memproxy explain`: which names the library will see for a program, and
//! whether the config excludes it.
//!
//! The library trusts two names, both set by the kernel at `execve`: the path
//! passed to `execve` (`AT_EXECFN`) and the binary actually mapped
//! (`/proc/self/exe`, symlinks resolved; the interpreter, for a script).
//! Neither is what `ps` or `argv[0]` shows, so a config entry that "obviously"
//! names a program can miss it: a symlink, a `#!` script, `env` starting
//! another program. This command derives both names the way the kernel will,
//! then asks `memproxy-config` (the library's own matcher) for the verdict.
//!
//! - [`names`]: the images that run and the two names of each;
//! - [`verdict`]: the library's decision for each, and the [`Explanation`]
//!   model that `--json` serialises;
//! - [`text`]: the same explanation for people.

mod names;
mod text;
mod verdict;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::config_file;
use crate::report::{self, EXIT_OK, EXIT_PROBLEMS, Failure};
use verdict::Explanation;
pub use verdict::decision;

const HELP: &str = concat!(
    "\
PROGRAM holding a '/' is executed as given (AT_EXECFN is exactly that
string); a bare name is looked up on $PATH like execvp (AT_EXECFN is the
joined path, e.g. /usr/bin/ls). The exe name is the canonical path of the
binary the kernel maps: symlinks resolved, and for a #! script the
interpreter's. `#!/usr/bin/env NAME` scripts are followed into NAME, which
the library judges again when env executes it.

The config: --config FILE, else $MEMPROXY_CONF if set to an absolute path, else
",
    env!("MEMPROXY_DEFAULT_CONFIG"),
    ".

Exit status:
  0  explained (excluded or not: see the output, or .excluded in --json)
  1  the program cannot be executed as given (not found, not executable,
     missing interpreter); what is known is still shown
  2  usage error

Examples:
  memproxy explain top
  memproxy explain /opt/vendor/bin/daemon --config ./memproxy.conf
  memproxy explain ./build.py --json | jq .excluded"
);

/// Arguments of `memproxy explain`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// A path (holding '/') or a name looked up on PATH
    pub program: OsString,
    /// The config to consult [default: $MEMPROXY_CONF, else the built-in path]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the explanation as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs `memproxy explain`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let program = args.program.as_bytes();
    if program.is_empty() {
        return Err(Failure("PROGRAM must not be empty".to_owned()));
    }
    let config = config_file::choose(args.config.as_deref());
    let state = config_file::load(&config.path);
    let explanation = Explanation::new(program, &config, &state, names::trace(program));
    if args.json {
        report::print_json(&explanation)?;
    } else {
        text::print(&explanation);
    }
    Ok(if explanation.runnable {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
