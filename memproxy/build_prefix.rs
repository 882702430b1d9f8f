// The build-time prefix rule, shared by the library's and the command's
// build scripts (each `include!`s this file), so that `memproxy check` with
// no argument reads the very file the library reads.
//
// `$MEMPROXY_PREFIX` (default `/usr/local`, as the original's
// `./configure`) fixes:
// - MEMPROXY_DEFAULT_CONFIG = $PREFIX/etc/memproxy.conf
// - MEMPROXY_DEFAULT_LIB_DIR = $PREFIX/lib (where install.sh puts the library)

fn emit_prefix_paths() {
    println!("cargo:rerun-if-env-changed=MEMPROXY_PREFIX");
    let prefix = std::env::var("MEMPROXY_PREFIX").unwrap_or_else(|_| "/usr/local".to_owned());
    let prefix = prefix.trim_end_matches('/');
    assert!(
        prefix.is_empty() || prefix.starts_with('/'),
        "MEMPROXY_PREFIX must be absolute"
    );
    assert!(!prefix.contains('\0'), "MEMPROXY_PREFIX must not contain NUL");
    println!("cargo:rustc-env=MEMPROXY_DEFAULT_CONFIG={prefix}/etc/memproxy.conf");
    println!("cargo:rustc-env=MEMPROXY_DEFAULT_LIB_DIR={prefix}/lib");
}
