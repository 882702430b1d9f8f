//! `memproxy status`: the route each running process took, read from the
//! process itself, checked against the same process's own `MEMPROXY_DEBUG`
//! line; and `--stale` after the config and the preload file change under
//! running processes.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use common::*;

/// A `linger` fixture waiting for the end of its standard input.
struct Lingering {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    stderr: PathBuf,
}

impl Lingering {
    /// Starts `program` with `env`, with MEMPROXY_DEBUG=1, and waits until
    /// it has allocated.
    fn start(program: &Path, env: &[(&str, &str)], dir: &Path, name: &str) -> Lingering {
        let stderr = dir.join(format!("{name}.stderr"));
        let mut command = Command::new(program);
        command
            .env_remove("LD_PRELOAD")
            .env_remove("MEMPROXY_CONF")
            .env("MEMPROXY_DEBUG", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready"), "{name}: {line:?}");
        let stdin = child.stdin.take();
        let pid = child.id();
        Lingering {
            child,
            stdin,
            pid,
            stderr,
        }
    }

    /// The process's own decision line, as `key -> value`.
    fn debug_line(&self) -> serde_json::Map<String, serde_json::Value> {
        let text = std::fs::read_to_string(&self.stderr).unwrap();
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("memproxy[{}]:", self.pid)))
            .unwrap_or_else(|| panic!("no decision line from {}: {text}", self.pid));
        fields(line)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `key=value` fields of a debug line; quoted values unquoted (the tests'
/// paths need no escapes).
fn fields(line: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    let rest = line.split_once("]: ").unwrap().1;
    let mut cursor = rest;
    while let Some((key, after)) = cursor.split_once('=') {
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap();
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(' ').unwrap_or(after.len())),
        };
        map.insert(key.trim().to_owned(), value.into());
        cursor = next;
    }
    map
}

fn status(args: &[&str]) -> serde_json::Value {
    let mut full = vec!["status", "--json"];
    full.extend_from_slice(args);
    json(&memproxy(&full).assert().code(0))
}

fn process(status: &serde_json::Value, pid: u32) -> &serde_json::Value {
    status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|process| process["pid"] == pid)
        .unwrap_or_else(|| panic!("no process {pid} in {status:#}"))
}

