//! The objects ld.so has loaded, and symbol lookup inside one of them.
//!
//! memproxy must find, say, jemalloc's own `malloc` or glibc's own `free`
//! without calling `dlsym`: `dlsym` allocates (recording a dependency, or
//! formatting an error for a missing name) and this code runs inside the first
//! allocation. So symbols are looked up directly in each object's dynamic
//! symbol table through its GNU or SysV hash table, which is exactly what a
//! handle-scoped `dlsym` does, minus the allocation.
//!
//! It also holds how memproxy recognises itself among them: every build
//! exports the marker symbol `memproxy_version`, so a second copy loaded into
//! the same process can tell that the first is there ([`is_memproxy`]).
//!
//! # Safety
//! The unsafe code here reads program headers, dynamic sections and symbol
//! tables that ld.so has mapped and relocated. They stay valid while the
//! object is loaded. An [`Object`] may be kept after the `dl_iterate_phdr`
//! callback that found it, so its references are `'static`: objects present
//! at start-up are never unloaded, and the decision, the only caller that
//! keeps objects, is done with them before it returns.

use core::ffi::{CStr, c_char, c_int, c_void};
use core::ops::ControlFlow;

use crate::slot::{self, Function};

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Defines the exported marker and [`MARKER`], its name, from one spelling.
macro_rules! marker {
    ($name:ident) => {
        /// Lets a second memproxy in the same process recognise the first, and
        /// tools tell which build is loaded.
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static $name: [u8; VERSION.len()] = {
            let mut bytes = [0u8; VERSION.len()];
            let mut index = 0;
            while index < bytes.len() {
                bytes[index] = VERSION.as_bytes()[index];
                index += 1;
            }
            bytes
        };

        /// The name of the marker every memproxy build exports.
        const MARKER: &[u8] = stringify!($name).as_bytes();
    };
}

marker!(memproxy_version);

/// Whether `object` is this library or another copy of it.
pub fn is_memproxy(object: &Object) -> bool {
    object.defines(MARKER)
}

/// One loaded ELF object; see the module docs for how long it stays valid.
#[derive(Clone, Copy)]
pub struct Object {
    /// Where the object was loaded (0 for a non-PIE executable).
    base: usize,
    /// The path ld.so loaded it from; empty for the main program.
    pub path: &'static [u8],
    /// `DT_SONAME`, or empty.
    pub soname: &'static [u8],
    /// Where its dynamic section is mapped: unique per object.
    dynamic: usize,
    symbols: Option<SymbolTable>,
}

impl Object {
    /// The address of the function or object `name` defines, at its default
    /// version, or `None` when it only references it (or lacks it).
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        self.symbols.as_ref()?.lookup(self.base, name)
    }

    pub fn defines(&self, name: &[u8]) -> bool {
        self.lookup(name).is_some()
    }

    /// The function `name` defines, as a pointer of C signature `F`: the
    /// caller must know that `name` has that signature (see [`crate::slot`]).
    pub fn function<F: Function>(&self, name: &[u8]) -> Option<F> {
        self.lookup(name).and_then(slot::function)
    }

    /// Whether this is the library this code is part of. Compared by the
    /// dynamic section, whose address comes from the linker-defined local
    /// symbol `_DYNAMIC`: unlike an exported symbol's, it cannot be
    /// interposed by another copy of this library loaded earlier.
    pub fn is_this_library(&self) -> bool {
        unsafe extern "C" {
            static _DYNAMIC: u8;
        }
        self.dynamic != 0 && self.dynamic == &raw const _DYNAMIC as usize
    }
}

