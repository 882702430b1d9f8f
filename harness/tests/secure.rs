//! AT_SECURE processes (setuid, setgid, file capabilities): memproxy must not
//! let the caller's environment choose what a privileged process reads or
//! prints. A setuid-root copy of probe-c, started by nobody (uid 65534,
//! through setpriv) with memproxy and an allocator in `/etc/ld.so.preload`
//! (inside a private mount namespace, see `test_support::namespace`),
//! ignores `MEMPROXY_CONF` (which lists it) and `MEMPROXY_DEBUG=1`: it prints
//! nothing and takes the custom route, since the built-in config path does
//! not exist here. A copy without the setuid bit, started the same way,
//! honours both, which shows the difference is AT_SECURE; a setuid copy of
//! `od` shows the kernel really sets AT_SECURE for such a start here (a
//! `nosuid` mount would not). `LD_PRELOAD` is ignored by ld.so for the setuid
//! copy, so `/etc/ld.so.preload` is the only way memproxy gets into it.
//!
//! Needs root (setuid-root files, setpriv, mount namespaces); CI runs as
//! root. Everything nobody must read is copied into a private directory made
//! world-readable, so the test does not depend on the permissions above
//! `target/`.

use std::path::{Path, PathBuf};

use harness::allocators::{self, Allocator, Owner};
use harness::probe::{Output, Seen};
use harness::run;
use test_support::{Artifacts, Dir, Process, Ran};

/// The setuid copy's name, listed in the config it must ignore.
const SETUID_NAME: &str = "probe-setuid";
/// The plain copy's name, listed in the same config, which it must honour.
const PLAIN_NAME: &str = "probe-nosuid";
/// The built-in config path (`MEMPROXY_PREFIX` unset at build time).
const DEFAULT_CONFIG: &str = "/usr/local/etc/memproxy.conf";
const AT_SECURE: u64 = 23;
const NOBODY: u32 = 65534;

fn custom_allocators() -> Vec<&'static Allocator> {
    let custom: Vec<&Allocator> = allocators::selected()
        .allocators
        .iter()
        .filter(|allocator| allocator.path.is_some() && allocator.exports_malloc)
        .collect();
    assert!(
        !custom.is_empty(),
        "AT_SECURE needs a custom allocator to tell the routes apart; none is selected"
    );
    custom
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test makes setuid-root files and mount namespaces: run it as root (CI does)"
    );
}

/// A world-readable directory holding everything nobody runs or loads.
struct Stage {
    dir: Dir,
    setuid_probe: PathBuf,
    plain_probe: PathBuf,
    setuid_od: PathBuf,
    plugin: PathBuf,
    memproxy: PathBuf,
    config: PathBuf,
}

impl Stage {
    fn new() -> Stage {
        require_root();
        // Reachable by nobody, and where setuid bits count (not a nosuid
        // tmpfs /tmp).
        let dir = Dir::setuid_capable("secure-");
        let artifacts = Artifacts::shared();
        let probe_c = &artifacts.probe("probe-c").path;
        // Fresh copies are owned by root, the user running the test.
        let stage = Stage {
            setuid_probe: dir.copy(SETUID_NAME, probe_c, 0o4755),
            plain_probe: dir.copy(PLAIN_NAME, probe_c, 0o755),
            setuid_od: dir.copy("od-setuid", "/usr/bin/od", 0o4755),
            plugin: dir.copy("libprobe-plugin.so", &artifacts.plugin, 0o755),
            memproxy: dir.copy("libmemproxy.so", &artifacts.memproxy, 0o755),
            config: dir.config(format!(
                "# lists both copies\n{SETUID_NAME}\n{PLAIN_NAME}\n"
            )),
            dir,
        };
        stage.dir.chmod("memproxy.conf", 0o644);
        stage
    }

    /// The allocator, copied next to memproxy.
    fn allocator_copy(&self, allocator: &Allocator) -> PathBuf {
        let path = allocator.path.as_ref().expect("a custom allocator");
        let name = path.file_name().expect("a file name");
        let copy_path = self.dir.join(name);
        if copy_path.exists() {
            copy_path
        } else {
            self.dir.copy(name, path, 0o755)
        }
    }
}

/// Starts `program args` as nobody with `env`: through `/etc/ld.so.preload`
/// holding `etc_preload` when given (in a private mount namespace). The
/// variables reach the program alone (see `Process::as_user`): no other
/// process of the chain (sh, mount, setpriv: all preloaded too once the
/// file is bound) starts with `MEMPROXY_DEBUG` set. It must succeed.
fn start_as_nobody(
    stage: &Stage,
    etc_preload: Option<&str>,
    program: &Path,
    args: &[&str],
    env: &[(&str, String)],
) -> Ran {
    let mut process = Process::new(program)
        .args(args)
        .as_user(NOBODY)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(stage.dir.path());
    if let Some(contents) = etc_preload {
        process = process.etc_preload(contents);
    }
    let ran = process.run();
    ran.assert_success();
    ran
}

/// The variables the caller sets, that an AT_SECURE program must ignore.
fn caller_env(stage: &Stage) -> Vec<(&'static str, String)> {
    vec![
        ("MEMPROXY_DEBUG", "1".to_owned()),
        ("MEMPROXY_CONF", stage.config.display().to_string()),
        ("GLIBC_TUNABLES", run::TUNABLES.to_owned()),
        ("PROBE_PLUGIN", stage.plugin.display().to_string()),
    ]
}

/// What the allocators said about every kind the probe made.
fn kinds_seen(started: &Ran) -> Vec<Seen> {
    let output = Output::parse(&started.stdout);
    let kinds = &Artifacts::shared().probes[0].kinds;
    assert_eq!(
        output.end,
        Some(kinds.len() as u64),
        "the probe did not finish\n  command: {}\n  stderr: {}",
        started.command,
        started.stderr
    );
    kinds.iter().map(|kind| output.seen(kind)).collect()
}

