//! Hostile exclusion lists. Each test documents, in its doc comment, what
//! memproxy does with one kind of config, and checks it with probe-c under
//! memproxy then a custom allocator (the `short` order): the allocators
//! themselves must say that every allocation kind came from glibc when the
//! config lists the program (`probe-plain`) and from the allocator when it
//! does not. No config may hang a process (every start is timed) or crash it
//! (every probe must run to its end record), and memproxy must print nothing
//! (`MEMPROXY_DEBUG` is off) except in the runs that ask it why.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::allocators::{self, Allocator, Owner, Selection};
use harness::orders::{self, Order};
use harness::probe::{Output, Seen};
use harness::run::{self, Outcome, Run};
use test_support::artifacts::{Artifacts, Probe};

/// The name probe-c runs under (harness::run's unlisted default case).
const NAME: &str = "probe-plain";
/// No config may make a start take anywhere near this.
const START_LIMIT: Duration = Duration::from_secs(10);

fn selection() -> &'static Selection {
    static SELECTION: OnceLock<Result<Selection, String>> = OnceLock::new();
    match SELECTION.get_or_init(allocators::select_from_env) {
        Ok(selection) => selection,
        Err(error) => panic!("{error}"),
    }
}

/// The custom allocator the configs are tried with: jemalloc unless the
/// run is narrowed, then the first custom allocator selected.
fn allocator() -> &'static Allocator {
    let custom: Vec<&Allocator> = selection()
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

fn order() -> &'static Order {
    orders::find("short").expect("the short order: memproxy then the allocator")
}

fn probe_c() -> &'static Probe {
    Artifacts::shared()
        .probes
        .iter()
        .find(|probe| probe.name == "probe-c")
        .expect("probe-c")
}

/// A private directory anyone may enter (the special files live there).
fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("memproxy-hostile-")
        .tempdir()
        .expect("temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the directory");
    dir
}

/// What the probe's allocators said, per kind, or why the run is bad.
fn owners(outcome: &Outcome, debug: bool) -> Result<Owner, String> {
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

/// Runs probe-c with the config `bytes` (or, with `path`, the config at
/// `path`), checks that it ran within the limit, that every kind has the
/// owner `listed` calls for, and returns the outcome and how long it took.
fn check(config: Config<'_>, listed: bool, debug: bool) -> (Outcome, Duration) {
    let artifacts = Artifacts::shared();
    let allocator = allocator();
    let mut run = Run::new(artifacts, probe_c())
        .preloaded(order(), allocator)
        .debug(debug);
    run = match config {
        Config::Bytes(bytes) => run.config(bytes),
        // Extra variables are applied last, so this replaces the case's
        // own memproxy.conf.
        Config::Path(path) => run.env("MEMPROXY_CONF", path.to_str().expect("UTF-8 path")),
    };
    let started = Instant::now();
    let outcome = run.go().unwrap_or_else(|why| panic!("{why}"));
    let elapsed = started.elapsed();
    let expected = if listed {
        Owner::Glibc
    } else {
        allocator.owner
    };
    match owners(&outcome, debug) {
        Ok(owner) if owner == expected => {}
        Ok(owner) => panic!(
            "expected every kind from {expected}, all came from {owner}\n  reproduce: {}",
            outcome.command
        ),
        Err(why) => panic!("{why}\n  reproduce: {}", outcome.command),
    }
    assert!(
        elapsed < START_LIMIT,
        "the start took {elapsed:?}\n  reproduce: {}",
        outcome.command
    );
    (outcome, elapsed)
}

enum Config<'a> {
    Bytes(Vec<u8>),
    Path(&'a Path),
}

/// Runs with `MEMPROXY_DEBUG=1` and returns memproxy's line about the
/// probe's own process (the probe's forked child prints none: the decision
/// is made once, before the fork).
fn debug_line(config: Config<'_>, listed: bool) -> String {
    let (outcome, _) = check(config, listed, true);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one debug line: {:?}", outcome.stderr);
    lines[0].to_owned()
}

/// A FIFO with no writer is not a regular file: memproxy never opens it
/// (opening it would block until a writer comes), so process start-up does
/// not block and nothing is excluded.
#[test]
fn a_fifo_without_writer_never_blocks_and_excludes_nothing() {
    let dir = open_dir();
    let fifo = dir.path().join("memproxy.conf");
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    check(Config::Path(&fifo), false, false);
    let line = debug_line(Config::Path(&fifo), false);
    assert!(
        line.contains("not-regular") && line.contains("FIFO"),
        "{line}"
    );
}

/// A directory is not a regular file: never opened, nothing excluded.
#[test]
fn a_directory_excludes_nothing() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    std::fs::create_dir(&config).expect("mkdir");
    // A file inside named like the program changes nothing.
    std::fs::write(config.join(NAME), NAME).expect("write");
    check(Config::Path(&config), false, false);
    let line = debug_line(Config::Path(&config), false);
    assert!(
        line.contains("not-regular") && line.contains("directory"),
        "{line}"
    );
}

