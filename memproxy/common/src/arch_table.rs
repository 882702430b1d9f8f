/// Rust's `target_arch` and Debian's multiarch tuple for it. Included by this
/// crate's build script too, so the table is written once.
pub const ARCHES: &[(&str, &str)] = &[
    ("x86_64", "x86_64-linux-gnu"),
    ("x86", "i386-linux-gnu"),
    ("aarch64", "aarch64-linux-gnu"),
    ("arm", "arm-linux-gnueabihf"),
    ("riscv64", "riscv64-linux-gnu"),
    ("powerpc64", "powerpc64le-linux-gnu"),
    ("s390x", "s390x-linux-gnu"),
];
