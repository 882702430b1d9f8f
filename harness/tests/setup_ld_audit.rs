//! `LD_AUDIT` in use: routes and ownership unchanged. See the test's
//! documentation for the documented outcome (the README's "Wrong and
//! partial set-ups" table).

mod common;

use common::setups::*;
use common::{memproxy, path_of};

use harness::allocators::Owner;
use harness::run;

/// **`LD_AUDIT` in use** (an audit library exporting only `la_version`, and
/// one that also audits every symbol binding, so that the program's PLT
/// calls go through ld.so's audit trampolines), with
/// `LD_PRELOAD=libmemproxy.so:ALLOCATOR`: routes and ownership are as
/// without auditing (the allocator; glibc for an excluded program), with no
/// crash and nothing on stderr. Exception, from the platform: on Debian 12
/// jemalloc cannot be loaded at all under `LD_AUDIT` ("cannot allocate
/// memory in static TLS block", exit 127), with or without memproxy: with
/// an audit library, ld.so lays out the static TLS block before it loads
/// the preload list, so jemalloc's 2.6 KiB of initial-exec TLS must fit in
/// the surplus, and the default does not hold it.
/// `GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096` makes room, and then
/// jemalloc serves as usual.
#[test]
fn ld_audit_keeps_routes_and_ownership() {
    let plain = Scene::new("");
    let excluded = Scene::new("probe-c\n");
    let roomy_tls = format!("{}:{STATIC_TLS_TUNABLE}", run::TUNABLES);
    for audit in ["libsetup-audit.so", "libsetup-audit-bindings.so"] {
        let audit = fixture(audit).display().to_string();
        let ran = plain.probe(&memproxy(), "", false, &[("LD_AUDIT", &audit)]);
        assert_owned(&ran, "", Owner::Glibc);
        assert_eq!(ran.stderr, "", "{}", ran.describe());

        for allocator in customs() {
            let mut extra = vec![("LD_AUDIT", audit.as_str())];
            // Without memproxy first: can the allocator load under auditing?
            let alone = plain.probe(&path_of(allocator), "malloc_small", false, &extra);
            let with = format!("{}:{}", memproxy(), path_of(allocator));
            if !alone.succeeded() {
                assert!(
                    alone
                        .stderr
                        .contains("cannot allocate memory in static TLS block"),
                    "{} under LD_AUDIT failed otherwise: {}",
                    allocator.name,
                    alone.describe()
                );
                let ours = plain.probe(&with, "malloc_small", false, &extra);
                assert_eq!(
                    (ours.wait_status(), ours.stderr.as_str()),
                    (alone.wait_status(), alone.stderr.as_str()),
                    "memproxy must fail as the allocator alone does: {}",
                    ours.describe()
                );
                println!(
                    "{} cannot load under LD_AUDIT with or without memproxy; retrying with {STATIC_TLS_TUNABLE}",
                    allocator.name
                );
                extra.push(("GLIBC_TUNABLES", roomy_tls.as_str()));
            }
            let ran = plain.probe(&with, "", false, &extra);
            assert_owned(&ran, "", allocator.owner);
            assert_eq!(ran.stderr, "", "{}", ran.describe());
            assert_owned(&excluded.probe(&with, "", false, &extra), "", Owner::Glibc);
            let ran = plain.probe(&with, "malloc_small", true, &extra);
            let line = assert_one_debug_line(&ran, "custom", "not-excluded");
            assert_eq!(
                line.get("allocator"),
                Some(path_of(allocator).as_str()),
                "{}",
                line.text
            );
        }
    }
}
