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

use memproxy_common::multiarch::{self, Arch};
use object::{Object, ObjectKind, ObjectSection, ObjectSymbol};

/// Defined only by libmemproxy.so.
const MEMPROXY_MARKER: &str = memproxy_common::MARKER;
/// Defined only by glibc's libc.so.6.
const GLIBC_MARKER: &str = "gnu_get_libc_version";

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
    /// with "wrong ELF class" or skips it. `arch` is its row in the
    /// architecture table, if it has one.
    WrongMachine {
        found: String,
        arch: Option<&'static Arch>,
    },
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

/// Reads and classifies the file at `path`, which must be a regular file,
/// for this machine's programs.
pub fn inspect(path: &Path) -> io::Result<Kind> {
    inspect_for(path, multiarch::host())
}

/// Reads and classifies the file at `path` for the programs of `wanted`
/// (`None`: an architecture missing from the table, which nothing fits).
pub fn inspect_for(path: &Path, wanted: Option<&'static Arch>) -> io::Result<Kind> {
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
    let identity = Identity::of(&object);
    let arch = identity.and_then(|identity| identity.arch());
    if wanted.is_none() || arch != wanted {
        return Ok(Kind::WrongMachine {
            found: identity.map_or_else(|| "not ELF".to_owned(), |identity| identity.describe()),
            arch,
        });
    }
    if object.kind() != ObjectKind::Dynamic {
        return Ok(Kind::NotSharedObject);
    }
    Ok(Kind::SharedObject(exports(&object)))
}

/// What the ELF header says about the machine an object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub bits: u8,
    pub little_endian: bool,
    pub machine: u16,
    pub flags: u32,
}

impl Identity {
    /// The header's class, byte order, `e_machine` and `e_flags`.
    pub fn of(object: &object::File<'_>) -> Option<Identity> {
        use object::read::elf::{ElfFile, FileHeader};
        fn fields<H: FileHeader<Endian = object::Endianness>>(
            elf: &ElfFile<'_, H>,
            bits: u8,
        ) -> Identity {
            let (header, endian) = (elf.elf_header(), elf.endian());
            Identity {
                bits,
                little_endian: elf.is_little_endian(),
                machine: header.e_machine(endian),
                flags: header.e_flags(endian),
            }
        }
        match object {
            object::File::Elf32(elf) => Some(fields(elf, 32)),
            object::File::Elf64(elf) => Some(fields(elf, 64)),
            _ => None,
        }
    }

    /// Its row in the architecture table.
    pub fn arch(&self) -> Option<&'static Arch> {
        multiarch::of_elf(self.bits, self.little_endian, self.machine, self.flags)
    }

    /// "i386-linux-gnu, 32-bit", or the raw header fields for a machine the
    /// table lacks.
    pub fn describe(&self) -> String {
        match self.arch() {
            Some(arch) => format!("{}, {}-bit", arch.tuple, self.bits),
            None => format!(
                "ELF machine {}, {}-bit {}-endian, flags {:#x}",
                self.machine,
                self.bits,
                if self.little_endian { "little" } else { "big" },
                self.flags
            ),
        }
    }
}

/// The bytes of the defined data symbol `name`, as stored in the file.
pub fn symbol_bytes(object: &object::File<'_>, name: &str) -> Option<Vec<u8>> {
    let symbol = object
        .dynamic_symbols()
        .find(|symbol| symbol.is_definition() && symbol.name() == Ok(name))?;
    let section = object.section_by_index(symbol.section_index()?).ok()?;
    let size = usize::try_from(symbol.size()).ok()?;
    let offset = usize::try_from(symbol.address().checked_sub(section.address())?).ok()?;
    let data = section.data().ok()?;
    data.get(offset..offset.checked_add(size)?)
        .map(<[u8]>::to_vec)
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

pub fn exports(object: &object::File<'_>) -> Exports {
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
