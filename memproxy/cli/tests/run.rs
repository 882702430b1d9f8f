//! `memproxy run`: one command under memproxy and a chosen allocator, the
//! library's own debug line as evidence, and the command's status passed on.

mod common;

use common::*;

fn run(args: &[&str]) -> assert_cmd::Command {
    let mut full = vec!["run", "--lib", lib_str()];
    full.extend_from_slice(args);
    memproxy(&full)
}

/// The `memproxy[PID]: ...` lines the library printed.
fn decisions(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("memproxy["))
        .collect()
}

#[test]
fn exclude_routes_the_command_to_glibc() {
    let assert = run(&[
        "--allocator",
        "jemalloc",
        "--exclude",
        "--debug",
        "--",
        "/bin/sh",
        "-c",
        "echo hi",
    ])
    .assert()
    .code(0);
    assert_eq!(stdout(&assert), "hi\n");
    let err = stderr(&assert);
    let lines = decisions(&err);
    assert_eq!(lines.len(), 1, "one process, one decision:\n{err}");
    assert_contains(lines[0], "route=glibc reason=excluded");
    assert_contains(lines[0], "match=1 source=\"execfn name\"");
}

#[test]
fn include_routes_the_command_to_the_allocator() {
    let assert = run(&[
        "--allocator",
        "jemalloc",
        "--include",
        "--debug",
        "--",
        "/bin/sh",
        "-c",
        "echo hi",
    ])
    .assert()
    .code(0);
    assert_eq!(stdout(&assert), "hi\n");
    let err = stderr(&assert);
    let lines = decisions(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert_contains(lines[0], "route=custom reason=not-excluded");
    assert_contains(lines[0], &format!("allocator=\"{JEMALLOC}\""));
}

#[test]
fn include_is_the_default_and_glibc_means_no_allocator() {
    let default = run(&["--debug", "--", "/bin/true"]).assert().code(0);
    assert_contains(&stderr(&default), "route=custom reason=not-excluded");

    let glibc = run(&["--allocator", "glibc", "--debug", "--", "/bin/true"])
        .assert()
        .code(0);
    assert_contains(&stderr(&glibc), "route=glibc reason=no-custom-allocator");
}

#[test]
fn without_debug_the_library_stays_silent() {
    let assert = run(&["--exclude", "--", "/bin/sh", "-c", "echo hi"])
        .assert()
        .code(0);
    assert_eq!(stderr(&assert), "");
}

#[test]
fn the_commands_exit_status_and_signal_are_passed_on() {
    run(&["--", "/bin/sh", "-c", "exit 7"]).assert().code(7);
    run(&["--", "/bin/sh", "-c", "kill -TERM $$"])
        .assert()
        .code(128 + 15);
}

#[test]
fn the_temporary_config_lists_the_command_and_outlives_it() {
    let assert = run(&[
        "--exclude",
        "--json",
        "--",
        "/bin/sh",
        "-c",
        "cat \"$MEMPROXY_CONF\"; echo \"$LD_PRELOAD\"",
    ])
    .assert()
    .code(0);
    let err = stderr(&assert);
    let set_up: serde_json::Value =
        serde_json::from_str(err.lines().next().expect("the JSON line")).unwrap();
    let expected_preload = format!("{}:{JEMALLOC}", lib_str());
    assert_eq!(stdout(&assert), format!("sh\n{expected_preload}\n"));
    assert_eq!(set_up["ld_preload"], expected_preload.as_str());
    assert_eq!(set_up["config_contents"], "sh\n");
    assert_eq!(set_up["excluded"], true);
    let config = set_up["memproxy_conf"].as_str().unwrap();
    assert!(
        !std::path::Path::new(config).exists(),
        "{config} is removed once the command is done"
    );
}

#[test]
fn an_existing_ld_preload_comes_after_memproxy_and_the_allocator() {
    let assert = run(&["--json", "--", "/bin/true"])
        .env("LD_PRELOAD", "libm.so.6")
        .assert()
        .code(0);
    let set_up: serde_json::Value =
        serde_json::from_str(stderr(&assert).lines().next().unwrap()).unwrap();
    assert_eq!(
        set_up["ld_preload"],
        format!("{}:{JEMALLOC}:libm.so.6", lib_str()).as_str()
    );
}

#[test]
fn set_up_failures_exit_125_with_the_reason() {
    let script = run(&["--allocator", LIBC_LINKER_SCRIPT, "--", "/bin/true"])
        .assert()
        .code(125);
    assert_contains(&stderr(&script), "is glibc, not a custom allocator");
    assert_contains(&stderr(&script), "--allocator glibc");

    let unknown = run(&["--allocator", "nosuchalloc", "--", "/bin/true"])
        .assert()
        .code(125);
    assert_contains(&stderr(&unknown), "unknown allocator 'nosuchalloc'");

    let not_memproxy = memproxy(&["run", "--lib", JEMALLOC, "--", "/bin/true"])
        .assert()
        .code(125);
    assert_contains(&stderr(&not_memproxy), "is not libmemproxy.so");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libmemproxy.so");
    let no_lib = memproxy(&["run", "--lib", missing.to_str().unwrap(), "--", "/bin/true"])
        .assert()
        .code(125);
    assert_contains(&stderr(&no_lib), "libmemproxy.so not found");
}

#[test]
fn the_library_is_found_through_memproxy_lib() {
    let assert = memproxy(&["run", "--debug", "--", "/bin/true"])
        .env("MEMPROXY_LIB", lib_str())
        .assert()
        .code(0);
    assert_contains(&stderr(&assert), "route=custom");
}

#[test]
fn a_missing_command_exits_127() {
    let assert = run(&["--", "no-such-command-anywhere"]).assert().code(127);
    assert_contains(&stderr(&assert), "no-such-command-anywhere");
}