/// A symlink to /dev/zero resolves to a character device: never opened (an
/// endless read of zeros otherwise), nothing excluded.
#[test]
fn a_symlink_to_dev_zero_is_never_read() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    std::os::unix::fs::symlink("/dev/zero", &config).expect("symlink");
    check(Config::Path(&config), false, false);
    let line = debug_line(Config::Path(&config), false);
    assert!(
        line.contains("not-regular") && line.contains("character device"),
        "{line}"
    );
}

/// A 100 MB config whose last line lists the program excludes it: the file
/// is scanned in one pass with a fixed buffer, whatever its size. Every
/// process that starts pays for the scan; the test prints how much next to
/// a one-line config.
#[test]
fn a_100_mb_config_with_the_entry_on_its_last_line_excludes() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    let line = b"# a comment line that pads the exclusion list to one hundred MB\n";
    let mut text = Vec::with_capacity(100 * 1024 * 1024 + 64);
    while text.len() + line.len() < 100 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    text.extend_from_slice(format!("{NAME}\n").as_bytes());
    std::fs::write(&config, &text).expect("write 100 MB");
    let small = dir.path().join("small.conf");
    std::fs::write(&small, format!("{NAME}\n")).expect("write");

    // Warm the page cache, then compare interleaved starts.
    check(Config::Path(&config), true, false);
    let (mut big_times, mut small_times) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        big_times.push(check(Config::Path(&config), true, false).1);
        small_times.push(check(Config::Path(&small), true, false).1);
    }
    big_times.sort();
    small_times.sort();
    println!(
        "probe-c start to exit (median of 3): 100 MB config {:?}, one-line config {:?} \
         (one scan per start: the probe's forked child inherits the decision)",
        big_times[1], small_times[1]
    );
    let line = debug_line(Config::Path(&config), true);
    let expected_line = text.iter().filter(|&&b| b == b'\n').count();
    assert!(line.contains(&format!("match={expected_line} ")), "{line}");
}

/// Random bytes (NUL included) with no line equal to the name exclude
/// nothing; the same garbage around a line holding just the name excludes.
#[test]
fn binary_garbage_is_read_safely() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut garbage = Vec::with_capacity(256 * 1024);
    while garbage.len() < 256 * 1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        garbage.extend_from_slice(&state.to_le_bytes());
    }
    assert!(garbage.contains(&0) && garbage.contains(&b'\n'));
    assert!(
        !garbage
            .split(|&b| b == b'\n')
            .any(|line| line.trim_ascii().eq(NAME.as_bytes())),
        "the garbage must not list the name by chance"
    );
    check(Config::Bytes(garbage.clone()), false, false);
    let mut around = garbage.clone();
    around.extend_from_slice(format!("\n{NAME}\n").as_bytes());
    around.extend_from_slice(&garbage);
    check(Config::Bytes(around), true, false);
}

