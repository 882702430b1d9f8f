//! `memproxy compare`: real commands under glibc and the real allocators,
//! in interleaved rounds; set-ups that part from glibc flagged, not averaged.

mod common;

use common::*;
use serde_json::Value;

fn compare(args: &[&str]) -> assert_cmd::Command {
    let mut full = vec!["compare", "--lib", lib_str()];
    full.extend_from_slice(args);
    memproxy(&full)
}

/// A command that prints the same under every allocator.
const SORTS: &str = "seq 3000 | sort -r | head -n 1";

/// A command whose behaviour depends on the allocator preloaded: jemalloc
/// prints something else of the same length, mimalloc is killed, tcmalloc
/// exits 3.
const PARTS_FROM_GLIBC: &str = r#"case "$LD_PRELOAD" in
    *jemalloc*) echo SAME; exit 0 ;;
    *mimalloc*) echo dying >&2; kill -SEGV $$ ;;
    *tcmalloc*) exit 3 ;;
esac
echo same"#;

fn setup<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["setups"]
        .as_array()
        .expect("setups is an array")
        .iter()
        .find(|setup| setup["name"] == name)
        .unwrap_or_else(|| panic!("no set-up {name} in {report:#}"))
}

/// The table's row for `name`: the line that starts with it.
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in\n{table}"))
}

#[test]
fn the_table_compares_every_allocator_with_glibc() {
    let assert = compare(&["--rounds", "3", "--", "/bin/sh", "-c", SORTS])
        .assert()
        .code(0);
    let table = stdout(&assert);
    assert_eq!(stderr(&assert), "", "nothing but the report when piped");
    let header = row(&table, "set-up");
    for column in [
        "wall s",
        "p25-p75",
        "vs glibc",
        "CPU s",
        "peak RSS MiB",
        "output",
    ] {
        assert_contains(header, column);
    }
    assert!(row(&table, "glibc").ends_with("reference"), "{table}");
    for allocator in ["jemalloc", "mimalloc", "tcmalloc"] {
        let line = row(&table, allocator);
        assert!(line.ends_with("same"), "{table}");
        assert_eq!(line.matches('x').count(), 3, "three ratios: {line}");
        let sentence = table
            .lines()
            .find(|line| line.starts_with(&format!("{allocator}: ")))
            .unwrap_or_else(|| panic!("no sentence for {allocator}:\n{table}"));
        assert!(
            sentence.contains("peak RSS") && sentence.ends_with('.'),
            "{sentence}"
        );
    }
    let rows: String = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
        .iter()
        .map(|name| row(&table, name))
        .collect();
    assert_eq!(
        rows.matches(" *").count(),
        3,
        "one winner per column:\n{table}"
    );
    assert_contains(&table, "* the best in its column");
    assert_contains(&table, "to keep glibc for this program");
    assert_contains(&table, "add `sh` to memproxy.conf.");
}

/// Every run appends the `LD_PRELOAD` it got and the size of its config to
/// a log: the order in which the set-ups really ran.
fn logging_run(mode: &str, rounds: &str) -> (Value, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let script = format!(
        r#"printf '%s %s\n' "${{LD_PRELOAD:-none}}" "$(wc -c < "${{MEMPROXY_CONF:-/dev/null}}")" >> {}"#,
        log.display()
    );
    let assert = compare(&[
        mode,
        "--json",
        "--rounds",
        rounds,
        "--allocator",
        "jemalloc,mimalloc",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ])
    .env("LD_PRELOAD", "libm.so.6")
    .env("MEMPROXY_CONF", "/nonexistent.conf")
    .assert()
    .code(0);
    let log = std::fs::read_to_string(&log).unwrap();
    (json(&assert), log.lines().map(str::to_owned).collect())
}

