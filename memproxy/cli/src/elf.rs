//! What a file named in a preload list is, as ld.so will see it.
//!
//! The order of a preload list only makes sense once each entry is known: is
//! it a loadable shared object for this machine, does it define `malloc`, is
//! it memproxy, glibc or an allocator? The commonest mistake the seed README
//! invites is preloading `/usr/lib/.../libc.so`, which is a linker script that
//! ld.so rejects; the fix is written in the script itself, so it is read
//! from there.

use memproxy_common::families::PREFIXED;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use object::{Architecture, Object, ObjectKind, ObjectSymbol};

/// Defined only by libmemproxy.so.
const MEMPROXY_MARKER: &str = memproxy_common::MARKER;
/// Defined only by glibc's libc.so.6.
const GLIBC_MARKER: &str = "gnu_get_libc_version";

/// The machine this command was built for, which is the one its users'
/// processes run on.
const HOST_ARCHITECTURE: Architecture = if cfg!(target_arch = "x86_64") {
    Architecture::X86_64
} else if cfg!(target_arch = "aarch64") {
    Architecture::Aarch64
} else {
    Architecture::Unknown
};

/// What the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A shared object ld.so can load into this machine's processes.
    SharedObject(Exports),
    /// A GNU ld script, such as `libc.so` from libc6-dev: ld.so fails with
    /// "invalid ELF header". `real_object` is the first shared object it
    /// names.
    LinkerScript { real_object: Option<PathBuf> },
    /// ELF for another class or machine (a 32-bit build, say): ld.so fails
    /// with "wrong ELF class" or skips it.
    WrongMachine { found: String },
    /// ELF, but an executable or relocatable object rather than a shared
    /// object.
    NotSharedObject,
    /// Neither ELF nor a linker script.
    NotElf,
}

/// What a shared object defines that matters to memproxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exports {
    /// Defines `malloc`: whoever comes first among these serves the process.
    pub malloc: bool,
    /// Defines `memproxy_version`: a libmemproxy.so.
    pub memproxy: bool,
    /// Defines `gnu_get_libc_version`: glibc itself.
    pub glibc: bool,
    /// The prefixed allocator API it exports, if it has no `malloc`.
    pub prefixed_api: Option<&'static str>,
}

impl Exports {
    /// Whether the library would take this object as the custom allocator.
    pub fn is_allocator(&self) -> bool {
        !self.memproxy && !self.glibc && (self.malloc || self.prefixed_api.is_some())
    }
}

/// Reads and classifies the file at `path`, which must be a regular file.
pub fn inspect(path: &Path) -> io::Result<Kind> {
    let mut head = [0u8; 64];
    let mut file = std::fs::File::open(path)?;
    let length = read_up_to(&mut file, &mut head)?;
    let head = &head[..length];
    if !head.starts_with(b"\x7fELF") {
        let mut text = head.to_vec();
        file.take(64 * 1024).read_to_end(&mut text)?;
        return Ok(if is_linker_script(&text) {
            Kind::LinkerScript {
                real_object: first_shared_object(&text),
            }
        } else {
            Kind::NotElf
        });
    }
    let data = std::fs::read(path)?;
    let Ok(object) = object::File::parse(&*data) else {
        return Ok(Kind::NotElf);
    };
    if object.architecture() != HOST_ARCHITECTURE || !object.is_64() {
        return Ok(Kind::WrongMachine {
            found: format!(
                "{:?}, {}-bit",
                object.architecture(),
                if object.is_64() { 64 } else { 32 }
            ),
        });
    }
    if object.kind() != ObjectKind::Dynamic {
        return Ok(Kind::NotSharedObject);
    }
    Ok(Kind::SharedObject(exports(&object)))
}

/// Fills `buf` from `file` as far as the file goes; the count read.
pub fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn exports(object: &object::File<'_>) -> Exports {
    let mut found = Exports::default();
    let mut prefixed: Option<usize> = None;
    for symbol in object.dynamic_symbols() {
        if !symbol.is_definition() {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        match name {
            "malloc" => found.malloc = true,
            MEMPROXY_MARKER => found.memproxy = true,
            GLIBC_MARKER => found.glibc = true,
            _ => {
                if let Some(index) = PREFIXED.iter().position(|api| api.malloc() == name) {
                    prefixed = Some(prefixed.map_or(index, |seen| seen.min(index)));
                }
            }
        }
    }
    if !found.malloc {
        found.prefixed_api = prefixed.map(|index| PREFIXED[index].label);
    }
    found
}

fn is_linker_script(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    text.trim_start().starts_with("/* GNU ld script")
        || ["GROUP", "INPUT"].iter().any(|command| {
            text.match_indices(command)
                .any(|(at, _)| text[at + command.len()..].trim_start().starts_with('('))
        })
}

/// The first absolute path to a shared object (`.so` or `.so.N`) named in
/// a linker script's GROUP or INPUT.
fn first_shared_object(text: &[u8]) -> Option<PathBuf> {
    let text = String::from_utf8_lossy(text);
    text.split(|character: char| character.is_whitespace() || matches!(character, '(' | ')'))
        .filter(|word| word.starts_with('/'))
        .find(|word| word.ends_with(".so") || word.contains(".so."))
        .map(PathBuf::from)
}