/// NUL bytes on the lines around an entry do not hide it; a NUL inside the
/// entry's own line is part of the entry (only blanks are trimmed), so that
/// line names no program.
#[test]
fn nul_bytes_around_an_entry() {
    check(
        Config::Bytes(format!("\0\0\0\n{NAME}\n\0\0\0\n").into_bytes()),
        true,
        false,
    );
    check(
        Config::Bytes(format!("{NAME}\0\n").into_bytes()),
        false,
        false,
    );
    check(
        Config::Bytes(format!("\0{NAME}\n").into_bytes()),
        false,
        false,
    );
}

/// A 100,000-character line (longer than any buffer memproxy has) is
/// skipped as it streams past; the entry after it still excludes.
#[test]
fn a_100_000_character_line_before_the_entry() {
    let long = "x".repeat(100_000);
    check(
        Config::Bytes(format!("{long}\n{NAME}\n").into_bytes()),
        true,
        false,
    );
    // The long line itself, ending in the name, is not the name.
    check(
        Config::Bytes(format!("{long}{NAME}\n").into_bytes()),
        false,
        false,
    );
}

/// The last line counts without a final newline.
#[test]
fn no_final_newline() {
    check(
        Config::Bytes(format!("# list\n{NAME}").into_bytes()),
        true,
        false,
    );
}

/// CRLF line ends: `\r` is a blank, trimmed like spaces.
#[test]
fn crlf_line_ends() {
    check(
        Config::Bytes(format!("# list\r\nother\r\n{NAME}\r\n").into_bytes()),
        true,
        false,
    );
}

/// A file of comments (`#` and `;`, even naming the program) and blank lines
/// excludes nothing.
#[test]
fn only_comments() {
    check(
        Config::Bytes(format!("# {NAME}\n;{NAME}\n  #{NAME}\n\n \t\r\n").into_bytes()),
        false,
        false,
    );
}

/// An unreadable config (mode 000) excludes nothing. Root reads any file
/// whatever its mode, so the probe runs as nobody (uid 65534, through
/// setpriv); it is not AT_SECURE (real and effective ids are equal), so
/// MEMPROXY_CONF still applies, and memproxy says why it read nothing.
#[test]
fn an_unreadable_config_excludes_nothing() {
    let dir = open_dir();
    // probe-c, and the plugin it dlopens, where nobody can reach them.
    let probe = dir.path().join(NAME);
    test_support::scratch::copy_executable(&probe_c().path, &probe).expect("copy probe-c");
    let plugin = dir.path().join("libprobe-plugin.so");
    std::fs::copy(&Artifacts::shared().plugin, &plugin).expect("copy the plugin");
    // So are memproxy and the allocator (the .so under target/ is only
    // readable by nobody if every directory above it is searchable).
    let memproxy = dir.path().join("libmemproxy.so");
    std::fs::copy(&Artifacts::shared().memproxy, &memproxy).expect("copy memproxy");
    let allocator = allocator();
    let allocator_path = allocator.path.as_ref().expect("a custom allocator");
    for path in [&probe, &plugin, &memproxy] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let config = dir.path().join("memproxy.conf");
    std::fs::write(&config, format!("{NAME}\n")).expect("write");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");

    let run_as = |uid: &str, debug: bool| {
        let mut command = Command::new("/usr/bin/setpriv");
        command
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "--",
            ])
            .arg(&probe)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GLIBC_TUNABLES", run::TUNABLES)
            .env("PROBE_PLUGIN", &plugin)
            .env("MEMPROXY_CONF", &config)
            .env(
                "LD_PRELOAD",
                format!("{}:{}", memproxy.display(), allocator_path.display()),
            )
            .current_dir(dir.path());
        if debug {
            command.env("MEMPROXY_DEBUG", "1");
        }
        let shown = format!("{command:?}");
        let (status, timed_out, stdout, stderr) = run::execute(command).expect("start setpriv");
        assert!(!timed_out, "timed out: {shown}");
        assert!(
            status.is_some_and(|status| status.success()),
            "{status:?}: {stderr}\n  {shown}"
        );
        (stdout, stderr, shown)
    };
    let owner_of = |stdout: &str, shown: &str| {
        let output = Output::parse(stdout);
        let seen: Vec<Seen> = probe_c()
            .kinds
            .iter()
            .map(|kind| output.seen(kind))
            .collect();
        assert!(
            seen.iter().all(|each| each == &seen[0]),
            "mixed owners {seen:?}\n  {shown}"
        );
        seen[0].clone()
    };

    // As nobody: unreadable, nothing excluded, nothing printed.
    let (stdout, stderr, shown) = run_as("65534", false);
    assert!(stderr.is_empty(), "{stderr}\n  {shown}");
    assert_eq!(
        owner_of(&stdout, &shown),
        Seen::Owner(allocator.owner),
        "{shown}"
    );
    let (_, stderr, shown) = run_as("65534", true);
    assert!(
        stderr.contains("unreadable") && stderr.contains("errno=13"),
        "{stderr}\n  {shown}"
    );
    // As root the same file is read, and excludes: the mode is what differs.
    let (stdout, _, shown) = run_as("0", false);
    assert_eq!(
        owner_of(&stdout, &shown),
        Seen::Owner(Owner::Glibc),
        "{shown}"
    );
}

