//! Fixes the default config path at build time, like the original's
//! `$(CONFIG_DIR)`; see `build_prefix.rs`.

include!("build_prefix.rs");

fn main() {
    println!("cargo:rerun-if-changed=build_prefix.rs");
    emit_prefix_paths();
}
