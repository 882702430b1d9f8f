//! Fixes the default config path and library directory at build time, by the
//! library's own rule (`../build_prefix.rs`), so that `memproxy check` with no
//! argument reads the file the library reads.

include!("../build_prefix.rs");

fn main() {
    println!("cargo:rerun-if-changed=../build_prefix.rs");
    emit_prefix_paths();
}
