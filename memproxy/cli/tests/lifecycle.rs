//! `memproxy enable` and `memproxy disable`: the host-wide preload file,
//! checked and pre-flighted before it is written, written atomically and
//! under a lock, and removed again exactly.
//!
//! Every test works on a private directory (`--etc`), and whatever runs
//! under a written file runs in a private mount namespace (`in_namespace`,
//! and the pre-flight's own): the host's /etc/ld.so.preload is never
//! touched. They need root, and say so when they do not have it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;

/// A private directory standing for /etc, holding `contents` as its
/// ld.so.preload (none when `None`).
fn etc(contents: Option<&[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(contents) = contents {
        std::fs::write(dir.path().join("ld.so.preload"), contents).unwrap();
    }
    dir
}

fn preload_file(etc: &Path) -> Option<Vec<u8>> {
    std::fs::read(etc.join("ld.so.preload")).ok()
}

fn enable(etc: &Path, allocator: &str, extra: &[&str]) -> assert_cmd::Command {
    require_root("the pre-flight makes private mount namespaces");
    let etc = etc.to_str().unwrap();
    let mut args = vec![
        "enable",
        "--etc",
        etc,
        "--lib",
        lib_str(),
        "--allocator",
        allocator,
    ];
    args.extend_from_slice(extra);
    memproxy(&args)
}

fn disable(etc: &Path) -> assert_cmd::Command {
    memproxy(&["disable", "--etc", etc.to_str().unwrap()])
}

/// Foreign contents enable must keep byte for byte: glibc listed (harmless)
/// and no final newline.
const FOREIGN: &[u8] = memproxy_common::multiarch::LIBC.as_bytes();

#[test]
fn enable_routes_new_processes_and_disable_gives_the_file_back() {
    let etc = etc(Some(FOREIGN));
    let report = json(&enable(etc.path(), "jemalloc", &["--json"]).assert().code(0));
    assert_eq!(report["written"], true, "{report:#}");
    let runs = report["preflight"]["runs"].as_array().unwrap();
    assert!(runs.len() >= 10, "the essential programs ran: {report:#}");
    assert!(runs.iter().all(|run| run["passed"] == true));

    let written = preload_file(etc.path()).unwrap();
    let text = String::from_utf8(written.clone()).unwrap();
    assert_eq!(
        text,
        format!(
            "# memproxy enable\n{} {JEMALLOC}\n{}",
            lib_str(),
            memproxy_common::multiarch::LIBC
        )
    );
    assert_eq!(
        std::fs::read(etc.path().join("ld.so.preload.memproxy-prev")).unwrap(),
        FOREIGN
    );

    // A program started under the new file takes the custom route.
    let output = in_namespace(&written, "MEMPROXY_DEBUG=1 /bin/sh -c 'echo started'");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "started\n",
        "{err}"
    );
    assert_contains(&err, "route=custom reason=not-excluded");
    assert_contains(&err, &format!("allocator=\"{JEMALLOC}\""));

    // Enabling again with the same allocator changes nothing.
    let again = stdout(&enable(etc.path(), "jemalloc", &[]).assert().code(0));
    assert_contains(&again, "unchanged");
    assert_eq!(preload_file(etc.path()).unwrap(), written);

    let out = stdout(&disable(etc.path()).assert().code(0));
    assert_contains(&out, "disabled");
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN, "byte for byte");
    let out = stdout(&disable(etc.path()).assert().code(0));
    assert_contains(&out, "nothing to remove");
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN);
}

#[test]
fn a_file_enable_created_is_removed_by_disable() {
    let etc = etc(None);
    enable(etc.path(), "jemalloc", &[]).assert().code(0);
    assert!(
        preload_file(etc.path())
            .unwrap()
            .starts_with(b"# memproxy enable, file created\n")
    );
    disable(etc.path()).assert().code(0);
    assert_eq!(preload_file(etc.path()), None);
    assert!(
        !etc.path().join("ld.so.preload.memproxy-prev").exists() || {
            std::fs::read(etc.path().join("ld.so.preload.memproxy-prev"))
                .unwrap()
                .starts_with(b"# memproxy enable")
        }
    );
}

