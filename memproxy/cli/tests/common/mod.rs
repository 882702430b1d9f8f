//! Shared by the subcommand tests: the command under test, a hermetic
//! environment, the real libmemproxy.so and small file helpers.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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

/// A C fixture by its name in `fixtures.json` (`libcrash-ctor.so`,
/// `linger`, `linger-static`, ...), built with the library.
pub fn fixture(name: &str) -> PathBuf {
    test_support::Artifacts::shared().fixture(name)
}

/// Fails the test, saying why, unless it runs as root: mount namespaces
/// and binds over /etc need it (CI runs as root).
pub fn require_root(why: &str) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("an effective uid");
    assert_eq!(uid, "0", "this test must run as root: {why}");
}

/// Runs `script` with `/bin/sh` in a private mount namespace whose `/etc`
/// is covered by an overlay (its upper layer a tmpfs) that holds `preload`
/// as `ld.so.preload`: every program the script starts after that reads
/// it, and every write to `/etc` stays in the namespace. The script itself
/// was loaded before, so it keeps running even when the file breaks every
/// dynamically linked program; `$MEMPROXY_TEST_FILE` is a copy of the file.
pub fn in_namespace(preload: &[u8], script: &str) -> std::process::Output {
    require_root("it mounts an overlay over /etc in a private mount namespace");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ld.so.preload");
    std::fs::write(&file, preload).unwrap();
    let scratch = dir.path().join("overlay");
    std::fs::create_dir(&scratch).unwrap();
    let set_up = r#"set -e
        mount -t tmpfs memproxy-test "$2"
        mkdir "$2/upper" "$2/work"
        cp "$1" "$2/upper/ld.so.preload"
        mount -t overlay memproxy-test -o "lowerdir=/etc,upperdir=$2/upper,workdir=$2/work" /etc
        set +e
        MEMPROXY_TEST_FILE=$1
        "#;
    // test-support's prefix: private, or shown safe where '/' is no mount
    // point (a chroot).
    let prefix = test_support::namespace::mount_namespace_prefix()
        .unwrap_or_else(|why| panic!("no usable mount namespace: {why}"));
    std::process::Command::new(&prefix[0])
        .args(&prefix[1..])
        .args(["/bin/sh", "-c"])
        .arg(format!("{set_up}{script}"))
        .arg("sh")
        .arg(&file)
        .arg(&scratch)
        .env_remove("LD_PRELOAD")
        .env_remove("MEMPROXY_DEBUG")
        .output()
        .expect("unshare runs")
}

/// `memproxy` linked statically, as install.sh builds it: ld.so never runs
/// for it, so neither does /etc/ld.so.preload. Built once per test binary,
/// for the host's target, with the flag kept away from build scripts and
/// proc macros by the explicit --target.
pub fn static_memproxy() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = test_support::workspace();
        let target_dir = Path::new(env!("CARGO_BIN_EXE_memproxy"))
            .parent()
            .and_then(Path::parent)
            .expect("the binary lives in <target>/<profile>/")
            .to_owned();
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let version = std::process::Command::new(rustc)
            .arg("-vV")
            .output()
            .expect("rustc -vV runs");
        let triple = String::from_utf8_lossy(&version.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
            .expect("rustc -vV names the host");
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "memproxy-cli",
                "--target",
                &triple,
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .current_dir(workspace)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the static build of memproxy failed");
        let binary = target_dir.join(triple).join("release/memproxy");
        assert!(binary.is_file(), "{} was not built", binary.display());
        binary
    })
}

/// mimalloc as this release installs it (`libmimalloc.so.2` on Debian 12,
/// `.so.3` on 13), from memproxy-common's table.
pub fn mimalloc() -> String {
    memproxy_common::known::files("mimalloc")
        .map(|file| format!("{}/{file}", memproxy_common::multiarch::LIB_DIR))
        .find(|path| std::path::Path::new(path).exists())
        .expect("mimalloc is installed (ci/setup installs it)")
}
