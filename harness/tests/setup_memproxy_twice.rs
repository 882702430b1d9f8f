//! memproxy preloaded twice: the first copy serves and routes as usual. See
//! the test's documentation for the documented outcome (the README's "Wrong
//! and partial set-ups" table).

mod common;

use common::memproxy;
use common::setups::*;

use harness::allocators::{self, Owner};
use test_support::Artifacts;

/// **memproxy preloaded twice** (`LD_PRELOAD=libmemproxy.so:COPY:ALLOCATOR`,
/// COPY a copy of the library under another path): the first copy serves,
/// routes are as usual (the allocator, or glibc for an excluded program).
/// Both copies decide and, with `MEMPROXY_DEBUG=1`, print a line each, from
/// the same process; the second copy's line ends with
/// `duplicate-of="FIRST COPY"`. The same path listed twice is loaded once
/// by ld.so: one line.
#[test]
fn memproxy_preloaded_twice_routes_as_usual() {
    let plain = Scene::new("");
    let excluded = Scene::new("probe-c\n");
    let copy = plain
        .dir()
        .copy("libmemproxy-copy.so", &Artifacts::shared().memproxy, 0o755);
    let copy = copy.display().to_string();
    for allocator in &allocators::selected().allocators {
        let (tail, owner) = match &allocator.path {
            Some(path) => (format!(":{}", path.display()), allocator.owner),
            None => (String::new(), Owner::Glibc),
        };
        let preload = format!("{}:{copy}{tail}", memproxy());
        assert_owned(&plain.probe(&preload, "", false, &[]), "", owner);
        assert_owned(&excluded.probe(&preload, "", false, &[]), "", Owner::Glibc);

        let ran = excluded.probe(&preload, "malloc_small", true, &[]);
        assert_owned(&ran, "malloc_small", Owner::Glibc);
        let lines = ran.debug_lines();
        assert_eq!(lines.len(), 2, "a line per copy: {}", ran.describe());
        assert!(
            lines.iter().all(|line| line.pid == lines[0].pid),
            "{}",
            ran.stderr
        );
        let duplicates: Vec<Option<&str>> =
            lines.iter().map(|line| line.get("duplicate-of")).collect();
        assert!(
            duplicates.contains(&None) && duplicates.contains(&Some(memproxy().as_str())),
            "one line plain, one with duplicate-of=\"{}\": {}",
            memproxy(),
            ran.stderr
        );
        let expected_reason = if allocator.path.is_some() {
            "excluded"
        } else {
            "no-custom-allocator"
        };
        for line in &lines {
            assert_eq!(
                (line.route(), line.reason()),
                ("glibc", expected_reason),
                "{}",
                line.text
            );
        }

        let same_twice = format!("{0}:{0}{tail}", memproxy());
        let ran = plain.probe(&same_twice, "malloc_small", true, &[]);
        assert_owned(&ran, "malloc_small", owner);
        let line = assert_one_debug_line(
            &ran,
            if allocator.path.is_some() {
                "custom"
            } else {
                "glibc"
            },
            if allocator.path.is_some() {
                "not-excluded"
            } else {
                "no-custom-allocator"
            },
        );
        assert_eq!(line.get("duplicate-of"), None, "{}", line.text);
    }
}