#[test]
fn dry_run_shows_the_change_and_the_preflight_and_writes_nothing() {
    let etc = etc(Some(FOREIGN));
    let out = stdout(
        &enable(etc.path(), "jemalloc", &["--dry-run"])
            .assert()
            .code(0),
    );
    assert_contains(&out, &format!("+ {} {JEMALLOC}", lib_str()));
    assert_contains(&out, &format!("  {}", memproxy_common::multiarch::LIBC));
    assert_contains(&out, "same     sh ");
    assert_contains(&out, "dry run");
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN);
    assert!(!etc.path().join("ld.so.preload.memproxy-prev").exists());
}

#[test]
fn a_crashing_allocator_is_refused_by_the_preflight_and_the_file_is_untouched() {
    let etc = etc(Some(FOREIGN));
    let before = std::fs::metadata(etc.path().join("ld.so.preload")).unwrap();
    let crash = fixture("libcrash-ctor.so");
    let assert = enable(etc.path(), crash.to_str().unwrap(), &[])
        .assert()
        .code(1);
    let out = stdout(&assert);
    assert_contains(&out, "DIFFERS  sh         /bin/sh -c 'echo ok'");
    assert_contains(
        &out,
        "killed by signal 6 (SIGABRT) with the new file, exit status 0 with the current one",
    );
    assert_contains(
        &out,
        "programs behave differently under the new file; the first, sh (`/bin/sh -c 'echo \
         ok'`): killed by signal 6 (SIGABRT)",
    );
    assert_contains(&out, "refused");
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN);
    let after = std::fs::metadata(etc.path().join("ld.so.preload")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    assert!(!etc.path().join("ld.so.preload.memproxy-prev").exists());
}

/// Starts `enable` paused between writing the new file and renaming it;
/// returns once it has said so.
fn paused_enable(etc: &Path, allocator: &str) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_memproxy"))
        .args([
            "enable",
            "--etc",
            etc.to_str().unwrap(),
            "--lib",
            lib_str(),
            "--allocator",
            allocator,
        ])
        .env("MEMPROXY_TEST_PAUSE_BEFORE_RENAME", "30")
        .env_remove("LD_PRELOAD")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("pausing") {
        line.clear();
        assert_ne!(
            stderr.read_line(&mut line).unwrap(),
            0,
            "enable ended before the pause"
        );
    }
    (child, stderr)
}

#[test]
fn a_write_killed_before_its_rename_leaves_the_old_file_whole() {
    require_root("the pre-flight makes private mount namespaces");
    let etc = etc(Some(FOREIGN));
    let (mut child, _stderr) = paused_enable(etc.path(), "jemalloc");
    let new = std::fs::read(etc.path().join("ld.so.preload.memproxy-new")).unwrap();
    assert!(
        new.starts_with(b"# memproxy enable\n"),
        "the new file is written and synced"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        preload_file(etc.path()).unwrap(),
        FOREIGN,
        "the old file, whole"
    );

    // The lock died with the process; the next run replaces the leftover.
    enable(etc.path(), "jemalloc", &[]).assert().code(0);
    assert_eq!(preload_file(etc.path()).unwrap(), new);
    assert!(!etc.path().join("ld.so.preload.memproxy-new").exists());
}

#[test]
fn two_enables_at_once_take_turns() {
    require_root("the pre-flight makes private mount namespaces");
    let etc = etc(Some(FOREIGN));
    let (first, mut first_stderr) = paused_enable(etc.path(), "jemalloc");
    let second = Command::new(env!("CARGO_BIN_EXE_memproxy"))
        .args([
            "enable",
            "--etc",
            etc.path().to_str().unwrap(),
            "--lib",
            lib_str(),
        ])
        .args(["--allocator", "mimalloc"])
        .env_remove("LD_PRELOAD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The second waits for the lock the paused first one holds...
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN);
    // ...and goes on once the first ends, killed half-way.
    let mut first = first;
    first.kill().unwrap();
    first.wait().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut first_stderr, &mut rest);
    let output = second.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert_contains(&err, "waiting for another enable or disable to finish");
    let text = String::from_utf8(preload_file(etc.path()).unwrap()).unwrap();
    assert_eq!(text.matches("# memproxy enable").count(), 1, "{text}");
    assert_contains(&text, &format!("{}\n", mimalloc()));
    assert!(text.ends_with(memproxy_common::multiarch::LIBC));
}

