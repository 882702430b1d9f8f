//! `/etc/ld.so.preload` naming the libc linker script: ld.so ignores the
//! entry. See the test's documentation for the documented outcome (the
//! README's "Wrong and partial set-ups" table).

mod common;

use common::setups::*;
use common::{memproxy, path_of};

use std::path::Path;

use harness::allocators::Owner;

/// **`/etc/ld.so.preload` listing the `libc.so` linker script** (the seed
/// README's `libmemproxy.so /usr/lib/.../libc.so ALLOCATOR`): ld.so rejects
/// the script with `cannot be preloaded (invalid ELF header): ignored.`, in
/// every dynamically linked process, and loads the other entries: the
/// program runs, the allocator serves it, and the exclusion list still
/// applies (an excluded program gets glibc).
#[test]
fn an_etc_preload_entry_naming_the_libc_linker_script_is_ignored() {
    assert!(
        Path::new(LIBC_LINKER_SCRIPT).is_file(),
        "{LIBC_LINKER_SCRIPT} is missing. Install it with:\n    apt-get install -y libc6-dev"
    );
    let refusal = ld_so_refusal(
        LIBC_LINKER_SCRIPT,
        "/etc/ld.so.preload",
        "invalid ELF header",
    );
    let probe = vec![probe_c().path.display().to_string()];
    for allocator in customs() {
        let contents = format!(
            "{} {LIBC_LINKER_SCRIPT} {}\n",
            memproxy(),
            path_of(allocator)
        );
        for (config, owner) in [("", allocator.owner), ("probe-c\n", Owner::Glibc)] {
            let scene = Scene::new(config);
            let Some(ran) = scene.run_etc(&contents, &probe, false) else {
                return;
            };
            assert_owned(&ran, "", owner);
            assert_eq!(ran.stderr, refusal, "{}", ran.describe());
        }
    }
}
