//! `memproxy rescue`, and the static memproxy started as init (PID 1): the
//! root remounted read-write, exactly memproxy's entries removed from
//! `etc/ld.so.preload` (foreign ones kept, the old file in `-prev`), and as
//! init, `/sbin/init` executed whatever happened.
//!
//! Every test works on a scratch tree (`--root`) or, for the remount and
//! PID 1, on a tmpfs in a private mount namespace, chrooted into in a new
//! PID namespace: the host's own `/` and `/etc` are never touched. The boot
//! of a real system with `init=` is ci/boot's rescue drill.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// A managed line naming a broken allocator, between foreign contents
/// that must survive byte for byte.
fn broken_preload() -> Vec<u8> {
    format!(
        "# memproxy enable\n{} {}\n{}",
        lib_str(),
        fixture("libcrash-ctor.so").display(),
        FOREIGN
    )
    .into_bytes()
}

/// glibc, harmless in the file, and no final newline.
const FOREIGN: &str = memproxy_common::multiarch::LIBC;

fn root_with(preload: &[u8]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/ld.so.preload"), preload).unwrap();
    root
}

fn file(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join("etc").join(name)).unwrap()
}

#[test]
fn rescue_removes_memproxys_entries_and_keeps_the_foreign_ones() {
    let root = root_with(&broken_preload());
    let report = json(
        &memproxy(&["rescue", "--root", root.path().to_str().unwrap(), "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["written"], true, "{report:#}");
    assert_eq!(report["remounted"], false, "{report:#}");
    assert_eq!(file(root.path(), "ld.so.preload"), FOREIGN.as_bytes());
    assert_eq!(
        file(root.path(), "ld.so.preload.memproxy-prev"),
        broken_preload()
    );

    // Again: nothing left to remove, nothing written.
    let again = memproxy(&["rescue", "--root", root.path().to_str().unwrap()])
        .assert()
        .code(0);
    assert_contains(&stdout(&again), "nothing to remove");
    assert_contains(&stdout(&again), "synced");
    assert_eq!(file(root.path(), "ld.so.preload"), FOREIGN.as_bytes());
}

#[test]
fn a_hand_written_file_loses_its_memproxy_line_and_keeps_the_others() {
    // The README's one-line form, as `echo ... > /etc/ld.so.preload` writes
    // it, with a foreign line and a comment around it.
    let hand_written = format!(
        "# site preloads\n{FOREIGN}\n/usr/local/$LIB/libmemproxy.so {}\n",
        fixture("libcrash-ctor.so").display()
    );
    let root = root_with(hand_written.as_bytes());
    let report = json(
        &memproxy(&["rescue", "--root", root.path().to_str().unwrap(), "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["written"], true, "{report:#}");
    assert_eq!(
        file(root.path(), "ld.so.preload"),
        format!("# site preloads\n{FOREIGN}\n").as_bytes()
    );
    assert_eq!(
        file(root.path(), "ld.so.preload.memproxy-prev"),
        hand_written.as_bytes()
    );
}

#[test]
fn a_root_that_does_not_exist_is_a_clear_error() {
    let assert = memproxy(&["rescue", "--root", "/nonexistent/memproxy-root"])
        .assert()
        .code(2);
    assert_contains(&stderr(&assert), "cannot stat /nonexistent/memproxy-root");
}

/// Runs `script` with `/bin/sh` in a private mount namespace, with `$1` a
/// fresh empty directory for a tmpfs, `$2` the static memproxy, `$3` the
/// preload file to install and `$4` a static stand-in for /sbin/init.
fn in_scratch_namespace(preload: &[u8], script: &str) -> Output {
    require_root("it mounts a read-only tmpfs and chroots into it");
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("root");
    std::fs::create_dir(&mount_point).unwrap();
    let preload_file = dir.path().join("ld.so.preload");
    std::fs::write(&preload_file, preload).unwrap();
    let prefix = test_support::namespace::mount_namespace_prefix()
        .unwrap_or_else(|why| panic!("no usable mount namespace: {why}"));
    let output = std::process::Command::new(&prefix[0])
        .args(&prefix[1..])
        .args(["/bin/sh", "-c", script, "sh"])
        .arg(&mount_point)
        .arg(static_memproxy())
        .arg(&preload_file)
        .arg(static_init(dir.path()))
        .env_remove("LD_PRELOAD")
        .output()
        .expect("unshare runs");
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A statically linked program standing for /sbin/init: it prints its PID
/// and arguments.
fn static_init(dir: &Path) -> std::path::PathBuf {
    let source = dir.join("init.c");
    std::fs::write(
        &source,
        r#"#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    printf("init reached: pid %d, argv:", (int)getpid());
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    return 0;
}
"#,
    )
    .unwrap();
    let binary = dir.join("init");
    let status = std::process::Command::new("gcc")
        .arg("-static")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("gcc runs (./ci/setup installs it)");
    assert!(
        status.success(),
        "gcc -static failed (libc6-dev provides libc.a)"
    );
    binary
}

/// A tmpfs holding a root with the static memproxy, the preload file and
/// /sbin/init, remounted read-only with nosuid and nodev.
const READ_ONLY_ROOT: &str = r#"set -e
    mount -t tmpfs -o nosuid,nodev memproxy-rescue "$1"
    mkdir "$1/etc" "$1/sbin"
    cp "$2" "$1/memproxy"
    cp "$4" "$1/sbin/init"
    if [ -s "$3" ]; then cp "$3" "$1/etc/ld.so.preload"; else mkdir "$1/etc/ld.so.preload"; fi
    mount -o remount,ro,nosuid,nodev "$1"
    set +e
    "#;

#[test]
fn rescue_remounts_a_read_only_root_read_write_and_keeps_its_flags() {
    let script = format!(
        r#"{READ_ONLY_ROOT}
        "$2" rescue --root "$1"; echo "rescue: $?"
        echo "options: $(findmnt -n -o OPTIONS "$1")"
        cat "$1/etc/ld.so.preload""#
    );
    let output = in_scratch_namespace(&broken_preload(), &script);
    let out = String::from_utf8_lossy(&output.stdout);
    assert_contains(&out, "remounted ");
    assert_contains(&out, "rescue: 0");
    let options = out
        .lines()
        .find_map(|line| line.strip_prefix("options: "))
        .unwrap_or_else(|| panic!("no options line in\n{out}"));
    let options: Vec<&str> = options.split(',').collect();
    for option in ["rw", "nosuid", "nodev"] {
        assert!(options.contains(&option), "{option} missing: {options:?}");
    }
    assert!(out.ends_with(&format!("\n{FOREIGN}")), "{out}");
}

#[test]
fn as_init_it_repairs_the_read_only_root_and_execs_sbin_init_with_the_kernels_arguments() {
    // A PID 1 ignores SIGTERM: a rescue that stopped instead of exec'ing
    // would be ended by the SIGKILL of unshare and --kill-child (status 137).
    let script = format!(
        r#"{READ_ONLY_ROOT}
        timeout -s KILL 120 unshare --pid --fork --kill-child chroot "$1" /memproxy single; echo "init exit: $?"
        cat "$1/etc/ld.so.preload""#
    );
    let output = in_scratch_namespace(&broken_preload(), &script);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_contains(&err, "memproxy: started as init (PID 1)");
    assert_contains(&err, "remounted / read-write");
    assert_contains(&err, "disabled: wrote /etc/ld.so.preload");
    assert_contains(&err, "memproxy: continuing the boot: exec /sbin/init");
    assert_contains(&out, "init reached: pid 1, argv: /sbin/init single\n");
    assert_contains(&out, "init exit: 0");
    assert!(out.ends_with(&format!("\n{FOREIGN}")), "{out}");
}

#[test]
fn as_init_an_error_is_printed_and_the_boot_still_continues() {
    // An empty preload argument: etc/ld.so.preload is made a directory,
    // which cannot be read as the file.
    let script = format!(
        r#"{READ_ONLY_ROOT}
        timeout -s KILL 120 unshare --pid --fork --kill-child chroot "$1" /memproxy; echo "init exit: $?""#
    );
    let output = in_scratch_namespace(b"", &script);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_contains(&err, "memproxy: error: cannot read /etc/ld.so.preload");
    assert_contains(&out, "init reached: pid 1, argv: /sbin/init\n");
    assert_contains(&out, "init exit: 0");
}

#[test]
fn as_pid_1_with_a_subcommand_it_runs_that_subcommand() {
    // `memproxy rescue --root /` as PID 1 of a PID namespace is the
    // subcommand, not init mode: it repairs and exits, /sbin/init never
    // runs.
    let script = format!(
        r#"{READ_ONLY_ROOT}
        timeout -s KILL 120 unshare --pid --fork --kill-child chroot "$1" /memproxy rescue --root /; echo "exit: $?""#
    );
    let output = in_scratch_namespace(&broken_preload(), &script);
    let out = String::from_utf8_lossy(&output.stdout);
    assert_contains(&out, "exit: 0");
    assert_lacks(&out, "init reached");
    assert_lacks(&String::from_utf8_lossy(&output.stderr), "started as init");
}