/// A config replaced by rename(2) while processes start is read whole-old
/// or whole-new: a writer thread renames a listing and a non-listing
/// version over the path without pause while 200 probes start, and every
/// probe is served by one allocator for all its kinds (glibc or the custom
/// one), never mixed, never crashed. Both versions must have been seen.
#[test]
fn a_config_replaced_while_processes_start() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    std::fs::write(&config, "# initial\n").expect("write");
    let stop = AtomicBool::new(false);
    let allocator = allocator();
    let (mut listed, mut unlisted) = (0, 0);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let versions = [
                (dir.path().join("listed.tmp"), format!("# listed\n{NAME}\n")),
                (
                    dir.path().join("unlisted.tmp"),
                    "# unlisted\nother\n".to_owned(),
                ),
            ];
            let mut renames = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (temporary, text) = &versions[(renames % 2) as usize];
                std::fs::write(temporary, text).expect("write a version");
                std::fs::rename(temporary, &config).expect("rename over the config");
                renames += 1;
            }
            renames
        });
        let starts: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut owners = Vec::new();
                    for _ in 0..100 {
                        let outcome = Run::new(Artifacts::shared(), probe_c())
                            .preloaded(order(), allocator)
                            .env("MEMPROXY_CONF", config.to_str().expect("UTF-8"))
                            .go()
                            .unwrap_or_else(|why| panic!("{why}"));
                        let owner = owners_or_panic(&outcome);
                        owners.push(owner);
                    }
                    owners
                })
            })
            .collect();
        let results: Vec<_> = starts.into_iter().map(|start| start.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let renames = writer.join().expect("the writer");
        for result in results {
            for owner in result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)) {
                if owner == Owner::Glibc {
                    listed += 1;
                } else {
                    assert_eq!(owner, allocator.owner);
                    unlisted += 1;
                }
            }
        }
        println!("200 starts during {renames} renames: {listed} listed, {unlisted} not listed");
    });
    assert_eq!(listed + unlisted, 200);
    assert!(
        listed > 0 && unlisted > 0,
        "both versions must have been seen: {listed} listed, {unlisted} not listed"
    );
}

fn owners_or_panic(outcome: &Outcome) -> Owner {
    owners(outcome, false).unwrap_or_else(|why| panic!("{why}\n  reproduce: {}", outcome.command))
}

/// The special files above are judged by what they are, not by luck: the
/// same content in a regular file does exclude.
#[test]
fn the_same_content_in_a_regular_file_excludes() {
    let dir = open_dir();
    let config: PathBuf = dir.path().join("memproxy.conf");
    std::fs::write(&config, format!("{NAME}\n")).expect("write");
    check(Config::Path(&config), true, false);
    let line = debug_line(Config::Path(&config), true);
    assert!(line.contains("route=glibc reason=excluded"), "{line}");
}
