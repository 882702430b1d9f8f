//! Small shared objects for another ABI than the host's, for tests that need
//! "a 32-bit library" on an x86_64 machine without any i386 package: the
//! host's own GNU as and ld (binutils, which every C toolchain here has)
//! assemble and link them, for i386 (`as --32`, `ld -m elf_i386`) and for
//! x32 (`as --x32`, `ld -m elf32_x86_64`: x86_64's machine in a 32-bit
//! object, an ABI memproxy's architecture table does not have). They are
//! real ELF files, as ld.so and readelf see them, with only the data
//! symbols asked for.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The ABI of the object to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// ELF32, EM_386: what `/lib/i386-linux-gnu` holds.
    I386,
    /// ELF32, EM_X86_64.
    X32,
}

impl Abi {
    fn assembler_flag(self) -> &'static str {
        match self {
            Abi::I386 => "--32",
            Abi::X32 => "--x32",
        }
    }

    fn linker_emulation(self) -> &'static str {
        match self {
            Abi::I386 => "elf_i386",
            Abi::X32 => "elf32_x86_64",
        }
    }
}

/// Writes `dir/name`, a shared object for `abi` that defines (and exports)
/// each `(symbol, bytes)` as a read-only data object holding those bytes.
/// Panics, with the command that failed and the package that provides it,
/// when binutils cannot make it.
#[track_caller]
pub fn shared_object(dir: &Path, name: &str, abi: Abi, symbols: &[(&str, &[u8])]) -> PathBuf {
    let mut source = String::from("    .section .rodata\n");
    for (symbol, bytes) in symbols {
        let bytes: Vec<String> = bytes.iter().map(u8::to_string).collect();
        let bytes = if bytes.is_empty() {
            "0".to_owned()
        } else {
            bytes.join(",")
        };
        source.push_str(&format!(
            "    .globl {symbol}\n    .type {symbol}, @object\n{symbol}:\n    .byte {bytes}\n    \
             .size {symbol}, .-{symbol}\n"
        ));
    }
    let source_path = dir.join(format!("{name}.s"));
    let object_path = dir.join(format!("{name}.o"));
    let output = dir.join(name);
    std::fs::write(&source_path, source).expect("write the assembly source");
    run(Command::new("as")
        .arg(abi.assembler_flag())
        .arg("-o")
        .arg(&object_path)
        .arg(&source_path));
    run(Command::new("ld")
        .args(["-m", abi.linker_emulation(), "-shared", "-o"])
        .arg(&output)
        .arg(&object_path));
    output
}

#[track_caller]
fn run(command: &mut Command) {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("{shown}: {error} (apt-get install binutils)"));
    assert!(
        status.success(),
        "{shown} failed (apt-get install binutils)"
    );
}
