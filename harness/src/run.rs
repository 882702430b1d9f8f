//! Starting a probe the way a case says: named, laid out and launched per
//! the [`NameCase`], preloaded per the [`Order`], with the case's exclusion
//! list.
//!
//! ```no_run
//! # use harness::{run::Run, allocators::Allocator, names, orders};
//! # use test_support::Artifacts;
//! let artifacts = Artifacts::shared();
//! let outcome = Run::new(artifacts, &artifacts.probes[0])
//!     .named(names::find("symlink-name").unwrap())
//!     .preloaded(orders::find("seed").unwrap(), &Allocator::glibc())
//!     .go()
//!     .unwrap();
//! println!("{}", outcome.command);
//! ```

use std::path::{Path, PathBuf};

use test_support::artifacts::{Artifacts, Probe};
use test_support::{NotRun, Process, Ran, path_str, scratch};

use crate::allocators::{Allocator, LIB_DIR};
use crate::expect::{self, KernelNames};
use crate::names::{Launch, Layout, NameCase};
use crate::orders::{self, Order, Source, Tokens};

/// glibc's real object; `LIBC` in an order. Never the `libc.so` linker script.
pub const LIBC: &str = memproxy_common::multiarch::LIBC;
/// Small blocks must move glibc's `mallinfo2` counters for the oracle.
pub const TUNABLES: &str = "glibc.malloc.tcache_count=0";
/// One probe run, built up fluently.
pub struct Run<'a> {
    artifacts: &'a Artifacts,
    probe: &'a Probe,
    case: Option<&'a NameCase>,
    order: Option<(&'a Order, &'a Allocator)>,
    debug: bool,
    config: Option<Vec<u8>>,
    extra_env: Vec<(String, String)>,
}

/// What a run produced: the process's [`Ran`] (status, streams, the
/// command line that reproduces it while `dir` exists), and the case's
/// facts.
#[derive(Debug)]
pub struct Outcome {
    pub ran: Ran,
    /// The names the specification says the kernel gave the program.
    pub names: KernelNames,
    /// The case directory; kept on disk when [`Outcome::keep`] is called.
    pub dir: tempfile::TempDir,
    pub config: String,
}

impl std::ops::Deref for Outcome {
    type Target = Ran;
    fn deref(&self) -> &Ran {
        &self.ran
    }
}

impl Outcome {
    /// Keeps the case directory for inspection and returns its path.
    pub fn keep(self) -> PathBuf {
        scratch::keep(self.dir)
    }
}

