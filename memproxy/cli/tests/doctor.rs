//! `memproxy doctor`: preload entries and order judged as ld.so loads them,
//! each problem with its fix, and the route the probe really took.
//!
//! Every case passes `--preload-file` so that the host's own
//! /etc/ld.so.preload cannot change the verdict.

mod common;

use std::path::Path;

use common::*;

struct Setup {
    dir: tempfile::TempDir,
    preload_file: String,
    config: String,
}

/// An empty preload file and a config that excludes nothing the probe runs.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let preload_file = write(dir.path(), "ld.so.preload", "");
    let config = write(dir.path(), "memproxy.conf", "top\n");
    Setup {
        dir,
        preload_file,
        config,
    }
}

impl Setup {
    fn doctor(&self, ld_preload: Option<&str>, extra: &[&str]) -> assert_cmd::Command {
        let mut args = vec!["doctor", "--preload-file", &self.preload_file];
        args.extend_from_slice(extra);
        let mut command = memproxy(&args);
        command.env("MEMPROXY_CONF", &self.config);
        if let Some(value) = ld_preload {
            command.env("LD_PRELOAD", value);
        }
        command
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn finding<'r>(report: &'r serde_json::Value, code: &str) -> &'r serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["code"] == code)
        .unwrap_or_else(|| panic!("no {code} finding in {report:#}"))
}

