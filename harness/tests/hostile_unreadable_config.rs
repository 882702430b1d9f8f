//! Hostile configs: an unreadable config excludes nothing.
//!
//! Each test runs probe-c under memproxy then a custom allocator with the
//! config, and judges every allocation kind by what `harness::expect` says
//! the config means (see `common::hostile`).

mod common;

use common::hostile::*;

use harness::allocators::Owner;
use harness::probe::{Output, Seen};
use harness::run;
use test_support::{Artifacts, Process, Ran};

/// The user the probe runs as: root reads any file whatever its mode.
const NOBODY: u32 = 65534;

/// An unreadable config (mode 000) excludes nothing. Root reads any file
/// whatever its mode, so the probe runs as nobody (uid 65534, through
/// setpriv); it is not AT_SECURE (real and effective ids are equal), so
/// MEMPROXY_CONF still applies, and memproxy says why it read nothing.
#[test]
fn an_unreadable_config_excludes_nothing() {
    let dir = open_dir();
    // probe-c, the plugin it dlopens, memproxy and the allocator, where
    // nobody can reach them (the .so under target/ is only readable by
    // nobody if every directory above it is searchable).
    let probe = dir.copy(NAME, &probe_c().path, 0o755);
    let plugin = dir.copy("libprobe-plugin.so", &Artifacts::shared().plugin, 0o755);
    let memproxy = dir.copy("libmemproxy.so", &Artifacts::shared().memproxy, 0o755);
    let allocator = allocator();
    let allocator_path = allocator.path.as_ref().expect("a custom allocator");
    let config = dir.config(format!("{NAME}\n"));
    dir.chmod("memproxy.conf", 0o000);

    let run_as = |uid: u32, debug: bool| {
        Process::new(&probe)
            .as_user(uid)
            .env("GLIBC_TUNABLES", run::TUNABLES)
            .env("PROBE_PLUGIN", &plugin)
            .config(&config)
            .preload([memproxy.as_path(), allocator_path])
            .debug(debug)
            .current_dir(dir.path())
            .run()
    };
    let owner_of = |ran: &Ran| {
        ran.assert_success();
        let output = Output::parse(&ran.stdout);
        let seen: Vec<Seen> = probe_c()
            .kinds
            .iter()
            .map(|kind| output.seen(kind))
            .collect();
        assert!(
            seen.iter().all(|each| each == &seen[0]),
            "mixed owners {seen:?}\n{}",
            ran.describe()
        );
        seen[0].clone()
    };

    // As nobody: unreadable, nothing excluded, nothing printed.
    let ran = run_as(NOBODY, false);
    ran.assert_stderr("");
    assert_eq!(
        owner_of(&ran),
        Seen::Owner(allocator.owner),
        "{}",
        ran.describe()
    );
    run_as(NOBODY, true)
        .assert_stderr_contains("config-state=unreadable")
        .assert_stderr_contains("config-errno=13");
    // As root the same file is read, and excludes: the mode is what differs.
    let ran = run_as(0, false);
    assert_eq!(
        owner_of(&ran),
        Seen::Owner(Owner::Glibc),
        "{}",
        ran.describe()
    );
}
