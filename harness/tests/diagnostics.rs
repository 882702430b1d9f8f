//! What `MEMPROXY_DEBUG` says, when it says it, and the decisions that only
//! it can show: which config was read and why, and which allocator API was
//! adopted. Ownership is still asked of the allocators wherever it decides.

use std::path::Path;

use harness::allocators::Owner;
use harness::probe::{Output, Seen};
use harness::run::TUNABLES;
use test_support::{Artifacts, Dir, Process, Ran};

use memproxy_common::multiarch::{JEMALLOC, LIB_DIR, LIBC};

fn tbb_scalable() -> String {
    format!("{LIB_DIR}/libtbbmalloc.so.2")
}

fn memproxy() -> String {
    Artifacts::shared().memproxy.display().to_string()
}

fn probe() -> &'static Path {
    &Artifacts::shared().probes[0].path
}

/// `program` in `dir` with `env`, the oracle's tunable and the probe's
/// plugin; it must succeed.
#[track_caller]
fn run(program: &Path, env: &[(&str, &str)], dir: &Path) -> Ran {
    let ran = Process::new(program)
        .current_dir(dir)
        .env("GLIBC_TUNABLES", TUNABLES)
        .env("PROBE_PLUGIN", &Artifacts::shared().plugin)
        .envs(env.iter().copied())
        .run();
    ran.assert_success();
    ran
}

/// Every kind of the probe's output has this one owner.
fn owned_by(output: &str, owner: Owner) -> bool {
    let parsed = Output::parse(output);
    !parsed.allocations.is_empty()
        && parsed
            .allocations
            .iter()
            .all(|allocation| allocation.seen() == Seen::Owner(owner))
}

#[test]
fn the_debug_line_names_everything_the_decision_used() {
    let dir = Dir::new("diagnostics-");
    let program = dir.link("probe-named", probe());
    let config = dir.config("# comment\nother\nprobe-named\n");
    let preload = format!("{}:{JEMALLOC}", memproxy());
    let config_text = config.display().to_string();
    let ran = run(
        &program,
        &[
            ("LD_PRELOAD", &preload),
            ("MEMPROXY_CONF", &config_text),
            ("MEMPROXY_DEBUG", "1"),
        ],
        dir.path(),
    );
    let line = ran.one_debug_line().text;
    let program_path = program
        .canonicalize()
        .expect("canonical")
        .display()
        .to_string();
    for field in [
        "route=glibc reason=excluded".to_owned(),
        format!("allocator=\"{LIBC}\""),
        format!("execfn=\"{}\"", program.display()),
        format!("exe=\"{program_path}\""),
        format!("config=\"{config_text}\" config-source=env config-state=read"),
        "match=3 source=\"execfn name\"".to_owned(),
    ] {
        assert!(line.contains(&field), "{field} missing: {}", ran.describe());
    }
    assert!(owned_by(&ran.stdout, Owner::Glibc), "{}", ran.stdout);
}

#[test]
fn nothing_is_printed_unless_asked() {
    let dir = Dir::new("diagnostics-");
    let preload = format!("{}:{JEMALLOC}", memproxy());
    for debug in [None, Some("0"), Some("")] {
        let mut env = vec![("LD_PRELOAD", preload.as_str())];
        env.extend(debug.map(|value| ("MEMPROXY_DEBUG", value)));
        let ran = run(probe(), &env, dir.path());
        assert!(
            ran.stderr.is_empty(),
            "MEMPROXY_DEBUG={debug:?}: {:?}",
            ran.stderr
        );
        assert!(owned_by(&ran.stdout, Owner::Jemalloc), "{}", ran.stdout);
    }
}

#[test]
fn a_relative_config_path_is_ignored() {
    // Each process would resolve it against its own working directory.
    let dir = Dir::new("diagnostics-");
    dir.file("relative.conf", "probe-c\n");
    let preload = format!("{}:{JEMALLOC}", memproxy());
    let ran = run(
        probe(),
        &[
            ("LD_PRELOAD", &preload),
            ("MEMPROXY_CONF", "relative.conf"),
            ("MEMPROXY_DEBUG", "1"),
        ],
        dir.path(),
    );
    assert!(
        ran.stderr.contains("config-source=env-ignored-relative"),
        "{}",
        ran.stderr
    );
    assert!(
        owned_by(&ran.stdout, Owner::Jemalloc),
        "the relative config was read: {}",
        ran.stdout
    );
}

#[test]
fn a_prefixed_only_allocator_is_adopted_when_preloaded() {
    // libtbbmalloc.so.2 exports only scalable_*: nothing the oracle can query,
    // so its blocks are unclaimed, where glibc's would be claimed.
    assert!(
        Path::new(&tbb_scalable()).exists(),
        "install it with: apt-get install -y libtbbmalloc2"
    );
    let dir = Dir::new("diagnostics-");
    let preload = format!("{}:{}", memproxy(), tbb_scalable());
    let ran = run(
        probe(),
        &[("LD_PRELOAD", &preload), ("MEMPROXY_DEBUG", "1")],
        dir.path(),
    );
    assert!(
        ran.stderr.contains("route=custom") && ran.stderr.contains("api=\"oneTBB (scalable_*)\""),
        "{}",
        ran.stderr
    );
    assert!(owned_by(&ran.stdout, Owner::Unclaimed), "{}", ran.stdout);
}

/// A program that merely links a prefixed-only allocator keeps glibc, as it
/// would without memproxy; so it does when /etc/ld.so.preload names that
/// allocator only in a comment.
#[test]
fn a_prefixed_only_allocator_that_is_only_linked_is_not_adopted() {
    assert!(
        Path::new(&tbb_scalable()).exists(),
        "install it with: apt-get install -y libtbbmalloc2"
    );
    let dir = Dir::new("diagnostics-");
    let program = Artifacts::shared().fixture("linked-tbb");
    let ran = run(
        &program,
        &[("LD_PRELOAD", &memproxy()), ("MEMPROXY_DEBUG", "1")],
        dir.path(),
    );
    assert!(
        ran.stderr
            .contains("route=glibc reason=no-custom-allocator"),
        "{}",
        ran.stderr
    );

    let commented = format!("{}\n# {}\n", memproxy(), tbb_scalable());
    if let Some(ran) = Process::new(&program)
        .etc_preload(commented)
        .debug(true)
        .run_unless_not_allowed()
    {
        ran.assert_success()
            .assert_stderr_contains("route=glibc reason=no-custom-allocator");
    }
}

#[test]
fn a_second_copy_of_memproxy_says_which_copy_serves() {
    let dir = Dir::new("diagnostics-");
    let copy = dir.copy("libmemproxy-copy.so", &Artifacts::shared().memproxy, 0o755);
    let preload = format!("{}:{}:{JEMALLOC}", memproxy(), copy.display());
    let ran = run(
        probe(),
        &[("LD_PRELOAD", &preload), ("MEMPROXY_DEBUG", "1")],
        dir.path(),
    );
    let duplicate = format!("duplicate-of=\"{}\"", memproxy());
    assert!(
        ran.stderr.lines().any(|line| line.contains(&duplicate)),
        "{}",
        ran.stderr
    );
    assert!(owned_by(&ran.stdout, Owner::Jemalloc), "{}", ran.stdout);
}