#[test]
fn rounds_run_every_set_up_once_in_a_rotating_order() {
    let (report, log) = logging_run("--via-memproxy", "4");
    let order = |names: &[&str]| {
        names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>()
    };
    let expected = vec![
        order(&["glibc", "jemalloc", "mimalloc"]),
        order(&["jemalloc", "mimalloc", "glibc"]),
        order(&["mimalloc", "glibc", "jemalloc"]),
        order(&["glibc", "jemalloc", "mimalloc"]),
    ];
    let run_order: Vec<Vec<String>> = serde_json::from_value(report["run_order"].clone()).unwrap();
    assert_eq!(run_order, expected);
    // What each set-up preloads, as the runs saw it, in the order they ran:
    // memproxy in front, the caller's LD_PRELOAD and config not passed on,
    // an empty config.
    let preload = |name: &str| {
        setup(&report, name)["ld_preload"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(preload("glibc"), lib_str());
    assert_eq!(preload("jemalloc"), format!("{}:{JEMALLOC}", lib_str()));
    let seen: Vec<String> = expected
        .concat()
        .iter()
        .map(|name| format!("{} 0", preload(name)))
        .collect();
    assert_eq!(log, seen);
    assert_eq!(report["mode"], "via-memproxy");
    for name in ["glibc", "jemalloc", "mimalloc"] {
        let setup = setup(&report, name);
        assert_eq!(setup["status"], "ok");
        assert_eq!(setup["runs"].as_array().unwrap().len(), 4);
        assert_eq!(setup["figures"]["wall_seconds"]["samples"], 4);
        assert!(setup["figures"]["max_rss_kib"]["median"].as_f64().unwrap() > 0.0);
        let ratios = &setup["figures"]["vs_glibc"];
        assert_eq!(ratios.is_null(), name == "glibc", "{setup:#}");
    }
}

#[test]
fn direct_preloads_each_allocator_alone_and_nothing_for_glibc() {
    let (report, log) = logging_run("--direct", "2");
    assert_eq!(report["mode"], "direct");
    assert!(report["lib"].is_null());
    assert_eq!(setup(&report, "glibc")["ld_preload"], "");
    assert_eq!(setup(&report, "jemalloc")["ld_preload"], JEMALLOC);
    let mimalloc = setup(&report, "mimalloc")["allocator"].as_str().unwrap();
    assert_eq!(
        log,
        [
            "none 0".to_owned(),
            format!("{JEMALLOC} 0"),
            format!("{mimalloc} 0"),
            format!("{JEMALLOC} 0"),
            format!("{mimalloc} 0"),
            "none 0".to_owned(),
        ]
    );
}

#[test]
fn a_set_up_that_parts_from_glibc_is_flagged_and_never_averaged() {
    let args = ["--rounds", "2", "--", "/bin/sh", "-c", PARTS_FROM_GLIBC];
    let json_args: Vec<&str> = ["--json"].iter().chain(&args).copied().collect();
    let report = json(&compare(&json_args).assert().code(1));
    assert_eq!(setup(&report, "glibc")["status"], "ok");
    let expectations = [
        (
            "jemalloc",
            "differs",
            "standard output differs from glibc's (5 bytes, glibc's 5)",
        ),
        ("mimalloc", "crashed", "killed by signal 11; stderr: dying"),
        (
            "tcmalloc",
            "differs",
            "exit status 3, glibc's exit status 0",
        ),
    ];
    for (name, kind, detail) in expectations {
        let flagged = setup(&report, name);
        assert_eq!(flagged["status"], kind, "{flagged:#}");
        assert_eq!(flagged["flag"]["round"], 1);
        assert_eq!(flagged["flag"]["detail"], detail);
        assert!(flagged["figures"].is_null(), "{flagged:#}");
        assert_eq!(flagged["runs"].as_array().unwrap().len(), 2);
    }
    for column in ["wall", "cpu", "max_rss"] {
        assert_eq!(report["winners"][column], "glibc");
    }

    let assert = compare(&args).assert().code(1);
    let table = stdout(&assert);
    assert_contains(
        row(&table, "jemalloc"),
        "DIFFERS (round 1): standard output differs",
    );
    assert_contains(
        row(&table, "mimalloc"),
        "CRASHED (round 1): killed by signal 11",
    );
    assert_contains(row(&table, "tcmalloc"), "DIFFERS (round 1): exit status 3");
    assert_lacks(row(&table, "mimalloc"), "x");
    assert_contains(&table, "mimalloc: crashed in round 1");
    assert_contains(&table, "do not give it this program.");
}

#[test]
fn the_sentences_name_the_measurably_fastest() {
    // Under glibc the command sleeps 50 ms, under mimalloc 200 ms, under
    // jemalloc not at all.
    let script = r#"case "$LD_PRELOAD" in
        *jemalloc*) ;;
        *mimalloc*) sleep 0.2 ;;
        *) sleep 0.05 ;;
    esac"#;
    let assert = compare(&[
        "--rounds",
        "3",
        "--allocator",
        "jemalloc,mimalloc",
        "--",
        "/bin/sh",
        "-c",
        script,
    ])
    .assert()
    .code(0);
    let table = stdout(&assert);
    let sentence = |name: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no sentence for {name}:\n{table}"))
            .to_owned()
    };
    assert!(sentence("jemalloc").ends_with("% faster."), "{table}");
    assert!(sentence("mimalloc").ends_with("% slower."), "{table}");
    assert_contains(&table, "jemalloc is the fastest here (");
    assert_contains(
        &table,
        "% faster than glibc); to keep glibc for this program instead, add `sh` to memproxy.conf.",
    );
    let jemalloc: Vec<&str> = row(&table, "jemalloc").split_whitespace().collect();
    assert_eq!(jemalloc[2], "*", "the best wall time: {table}");
}