#[test]
fn a_good_set_up_passes_and_the_probe_takes_the_custom_route() {
    let setup = setup();
    let ld_preload = format!("{}:{JEMALLOC}", lib_str());

    let report = json(
        &setup
            .doctor(Some(&ld_preload), &["--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["ok"], true);
    assert_eq!(report["objects"][0]["kind"], "memproxy");
    assert_eq!(report["objects"][1]["kind"], "allocator");
    assert_eq!(report["objects"][1]["defines_malloc"], true);
    let decision = &report["probe"]["decision"]["fields"];
    assert_eq!(decision["route"], "custom");
    assert_eq!(decision["reason"], "not-excluded");
    assert_eq!(decision["allocator"], JEMALLOC);
    assert_eq!(decision["config"], setup.config.as_str());

    let out = stdout(&setup.doctor(Some(&ld_preload), &[]).assert().code(0));
    assert_contains(
        &out,
        "probe        /bin/true: route=custom reason=not-excluded",
    );
    assert_contains(&out, "ok: 0 errors");
}

#[test]
fn an_allocator_before_memproxy_is_flagged_with_the_reordered_list() {
    let setup = setup();
    let ld_preload = format!("{JEMALLOC}:{}", lib_str());

    let report = json(
        &setup
            .doctor(Some(&ld_preload), &["--json"])
            .assert()
            .code(1),
    );
    let before = finding(&report, "before-memproxy");
    assert_eq!(before["severity"], "error");
    assert_contains(before["message"].as_str().unwrap(), JEMALLOC);
    assert_eq!(
        before["fix"],
        format!(
            "put libmemproxy.so first: LD_PRELOAD={}:{JEMALLOC}",
            lib_str()
        )
        .as_str()
    );
    assert_eq!(
        report["probe"]["decision"]["fields"]["reason"], "not-first",
        "the library agrees"
    );

    let out = stdout(&setup.doctor(Some(&ld_preload), &[]).assert().code(1));
    assert_contains(
        &out,
        &format!(
            "error: '{JEMALLOC}' (LD_PRELOAD entry) defines malloc and is loaded before \
             libmemproxy.so"
        ),
    );
    assert_contains(&out, "  fix: put libmemproxy.so first");
}

#[test]
fn a_linker_script_is_flagged_with_the_real_library_as_fix() {
    let setup = setup();
    let ld_preload = format!("{}:{LIBC_LINKER_SCRIPT}:{JEMALLOC}", lib_str());

    let report = json(
        &setup
            .doctor(Some(&ld_preload), &["--json"])
            .assert()
            .code(1),
    );
    assert_eq!(report["objects"][1]["kind"], "linker-script");
    let script = finding(&report, "linker-script");
    assert_contains(script["message"].as_str().unwrap(), LIBC_LINKER_SCRIPT);
    assert_contains(
        script["fix"].as_str().unwrap(),
        &format!("use {} instead", memproxy_common::multiarch::LIBC),
    );
    let loader = report["probe"]["loader_messages"].as_array().unwrap();
    assert!(
        loader
            .iter()
            .any(|line| line.as_str().unwrap().contains("invalid ELF header")),
        "ld.so's own complaint is shown: {loader:?}"
    );
}

#[test]
fn a_missing_file_is_flagged() {
    let setup = setup();
    let missing = setup.dir().join("libgone.so");
    let ld_preload = format!("{}:{}:{JEMALLOC}", lib_str(), missing.display());

    let report = json(
        &setup
            .doctor(Some(&ld_preload), &["--json"])
            .assert()
            .code(1),
    );
    assert_eq!(report["objects"][1]["kind"], "missing");
    let gone = finding(&report, "object-missing");
    assert_contains(gone["message"].as_str().unwrap(), "libgone.so");
    assert!(gone["fix"].is_string());
    assert_eq!(
        report["probe"]["decision"]["fields"]["route"], "custom",
        "ld.so skips the missing entry and memproxy still works"
    );
}

#[test]
fn no_memproxy_at_all_is_flagged_and_the_probe_confirms() {
    let setup = setup();
    let report = json(&setup.doctor(Some(JEMALLOC), &["--json"]).assert().code(1));
    let absent = finding(&report, "memproxy-not-preloaded");
    assert_contains(absent["fix"].as_str().unwrap(), "LD_PRELOAD=");
    assert!(report["probe"]["decision"].is_null());
    assert_eq!(report["probe"]["ran"], true);
}

#[test]
fn memproxy_without_an_allocator_is_flagged() {
    let setup = setup();
    let report = json(&setup.doctor(Some(lib_str()), &["--json"]).assert().code(1));
    let none = finding(&report, "no-allocator");
    assert_contains(
        none["fix"].as_str().unwrap(),
        "apt-get install libjemalloc2",
    );
    assert_eq!(
        report["probe"]["decision"]["fields"]["reason"],
        "no-custom-allocator"
    );
}

#[test]
fn a_preload_file_is_parsed_like_ld_so_and_tried_before_installing() {
    let setup = setup();
    let candidate = write(
        setup.dir(),
        "candidate.preload",
        format!(
            "# memproxy first\n{}   # the dispatcher\n\t{JEMALLOC}\n",
            lib_str()
        ),
    );
    let mut command = memproxy(&["doctor", "--json", "--preload-file", &candidate]);
    command.env("MEMPROXY_CONF", &setup.config);

    let report = json(&command.assert().code(0));
    let objects = report["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2, "{report:#}");
    assert_eq!(objects[0]["source"], "preload-file");
    assert_eq!(objects[0]["kind"], "memproxy");
    assert_eq!(objects[1]["kind"], "allocator");
    assert_eq!(report["probe"]["decision"]["fields"]["route"], "custom");
}

#[test]
fn an_excluded_probe_is_reported_with_its_line() {
    let setup = setup();
    let config = write(setup.dir(), "excl.conf", "# probe\ntrue\n");
    let ld_preload = format!("{}:{JEMALLOC}", lib_str());
    let report = json(
        &setup
            .doctor(Some(&ld_preload), &["--json"])
            .env("MEMPROXY_CONF", &config)
            .assert()
            .code(0),
    );
    let fields = &report["probe"]["decision"]["fields"];
    assert_eq!(fields["route"], "glibc");
    assert_eq!(fields["reason"], "excluded");
    assert_eq!(fields["match"], "2");
    assert_eq!(fields["source"], "execfn name");
    finding(&report, "probe-excluded");
}

#[test]
fn a_wrong_order_in_the_preload_file_gets_a_rewritten_file_as_fix() {
    let setup = setup();
    let candidate = write(
        setup.dir(),
        "wrong.preload",
        format!("{JEMALLOC}\n{}\n", lib_str()),
    );
    let mut command = memproxy(&["doctor", "--json", "--preload-file", &candidate]);
    command.env("MEMPROXY_CONF", &setup.config);

    let report = json(&command.assert().code(1));
    assert_eq!(
        finding(&report, "before-memproxy")["fix"],
        format!(
            "put libmemproxy.so first in the preload file: {}:{JEMALLOC}",
            lib_str()
        )
        .as_str()
    );
    assert_eq!(report["probe"]["decision"]["fields"]["reason"], "not-first");
}

#[test]
fn a_prefixed_only_allocator_is_accepted_like_the_library_does() {
    let setup = setup();
    let ld_preload = format!("{}:libtbbmalloc.so.2", lib_str());
    let report = json(
        &setup
            .doctor(Some(&ld_preload), &["--json"])
            .assert()
            .code(0),
    );
    assert_eq!(report["objects"][1]["kind"], "allocator");
    assert_eq!(report["objects"][1]["defines_malloc"], false);
    assert_eq!(report["objects"][1]["api"], "oneTBB (scalable_*)");
    finding(&report, "prefixed-allocator");
    assert_eq!(
        report["probe"]["decision"]["fields"]["api"],
        "oneTBB (scalable_*)"
    );
}