impl<'a> Run<'a> {
    pub fn new(artifacts: &'a Artifacts, probe: &'a Probe) -> Run<'a> {
        Run {
            artifacts,
            probe,
            case: None,
            order: None,
            debug: false,
            config: None,
            extra_env: Vec::new(),
        }
    }

    /// Names, lays out and launches the probe as `case` says, with its
    /// exclusion list. Without it the probe runs as `probe-plain`, unlisted.
    pub fn named(mut self, case: &'a NameCase) -> Self {
        self.case = Some(case);
        self
    }

    pub fn preloaded(mut self, order: &'a Order, allocator: &'a Allocator) -> Self {
        self.order = Some((order, allocator));
        self
    }

    /// Sets `MEMPROXY_DEBUG=1`.
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Replaces the case's exclusion list.
    pub fn config(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.config = Some(bytes.into());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.extra_env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn go(self) -> Result<Outcome, NotRun> {
        let case = self.case.unwrap_or(&PLAIN);
        let dir = scratch::directory("case-")
            .map_err(|error| NotRun::Setup(format!("temporary directory: {error}")))?;
        let dir_path = dir
            .path()
            .canonicalize()
            .map_err(|error| NotRun::Setup(error.to_string()))?;
        let setup =
            |error: std::io::Error| NotRun::Setup(format!("laying out {}: {error}", case.id));
        lay_out(&self.probe.path, case, &dir_path).map_err(setup)?;
        let config_path = dir_path.join("memproxy.conf");
        let config = match &self.config {
            Some(bytes) => bytes.clone(),
            None => expect::config_text(case, &dir_path).into_bytes(),
        };
        std::fs::write(&config_path, &config).map_err(setup)?;

        let mut env: Vec<(String, String)> = vec![
            ("GLIBC_TUNABLES".into(), TUNABLES.into()),
            ("MEMPROXY_CONF".into(), path_str(&config_path)),
            ("PROBE_PLUGIN".into(), path_str(&self.artifacts.plugin)),
        ];
        if self.debug {
            env.push(("MEMPROXY_DEBUG".into(), "1".into()));
        }
        let mut etc_preload = None;
        if let Some((order, allocator)) = self.order {
            let (tokens_owned, library_path) = tokens(self.artifacts, allocator, order);
            let tokens = Tokens {
                memproxy: &tokens_owned.0,
                libc: &tokens_owned.1,
                alloc: tokens_owned.2.as_deref(),
            };
            if order.source != Source::EtcPreload {
                env.push(("LD_PRELOAD".into(), orders::expand(order.env, &tokens)));
            }
            if order.source != Source::Environment {
                etc_preload = Some(orders::expand(order.etc, &tokens));
            }
            if let Some(library_path) = library_path {
                env.push(("LD_LIBRARY_PATH".into(), library_path));
            }
        }
        env.extend(self.extra_env.iter().cloned());

        let program = path_str(&dir_path.join(case.file));
        let argv: Vec<String> = match case.launch {
            Launch::Absolute | Launch::Underscore(_) => vec![program],
            Launch::Relative => {
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    r#"cd "$1" && exec ./"$2""#.into(),
                    "sh".into(),
                    path_str(&dir_path),
                    case.file.into(),
                ]
            }
            Launch::PathLookup => vec![
                "/bin/sh".into(),
                "-c".into(),
                r#"exec "$1""#.into(),
                "sh".into(),
                case.file.into(),
            ],
            Launch::SpoofedArgv0(name) => {
                vec![
                    "/bin/bash".into(),
                    "-c".into(),
                    r#"exec -a "$1" "$2""#.into(),
                    "bash".into(),
                    name.into(),
                    program,
                ]
            }
            Launch::EmptyEnvironment => {
                let mut argv = vec!["/usr/bin/env".to_owned(), "-i".to_owned()];
                argv.extend(env.iter().map(|(name, value)| format!("{name}={value}")));
                argv.push(program);
                argv
            }
            Launch::Python => vec![
                "/usr/bin/python3".into(),
                "-c".into(),
                "import subprocess, sys; sys.exit(subprocess.call([sys.argv[1]]) & 0xff)".into(),
                program,
            ],
        };
        if let Launch::PathLookup = case.launch {
            let path = std::env::var("PATH").unwrap_or_default();
            env.push(("PATH".into(), format!("{}:{path}", path_str(&dir_path))));
        }
        if let Launch::Underscore(value) = case.launch {
            env.push(("_".into(), value.into()));
        }
        let mut process = Process::argv(&argv)
            .inherit_env()
            .envs(env)
            .current_dir(&dir_path);
        if let Some(contents) = etc_preload {
            // In the case directory, which a failure keeps.
            process = process.etc_preload(contents).etc_preload_dir(&dir_path);
        }
        let ran = process.try_run()?;
        Ok(Outcome {
            ran,
            names: expect::kernel_names(case, &dir_path),
            dir,
            config: String::from_utf8_lossy(&config).into_owned(),
        })
    }
}

/// The probe under its own unlisted name, started directly.
const PLAIN: NameCase = NameCase {
    id: "plain",
    about: "an unlisted name, started directly",
    file: "probe-plain",
    layout: Layout::Copy,
    launch: Launch::Absolute,
    config: "",
};

/// (memproxy, libc, allocator) as the order writes them, and the
/// `LD_LIBRARY_PATH` that bare names need.
fn tokens(
    artifacts: &Artifacts,
    allocator: &Allocator,
    order: &Order,
) -> ((String, String, Option<String>), Option<String>) {
    let memproxy = path_str(&artifacts.memproxy);
    let alloc = allocator.path.as_deref().map(path_str);
    if !order.bare_names {
        return ((memproxy, LIBC.into(), alloc), None);
    }
    let file_name = |path: &str| {
        Path::new(path)
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
    };
    let directory = |path: &str| Path::new(path).parent().map(path_str).unwrap_or_default();
    let mut dirs = vec![directory(&memproxy)];
    if let Some(alloc) = &alloc {
        dirs.push(directory(alloc));
    }
    dirs.push(LIB_DIR.into());
    let bare = (
        file_name(&memproxy).unwrap_or_default(),
        "libc.so.6".to_owned(),
        alloc.as_deref().and_then(file_name),
    );
    (bare, Some(dirs.join(":")))
}

fn lay_out(probe: &Path, case: &NameCase, dir: &Path) -> std::io::Result<()> {
    // Within the case's own directory, and never a file this process has
    // open for writing: see the scratch module.
    let place = |name: &str| scratch::link_executable(probe, &dir.join(name));
    match case.layout {
        Layout::Copy => place(case.file),
        Layout::Symlink { target } => {
            place(target)?;
            std::os::unix::fs::symlink(target, dir.join(case.file))
        }
        Layout::Hardlink { original } => {
            place(original)?;
            std::fs::hard_link(dir.join(original), dir.join(case.file))
        }
        Layout::Script { interpreter } => {
            place(interpreter)?;
            let shebang = format!("#!{}\n", path_str(&dir.join(interpreter)));
            scratch::write_executable(&dir.join(case.file), shebang.as_bytes())
        }
    }
}
