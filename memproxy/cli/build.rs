//! Fixes the default config path and library directory at build time, by the
//! same rule as the preload library's build script (`memproxy/build.rs`), so
//! that `memproxy check` with no argument reads the file the library reads:
//! `$MEMPROXY_PREFIX/etc/memproxy.conf`, with `/usr/local` when unset.

fn main() {
    println!("cargo:rerun-if-env-changed=MEMPROXY_PREFIX");
    let prefix = std::env::var("MEMPROXY_PREFIX").unwrap_or_else(|_| "/usr/local".to_owned());
    let prefix = prefix.trim_end_matches('/');
    assert!(
        prefix.is_empty() || prefix.starts_with('/'),
        "MEMPROXY_PREFIX must be absolute"
    );
    assert!(
        !prefix.contains('\0'),
        "MEMPROXY_PREFIX must not contain NUL"
    );
    println!("cargo:rustc-env=MEMPROXY_DEFAULT_CONFIG={prefix}/etc/memproxy.conf");
    println!("cargo:rustc-env=MEMPROXY_DEFAULT_LIB_DIR={prefix}/lib");
}
