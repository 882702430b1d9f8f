//! Hands the crate the multiarch tuple of the target it is built for, from
//! the one table in src/arch_table.rs.

include!("src/arch_table.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/arch_table.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let tuple = ARCHES
        .iter()
        .find(|(name, _)| *name == arch)
        .map_or("unknown-linux-gnu", |(_, tuple)| tuple);
    println!("cargo:rustc-env=MEMPROXY_MULTIARCH={tuple}");
}
