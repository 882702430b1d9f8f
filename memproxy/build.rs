//! Fixes the default config path at build time, like the original's
//! `$(CONFIG_DIR)`: `$MEMPROXY_PREFIX/etc/memproxy.conf`, `/usr/local` when
//! unset.

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
}
