//! Patterns and `!` lines across the command: `check` flags the lines that
//! cannot do what they seem to, `explain` shows every matching line and the
//! one that decides, and `run --exclude=`/`--include=` write them.

mod common;

use common::*;

fn check_json(contents: &str) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", contents);
    let output = memproxy(&["check", "--json", &config]).output().unwrap();
    let report = serde_json::from_slice(&output.stdout).expect("check --json prints JSON");
    (output.status.code().unwrap(), report)
}

#[test]
fn an_opt_in_list_is_clean() {
    let (code, report) = check_json("*\n!mysqld\n!redis-server\n");
    assert_eq!(code, 0);
    assert_eq!(finding_codes(&report), []);
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries[0]["pattern"], true);
    assert_eq!(entries[1]["negated"], true);
    assert_eq!(entries[1]["entry"], "mysqld");
}

#[test]
fn a_bare_star_without_exceptions_is_an_error() {
    let (code, report) = check_json("top\n*\n");
    assert_eq!(code, 1, "{report}");
    assert!(has_finding(&report, "excludes-everything", Some(2)));
    // The earlier line can never decide under it.
    assert!(has_finding(&report, "overridden", Some(1)));
    let (code, report) = check_json("*\n!\n");
    assert_eq!(code, 1, "a '!' alone is no exception: {report}");
    assert!(has_finding(&report, "bang-alone", Some(2)));
}

#[test]
fn a_bang_line_with_nothing_to_undo_is_flagged() {
    let (_, report) = check_json("!mysqld\nmysqld\n");
    assert!(has_finding(&report, "reincludes-nothing", Some(1)));
    let (_, report) = check_json("python3.*\n!ruby\n");
    assert!(has_finding(&report, "reincludes-other-names-only", Some(2)));
    let (_, report) = check_json("python3.*\n!python3.11\n");
    assert_eq!(finding_codes(&report), []);
}

#[test]
fn overridden_lines_name_the_line_that_overrides_them() {
    let (_, report) = check_json("/usr/sbin/mysqld\nmysql*\n");
    assert!(has_finding(&report, "overridden", Some(1)));
    let message = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["code"] == "overridden")
        .and_then(|finding| finding["message"].as_str())
        .unwrap();
    assert_contains(message, "line 2 'mysql*'");
    // A pattern under a later, narrower line is not overridden.
    let (_, report) = check_json("mysql*\n!mysqld\n");
    assert_eq!(finding_codes(&report), []);
}

#[test]
fn malformed_patterns_are_explained() {
    let (_, report) = check_json("[abc\nx\\\n[[:nope:]]\n");
    for line in 1..=3 {
        assert!(
            has_finding(&report, "invalid-pattern", Some(line)),
            "{report}"
        );
    }
    let long = format!("{}*\n", "a".repeat(5000));
    let (_, report) = check_json(&long);
    assert!(has_finding(&report, "too-long", Some(1)), "{report}");
    assert!(!has_finding(&report, "never-matches", Some(1)));
}

#[test]
fn explain_lists_every_matching_line_and_the_one_that_decides() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", "l*\n# x\n!ls\nls\n!l?\n");
    let text = memproxy(&["explain", "ls", "--config", &config])
        .assert()
        .code(0);
    let out = stdout(&text);
    assert_contains(
        &out,
        "not excluded: line 5 '!l?' re-includes it (matches the execfn name)",
    );
    assert_contains(&out, "every matching line, in order (the last decides):");
    assert_contains(&out, "line 1 'l*' (execfn name): excludes");
    assert_contains(&out, "line 3 '!ls' (execfn name): re-includes");

    let report = json(
        &memproxy(&["explain", "--json", "ls", "--config", &config])
            .assert()
            .code(0),
    );
    let image = &report["images"][0];
    assert_eq!(image["excluded"], false);
    assert_eq!(image["match"]["line"], 5);
    let lines: Vec<u64> = image["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| found["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 3, 4, 5]);
}

fn decision_of(args: &[&str]) -> String {
    let mut all = vec![
        "run",
        "--lib",
        lib_str(),
        "--allocator",
        "jemalloc",
        "--debug",
    ];
    all.extend_from_slice(args);
    all.extend(["--", "/bin/true"]);
    let assert = memproxy(&all).assert().code(0);
    let err = stderr(&assert);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("route=")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_owned()
}

#[test]
fn run_takes_patterns_and_an_include_wins() {
    let line = decision_of(&["--exclude=tr*"]);
    assert_contains(&line, "route=glibc reason=excluded");
    assert_contains(&line, "match=1 source=\"execfn name\" effect=exclude");
    let line = decision_of(&["--exclude=tr*", "--include=true"]);
    assert_contains(&line, "route=custom reason=not-excluded");
    assert_contains(&line, "match=2 source=\"execfn name\" effect=include");
    let line = decision_of(&["--exclude=/usr/bin/*"]);
    assert_contains(&line, "route=glibc");
    assert_contains(&line, "source=\"exe path\"");
}

#[test]
fn run_refuses_a_malformed_pattern() {
    let assert = memproxy(&[
        "run",
        "--lib",
        lib_str(),
        "--exclude=[oops",
        "--",
        "/bin/true",
    ])
    .assert()
    .code(125);
    assert_contains(&stderr(&assert), "'[oops' is not a valid pattern");
}
