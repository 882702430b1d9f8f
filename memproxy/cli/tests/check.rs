//! `memproxy check`: entries as the library sees them, warnings with line
//! numbers, errors for configs the library ignores, exit statuses.

mod common;

use std::time::Duration;

use common::*;

const SEED_EXAMPLE: &str = "#ls\n;df\n;du\ntop\ntelegram\nwget\n";

#[test]
fn seed_readme_example_has_three_entries_and_no_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", SEED_EXAMPLE);

    let text = memproxy(&["check", &config]).assert().code(0);
    let out = stdout(&text);
    assert_contains(&out, "line 4  name  top");
    assert_contains(&out, "line 6  name  wget");
    assert_contains(
        &out,
        "ok: 3 entries (3 names, 0 paths); 0 errors, 0 warnings, 0 notes",
    );

    let report = json(
        &memproxy(&["check", "--strict", "--json", &config])
            .assert()
            .code(0),
    );
    let entries: Vec<&str> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["entry"].as_str().unwrap())
        .collect();
    assert_eq!(entries, ["top", "telegram", "wget"]);
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn flags_crlf_padding_and_duplicates_and_explains_path_entries() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "memproxy.conf",
        "top\r\n/usr/bin/htop\n  wget \nvim\ntop\n",
    );

    let out = stdout(&memproxy(&["check", &config]).assert().code(0));
    assert_contains(&out, &format!("{config}:1: warning: CR LF line end"));
    assert_contains(
        &out,
        &format!("{config}:3: warning: blanks around 'wget' are ignored"),
    );
    assert_contains(&out, &format!("{config}:5: warning: 'top' repeats line 1"));
    assert_contains(&out, "line 2  path  /usr/bin/htop");
    assert_contains(
        &out,
        "compared with the full AT_EXECFN path and the /proc/self/exe target",
    );
    assert_contains(&out, "5 entries (4 names, 1 path)");

    let report = json(&memproxy(&["check", "--json", &config]).assert().code(0));
    assert!(has_finding(&report, "crlf", Some(1)), "{report:#}");
    assert!(
        has_finding(&report, "surrounding-blanks", Some(3)),
        "{report:#}"
    );
    assert!(has_finding(&report, "duplicate", Some(5)), "{report:#}");
    assert!(!has_finding(&report, "duplicate", Some(4)), "{report:#}");
    assert_eq!(report["entries"][1]["kind"], "path");
    assert_eq!(report["entries"][2]["entry"], "wget");
    assert_eq!(report["summary"]["paths"], 1);
}

#[test]
fn strict_makes_warnings_exit_1_but_not_notes() {
    let dir = tempfile::tempdir().unwrap();
    let warned = write(dir.path(), "warned.conf", "top\ntop\n");
    let noted = write(dir.path(), "noted.conf", "top");
    let clean = write(dir.path(), "clean.conf", SEED_EXAMPLE);

    memproxy(&["check", &warned]).assert().code(0);
    memproxy(&["check", "--strict", &warned]).assert().code(1);
    let report = json(
        &memproxy(&["check", "--strict", "--json", &warned])
            .assert()
            .code(1),
    );
    assert_eq!(report["exit_code"], 1);

    let out = stdout(&memproxy(&["check", "--strict", &noted]).assert().code(0));
    assert_contains(&out, "note: the file does not end with a newline");
    memproxy(&["check", "--strict", &clean]).assert().code(0);
}

#[test]
fn fifo_config_is_an_error_and_is_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("memproxy.conf");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();

    // Opening a FIFO with no writer blocks: a hang here fails by timeout.
    let assert = memproxy(&["check", fifo])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1);
    let out = stdout(&assert);
    assert_contains(
        &out,
        &format!("{fifo}: error: is a FIFO, not a regular file"),
    );
    assert_contains(&out, "excludes nothing");

    let report = json(
        &memproxy(&["check", "--json", fifo])
            .timeout(Duration::from_secs(10))
            .assert()
            .code(1),
    );
    assert_eq!(report["state"], "not-regular");
    assert!(has_finding(&report, "config-not-regular", None));
}

