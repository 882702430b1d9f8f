//! The stress tests' shared parts: a fixture of `fixtures/c/stress/`
//! started under memproxy and an allocator on either route, its counts, and
//! the figures the README quotes. Every run has a timeout (a deadlock fails
//! the test instead of hanging the suite), kills its whole process group on
//! the way out (forked children included), and runs with
//! `MEMPROXY_DEBUG=0`, under which stderr must stay empty.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use harness::allocators::{Allocator, Owner};
use test_support::{Artifacts, Dir, Process, Ran};

/// Each run takes well under a second; anything near this is a deadlock.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A stress fixture, built by `fixtures/build.rs`.
pub fn fixture(name: &str) -> std::path::PathBuf {
    Artifacts::shared().fixture(name)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The config lists the fixture: glibc must serve it.
    Excluded,
    /// The config lists something else: the allocator must serve it.
    NotExcluded,
}

impl Route {
    pub const BOTH: [Route; 2] = [Route::Excluded, Route::NotExcluded];

    pub fn label(self) -> &'static str {
        match self {
            Route::Excluded => "excluded",
            Route::NotExcluded => "not excluded",
        }
    }
}

/// The owner the fixture's last line must name, as the oracle spells it.
pub fn expected_owner(allocator: &Allocator, route: Route) -> &'static str {
    if allocator.path.is_none() || route == Route::Excluded {
        Owner::Glibc.label()
    } else if allocator.owner == Owner::Unclaimed {
        "none"
    } else {
        allocator.owner.label()
    }
}

/// One finished fixture run and the `key=value` counts it printed.
pub struct Finished {
    pub ran: Ran,
    pub fields: BTreeMap<String, String>,
    /// The run's directory, which its reproduce line names: kept if a
    /// check on the run fails.
    dir: Option<Dir>,
}

impl Drop for Finished {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.take().map(Dir::keep);
        }
    }
}

impl std::ops::Deref for Finished {
    type Target = Ran;
    fn deref(&self) -> &Ran {
        &self.ran
    }
}

impl Finished {
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key}= in the output\n{}", self.describe()))
    }

    pub fn number(&self, key: &str) -> u64 {
        let text = self.get(key);
        text.parse()
            .unwrap_or_else(|_| panic!("{key}={text} is not a count\n{}", self.describe()))
    }

    /// Exited 0 in time, with nothing on stderr under `MEMPROXY_DEBUG=0`.
    pub fn assert_clean(&self) {
        assert!(
            !self.timed_out,
            "deadlock: no exit in {TIMEOUT:?}\n{}",
            self.describe()
        );
        assert!(
            self.status.is_some_and(|status| status.success()),
            "the fixture failed\n{}",
            self.describe()
        );
        assert!(
            self.stderr.is_empty(),
            "stderr must be empty under MEMPROXY_DEBUG=0\n{}",
            self.describe()
        );
    }

    pub fn assert_eq(&self, key: &str, expected: u64) {
        assert_eq!(self.number(key), expected, "{key}\n{}", self.describe());
    }

    pub fn assert_positive(&self, key: &str) {
        assert!(
            self.number(key) > 0,
            "{key} must be > 0\n{}",
            self.describe()
        );
    }
}

/// A fixture started under memproxy, the allocator and `extra_preload`
/// (in that order), with a config that lists it or not.
pub struct Launch<'a> {
    program: &'a Path,
    args: &'a [&'a str],
    allocator: &'a Allocator,
    route: Route,
    extra_preload: Option<&'a Path>,
    env: &'a [(&'a str, &'a str)],
    debug: &'a str,
}

impl<'a> Launch<'a> {
    /// `program` without arguments, `MEMPROXY_DEBUG=0`.
    pub fn new(program: &'a Path, allocator: &'a Allocator, route: Route) -> Launch<'a> {
        Launch {
            program,
            args: &[],
            allocator,
            route,
            extra_preload: None,
            env: &[],
            debug: "0",
        }
    }

    pub fn args(mut self, args: &'a [&'a str]) -> Launch<'a> {
        self.args = args;
        self
    }

    /// A library preloaded after memproxy and the allocator.
    pub fn extra_preload(mut self, library: &'a Path) -> Launch<'a> {
        self.extra_preload = Some(library);
        self
    }

    pub fn env(mut self, env: &'a [(&'a str, &'a str)]) -> Launch<'a> {
        self.env = env;
        self
    }

    /// The value of `MEMPROXY_DEBUG`.
    pub fn debug(mut self, value: &'a str) -> Launch<'a> {
        self.debug = value;
        self
    }

    pub fn run(&self) -> Finished {
        let dir = Dir::new("stress-");
        let name = self
            .program
            .file_name()
            .and_then(|name| name.to_str())
            .expect("fixture names are UTF-8");
        let listed = match self.route {
            Route::Excluded => name,
            Route::NotExcluded => "some-other-program",
        };
        let config = dir.config(format!("# stress\n{listed}\n"));
        let preload = std::iter::once(Artifacts::shared().memproxy.as_path())
            .chain(self.allocator.path.as_deref())
            .chain(self.extra_preload);
        // Forked children that outlive the fixture are killed with its
        // process group; a deadlock fails at the timeout.
        let ran = Process::new(self.program)
            .args(self.args)
            .preload(preload)
            .config(config)
            .env("MEMPROXY_DEBUG", self.debug)
            .envs(self.env.iter().copied())
            .current_dir(dir.path())
            .own_process_group()
            .timeout(TIMEOUT)
            .run();
        let fields = ran
            .stdout
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        Finished {
            ran,
            fields,
            dir: Some(dir),
        }
    }
}

/// Figures for the README: one line per allocator and route.
pub struct Figures {
    title: &'static str,
    rows: Vec<String>,
}

impl Figures {
    pub fn new(title: &'static str) -> Figures {
        Figures {
            title,
            rows: Vec::new(),
        }
    }

    pub fn add(&mut self, allocator: &Allocator, route: Route, text: String, elapsed: Duration) {
        self.rows.push(format!(
            "  {:<10} {:<13} {text} ({:.2?})",
            allocator.name,
            route.label(),
            elapsed
        ));
    }

    pub fn print(&self) {
        println!("{}:\n{}", self.title, self.rows.join("\n"));
    }
}
