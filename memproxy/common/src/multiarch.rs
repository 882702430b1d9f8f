//! Debian's multiarch directory for the target this crate is built for:
//! where libc and the allocator packages put their shared objects.

mod table {
    include!("arch_table.rs");
}

/// The multiarch tuple (`x86_64-linux-gnu`, `i386-linux-gnu`, ...).
pub const TUPLE: &str = env!("MEMPROXY_MULTIARCH");

/// `/lib/<tuple>`: through the merged-/usr symlink, the directory the
/// packages install into.
pub const LIB_DIR: &str = concat!("/lib/", env!("MEMPROXY_MULTIARCH"));

/// glibc's real object; never the `libc.so` linker script beside it.
pub const LIBC: &str = concat!("/lib/", env!("MEMPROXY_MULTIARCH"), "/libc.so.6");

/// `/usr/lib/<tuple>/libc.so`: on Debian a linker script, which ld.so
/// rejects in a preload list.
pub const LIBC_LINKER_SCRIPT: &str = concat!("/usr/lib/", env!("MEMPROXY_MULTIARCH"), "/libc.so");

/// The tuple for a Rust `target_arch` (as build scripts see it in
/// `CARGO_CFG_TARGET_ARCH`).
pub fn tuple_of_arch(arch: &str) -> Option<&'static str> {
    table::ARCHES
        .iter()
        .find(|(name, _)| *name == arch)
        .map(|(_, tuple)| *tuple)
}

/// jemalloc's library, which every release in [`crate::known`] installs as
/// `libjemalloc.so.2`: the allocator tests and examples name by path.
pub const JEMALLOC: &str = concat!("/lib/", env!("MEMPROXY_MULTIARCH"), "/libjemalloc.so.2");

#[cfg(test)]
mod tests {
    #[test]
    fn jemalloc_is_where_the_known_table_puts_it() {
        for known in crate::known::named("jemalloc") {
            assert_eq!(super::JEMALLOC.rsplit('/').next(), Some(known.file));
        }
        assert!(super::JEMALLOC.starts_with(super::LIB_DIR));
    }
}
