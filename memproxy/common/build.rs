//! Hands the crate the multiarch tuple of the target it is built for, from
//! the one table in src/arch_table.rs.

#[allow(dead_code)] // the build script needs the tuples only
mod table {
    include!("src/arch_table.rs");
}
use table::ARCHES;

fn main() {
    println!("cargo:rerun-if-changed=src/arch_table.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let tuple = ARCHES
        .iter()
        .find(|entry| entry.rust_arch == arch)
        .map_or("unknown-linux-gnu", |entry| entry.tuple);
    println!("cargo:rustc-env=MEMPROXY_MULTIARCH={tuple}");
}
