//! The hostile configs' shared parts: probe-c under memproxy then a custom
//! allocator (the `short` order), with a given config, judged against what
//! `harness::expect` says the config means. The allocators themselves must
//! say that every allocation kind came from glibc when the config lists the
//! program (`probe-plain`) and from the allocator when it does not. No
//! config may hang a process (every start is timed) or crash it (every
//! probe must run to its end record), and memproxy must print nothing
//! (`MEMPROXY_DEBUG` is off) except in the runs that ask it why.

use std::path::Path;
use std::time::{Duration, Instant};

use harness::allocators::{self, Allocator, Owner};
use harness::expect;
use harness::orders::{self, Order};
use harness::probe::{Output, Seen};
use harness::run::{Outcome, Run};
use test_support::artifacts::Probe;
use test_support::{Artifacts, Dir};

/// The name probe-c runs under (harness::run's unlisted default case).
pub const NAME: &str = "probe-plain";
/// No config may make a start take anywhere near this.
pub const START_LIMIT: Duration = Duration::from_secs(10);

/// The custom allocator the configs are tried with: jemalloc unless the
/// run is narrowed, then the first custom allocator selected.
pub fn allocator() -> &'static Allocator {
    let custom: Vec<&Allocator> = allocators::selected()
        .allocators
        .iter()
        .filter(|allocator| allocator.path.is_some() && allocator.exports_malloc)
        .collect();
    custom
        .iter()
        .find(|allocator| allocator.name == "jemalloc")
        .or(custom.first())
        .copied()
        .unwrap_or_else(|| {
            panic!(
                "the hostile configs need a custom allocator; none is selected ({}={:?})",
                allocators::ONLY_VAR,
                std::env::var(allocators::ONLY_VAR).ok()
            )
        })
}

pub fn order() -> &'static Order {
    orders::find("short").expect("the short order: memproxy then the allocator")
}

pub fn probe_c() -> &'static Probe {
    Artifacts::shared().probe("probe-c")
}

/// A private directory anyone may enter (the special files live there).
pub fn open_dir() -> Dir {
    Dir::new("hostile-").open_to_everyone()
}

/// The one owner the probe's allocators named for every kind, or why the
/// run is bad.
pub fn owners(outcome: &Outcome, debug: bool) -> Result<Owner, String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    if !outcome.succeeded() {
        return Err(format!("exited with {:?}", outcome.status));
    }
    if !debug && !outcome.stderr.is_empty() {
        return Err(format!("stderr: {:?}", outcome.stderr));
    }
    let output = Output::parse(&outcome.stdout);
    let kinds = &probe_c().kinds;
    if output.end != Some(kinds.len() as u64) || !output.garbage.is_empty() {
        return Err(format!(
            "ended with {:?} of {} records, garbage {:?}",
            output.end,
            kinds.len(),
            output.garbage
        ));
    }
    let seen: Vec<Seen> = kinds.iter().map(|kind| output.seen(kind)).collect();
    match seen.first() {
        Some(Seen::Owner(owner)) if seen.iter().all(|each| each == &seen[0]) => Ok(*owner),
        _ => Err(format!("not one owner for every kind: {seen:?}")),
    }
}

#[track_caller]
pub fn owners_or_panic(outcome: &Outcome) -> Owner {
    owners(outcome, false).unwrap_or_else(|why| panic!("{why}\n  reproduce: {}", outcome.command))
}

/// A config: its bytes (written as the case's `memproxy.conf`), or a path.
pub enum Config<'a> {
    Bytes(Vec<u8>),
    Path(&'a Path),
}

/// Runs probe-c with `config`, checks that it ran within the limit and
/// that every kind has the owner the config calls for, per
/// `harness::expect` (listed: glibc; not listed: the allocator); returns
/// the outcome, whether the config listed the probe, and how long it took.
#[track_caller]
pub fn check(config: Config<'_>, debug: bool) -> (Outcome, bool, Duration) {
    let allocator = allocator();
    let mut run = Run::new(Artifacts::shared(), probe_c())
        .preloaded(order(), allocator)
        .debug(debug);
    run = match &config {
        Config::Bytes(bytes) => run.config(bytes.clone()),
        // Extra variables are applied last, so this replaces the case's
        // own memproxy.conf.
        Config::Path(path) => run.env("MEMPROXY_CONF", path.to_str().expect("UTF-8 path")),
    };
    let started = Instant::now();
    let outcome = run.go().unwrap_or_else(|why| panic!("{why}"));
    let elapsed = started.elapsed();
    let listed = match &config {
        Config::Bytes(bytes) => expect::listed_bytes(bytes, &outcome.names),
        Config::Path(path) => expect::file_lists(path, &outcome.names),
    };
    let expected = if listed {
        Owner::Glibc
    } else {
        allocator.owner
    };
    let failure = match owners(&outcome, debug) {
        Ok(owner) if owner == expected => None,
        Ok(owner) => Some(format!(
            "the config {} the probe, so every kind must come from {expected}; all came from \
             {owner}",
            if listed { "lists" } else { "does not list" },
        )),
        Err(why) => Some(why),
    }
    .or_else(|| (elapsed >= START_LIMIT).then(|| format!("the start took {elapsed:?}")));
    if let Some(failure) = failure {
        let command = outcome.command.clone();
        let kept = outcome.keep();
        panic!(
            "{failure}\n  reproduce: {command}\n  (case directory kept at {})",
            kept.display()
        );
    }
    (outcome, listed, elapsed)
}

/// Runs with `MEMPROXY_DEBUG=1` and returns memproxy's line about the
/// probe's own process (the probe's forked child prints none: the decision
/// is made once, before the fork).
#[track_caller]
pub fn debug_line(config: Config<'_>) -> String {
    let (outcome, _, _) = check(config, true);
    outcome.one_debug_line().text
}
