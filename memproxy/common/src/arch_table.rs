/// One architecture as Rust, Debian, ELF and the kernel name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    /// Rust's `target_arch` (`CARGO_CFG_TARGET_ARCH`).
    pub rust_arch: &'static str,
    /// The Rust target triple that builds glibc programs for it (what
    /// `ci/cross/build.sh --target` takes).
    pub rust_target: &'static str,
    /// Debian's multiarch tuple: ld.so's `$LIB` is `lib/<tuple>` for this
    /// architecture's programs.
    pub tuple: &'static str,
    /// Debian's architecture name, as in `apt-get install PACKAGE:ARCH`.
    pub debian_arch: &'static str,
    /// The ELF header's `e_machine`.
    pub elf_machine: u16,
    /// The ELF header's `EI_CLASS`: 32 or 64 bits.
    pub elf_bits: u8,
    /// The ELF header's `EI_DATA`: little-endian (`ELFDATA2LSB`) or not.
    pub little_endian: bool,
    /// `e_flags & elf_flags_mask` must equal `elf_flags`: tells armhf's
    /// hard-float objects (EF_ARM_ABI_FLOAT_HARD) from armel's.
    pub elf_flags_mask: u32,
    pub elf_flags: u32,
    /// AT_PLATFORM, ld.so's `$PLATFORM`, that a 64-bit kernel of the same
    /// family gives this architecture's programs, where it is a fixed
    /// string; `None` where it names the CPU model (POWER, s390x) or the
    /// kernel sets none (RISC-V).
    pub platform: Option<&'static str>,
}

/// Every architecture memproxy knows, written once: the build scripts
/// `include!` this file too.
pub const ARCHES: &[Arch] = &[
    Arch {
        rust_arch: "x86_64",
        rust_target: "x86_64-unknown-linux-gnu",
        tuple: "x86_64-linux-gnu",
        debian_arch: "amd64",
        elf_machine: 62, // EM_X86_64
        elf_bits: 64,
        little_endian: true,
        elf_flags_mask: 0,
        elf_flags: 0,
        platform: Some("x86_64"),
    },
    Arch {
        rust_arch: "x86",
        rust_target: "i686-unknown-linux-gnu",
        tuple: "i386-linux-gnu",
        debian_arch: "i386",
        elf_machine: 3, // EM_386
        elf_bits: 32,
        little_endian: true,
        elf_flags_mask: 0,
        elf_flags: 0,
        // The kernel's COMPAT_ELF_PLATFORM for 32-bit programs on x86_64.
        platform: Some("i686"),
    },
    Arch {
        rust_arch: "aarch64",
        rust_target: "aarch64-unknown-linux-gnu",
        tuple: "aarch64-linux-gnu",
        debian_arch: "arm64",
        elf_machine: 183, // EM_AARCH64
        elf_bits: 64,
        little_endian: true,
        elf_flags_mask: 0,
        elf_flags: 0,
        platform: Some("aarch64"),
    },
    Arch {
        rust_arch: "arm",
        rust_target: "armv7-unknown-linux-gnueabihf",
        tuple: "arm-linux-gnueabihf",
        debian_arch: "armhf",
        elf_machine: 40, // EM_ARM
        elf_bits: 32,
        little_endian: true,
        elf_flags_mask: 0x400, // EF_ARM_ABI_FLOAT_HARD
        elf_flags: 0x400,
        // The kernel's COMPAT_ELF_PLATFORM for 32-bit programs on arm64.
        platform: Some("v8l"),
    },
    Arch {
        rust_arch: "riscv64",
        rust_target: "riscv64gc-unknown-linux-gnu",
        tuple: "riscv64-linux-gnu",
        debian_arch: "riscv64",
        elf_machine: 243, // EM_RISCV
        elf_bits: 64,
        little_endian: true,
        elf_flags_mask: 0,
        elf_flags: 0,
        platform: None,
    },
    Arch {
        rust_arch: "powerpc64",
        rust_target: "powerpc64le-unknown-linux-gnu",
        tuple: "powerpc64le-linux-gnu",
        debian_arch: "ppc64el",
        elf_machine: 21, // EM_PPC64
        elf_bits: 64,
        little_endian: true,
        elf_flags_mask: 0,
        elf_flags: 0,
        platform: None,
    },
    Arch {
        rust_arch: "s390x",
        rust_target: "s390x-unknown-linux-gnu",
        tuple: "s390x-linux-gnu",
        debian_arch: "s390x",
        elf_machine: 22, // EM_S390
        elf_bits: 64,
        little_endian: false,
        elf_flags_mask: 0,
        elf_flags: 0,
        platform: None,
    },
];
