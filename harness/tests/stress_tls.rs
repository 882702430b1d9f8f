//! Stress: dlopen and dlclose of libraries with thread-local storage from
//! many threads, on every allocator and both routes.
//!
//! The fixtures are in `fixtures/c/stress/`; each prints one line of
//! `key=value` counts, which the tests check, and ends by asking the
//! allocators (never memproxy) who served a block, which must be the
//! route's allocator. Run with `--nocapture` to see the figures the README
//! quotes.

mod common;

use common::stress::*;

use harness::allocators;

/// 16 threads dlopen and dlclose two libraries with thread-local storage
/// (one global-dynamic with a 64 KiB array, whose blocks `__tls_get_addr`
/// allocates with malloc and glibc frees at thread exit or on reuse; one
/// initial-exec) 300 times each, touching and checking their TLS, and start
/// short-lived threads that use it.
#[test]
fn dlopen_and_dlclose_of_tls_libraries_from_many_threads() {
    let program = fixture("stress-tls");
    // The libraries are found through the program's $ORIGIN run path.
    for library in ["libstress-tls-gd.so", "libstress-tls-ie.so"] {
        assert_eq!(
            fixture(library).parent(),
            program.parent(),
            "{library} must sit next to stress-tls"
        );
    }
    let (threads, rounds) = (16u64, 300u64);
    let mut figures = Figures::new("stress-tls (dlopen+dlclose pairs, TLS touches)");
    for allocator in &allocators::selected().allocators {
        for route in Route::BOTH {
            let run = Launch::new(&program, allocator, route)
                .args(&[&threads.to_string(), &rounds.to_string(), "1"])
                .run();
            run.assert_clean();
            run.assert_eq("dlopens", 2 * threads * rounds);
            run.assert_eq("dlcloses", 2 * threads * rounds);
            run.assert_eq("short_lived_threads", threads * rounds.div_ceil(4));
            run.assert_eq("problems", 0);
            run.assert_positive("touches");
            assert_eq!(
                run.get("owner"),
                expected_owner(allocator, route),
                "owner\n{}",
                run.describe()
            );
            figures.add(
                allocator,
                route,
                format!(
                    "{} dlopens, {} TLS touches, {} short-lived threads",
                    run.number("dlopens"),
                    run.number("touches"),
                    run.number("short_lived_threads")
                ),
                run.elapsed,
            );
        }
    }
    figures.print();
}
