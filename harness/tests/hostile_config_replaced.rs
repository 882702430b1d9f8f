//! Hostile configs: a config replaced by rename(2) while processes start is
//! read whole-old or whole-new.
//!
//! Each test runs probe-c under memproxy then a custom allocator with the
//! config, and judges every allocation kind by what `harness::expect` says
//! the config means (see `common::hostile`).

mod common;

use common::hostile::*;

use std::sync::atomic::{AtomicBool, Ordering};

use harness::allocators::Owner;
use harness::run::Run;
use test_support::Artifacts;

/// A config replaced by rename(2) while processes start is read whole-old
/// or whole-new: a writer thread renames a listing and a non-listing
/// version over the path without pause while 200 probes start, and every
/// probe is served by one allocator for all its kinds (glibc or the custom
/// one), never mixed, never crashed. Both versions must have been seen.
#[test]
fn a_config_replaced_while_processes_start() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    std::fs::write(&config, "# initial\n").expect("write");
    let stop = AtomicBool::new(false);
    let allocator = allocator();
    let (mut listed, mut unlisted) = (0, 0);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let versions = [
                (dir.path().join("listed.tmp"), format!("# listed\n{NAME}\n")),
                (
                    dir.path().join("unlisted.tmp"),
                    "# unlisted\nother\n".to_owned(),
                ),
            ];
            let mut renames = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (temporary, text) = &versions[(renames % 2) as usize];
                std::fs::write(temporary, text).expect("write a version");
                std::fs::rename(temporary, &config).expect("rename over the config");
                renames += 1;
            }
            renames
        });
        let starts: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut owners = Vec::new();
                    for _ in 0..100 {
                        let outcome = Run::new(Artifacts::shared(), probe_c())
                            .preloaded(order(), allocator)
                            .env("MEMPROXY_CONF", config.to_str().expect("UTF-8"))
                            .go()
                            .unwrap_or_else(|why| panic!("{why}"));
                        let owner = owners_or_panic(&outcome);
                        owners.push(owner);
                    }
                    owners
                })
            })
            .collect();
        let results: Vec<_> = starts.into_iter().map(|start| start.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let renames = writer.join().expect("the writer");
        for result in results {
            for owner in result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)) {
                if owner == Owner::Glibc {
                    listed += 1;
                } else {
                    assert_eq!(owner, allocator.owner);
                    unlisted += 1;
                }
            }
        }
        println!("200 starts during {renames} renames: {listed} listed, {unlisted} not listed");
    });
    assert_eq!(listed + unlisted, 200);
    assert!(
        listed > 0 && unlisted > 0,
        "both versions must have been seen: {listed} listed, {unlisted} not listed"
    );
}
