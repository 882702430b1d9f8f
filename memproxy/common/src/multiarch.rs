//! Debian's multiarch directory for the target this crate is built for:
//! where libc and the allocator packages put their shared objects.

/// `$prefix<tuple>$suffix` for the target, as a literal.
macro_rules! with_tuple {
    ($prefix:literal, $suffix:literal) => {
        if cfg!(target_arch = "x86_64") {
            concat!($prefix, "x86_64-linux-gnu", $suffix)
        } else if cfg!(target_arch = "x86") {
            concat!($prefix, "i386-linux-gnu", $suffix)
        } else if cfg!(target_arch = "aarch64") {
            concat!($prefix, "aarch64-linux-gnu", $suffix)
        } else if cfg!(target_arch = "arm") {
            concat!($prefix, "arm-linux-gnueabihf", $suffix)
        } else if cfg!(target_arch = "riscv64") {
            concat!($prefix, "riscv64-linux-gnu", $suffix)
        } else if cfg!(target_arch = "powerpc64") {
            concat!($prefix, "powerpc64le-linux-gnu", $suffix)
        } else if cfg!(target_arch = "s390x") {
            concat!($prefix, "s390x-linux-gnu", $suffix)
        } else {
            concat!($prefix, "unknown-linux-gnu", $suffix)
        }
    };
}

/// The multiarch tuple (`x86_64-linux-gnu`, `i386-linux-gnu`, ...).
pub const TUPLE: &str = with_tuple!("", "");

/// `/lib/<tuple>`: through the merged-/usr symlink, the directory the
/// packages install into.
pub const LIB_DIR: &str = with_tuple!("/lib/", "");

/// glibc's real object; never the `libc.so` linker script beside it.
pub const LIBC: &str = with_tuple!("/lib/", "/libc.so.6");

/// `/usr/lib/<tuple>/libc.so`: on Debian a linker script, which ld.so
/// rejects in a preload list.
pub const LIBC_LINKER_SCRIPT: &str = with_tuple!("/usr/lib/", "/libc.so");
