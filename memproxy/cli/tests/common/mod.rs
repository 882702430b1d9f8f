//! Shared by the subcommand tests: the command under test, a hermetic
//! environment, the real libmemproxy.so and small file helpers.

#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use assert_cmd::assert::Assert;

/// Variables that change what the command does; tests set them explicitly.
const AMBIENT: [&str; 5] = [
    "MEMPROXY_CONF",
    "MEMPROXY_DEBUG",
    "MEMPROXY_LIB",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
];

/// A Debian path every test machine has (libjemalloc2 is a project
/// prerequisite, like the other allocators).
pub const JEMALLOC: &str = memproxy_common::multiarch::JEMALLOC;
/// The libc6-dev linker script that the seed README tells people to preload.
pub const LIBC_LINKER_SCRIPT: &str = memproxy_common::multiarch::LIBC_LINKER_SCRIPT;

/// `memproxy ARGS` with none of the ambient memproxy or loader variables, a
/// fixed PATH and a timeout so that a hang fails the test instead of
/// stalling it.
pub fn memproxy(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_memproxy"));
    for name in AMBIENT {
        command.env_remove(name);
    }
    command
        .env("PATH", "/usr/bin:/bin")
        .timeout(Duration::from_secs(60))
        .args(args);
    command
}

/// The release libmemproxy.so, built once per test binary (see
/// `test_support::artifacts`).
pub fn memproxy_lib() -> &'static Path {
    &test_support::Artifacts::shared().memproxy
}

pub fn lib_str() -> &'static str {
    memproxy_lib().to_str().expect("a UTF-8 target path")
}

/// Standard output, for `contains` checks with a readable failure message.
pub fn stdout(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

pub fn stderr(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// Standard output parsed as JSON.
pub fn json(assert: &Assert) -> serde_json::Value {
    let text = stdout(assert);
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: not JSON:\n{text}"))
}

pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected to find\n  {needle}\nin\n{haystack}"
    );
}

pub fn assert_lacks(haystack: &str, needle: &str) {
    assert!(
        !haystack.contains(needle),
        "expected not to find\n  {needle}\nin\n{haystack}"
    );
}

/// Writes `contents` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write a test file");
    path.to_str().expect("a UTF-8 temp path").to_owned()
}

/// The `(code, line)` pairs of a report's findings.
pub fn finding_codes(report: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|finding| {
            (
                finding["code"].as_str().expect("code").to_owned(),
                finding["line"].as_u64(),
            )
        })
        .collect()
}

pub fn has_finding(report: &serde_json::Value, code: &str, line: Option<u64>) -> bool {
    finding_codes(report)
        .iter()
        .any(|(found, at)| found == code && (line.is_none() || *at == line))
}