/// The one owner of every kind the probe made.
fn owner(started: &Ran) -> Owner {
    let seen = kinds_seen(started);
    match seen.first() {
        Some(Seen::Owner(owner)) if seen.iter().all(|each| each == &seen[0]) => *owner,
        _ => panic!("not one owner: {seen:?}\n  command: {}", started.command),
    }
}

/// AT_SECURE of `od`'s own process, from the auxiliary vector it prints.
fn at_secure(started: &Ran) -> u64 {
    let numbers: Vec<u64> = started
        .stdout
        .split_whitespace()
        .map(|word| word.parse().expect("od -tu8 prints numbers"))
        .collect();
    numbers
        .chunks_exact(2)
        .find(|pair| pair[0] == AT_SECURE)
        .map(|pair| pair[1])
        .unwrap_or_else(|| panic!("no AT_SECURE in the auxv: {numbers:?}"))
}

#[test]
fn a_setuid_program_ignores_memproxy_conf_and_memproxy_debug() {
    let stage = Stage::new();
    assert!(
        !Path::new(DEFAULT_CONFIG).exists(),
        "{DEFAULT_CONFIG} exists on this host: the setuid program would read it, and the \
         expected route would depend on it"
    );
    for allocator in custom_allocators() {
        let preload = format!(
            "{} {}\n",
            stage.memproxy.display(),
            stage.allocator_copy(allocator).display()
        );
        let env = caller_env(&stage);

        // The kernel makes this start AT_SECURE here, and not the plain one.
        let od = |program: &Path| {
            start_as_nobody(
                &stage,
                Some(&preload),
                program,
                &["-An", "-tu8", "-v", "/proc/self/auxv"],
                &env,
            )
        };
        let secure_od = od(&stage.setuid_od);
        assert_eq!(at_secure(&secure_od), 1, "{}", secure_od.command);
        assert!(
            secure_od.stderr.is_empty(),
            "memproxy printed in an AT_SECURE process: {}",
            secure_od.stderr
        );
        let plain_od = od(Path::new("/usr/bin/od"));
        assert_eq!(at_secure(&plain_od), 0, "{}", plain_od.command);

        // The setuid probe: config and debug ignored, the allocator serves
        // it, nothing printed.
        let secure = start_as_nobody(&stage, Some(&preload), &stage.setuid_probe, &[], &env);
        assert!(
            secure.stderr.is_empty(),
            "{}: memproxy must print nothing in an AT_SECURE process, printed {:?}\n  command: {}",
            allocator.name,
            secure.stderr,
            secure.command
        );
        assert_eq!(
            owner(&secure),
            allocator.owner,
            "{}: the setuid program must take the custom route (MEMPROXY_CONF ignored)\n  \
             command: {}",
            allocator.name,
            secure.command
        );

        // The same start of a copy without the setuid bit honours both.
        let plain = start_as_nobody(&stage, Some(&preload), &stage.plain_probe, &[], &env);
        assert_eq!(
            owner(&plain),
            Owner::Glibc,
            "{}: the plain copy is listed\n  command: {}",
            allocator.name,
            plain.command
        );
        let lines: Vec<&str> = plain.stderr.lines().collect();
        assert!(
            lines.len() == 1
                && lines[0].contains("route=glibc reason=excluded")
                && lines[0].contains(PLAIN_NAME),
            "{}: MEMPROXY_DEBUG must print the plain copy's decision: {:?}",
            allocator.name,
            plain.stderr
        );
        println!(
            "{}: setuid copy -> {} (config and debug ignored), plain copy -> glibc, debug: {}",
            allocator.name,
            owner(&secure),
            lines[0]
        );
    }
}

#[test]
fn ld_preload_is_ignored_for_a_setuid_program() {
    let stage = Stage::new();
    for allocator in custom_allocators() {
        let env: Vec<(&str, String)> = caller_env(&stage)
            .into_iter()
            .filter(|(name, _)| *name != "MEMPROXY_CONF")
            .chain([(
                "LD_PRELOAD",
                format!(
                    "{}:{}",
                    stage.memproxy.display(),
                    stage.allocator_copy(allocator).display()
                ),
            )])
            .collect();
        // ld.so drops LD_PRELOAD for the setuid copy: no memproxy, no
        // allocator, so glibc serves it and nothing is printed. glibc also
        // drops GLIBC_TUNABLES' tcache setting there, so small blocks come
        // from tcache, where the oracle cannot see them ("unclaimed"): no
        // block may be the allocator's, and the others must be glibc's.
        let secure = start_as_nobody(&stage, None, &stage.setuid_probe, &[], &env);
        assert!(secure.stderr.is_empty(), "{}", secure.stderr);
        let seen = kinds_seen(&secure);
        assert!(
            seen.iter()
                .all(|seen| matches!(seen, Seen::Owner(Owner::Glibc | Owner::Unclaimed)))
                && seen.contains(&Seen::Owner(Owner::Glibc)),
            "{}: the setuid copy must be glibc's alone: {seen:?}\n  command: {}",
            allocator.name,
            secure.command
        );
        // The plain copy takes LD_PRELOAD: memproxy decides (and says so),
        // and the allocator serves it (no config lists it).
        let plain = start_as_nobody(&stage, None, &stage.plain_probe, &[], &env);
        assert_eq!(owner(&plain), allocator.owner, "{}", plain.command);
        assert!(
            plain.stderr.contains("route=custom reason=not-excluded"),
            "{}",
            plain.stderr
        );
    }
}
