//! `memproxy lib-dir`: where a built libmemproxy.so belongs under the
//! prefix, so that ld.so's `$LIB` token finds it for the programs it was
//! built for.
//!
//! install.sh asks this command rather than reading ELF headers in bash, so
//! that the one architecture table (`memproxy_common::multiarch`) decides,
//! for installing as for `doctor`.

use std::path::PathBuf;

use memproxy_common::multiarch::Arch;
use object::{Object, ObjectKind};
use serde::Serialize;

use crate::config_file::BUILT_IN_CONFIG;
use crate::elf::{self, Identity};
use crate::report::{self, EXIT_OK, Failure};
use crate::shown::{shown, shown_os};

const HELP: &str = concat!(
    "\
Prints lib/<multiarch tuple> for a built libmemproxy.so: the directory under
the prefix where ld.so's $LIB token finds it for the programs of its
architecture (lib/x86_64-linux-gnu, lib/i386-linux-gnu, ...). Refuses a
file that is not a libmemproxy.so, one for an architecture memproxy does not
know, and one whose built-in config path is not this command's, ",
    env!("MEMPROXY_DEFAULT_CONFIG"),
    "
(the library and the command must be built with the same MEMPROXY_PREFIX).
install.sh uses it for --with-library.

Exit status:
  0  the directory was printed
  2  the file was refused, with the reason

Example:
  memproxy lib-dir target/cross/build/i686-unknown-linux-gnu/release/libmemproxy.so"
);

/// Arguments of `memproxy lib-dir`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// A built libmemproxy.so, of any architecture
    #[arg(value_name = "LIBRARY")]
    pub library: PathBuf,
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Placement {
    library: String,
    /// Debian's multiarch tuple.
    tuple: &'static str,
    /// Rust's `target_arch`.
    arch: &'static str,
    bits: u8,
    /// `lib/<tuple>`, relative to the prefix.
    lib_dir: String,
    /// The library's built-in config path.
    config: String,
}

/// Runs `memproxy lib-dir`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let placement = place(&args.library)?;
    if args.json {
        report::print_json(&placement)?;
    } else {
        println!("{}", placement.lib_dir);
    }
    Ok(EXIT_OK)
}

fn place(path: &std::path::Path) -> Result<Placement, Failure> {
    let name = shown_os(path);
    let data =
        std::fs::read(path).map_err(|error| Failure(format!("cannot read {name}: {error}")))?;
    let object = object::File::parse(&*data)
        .ok()
        .filter(|object| Identity::of(object).is_some())
        .ok_or_else(|| {
            Failure(format!(
                "{name} is not an ELF file, so not a libmemproxy.so"
            ))
        })?;
    if object.kind() != ObjectKind::Dynamic || !elf::exports(&object).memproxy {
        return Err(Failure(format!(
            "{name} is not a libmemproxy.so: it does not export {}",
            memproxy_common::MARKER
        )));
    }
    let identity = Identity::of(&object).expect("checked above");
    let arch: &Arch = identity.arch().ok_or_else(|| {
        let known: Vec<&str> = memproxy_common::multiarch::ARCHES
            .iter()
            .map(|arch| arch.tuple)
            .collect();
        Failure(format!(
            "{name} is built for an architecture memproxy does not know ({}); known: {}",
            identity.describe(),
            known.join(", ")
        ))
    })?;
    let config = elf::symbol_bytes(&object, memproxy_common::CONFIG_SYMBOL)
        .and_then(|bytes| bytes.strip_suffix(b"\0").map(<[u8]>::to_vec))
        .ok_or_else(|| {
            Failure(format!(
                "{name} does not export its built-in config path ({}): it predates this \
                 install.sh; rebuild it",
                memproxy_common::CONFIG_SYMBOL
            ))
        })?;
    let config = shown(&config);
    if config != BUILT_IN_CONFIG {
        let built_prefix = config
            .strip_suffix("/etc/memproxy.conf")
            .unwrap_or("another prefix");
        return Err(Failure(format!(
            "{name} reads its config from {config}, but this installation's is \
             {BUILT_IN_CONFIG}: rebuild it with MEMPROXY_PREFIX={} (it was built for {})",
            BUILT_IN_CONFIG
                .strip_suffix("/etc/memproxy.conf")
                .unwrap_or(BUILT_IN_CONFIG),
            if built_prefix.is_empty() {
                "the root prefix"
            } else {
                built_prefix
            }
        )));
    }
    Ok(Placement {
        library: name,
        tuple: arch.tuple,
        arch: arch.rust_arch,
        bits: identity.bits,
        lib_dir: arch.lib_dir().to_string(),
        config,
    })
}
