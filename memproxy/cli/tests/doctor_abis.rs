//! `memproxy doctor` on a multilib host: preload entries with ld.so's
//! `$LIB`, `$PLATFORM` and `$ORIGIN`, checked for every ABI whose programs
//! are installed.
//!
//! "i386 is installed" is made without any i386 package: in a private mount
//! namespace, an overlay on /usr/lib (a tmpfs upper layer) takes a bind of
//! a scratch directory as /usr/lib/i386-linux-gnu, holding small i386
//! objects that the host's binutils make (test-support's `foreign_elf`): a
//! libc (it defines gnu_get_libc_version), and, per case, a jemalloc and a
//! memproxy. Nothing outside the namespace sees them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use memproxy_common::multiarch::TUPLE;
use test_support::foreign_elf::{self, Abi};

/// What the namespace's /usr/lib/i386-linux-gnu holds.
#[derive(Clone, Copy)]
struct I386 {
    libc: bool,
    jemalloc: bool,
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    /// A scratch directory with `prefix/lib/<host tuple>/libmemproxy.so`
    /// (the real library) and `prefix/lib/libmemproxy.so`, a copy at the
    /// old fixed path.
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let host_lib = dir.path().join("prefix/lib").join(TUPLE);
        std::fs::create_dir_all(&host_lib).unwrap();
        std::fs::copy(memproxy_lib(), host_lib.join("libmemproxy.so")).unwrap();
        std::fs::copy(memproxy_lib(), dir.path().join("prefix/lib/libmemproxy.so")).unwrap();
        std::fs::create_dir(dir.path().join("i386")).unwrap();
        Case { dir }
    }

    fn prefix(&self) -> String {
        self.dir.path().join("prefix").display().to_string()
    }

    /// An i386 libmemproxy.so under `prefix/lib/i386-linux-gnu/`, where
    /// install.sh --with-library puts it.
    fn add_i386_memproxy(&self) {
        let dir = self.dir.path().join("prefix/lib/i386-linux-gnu");
        std::fs::create_dir_all(&dir).unwrap();
        foreign_elf::shared_object(
            &dir,
            "libmemproxy.so",
            Abi::I386,
            &[(memproxy_common::MARKER, b"0.1.0\0")],
        );
    }

    /// `memproxy doctor --json --preload-file FILE` (FILE holding
    /// `preload`) in a namespace where /usr/lib/i386-linux-gnu holds what
    /// `i386` says.
    fn doctor(&self, preload: &str, i386: I386) -> (i32, serde_json::Value) {
        let i386_dir = self.dir.path().join("i386");
        let objects: [(bool, &str, &str); 2] = [
            (i386.libc, "libc.so.6", "gnu_get_libc_version"),
            (i386.jemalloc, "libjemalloc.so.2", "malloc"),
        ];
        for (wanted, name, symbol) in objects {
            if wanted {
                foreign_elf::shared_object(&i386_dir, name, Abi::I386, &[(symbol, b"\0")]);
            }
        }
        let preload_file = write(self.dir.path(), "ld.so.preload", preload);
        let config = write(self.dir.path(), "memproxy.conf", "top\n");
        let overlay = self.dir.path().join("overlay");
        std::fs::create_dir_all(&overlay).unwrap();
        let output = in_i386_namespace(
            &overlay,
            &i386_dir,
            &[
                env!("CARGO_BIN_EXE_memproxy"),
                "doctor",
                "--json",
                "--preload-file",
                &preload_file,
            ],
            &config,
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = serde_json::from_str(&stdout).unwrap_or_else(|error| {
            panic!(
                "{error}: not JSON:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().unwrap_or(-1), report)
    }
}

/// Runs `argv` in a private mount namespace whose /usr/lib is an overlay
/// (upper layer on a tmpfs at `scratch`) with `i386_dir` bound as its
/// i386-linux-gnu.
fn in_i386_namespace(
    scratch: &Path,
    i386_dir: &Path,
    argv: &[&str],
    config: &str,
) -> std::process::Output {
    require_root("it mounts an overlay on /usr/lib in a private mount namespace");
    let prefix = test_support::namespace::mount_namespace_prefix()
        .unwrap_or_else(|why| panic!("no usable mount namespace: {why}"));
    let script = r#"set -e
        mount -t tmpfs memproxy-test "$1"
        mkdir "$1/upper" "$1/work"
        mount -t overlay memproxy-test -o "lowerdir=/usr/lib,upperdir=$1/upper,workdir=$1/work" /usr/lib
        mkdir -p /usr/lib/i386-linux-gnu
        mount --bind "$2" /usr/lib/i386-linux-gnu
        shift 2
        exec "$@""#;
    let mut command = Command::new(&prefix[0]);
    command
        .args(&prefix[1..])
        .args(["/bin/sh", "-c", script, "sh"])
        .arg(scratch)
        .arg(i386_dir)
        .args(argv)
        .env("PATH", "/usr/bin:/bin")
        .env("MEMPROXY_CONF", config);
    for name in [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "MEMPROXY_DEBUG",
        "MEMPROXY_LIB",
    ] {
        command.env_remove(name);
    }
    command.output().expect("unshare runs")
}

fn findings_with<'r>(report: &'r serde_json::Value, code: &str) -> Vec<&'r serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["code"] == code)
        .collect()
}

fn text(value: &serde_json::Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

const BOTH: I386 = I386 {
    libc: true,
    jemalloc: true,
};

#[test]
fn one_lib_token_line_serves_the_host_and_i386() {
    let case = Case::new();
    case.add_i386_memproxy();
    let prefix = case.prefix();
    let line = format!("{prefix}/$LIB/libmemproxy.so /usr/$LIB/libjemalloc.so.2\n");

    let (code, report) = case.doctor(&line, BOTH);
    assert_eq!(code, 0, "{report:#}");
    let abis = report["abis"].as_array().unwrap();
    assert!(
        abis.iter()
            .any(|abi| abi["tuple"] == "i386-linux-gnu" && abi["platform"] == "i686"),
        "i386 is seen as installed: {abis:?}"
    );
    let objects = report["objects"].as_array().unwrap();
    assert_eq!(objects[0]["kind"], "memproxy");
    assert_eq!(
        objects[0]["expanded"],
        format!("{prefix}/lib/{TUPLE}/libmemproxy.so").as_str()
    );
    assert_eq!(objects[1]["kind"], "allocator");
    for (object, i386_path) in [
        (
            &objects[0],
            format!("{prefix}/lib/i386-linux-gnu/libmemproxy.so"),
        ),
        (
            &objects[1],
            "/usr/lib/i386-linux-gnu/libjemalloc.so.2".to_owned(),
        ),
    ] {
        let i386 = object["abis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|abi| abi["tuple"] == "i386-linux-gnu")
            .unwrap_or_else(|| panic!("no i386 result: {object:#}"));
        assert_eq!(i386["state"], "ok", "{object:#}");
        assert_eq!(i386["path"], i386_path.as_str());
    }
    assert_eq!(
        report["probe"]["decision"]["fields"]["route"], "custom",
        "the host's programs load memproxy through $LIB: {report:#}"
    );
}

#[test]
fn fixed_paths_on_a_multilib_host_get_the_lib_token_form_as_fix() {
    let case = Case::new();
    let prefix = case.prefix();
    let line = format!("{prefix}/lib/libmemproxy.so {JEMALLOC}\n");

    // Without i386 programs, the fixed paths are fine.
    let (code, report) = case.doctor(
        &line,
        I386 {
            libc: false,
            jemalloc: false,
        },
    );
    assert_eq!(code, 0, "{report:#}");
    assert!(findings_with(&report, "single-abi-entry").is_empty());

    let (code, report) = case.doctor(&line, BOTH);
    assert_eq!(code, 1, "{report:#}");
    let single = findings_with(&report, "single-abi-entry");
    assert_eq!(single.len(), 2, "{report:#}");
    let (memproxy, jemalloc) = (single[0], single[1]);
    assert_contains(
        text(&memproxy["message"]),
        &format!(
            "ld.so prints \"ERROR: ld.so: object '{prefix}/lib/libmemproxy.so' from \
             /etc/ld.so.preload cannot be preloaded (wrong ELF class: ELFCLASS64): ignored.\""
        ),
    );
    assert_contains(text(&memproxy["message"]), "i386-linux-gnu");
    assert_contains(
        text(&memproxy["fix"]),
        &format!("name it {prefix}/$LIB/libmemproxy.so"),
    );
    assert_contains(
        text(&memproxy["fix"]),
        "memproxy/install.sh --with-library \
         target/cross/build/i686-unknown-linux-gnu/release/libmemproxy.so",
    );
    assert_contains(
        text(&jemalloc["fix"]),
        &format!(
            "name it {}",
            JEMALLOC.replace(&format!("lib/{TUPLE}"), "$LIB")
        ),
    );
    let package = memproxy_common::known::all()
        .find(|row| JEMALLOC.ends_with(row.file))
        .unwrap()
        .package;
    assert_contains(
        text(&jemalloc["fix"]),
        &format!("apt-get install {package}:i386"),
    );
}

#[test]
fn a_lib_token_entry_missing_for_i386_is_flagged_with_what_to_install() {
    let case = Case::new();
    let prefix = case.prefix();
    let line = format!("{prefix}/$LIB/libmemproxy.so /usr/$LIB/libjemalloc.so.2\n");

    let (code, report) = case.doctor(
        &line,
        I386 {
            libc: true,
            jemalloc: false,
        },
    );
    assert_eq!(code, 1, "{report:#}");
    let missing = findings_with(&report, "missing-for-abi");
    assert_eq!(missing.len(), 2, "{report:#}");
    assert_contains(
        text(&missing[0]["message"]),
        &format!("{prefix}/lib/i386-linux-gnu/libmemproxy.so for i386-linux-gnu"),
    );
    assert_contains(
        text(&missing[0]["message"]),
        "(cannot open shared object file): ignored.",
    );
    assert_contains(
        text(&missing[0]["fix"]),
        "ci/cross/build.sh --target i686-unknown-linux-gnu --group lib",
    );
    assert_contains(
        text(&missing[1]["message"]),
        "/usr/lib/i386-linux-gnu/libjemalloc.so.2 for i386-linux-gnu",
    );
    assert_contains(text(&missing[1]["fix"]), ":i386");
    // The host's side of the same line is fine.
    assert_eq!(report["objects"][0]["kind"], "memproxy");
    assert_eq!(report["probe"]["decision"]["fields"]["route"], "custom");
}

/// AT_PLATFORM as ld.so shows it for this machine's programs.
fn host_platform() -> String {
    let output = Command::new("/bin/true")
        .env("LD_SHOW_AUXV", "1")
        .output()
        .expect("true runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("AT_PLATFORM:"))
        .map(|platform| platform.trim().to_owned())
        .expect("ld.so shows AT_PLATFORM")
}

#[test]
fn platform_is_expanded_and_origin_is_flagged_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let platform_dir: PathBuf = dir.path().join(host_platform()).join("lib").join(TUPLE);
    std::fs::create_dir_all(&platform_dir).unwrap();
    std::fs::copy(memproxy_lib(), platform_dir.join("libmemproxy.so")).unwrap();
    let base = dir.path().display();
    // For the probe, /bin/true, $ORIGIN is /usr/bin: the entry loads libc
    // again, which is harmless, and ld.so has nothing to complain about.
    let preload = write(
        dir.path(),
        "ld.so.preload",
        format!(
            "{base}/${{PLATFORM}}/$LIB/libmemproxy.so {JEMALLOC} $ORIGIN/../lib/{TUPLE}/libc.so.6\n"
        ),
    );
    let config = write(dir.path(), "memproxy.conf", "top\n");
    let mut command = memproxy(&["doctor", "--json", "--preload-file", &preload]);
    command.env("MEMPROXY_CONF", &config);

    let report = json(&command.assert().code(0));
    let objects = report["objects"].as_array().unwrap();
    assert_eq!(objects[0]["kind"], "memproxy", "{report:#}");
    assert_eq!(
        objects[0]["expanded"],
        platform_dir
            .join("libmemproxy.so")
            .display()
            .to_string()
            .as_str()
    );
    assert_eq!(objects[2]["kind"], "origin-dependent");
    let origin = findings_with(&report, "origin-token");
    assert_eq!(origin.len(), 1, "{report:#}");
    assert_eq!(origin[0]["severity"], "warning");
    assert_contains(
        text(&origin[0]["message"]),
        "doctor cannot check it for every program, and checks it for none",
    );
    assert!(
        findings_with(&report, "relative-path").is_empty(),
        "$ORIGIN is not a relative path: {report:#}"
    );
}

#[test]
fn a_prefixed_only_allocator_named_with_lib_is_taken_as_preloaded() {
    // The library takes an allocator that exports only a prefixed API
    // (oneTBB's scalable_*) only when a preload list names it: it must read
    // `$LIB` in that list as ld.so does.
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "memproxy.conf", "top\n");
    let preload = write(dir.path(), "ld.so.preload", "");
    let ld_preload = format!("{}:/usr/$LIB/libtbbmalloc.so.2", lib_str());
    let mut command = memproxy(&["doctor", "--json", "--preload-file", &preload]);
    command
        .env("MEMPROXY_CONF", &config)
        .env("LD_PRELOAD", &ld_preload);

    let report = json(&command.assert().code(0));
    assert_eq!(report["objects"][1]["kind"], "allocator", "{report:#}");
    assert_eq!(report["objects"][1]["api"], "oneTBB (scalable_*)");
    let fields = &report["probe"]["decision"]["fields"];
    assert_eq!(fields["route"], "custom", "{report:#}");
    assert_eq!(fields["api"], "oneTBB (scalable_*)");
}