/// Calls `visit` for each loaded object in load order: the program, then
/// preloaded objects, then their dependencies, then `dlopen`ed ones. This is
/// also the order in which ld.so resolves a symbol for the global scope.
pub fn for_each_object<F>(mut visit: F)
where
    F: FnMut(&Object) -> ControlFlow<()>,
{
    unsafe extern "C" fn trampoline<F>(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int
    where
        F: FnMut(&Object) -> ControlFlow<()>,
    {
        // SAFETY: `data` is the `&mut F` passed below, and `info` is valid for
        // the duration of this callback (dl_iterate_phdr's contract).
        let (visit, info) = unsafe { (&mut *(data as *mut F), &*info) };
        // SAFETY: as documented on the module.
        let object = unsafe { Object::from_info(info) };
        match visit(&object) {
            ControlFlow::Continue(()) => 0,
            ControlFlow::Break(()) => 1,
        }
    }
    // SAFETY: the callback only borrows `visit` for the duration of the call.
    unsafe { libc::dl_iterate_phdr(Some(trampoline::<F>), &raw mut visit as *mut c_void) };
}

impl Object {
    /// # Safety
    /// `info` must describe an object ld.so has mapped.
    unsafe fn from_info(info: &libc::dl_phdr_info) -> Object {
        let base = info.dlpi_addr as usize;
        let segments: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
            &[]
        } else {
            // SAFETY: ld.so provides `dlpi_phnum` headers at `dlpi_phdr`.
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
        };
        let dynamic = segments
            .iter()
            .find(|segment| segment.p_type == libc::PT_DYNAMIC)
            .map(|segment| base.wrapping_add(segment.p_vaddr as usize) as *const Dyn);
        // SAFETY: the name and PT_DYNAMIC of an object ld.so has mapped.
        unsafe { Object::from_parts(base, info.dlpi_name, dynamic) }
    }

    /// # Safety
    /// `name` must be NULL or the object's NUL-terminated name, and `dynamic`
    /// its mapped dynamic section.
    unsafe fn from_parts(base: usize, name: *const c_char, dynamic: Option<*const Dyn>) -> Object {
        let path = if name.is_null() {
            &[][..]
        } else {
            // SAFETY: a NUL-terminated name owned by the link map.
            unsafe { CStr::from_ptr(name) }.to_bytes()
        };
        // SAFETY: the caller's contract.
        let symbols = dynamic.and_then(|dynamic| unsafe { SymbolTable::parse(base, dynamic) });
        let soname = match &symbols {
            // SAFETY: DT_SONAME is an offset into the string table.
            Some(table) => table
                .soname
                .and_then(|offset| unsafe { table.string(offset) })
                .unwrap_or(&[]),
            None => &[],
        };
        Object {
            base,
            path,
            soname,
            dynamic: dynamic.map_or(0, |dynamic| dynamic as usize),
            symbols,
        }
    }
}

/// How to walk the loaded objects.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// With `dl_iterate_phdr`, which takes ld.so's lock.
    Locked,
    /// In a child forked during a decision: see [`for_each_object_unlocked`].
    AfterFork,
}

/// Calls `visit` for each loaded object in load order, walking as `how` says.
pub fn walk<F>(how: Walk, visit: F)
where
    F: FnMut(&Object) -> ControlFlow<()>,
{
    match how {
        Walk::Locked => for_each_object(visit),
        Walk::AfterFork => for_each_object_unlocked(visit),
    }
}

/// Like [`for_each_object`], but reads ld.so's list of loaded objects
/// (`_r_debug`) directly, without the lock `dl_iterate_phdr` takes.
///
/// Only for a child forked while its parent was deciding: if the fork landed
/// inside the parent's `dl_iterate_phdr`, the child inherits that lock held by
/// a thread it does not have, and `dl_iterate_phdr` would wait forever. The
/// child has one thread, so nothing changes the list while it is read.
pub fn for_each_object_unlocked<F>(mut visit: F)
where
    F: FnMut(&Object) -> ControlFlow<()>,
{
    let Some(debug) = loader_debug_state() else {
        return;
    };
    // SAFETY: `_r_debug` is ld.so's; its `r_map` heads the link map list.
    let mut map = unsafe { (*debug).r_map };
    // A corrupt list must not loop forever.
    for _ in 0..65_536 {
        if map.is_null() {
            return;
        }
        // SAFETY: an entry of ld.so's link map list (the public part of
        // `struct link_map`, whose layout is ABI).
        let entry = unsafe { &*map };
        let dynamic = (!entry.l_ld.is_null()).then_some(entry.l_ld as *const Dyn);
        // SAFETY: the name and dynamic section of an object ld.so loaded.
        let object = unsafe { Object::from_parts(entry.l_addr, entry.l_name, dynamic) };
        if visit(&object).is_break() {
            return;
        }
        map = entry.l_next;
    }
}

/// `struct r_debug` of `<link.h>`.
#[repr(C)]
struct RDebug {
    r_version: c_int,
    r_map: *const LinkMap,
}

/// The public head of `struct link_map` of `<link.h>`.
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const c_char,
    l_ld: *const c_void,
    l_next: *const LinkMap,
    l_prev: *const LinkMap,
}

