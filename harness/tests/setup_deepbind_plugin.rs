//! A plugin loaded with `RTLD_DEEPBIND`: two heaps, with or without
//! memproxy. See the test's documentation for the documented outcome (the
//! README's "Wrong and partial set-ups" table).

mod common;

use common::setups::*;
use common::{memproxy, path_of};

use harness::allocators::Owner;

/// The lines `setup-deepbind PLUGIN owners [plain]` prints.
fn owners_line(program: Owner, plugin: Owner) -> String {
    format!("program: {program}\nplugin: {plugin}\n")
}
/// **A plugin dlopened with `RTLD_DEEPBIND`** that calls malloc/free:
/// DEEPBIND puts the plugin's own dependencies (libc) before the global
/// scope for the plugin's lookups, so the plugin's malloc/free are glibc's
/// while the program's are the allocator's: two heaps in one process, with
/// memproxy or without it. A block crossing the boundary kills the process
/// (SIGSEGV, SIGBUS or SIGABRT, depending on the allocator, the direction
/// and where the block landed) as with `LD_PRELOAD=ALLOCATOR` alone: a
/// platform limitation, not memproxy's.
/// Listing the program in the exclusion list avoids it (glibc on both
/// sides; the crossing frees work), as does loading the plugin without
/// `RTLD_DEEPBIND` (the allocator on both sides).
#[test]
fn a_deepbind_plugin_mixes_heaps_with_or_without_memproxy() {
    let plain = Scene::new("");
    let excluded = Scene::new("setup-deepbind\n");
    let program = fixture("setup-deepbind").display().to_string();
    let plugin = fixture("libsetup-deepbind-plugin.so").display().to_string();
    let argv = |mode: &str, deepbind: bool| {
        let mut argv = vec![program.clone(), plugin.clone(), mode.to_owned()];
        if !deepbind {
            argv.push("plain".to_owned());
        }
        argv
    };
    let crossings = ["plugin-to-program", "program-to-plugin"];

    // memproxy alone: glibc on both sides, whatever the binding.
    let ran = plain.run(&argv("owners", true), &memproxy(), false, &[]);
    assert_eq!(
        ran.stdout,
        owners_line(Owner::Glibc, Owner::Glibc),
        "{}",
        ran.describe()
    );
    for mode in crossings {
        let ran = plain.run(&argv(mode, true), &memproxy(), false, &[]);
        assert!(
            ran.succeeded() && ran.stdout == "freed\n",
            "{}",
            ran.describe()
        );
    }

    for allocator in customs() {
        let with = format!("{}:{}", memproxy(), path_of(allocator));
        let without = path_of(allocator);
        for preload in [&with, &without] {
            let ran = plain.run(&argv("owners", true), preload, false, &[]);
            assert_eq!(
                ran.stdout,
                owners_line(allocator.owner, Owner::Glibc),
                "{}",
                ran.describe()
            );
        }
        for mode in crossings {
            let ours = plain.run(&argv(mode, true), &with, false, &[]);
            let platform = plain.run(&argv(mode, true), &without, false, &[]);
            assert!(
                platform.signal().is_some(),
                "{mode} without memproxy was expected to crash: {}",
                platform.describe()
            );
            // The signal itself depends on where the foreign block landed
            // (jemalloc: SIGSEGV, about one run in fifty SIGBUS, with or
            // without memproxy); both must die of the crossing free.
            assert!(
                ours.signal().is_some() && !ours.stdout.contains("freed"),
                "{mode}: memproxy must end as the allocator alone does\n  with: {}\n  without: {}",
                ours.describe(),
                platform.describe()
            );
        }

        // The ways out: exclude the program, or load without DEEPBIND.
        let ran = excluded.run(&argv("owners", true), &with, false, &[]);
        assert_eq!(
            ran.stdout,
            owners_line(Owner::Glibc, Owner::Glibc),
            "{}",
            ran.describe()
        );
        let ran = plain.run(&argv("owners", false), &with, false, &[]);
        assert_eq!(
            ran.stdout,
            owners_line(allocator.owner, allocator.owner),
            "{}",
            ran.describe()
        );
        for mode in crossings {
            for ran in [
                excluded.run(&argv(mode, true), &with, false, &[]),
                plain.run(&argv(mode, false), &with, false, &[]),
            ] {
                assert!(
                    ran.succeeded() && ran.stdout == "freed\n",
                    "{}",
                    ran.describe()
                );
            }
        }
    }
}