#[test]
fn status_reads_each_route_and_reason_from_the_process_itself() {
    let dir = tempfile::tempdir().unwrap();
    let linger = fixture("linger");
    let excluding = write(dir.path(), "excluding.conf", "# list\nlinger\n");
    let other = write(dir.path(), "other.conf", "top\n");
    let missing = dir.path().join("missing.conf");
    let lib = lib_str();
    let with = |allocator: &str| format!("{lib}:{allocator}");
    let cases: Vec<(&str, Lingering)> = vec![
        (
            "excluded",
            Lingering::start(
                &linger,
                &[
                    ("LD_PRELOAD", &with(JEMALLOC)),
                    ("MEMPROXY_CONF", &excluding),
                ],
                dir.path(),
                "excluded",
            ),
        ),
        (
            "not-excluded",
            Lingering::start(
                &linger,
                &[
                    ("LD_PRELOAD", &with(&mimalloc())),
                    ("MEMPROXY_CONF", &other),
                ],
                dir.path(),
                "not-excluded",
            ),
        ),
        (
            "no-custom-allocator",
            Lingering::start(
                &linger,
                &[("LD_PRELOAD", lib), ("MEMPROXY_CONF", &other)],
                dir.path(),
                "no-custom-allocator",
            ),
        ),
        (
            "not-first",
            Lingering::start(
                &linger,
                &[
                    ("LD_PRELOAD", &format!("{JEMALLOC}:{lib}")),
                    ("MEMPROXY_CONF", &excluding),
                ],
                dir.path(),
                "not-first",
            ),
        ),
        (
            "config-missing",
            Lingering::start(
                &linger,
                &[
                    ("LD_PRELOAD", &with(JEMALLOC)),
                    ("MEMPROXY_CONF", missing.to_str().unwrap()),
                ],
                dir.path(),
                "config-missing",
            ),
        ),
        (
            "config-relative",
            Lingering::start(
                &linger,
                &[
                    ("LD_PRELOAD", &with(JEMALLOC)),
                    ("MEMPROXY_CONF", "relative.conf"),
                ],
                dir.path(),
                "config-relative",
            ),
        ),
    ];
    let direct = Lingering::start(&linger, &[("LD_PRELOAD", JEMALLOC)], dir.path(), "direct");
    let plain = Lingering::start(&linger, &[], dir.path(), "plain");
    let statically = Lingering::start(&fixture("linger-static"), &[], dir.path(), "static");

    let mut pids: Vec<String> = cases.iter().map(|(_, case)| case.pid.to_string()).collect();
    pids.extend([direct.pid, plain.pid, statically.pid].map(|pid| pid.to_string()));
    let args: Vec<&str> = pids.iter().map(String::as_str).collect();
    let report = status(&args);

    for (name, case) in &cases {
        let truth = case.debug_line();
        let found = process(&report, case.pid);
        let decision = &found["decision"];
        assert_eq!(found["serving"], "memproxy", "{name}: {found:#}");
        let same = |ours: &serde_json::Value, theirs: &str| {
            assert_eq!(
                ours.as_str()
                    .map(str::to_owned)
                    .or_else(|| ours.as_u64().map(|n| n.to_string())),
                truth
                    .get(theirs)
                    .and_then(|value| value.as_str())
                    .map(str::to_owned),
                "{name}: {theirs} differs: {found:#} against {truth:?}"
            );
        };
        same(&found["route"], "route");
        same(&found["reason"], "reason");
        same(&found["allocator"], "allocator");
        same(&decision["api"], "api");
        same(&decision["straight"], "straight");
        same(&decision["execfn"], "execfn");
        same(&decision["exe"], "exe");
        same(&decision["config"], "config");
        same(&decision["config_source"], "config-source");
        same(&decision["config_state"], "config-state");
        if truth["match"] == "none" {
            assert!(decision.get("match").is_none(), "{name}: {found:#}");
        } else {
            same(&decision["match"], "match");
            same(&decision["source"], "source");
        }
        if let Some(first) = truth.get("first") {
            assert_eq!(&decision["other"], first, "{name}");
        }
        assert_eq!(decision["decider_pid"], case.pid, "{name}");
        assert_eq!(decision["truncated"], false);
        let decided = decision["decided_at"].as_i64().unwrap();
        let started = found["started"].as_i64().unwrap();
        assert!(
            (started - 1..=started + 60).contains(&decided),
            "{name}: {found:#}"
        );
    }
    let read = process(&report, cases[0].1.pid);
    assert_eq!(read["decision"]["match"], 2);
    assert!(
        read["decision"]["config_identity"]["inode"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(process(&report, cases[4].1.pid)["decision"]["config_identity"].is_null());

    let found = process(&report, direct.pid);
    assert_eq!(found["serving"], "direct", "{found:#}");
    assert_contains(found["allocator"].as_str().unwrap(), "libjemalloc.so.2");
    let found = process(&report, plain.pid);
    assert_eq!(found["serving"], "glibc", "{found:#}");
    assert_contains(found["allocator"].as_str().unwrap(), "libc.so.6");
    let found = process(&report, statically.pid);
    assert_eq!(found["serving"], "static", "{found:#}");
    assert!(found.get("allocator").is_none());

    let counted: u64 = report["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|count| count["processes"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 9);

    // The text view says the same.
    let out = stdout(&memproxy(&["status", &pids[0], &pids[8]]).assert().code(0));
    assert_contains(&out, "memproxy  glibc   excluded");
    assert_contains(&out, "static");
    assert_contains(&out, "counts:");
}

#[test]
fn stale_lists_what_a_fresh_start_would_route_differently() {
    let dir = tempfile::tempdir().unwrap();
    let linger = fixture("linger");
    let lib = lib_str();
    let preload = format!("{lib}:{JEMALLOC}");
    let first = write(dir.path(), "first.conf", "linger\n");
    let second = write(dir.path(), "second.conf", "top\n");
    let same = write(dir.path(), "same.conf", "top\n");
    let env = |config: &str| {
        [
            ("LD_PRELOAD", preload.clone()),
            ("MEMPROXY_CONF", config.to_owned()),
        ]
    };
    let start = |env: &[(&str, String)], name: &str| {
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .collect();
        Lingering::start(&linger, &env, dir.path(), name)
    };
    let was_excluded = start(&env(&first), "was-excluded");
    let now_excluded = start(&env(&second), "now-excluded");
    let unchanged = start(&env(&same), "unchanged");
    let other_allocator = start(
        &[
            ("LD_PRELOAD", format!("{lib}:{}", mimalloc())),
            ("MEMPROXY_CONF", same.clone()),
        ],
        "other-allocator",
    );
    let no_allocator = start(
        &[
            ("LD_PRELOAD", lib.to_owned()),
            ("MEMPROXY_CONF", same.clone()),
        ],
        "no-allocator",
    );
    let before_enable = start(&[], "before-enable");
    let statically = Lingering::start(&fixture("linger-static"), &[], dir.path(), "static");

    // Nothing is enabled yet: nobody is stale.
    let etc = tempfile::tempdir().unwrap();
    let etc_arg = etc.path().to_str().unwrap().to_owned();
    let pids: Vec<String> = [
        &was_excluded,
        &now_excluded,
        &unchanged,
        &other_allocator,
        &no_allocator,
        &before_enable,
        &statically,
    ]
    .iter()
    .map(|process| process.pid.to_string())
    .collect();
    let mut args = vec!["status", "--stale", "--etc", &etc_arg];
    args.extend(pids.iter().map(String::as_str));
    let out = stdout(&memproxy(&args).assert().code(0));
    assert_contains(&out, "no stale process");

    // Then the host is enabled and both configs change, by rename.
    std::fs::write(
        etc.path().join("ld.so.preload"),
        format!("# memproxy enable\n{lib} {JEMALLOC}\n"),
    )
    .unwrap();
    for (config, contents) in [(&first, "top\n"), (&second, "# now\nlinger\n")] {
        let next = format!("{config}.new");
        std::fs::write(&next, contents).unwrap();
        std::fs::rename(&next, config).unwrap();
    }
    let mut json_args = args.clone();
    json_args.push("--json");
    let report = json(&memproxy(&json_args).assert().code(1));
    let stale: Vec<u64> = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|process| process["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(
        stale,
        {
            let mut expected = vec![
                u64::from(was_excluded.pid),
                u64::from(now_excluded.pid),
                u64::from(no_allocator.pid),
                u64::from(before_enable.pid),
            ];
            expected.sort_unstable();
            expected
        },
        "{report:#}"
    );
    let reasons = |pid: u32| {
        process(&report, pid)["stale"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_contains(
        &reasons(was_excluded.pid),
        "no longer excludes it (line 1 did)",
    );
    assert_contains(
        &reasons(now_excluded.pid),
        "now excludes it (line 2, by its execfn name)",
    );
    assert_contains(
        &reasons(before_enable.pid),
        "started before memproxy was enabled",
    );
    let found = process(&report, before_enable.pid);
    assert!(
        found["started"].as_u64().unwrap() > 0
            && found["exe"].as_str().unwrap().ends_with("/linger")
    );

    let out = stdout(&memproxy(&args).assert().code(1));
    assert_contains(&out, "4 processes must be restarted");
    assert_contains(&out, "stale: the config");

    // Disabled again: the ones that load memproxy are stale instead.
    std::fs::write(etc.path().join("ld.so.preload"), "").unwrap();
    let mut no_env_args = vec!["status", "--stale", "--json", "--etc", &etc_arg];
    no_env_args.push(&pids[2]);
    // `unchanged` has memproxy in its own LD_PRELOAD: a fresh start with the
    // same environment still loads it.
    let report = json(&memproxy(&no_env_args).assert().code(0));
    assert_eq!(
        report["processes"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
}

#[test]
fn another_user_sees_what_it_may_and_why_not_the_rest() {
    require_root("it runs memproxy status as the user nobody");
    let dir = tempfile::tempdir().unwrap();
    let lingering = Lingering::start(
        &fixture("linger"),
        &[("LD_PRELOAD", &format!("{}:{JEMALLOC}", lib_str()))],
        dir.path(),
        "root-owned",
    );
    let output = Command::new("/usr/bin/setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_memproxy"))
        .args(["status", "--json", &lingering.pid.to_string()])
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let found = process(&report, lingering.pid);
    assert_eq!(found["command"], "linger");
    assert!(found["started"].as_u64().is_some());
    assert_contains(found["unreadable"].as_str().unwrap(), "ptrace");
}
