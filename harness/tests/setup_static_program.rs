//! A statically linked program: nothing is preloaded into it. See the
//! test's documentation for the documented outcome (the README's "Wrong and
//! partial set-ups" table).

mod common;

use common::setups::*;
use common::{memproxy, path_of};

/// **A statically linked program** (`gcc -static`): no ld.so runs, so
/// neither `LD_PRELOAD` nor `/etc/ld.so.preload` loads anything into it.
/// It runs normally with its own built-in malloc, same output, and nothing
/// is printed, even with `MEMPROXY_DEBUG=1`.
#[test]
fn a_static_program_is_untouched() {
    // memproxy and the first custom allocator (memproxy alone if the run
    // was narrowed to glibc).
    let preload: Vec<String> = std::iter::once(memproxy())
        .chain(customs().first().map(|allocator| path_of(allocator)))
        .collect();
    let scene = Scene::new("");
    let program = vec![fixture("setup-static").display().to_string()];
    let baseline = scene.run(&program, "", false, &[]);
    assert!(baseline.succeeded(), "{}", baseline.describe());
    assert!(
        baseline.stdout.starts_with("setup-static: sum="),
        "{}",
        baseline.describe()
    );

    let ran = scene.run(&program, &preload.join(":"), true, &[]);
    assert!(ran.succeeded(), "{}", ran.describe());
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        (baseline.stdout.as_str(), "")
    );

    if let Some(ran) = scene.run_etc(&(preload.join("\n") + "\n"), &program, true) {
        assert!(ran.succeeded(), "{}", ran.describe());
        assert_eq!(
            (ran.stdout.as_str(), ran.stderr.as_str()),
            (baseline.stdout.as_str(), "")
        );
    }
}