#[test]
fn output_that_varies_under_glibc_too_is_not_compared() {
    let report = json(
        &compare(&[
            "--json",
            "--rounds",
            "3",
            "--allocator",
            "jemalloc",
            "--",
            "/bin/sh",
            "-c",
            "echo $$",
        ])
        .assert()
        .code(0),
    );
    assert_eq!(report["stdout_compared"], false);
    assert_eq!(setup(&report, "jemalloc")["status"], "ok");
}

#[test]
fn bad_input_gets_a_clear_error_before_anything_runs() {
    let release = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| memproxy_common::known::release_of_os_release(&text));
    let package = memproxy_common::known::package("mimalloc", release).unwrap();
    let unknown = compare(&["--allocator", "jemalloc,nosuchalloc", "--", "/bin/true"])
        .assert()
        .code(2);
    assert_eq!(stdout(&unknown), "");
    assert_contains(&stderr(&unknown), "unknown allocator 'nosuchalloc'");
    assert_contains(
        &stderr(&unknown),
        &format!("mimalloc (apt-get install {package})"),
    );

    let missing = compare(&["--", "no-such-command-anywhere", "x"])
        .assert()
        .code(2);
    assert_eq!(stdout(&missing), "");
    assert_contains(
        &stderr(&missing),
        "no-such-command-anywhere: command not found in PATH (/usr/bin:/bin)",
    );
    let missing_path = compare(&["--", "/nonexistent/program"]).assert().code(2);
    assert_contains(&stderr(&missing_path), "/nonexistent/program: no such file");

    let zero = compare(&["--rounds", "0", "--", "/bin/true"])
        .assert()
        .code(2);
    assert_contains(&stderr(&zero), "invalid value '0' for '--rounds <N>'");

    let twice = compare(&["--allocator", "mimalloc,mimalloc", "--", "/bin/true"])
        .assert()
        .code(2);
    assert_contains(&stderr(&twice), "mimalloc is listed twice");
}

#[test]
fn a_progress_line_shows_on_a_terminal() {
    // script(1) gives the command a terminal and copies what it shows.
    let memproxy = env!("CARGO_BIN_EXE_memproxy");
    let line = format!(
        "{memproxy} compare --lib {} --rounds 2 --allocator jemalloc -- /bin/true",
        lib_str()
    );
    let shown = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .env_remove("LD_PRELOAD")
        .output()
        .expect("script(1) runs (apt-get install bsdutils)");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{text}");
    for progress in [
        "round 1/2: glibc",
        "round 1/2: jemalloc",
        "round 2/2: glibc",
    ] {
        assert_contains(&text, &format!("\r\x1b[K{progress}"));
    }
    assert_contains(&text, "\r\x1b[Kmemproxy compare: /bin/true");
}