#[test]
fn missing_config_and_directory_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.conf");
    let out = stdout(
        &memproxy(&["check", missing.to_str().unwrap()])
            .assert()
            .code(1),
    );
    assert_contains(&out, "error: no such file");
    assert_contains(&out, "excludes nothing");

    let report = json(
        &memproxy(&["check", "--json", dir.path().to_str().unwrap()])
            .assert()
            .code(1),
    );
    assert_eq!(report["state"], "not-regular");
    assert_contains(
        report["findings"][0]["message"].as_str().unwrap(),
        "directory",
    );
}

#[test]
fn without_argument_checks_memproxy_conf_like_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "env.conf", "top\n");

    let report = json(
        &memproxy(&["check", "--json"])
            .env("MEMPROXY_CONF", &config)
            .assert()
            .code(0),
    );
    assert_eq!(report["config"], config.as_str());
    assert_eq!(report["config_source"], "memproxy-conf");

    // The library ignores a relative MEMPROXY_CONF and reads the built-in
    // config (absent on a build host, hence exit 1).
    let relative = json(
        &memproxy(&["check", "--json"])
            .current_dir(dir.path())
            .env("MEMPROXY_CONF", "env.conf")
            .assert()
            .code(1),
    );
    assert_eq!(relative["config_source"], "built-in-memproxy-conf-ignored");
    assert_eq!(relative["config"], env!("MEMPROXY_DEFAULT_CONFIG"));
    assert!(
        has_finding(&relative, "relative-config-path", None),
        "{relative:#}"
    );

    let report = json(&memproxy(&["check", "--json"]).assert());
    assert_eq!(report["config_source"], "built-in");
    assert_eq!(report["config"], env!("MEMPROXY_DEFAULT_CONFIG"));
}

#[test]
fn entries_that_can_never_match_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let long_name = "n".repeat(256);
    let longest_name = "m".repeat(255);
    let long_path = format!("/{}", "p".repeat(4095));
    let mut contents = Vec::new();
    for line in [
        "bin/ls",
        "/opt/vendor/",
        &long_name,
        &longest_name,
        &long_path,
        "  # indented comment",
    ] {
        contents.extend_from_slice(line.as_bytes());
        contents.push(b'\n');
    }
    contents.extend_from_slice(b"caf\xe9\nfoo\0bar\n");
    let config = write(dir.path(), "odd.conf", &contents);

    let report = json(&memproxy(&["check", "--json", &config]).assert().code(0));
    assert!(has_finding(&report, "never-matches", Some(1)), "{report:#}");
    assert!(has_finding(&report, "never-matches", Some(2)), "{report:#}");
    assert!(has_finding(&report, "too-long", Some(3)), "{report:#}");
    assert!(!has_finding(&report, "too-long", Some(4)), "{report:#}");
    assert!(has_finding(&report, "too-long", Some(5)), "{report:#}");
    assert!(
        has_finding(&report, "indented-comment", Some(6)),
        "{report:#}"
    );
    assert!(has_finding(&report, "not-utf8", Some(7)), "{report:#}");
    assert!(has_finding(&report, "nul-byte", Some(8)), "{report:#}");
    assert_eq!(report["entries"][0]["can_match"], false);
    assert_eq!(report["entries"][3]["can_match"], true);
    assert_eq!(report["entries"][5]["entry"], "caf\\xe9");
    assert_eq!(report["summary"]["entries"], 7);
}

#[test]
fn json_report_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", "top\n/usr/bin/htop\n");
    let report = json(&memproxy(&["check", "--json", &config]).assert().code(0));
    for field in [
        "config",
        "config_source",
        "state",
        "entries",
        "findings",
        "summary",
        "strict",
        "exit_code",
    ] {
        assert!(report.get(field).is_some(), "no {field} in {report:#}");
    }
    assert_eq!(report["state"], "read");
    assert_eq!(report["config_source"], "argument");
    assert_eq!(report["entries"][0]["line"], 1);
    assert_eq!(report["entries"][1]["kind"], "path");
    for count in ["entries", "names", "paths", "errors", "warnings", "notes"] {
        assert!(report["summary"][count].is_u64(), "summary.{count}");
    }
}