/// ld.so's `_r_debug`, found in ld.so's own symbol table (from `AT_BASE`), so
/// that the library needs no link-time dependency on ld.so.
fn loader_debug_state() -> Option<*const RDebug> {
    let base = crate::sys::aux_value(libc::AT_BASE);
    if base == 0 {
        return None;
    }
    // SAFETY: AT_BASE is where the kernel mapped ld.so, ELF header first.
    let header = unsafe { &*(base as *const libc::Elf64_Ehdr) };
    // SAFETY: the program headers of that mapped object.
    let segments: &[libc::Elf64_Phdr] = unsafe {
        core::slice::from_raw_parts(
            base.wrapping_add(header.e_phoff as usize) as *const libc::Elf64_Phdr,
            header.e_phnum as usize,
        )
    };
    let dynamic = segments
        .iter()
        .find(|segment| segment.p_type == libc::PT_DYNAMIC)
        .map(|segment| base.wrapping_add(segment.p_vaddr as usize) as *const Dyn)?;
    // SAFETY: ld.so's mapped dynamic section.
    let object = unsafe { Object::from_parts(base, core::ptr::null(), Some(dynamic)) };
    object
        .lookup(b"_r_debug")
        .map(|address| address as *const RDebug)
}

/// `Elf64_Dyn`, which the libc crate does not define.
#[repr(C)]
struct Dyn {
    d_tag: i64,
    d_un: u64,
}

// Tags and symbol kinds from the ELF gABI and the GNU extensions.
const DT_NULL: i64 = 0;
const DT_HASH: i64 = 4;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_STRSZ: i64 = 10;
const DT_SONAME: i64 = 14;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;
const STT_NOTYPE: u8 = 0;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const SHN_UNDEF: u16 = 0;
const VERSYM_HIDDEN: u16 = 0x8000;
const VER_NDX_LOCAL: u16 = 0;

#[derive(Clone, Copy)]
enum Hash {
    Gnu(*const u32),
    SysV(*const u32),
}

#[derive(Clone, Copy)]
struct SymbolTable {
    symbols: *const libc::Elf64_Sym,
    strings: *const u8,
    strings_size: usize,
    hash: Hash,
    versions: Option<*const u16>,
    soname: Option<usize>,
}

impl SymbolTable {
    /// # Safety
    /// `dynamic` must point at a loaded object's `DT_NULL`-terminated dynamic
    /// section.
    unsafe fn parse(base: usize, mut dynamic: *const Dyn) -> Option<SymbolTable> {
        // glibc rewrites address entries of a writable dynamic section to
        // absolute addresses; read-only ones (the vDSO's) stay relative.
        let address = |value: u64| {
            let value = value as usize;
            if value < base {
                base.wrapping_add(value)
            } else {
                value
            }
        };
        let (
            mut symbols,
            mut strings,
            mut strings_size,
            mut gnu,
            mut sysv,
            mut versions,
            mut soname,
        ) = (None, None, 0usize, None, None, None, None);
        loop {
            // SAFETY: the section is terminated by DT_NULL, checked below.
            let entry = unsafe { &*dynamic };
            let value = entry.d_un;
            match entry.d_tag {
                DT_NULL => break,
                DT_SYMTAB => symbols = Some(address(value) as *const libc::Elf64_Sym),
                DT_STRTAB => strings = Some(address(value) as *const u8),
                DT_STRSZ => strings_size = value as usize,
                DT_HASH => sysv = Some(address(value) as *const u32),
                DT_GNU_HASH => gnu = Some(address(value) as *const u32),
                DT_VERSYM => versions = Some(address(value) as *const u16),
                DT_SONAME => soname = Some(value as usize),
                _ => {}
            }
            // SAFETY: not past DT_NULL yet.
            dynamic = unsafe { dynamic.add(1) };
        }
        let hash = match (gnu, sysv) {
            (Some(table), _) => Hash::Gnu(table),
            (None, Some(table)) => Hash::SysV(table),
            (None, None) => return None,
        };
        Some(SymbolTable {
            symbols: symbols?,
            strings: strings?,
            strings_size,
            hash,
            versions,
            soname,
        })
    }

    /// # Safety
    /// `offset` must come from this object's dynamic section or symbols, and
    /// the result must not outlive the object (see the module docs).
    unsafe fn string<'a>(&self, offset: usize) -> Option<&'a [u8]> {
        if offset >= self.strings_size {
            return None;
        }
        // SAFETY: within DT_STRSZ; strings are NUL-terminated inside it.
        let bytes = unsafe {
            core::slice::from_raw_parts(self.strings.add(offset), self.strings_size - offset)
        };
        let end = bytes.iter().position(|&b| b == 0)?;
        bytes.get(..end)
    }