#[test]
fn two_enables_started_together_leave_one_whole_file() {
    require_root("the pre-flight makes private mount namespaces");
    let etc = etc(Some(FOREIGN));
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_memproxy"))
            .args(args)
            .args(["--etc", etc.path().to_str().unwrap()])
            .env_remove("LD_PRELOAD")
            .output()
    };
    let lib = lib_str();
    let runs = std::thread::scope(|scope| {
        let handles = [
            scope.spawn(|| spawn(&["enable", "--lib", lib, "--allocator", "jemalloc"])),
            scope.spawn(|| spawn(&["enable", "--lib", lib, "--allocator", "mimalloc"])),
        ];
        handles.map(|handle| handle.join().unwrap().unwrap())
    });
    for output in &runs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8(preload_file(etc.path()).unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "# memproxy enable");
    assert!(
        lines[1] == format!("{lib} {JEMALLOC}") || lines[1].ends_with(&mimalloc()),
        "{text}"
    );
    disable(etc.path()).assert().code(0);
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN);
}

#[test]
fn a_static_disable_repairs_a_host_where_every_program_crashes() {
    let memproxy = static_memproxy();
    let data = std::fs::read(memproxy).unwrap();
    let file = object::File::parse(&*data).unwrap();
    use object::Object;
    assert!(
        file.section_by_name(".interp").is_none(),
        "{} has an ELF interpreter",
        memproxy.display()
    );

    // As enable would have written it, with the broken allocator.
    let broken = format!(
        "# memproxy enable\n{} {}\n{}",
        lib_str(),
        fixture("libcrash-ctor.so").display(),
        memproxy_common::multiarch::LIBC
    );
    let script = format!(
        r#"/bin/true; echo "true before: $?"
        {memproxy} disable; echo "disable: $?"
        /bin/true; echo "true after: $?"
        /bin/cat /etc/ld.so.preload"#,
        memproxy = memproxy.display()
    );
    let output = in_namespace(broken.as_bytes(), &script);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_contains(&out, "true before: 134"); // SIGABRT
    assert_contains(&out, "disable: 0");
    assert_contains(&out, "disabled: wrote /etc/ld.so.preload");
    assert_contains(&out, "true after: 0");
    assert!(
        out.ends_with(&format!("\n{}", memproxy_common::multiarch::LIBC)),
        "{out}\n{err}"
    );
}

#[test]
fn the_preflight_binds_over_an_existing_preload_file() {
    // In a namespace whose /etc has an (empty) ld.so.preload, the
    // pre-flight binds over it rather than covering /etc.
    let etc = etc(Some(FOREIGN));
    let run = |allocator: &str| {
        let script = format!(
            "{} enable --etc {} --lib {} --allocator {allocator} --dry-run --json",
            env!("CARGO_BIN_EXE_memproxy"),
            etc.path().display(),
            lib_str()
        );
        let output = in_namespace(b"", &script);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stderr)));
        report
    };
    let good = run(JEMALLOC);
    assert_eq!(good["preflight"]["method"], "bind", "{good:#}");
    assert_eq!(good["preflight"]["passed"], true, "{good:#}");
    let broken = run(fixture("libcrash-ctor.so").to_str().unwrap());
    assert_eq!(broken["preflight"]["method"], "bind");
    assert_eq!(broken["preflight"]["passed"], false);
    assert_eq!(broken["ok"], false);
    assert_eq!(preload_file(etc.path()).unwrap(), FOREIGN);
}
