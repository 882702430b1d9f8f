//! `memproxy explain`: the names the library sees (PATH lookup, symlinks,
//! scripts, env) and the verdict of the library's own matcher.

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::*;

fn real_path(path: &str) -> String {
    std::fs::canonicalize(path)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn executable_script(dir: &Path, name: &str, contents: &str) -> String {
    let path = write(dir, name, contents);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn tells_a_listed_program_from_an_unlisted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", "# tools\nls\n");

    let listed = memproxy(&["explain", "ls", "--config", &config])
        .assert()
        .code(0);
    let out = stdout(&listed);
    assert_contains(&out, "execvp(\"ls\") finds /usr/bin/ls on PATH");
    assert_contains(&out, "excluded: line 2 'ls' equals the execfn name");

    let unlisted = memproxy(&["explain", "cat", "--config", &config])
        .assert()
        .code(0);
    assert_contains(&stdout(&unlisted), "not excluded");

    let report = json(
        &memproxy(&["explain", "ls", "--config", &config, "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["excluded"], true);
    assert_eq!(report["route"], "glibc");
    assert_eq!(report["lookup"], "PATH");
    assert_eq!(report["images"][0]["execfn"], "/usr/bin/ls");
    assert_eq!(report["images"][0]["match"]["line"], 2);
    assert_eq!(report["images"][0]["match"]["source"], "execfn name");

    let report = json(
        &memproxy(&["explain", "cat", "--config", &config, "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["excluded"], false);
    assert_eq!(report["route"], "custom");
    assert!(report["images"][0]["match"].is_null());
}

#[test]
fn shows_both_names_of_a_symlink_and_which_one_matched() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("myls");
    symlink("/usr/bin/ls", &link).unwrap();
    let link = link.to_str().unwrap();
    let by_target = write(dir.path(), "target.conf", "ls\n");
    let by_link = write(dir.path(), "link.conf", "myls\n");

    let out = stdout(
        &memproxy(&["explain", link, "--config", &by_target])
            .assert()
            .code(0),
    );
    assert_contains(&out, "(name 'myls')");
    assert_contains(&out, "(name 'ls', symlinks resolved)");
    assert_contains(&out, "excluded: line 1 'ls' equals the exe name");

    let report = json(
        &memproxy(&["explain", link, "--config", &by_link, "--json"])
            .assert()
            .code(0),
    );
    let image = &report["images"][0];
    assert_eq!(image["execfn"], link);
    assert_eq!(image["execfn_name"], "myls");
    assert_eq!(image["exe"], real_path("/usr/bin/ls").as_str());
    assert_eq!(image["exe_name"], "ls");
    assert_eq!(image["match"]["source"], "execfn name");
    assert_eq!(report["lookup"], "as-given");
}

#[test]
fn a_script_is_known_by_its_own_path_and_its_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let script = executable_script(dir.path(), "job.sh", "#!/bin/sh\necho hi\n");
    let by_script = write(dir.path(), "script.conf", "job.sh\n");
    let by_shell = write(
        dir.path(),
        "shell.conf",
        format!("{}\n", real_path("/bin/sh")),
    );

    let report = json(
        &memproxy(&["explain", &script, "--config", &by_script, "--json"])
            .assert()
            .code(0),
    );
    let image = &report["images"][0];
    assert_eq!(image["execfn"], script.as_str());
    assert_eq!(image["exe"], real_path("/bin/sh").as_str());
    assert_eq!(image["interpreters"][0], "/bin/sh");
    assert_eq!(image["match"]["source"], "execfn name");
    assert_eq!(report["excluded"], true);

    let report = json(
        &memproxy(&["explain", &script, "--config", &by_shell, "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["images"][0]["match"]["source"], "exe path");
}

#[test]
fn an_env_script_is_followed_into_the_program_env_runs() {
    let dir = tempfile::tempdir().unwrap();
    let script = executable_script(dir.path(), "tool", "#!/usr/bin/env sh\necho hi\n");
    let config = write(dir.path(), "memproxy.conf", "tool\n");

    let assert = memproxy(&["explain", &script, "--config", &config])
        .assert()
        .code(0);
    let out = stdout(&assert);
    assert_contains(
        &out,
        "image 2: env: execvp(\"sh\") finds /usr/bin/sh on PATH",
    );
    assert_contains(&out, "The program that finally runs is not excluded");

    let report = json(
        &memproxy(&["explain", &script, "--config", &config, "--json"])
            .assert()
            .code(0),
    );
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["exe"], real_path("/usr/bin/env").as_str());
    assert_eq!(images[0]["excluded"], true);
    assert_eq!(images[1]["execfn"], "/usr/bin/sh");
    assert_eq!(images[1]["exe"], real_path("/usr/bin/sh").as_str());
    assert_eq!(images[1]["excluded"], false);
    assert_eq!(report["excluded"], false);
    assert_contains(report["advice"].as_str().unwrap(), "list 'sh'");
}

#[test]
fn a_program_that_cannot_run_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", "ls\n");
    let text = executable_script(dir.path(), "plain", "echo no shebang\n");

    let report = json(
        &memproxy(&[
            "explain",
            "no-such-program-here",
            "--config",
            &config,
            "--json",
        ])
        .assert()
        .code(1),
    );
    assert_eq!(report["runnable"], false);
    assert_contains(report["error"].as_str().unwrap(), "not found on PATH");

    let out = stdout(
        &memproxy(&["explain", &text, "--config", &config])
            .assert()
            .code(1),
    );
    assert_contains(&out, "ENOEXEC");
}

#[test]
fn a_missing_config_excludes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.conf");
    let report = json(
        &memproxy(&["explain", "ls", "--json", "--config"])
            .arg(&absent)
            .assert()
            .code(0),
    );
    assert_eq!(report["config_state"], "missing");
    assert_eq!(report["excluded"], false);
}

#[test]
fn the_config_defaults_to_memproxy_conf() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "env.conf", "ls\n");
    let report = json(
        &memproxy(&["explain", "ls", "--json"])
            .env("MEMPROXY_CONF", &config)
            .assert()
            .code(0),
    );
    assert_eq!(report["config_source"], "memproxy-conf");
    assert_eq!(report["excluded"], true);
}
