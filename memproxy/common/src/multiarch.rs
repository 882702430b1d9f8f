//! Debian's multiarch directory for the target this crate is built for:
//! where libc and the allocator packages put their shared objects.

mod table {
    include!("arch_table.rs");
}

pub use table::{ARCHES, Arch};

/// The multiarch tuple (`x86_64-linux-gnu`, `i386-linux-gnu`, ...).
pub const TUPLE: &str = env!("MEMPROXY_MULTIARCH");

/// `lib/<tuple>`: what ld.so's `$LIB` becomes in this ABI's programs on
/// Debian.
pub const LIB_TOKEN: &str = concat!("lib/", env!("MEMPROXY_MULTIARCH"));

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
    by_rust_arch(arch).map(|entry| entry.tuple)
}

/// The row for a Rust `target_arch`.
pub fn by_rust_arch(arch: &str) -> Option<&'static Arch> {
    ARCHES.iter().find(|entry| entry.rust_arch == arch)
}

/// The row for the architecture this crate is built for: the host's, in
/// the `memproxy` command.
pub fn host() -> Option<&'static Arch> {
    ARCHES.iter().find(|entry| entry.tuple == TUPLE)
}

/// The row for an ELF object's class (32 or 64), byte order, `e_machine`
/// and `e_flags`; `None` for an architecture not in the table.
pub fn of_elf(bits: u8, little_endian: bool, machine: u16, flags: u32) -> Option<&'static Arch> {
    ARCHES.iter().find(|entry| {
        entry.elf_bits == bits
            && entry.little_endian == little_endian
            && entry.elf_machine == machine
            && flags & entry.elf_flags_mask == entry.elf_flags
    })
}

impl Arch {
    /// Where its programs' libraries and ld.so's `$LIB` point, `lib/<tuple>`
    /// (relative: ld.so's `$LIB` has no leading slash either).
    pub fn lib_dir(&self) -> LibDir {
        LibDir(self.tuple)
    }
}

/// `lib/<tuple>`, built without allocating: show it with `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibDir(pub &'static str);

impl core::fmt::Display for LibDir {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "lib/{}", self.0)
    }
}

/// jemalloc's library, which every release in [`crate::known`] installs as
/// `libjemalloc.so.2`: the allocator tests and examples name by path.
pub const JEMALLOC: &str = concat!("/lib/", env!("MEMPROXY_MULTIARCH"), "/libjemalloc.so.2");

#[cfg(test)]
mod tests {
    #[test]
    fn every_row_is_found_by_its_elf_identity_and_only_that_row() {
        for row in super::ARCHES {
            let found = super::of_elf(
                row.elf_bits,
                row.little_endian,
                row.elf_machine,
                row.elf_flags,
            );
            assert_eq!(found, Some(row), "{}", row.tuple);
        }
        // armel: an ARM object without the hard-float flag is not armhf.
        assert_eq!(super::of_elf(32, true, 40, 0x0500_0200), None);
        // x32: x86_64's machine in a 32-bit object.
        assert_eq!(super::of_elf(32, true, 62, 0), None);
    }

    #[test]
    fn the_host_row_is_the_built_tuple() {
        assert_eq!(super::host().map(|row| row.tuple), Some(super::TUPLE));
    }

    #[test]
    fn jemalloc_is_where_the_known_table_puts_it() {
        for known in crate::known::named("jemalloc") {
            assert_eq!(super::JEMALLOC.rsplit('/').next(), Some(known.file));
        }
        assert!(super::JEMALLOC.starts_with(super::LIB_DIR));
    }
}