    fn lookup(&self, base: usize, name: &[u8]) -> Option<usize> {
        // SAFETY: indices come from the object's own hash table, which ld.so
        // itself relies on; reads stay within the tables it describes.
        let index = unsafe {
            match self.hash {
                Hash::Gnu(table) => self.gnu_lookup(table, name),
                Hash::SysV(table) => self.sysv_lookup(table, name),
            }
        }?;
        // SAFETY: `index` is a valid symbol index (see above).
        let symbol = unsafe { &*self.symbols.add(index) };
        let address = base.wrapping_add(symbol.st_value as usize);
        if symbol.st_info & 0xf == STT_GNU_IFUNC {
            // SAFETY: an IFUNC symbol's value is its resolver, which ld.so
            // would call the same way for a relocation.
            let resolver: unsafe extern "C" fn(u64) -> usize =
                unsafe { core::mem::transmute(address) };
            let hwcap = crate::sys::aux_value(libc::AT_HWCAP) as u64;
            // SAFETY: as above; resolvers take the hardware capabilities.
            return Some(unsafe { resolver(hwcap) });
        }
        Some(address)
    }

    /// Whether symbol `index` is a definition of `name` at its default version.
    ///
    /// # Safety
    /// `index` must be a valid symbol index.
    unsafe fn is_definition(&self, index: usize, name: &[u8]) -> bool {
        // SAFETY: caller's contract.
        let symbol = unsafe { &*self.symbols.add(index) };
        let kind = symbol.st_info & 0xf;
        let binding = symbol.st_info >> 4;
        let callable = matches!(kind, STT_FUNC | STT_NOTYPE | STT_OBJECT | STT_GNU_IFUNC);
        let exported = matches!(binding, STB_GLOBAL | STB_WEAK);
        if symbol.st_shndx == SHN_UNDEF || symbol.st_value == 0 || !callable || !exported {
            return false;
        }
        if let Some(versions) = self.versions {
            // SAFETY: DT_VERSYM has one entry per symbol.
            let version = unsafe { *versions.add(index) };
            if version & VERSYM_HIDDEN != 0 || version == VER_NDX_LOCAL {
                return false;
            }
        }
        // SAFETY: st_name is an offset into this object's string table.
        let symbol_name = unsafe { self.string(symbol.st_name as usize) };
        symbol_name == Some(name)
    }

    /// # Safety
    /// `table` must be this object's DT_GNU_HASH section.
    unsafe fn gnu_lookup(&self, table: *const u32, name: &[u8]) -> Option<usize> {
        let hash = name
            .iter()
            .fold(5381u32, |h, &b| h.wrapping_mul(33).wrapping_add(b as u32));
        // SAFETY: the GNU hash layout: header, bloom words, buckets, chains.
        unsafe {
            let (buckets_count, first_symbol, bloom_count, bloom_shift) = (
                *table,
                *table.add(1) as usize,
                *table.add(2) as usize,
                *table.add(3),
            );
            if buckets_count == 0 || bloom_count == 0 {
                return None;
            }
            let bloom = table.add(4) as *const u64;
            let word = *bloom.add((hash as usize / 64) % bloom_count);
            let mask = (1u64 << (hash % 64)) | (1u64 << ((hash >> (bloom_shift % 32)) % 64));
            if word & mask != mask {
                return None;
            }
            let buckets = bloom.add(bloom_count) as *const u32;
            let chains = buckets.add(buckets_count as usize);
            let mut index = *buckets.add((hash % buckets_count) as usize) as usize;
            if index < first_symbol {
                return None;
            }
            loop {
                let chain_hash = *chains.add(index - first_symbol);
                if chain_hash | 1 == hash | 1 && self.is_definition(index, name) {
                    return Some(index);
                }
                if chain_hash & 1 != 0 {
                    return None;
                }
                index += 1;
            }
        }
    }

    /// # Safety
    /// `table` must be this object's DT_HASH section.
    unsafe fn sysv_lookup(&self, table: *const u32, name: &[u8]) -> Option<usize> {
        let hash = name.iter().fold(0u32, |h, &b| {
            let h = (h << 4).wrapping_add(b as u32);
            (h ^ ((h & 0xf000_0000) >> 24)) & 0x0fff_ffff
        });
        // SAFETY: the SysV hash layout: nbucket, nchain, buckets, chains.
        unsafe {
            let (buckets_count, chains_count) = (*table as usize, *table.add(1) as usize);
            if buckets_count == 0 {
                return None;
            }
            let buckets = table.add(2);
            let chains = buckets.add(buckets_count);
            let mut index = *buckets.add(hash as usize % buckets_count) as usize;
            let mut steps = 0;
            while index != 0 && index < chains_count && steps < chains_count {
                if self.is_definition(index, name) {
                    return Some(index);
                }
                index = *chains.add(index) as usize;
                steps += 1;
            }
            None
        }
    }
}
