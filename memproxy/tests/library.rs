//! The shape of libmemproxy.so itself: what it exports, what it needs, and
//! what it must never contain, since it is loaded into every process.

use std::collections::BTreeSet;

use object::elf::{DF_BIND_NOW, DF_TEXTREL, DT_FLAGS, DT_NEEDED, PT_TLS};
use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};
use test_support::hook_shape::TAKEN_OVER;

fn bytes() -> Vec<u8> {
    std::fs::read(&test_support::Artifacts::shared().memproxy).expect("the library is readable")
}

fn defined_exports(file: &ElfFile64<'_, Endianness>) -> BTreeSet<String> {
    file.dynamic_symbols()
        .filter(|symbol| symbol.is_definition())
        .filter_map(|symbol| symbol.name().ok().map(str::to_owned))
        .collect()
}

const C_API: [&str; 13] = [
    "malloc",
    "free",
    "calloc",
    "realloc",
    "reallocarray",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "malloc_trim",
    "cfree",
];

/// Every operator new/delete libstdc++ exports on x86_64.
const CXX_API: [&str; 20] = [
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv",
    "_ZdaPv",
    "_ZdlPvm",
    "_ZdaPvm",
    "_ZdlPvRKSt9nothrow_t",
    "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t",
    "_ZdaPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t",
    "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t",
];

#[test]
fn exports_exactly_the_interposed_api() {
    let data = bytes();
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF64");
    let expected: BTreeSet<String> = C_API
        .iter()
        .chain(&CXX_API)
        .chain(&TAKEN_OVER)
        // The marker other copies recognise, the pointer to the decision
        // record `memproxy status` reads, and the built-in config path
        // install.sh checks: names nothing else defines.
        .chain(&[
            "memproxy_version",
            "memproxy_decision",
            "memproxy_default_config",
        ])
        .map(|name| (*name).to_owned())
        .collect();
    assert_eq!(defined_exports(&file), expected);
}

#[test]
fn every_libstdcxx_operator_is_exported() {
    // Whatever libstdc++ on this machine exports as operator new/delete, we
    // export too: otherwise the allocator's would serve excluded programs.
    let libstdcxx = std::fs::read(
        std::path::Path::new(memproxy_common::multiarch::LIB_DIR).join("libstdc++.so.6"),
    )
    .expect("libstdc++ is installed");
    let file = ElfFile64::<Endianness>::parse(&*libstdcxx).expect("ELF64");
    let operators: BTreeSet<String> = defined_exports(&file)
        .into_iter()
        .filter(|name| {
            name.starts_with("_Znw")
                || name.starts_with("_Zna")
                || name.starts_with("_Zdl")
                || name.starts_with("_Zda")
        })
        .collect();
    let ours: BTreeSet<String> = CXX_API.iter().map(|name| (*name).to_owned()).collect();
    assert_eq!(operators, ours);
}

#[test]
fn symbols_are_unversioned() {
    let data = bytes();
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF64");
    assert!(
        file.section_by_name(".gnu.version_d").is_none(),
        "a version definition would stop interposing malloc@GLIBC_2.2.5 callers"
    );
}

fn dynamic_entries(data: &[u8]) -> Vec<(u64, u64)> {
    let file = ElfFile64::<Endianness>::parse(data).expect("ELF64");
    let endian = file.endian();
    let header = file.elf_header();
    let segments = header
        .program_headers(endian, data)
        .expect("program headers");
    segments
        .iter()
        .filter_map(|segment| segment.dynamic(endian, data).ok().flatten())
        .flatten()
        .map(|entry| (entry.d_tag(endian), entry.d_val(endian)))
        .collect()
}

#[test]
fn needs_only_glibc_and_binds_now() {
    let data = bytes();
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF64");
    let entries = dynamic_entries(&data);
    let needed: Vec<u64> = entries
        .iter()
        .filter(|(tag, _)| *tag == DT_NEEDED as u64)
        .map(|(_, value)| *value)
        .collect();
    assert_eq!(needed.len(), 1, "one DT_NEEDED entry: libc.so.6");
    let libs: Vec<String> = file
        .imports()
        .expect("imports")
        .iter()
        .map(|import| String::from_utf8_lossy(import.library()).into_owned())
        .collect();
    assert!(
        libs.iter()
            .all(|library| library.is_empty() || library == "libc.so.6"),
        "{libs:?}"
    );
    let flags = entries
        .iter()
        .find(|(tag, _)| *tag == DT_FLAGS as u64)
        .map_or(0, |(_, value)| *value);
    assert_ne!(
        flags & DF_BIND_NOW as u64,
        0,
        "lazy binding would resolve symbols inside hooks"
    );
    assert_eq!(flags & DF_TEXTREL as u64, 0);
}

#[test]
fn has_no_thread_local_storage() {
    let data = bytes();
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF64");
    let endian = file.endian();
    let segments = file
        .elf_header()
        .program_headers(endian, &*data)
        .expect("program headers");
    assert!(
        segments
            .iter()
            .all(|segment| segment.p_type(endian) != PT_TLS),
        "a TLS segment: hooks would reach __tls_get_addr"
    );
    assert!(file.section_by_name(".tbss").is_none() && file.section_by_name(".tdata").is_none());
}

#[test]
fn imports_nothing_that_allocates_locks_or_loads() {
    let data = bytes();
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF64");
    let imports: BTreeSet<String> = file
        .dynamic_symbols()
        .filter(|symbol| symbol.is_undefined())
        .filter_map(|symbol| symbol.name().ok().map(str::to_owned))
        .collect();
    let allowed: BTreeSet<&str> = [
        // Allocation-free libc primitives the decision uses.
        "__errno_location",
        "abort",
        "bcmp",
        "memcmp",
        "dl_iterate_phdr",
        "environ",
        "getauxval",
        "memcpy",
        "memmove",
        "memset",
        "strlen",
        "strnlen",
        // Weak references every shared object carries.
        "__cxa_finalize",
        "__gmon_start__",
        "_ITM_deregisterTMCloneTable",
        "_ITM_registerTMCloneTable",
    ]
    .into();
    let unexpected: Vec<&String> = imports
        .iter()
        .filter(|name| !allowed.contains(name.as_str()))
        .collect();
    assert!(unexpected.is_empty(), "unexpected imports: {unexpected:?}");
}

#[test]
fn has_no_panic_machinery() {
    // A release build keeps its symbol table: any path that could panic
    // would leave core::panicking in it.
    let data = bytes();
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF64");
    let panicking: Vec<String> = file
        .symbols()
        .filter_map(|symbol| symbol.name().ok().map(str::to_owned))
        .filter(|name| {
            name.contains("panicking")
                || name.contains("panic_fmt")
                || name.contains("slice_index_fail")
        })
        .collect();
    assert!(
        file.symbols().count() > 0,
        "the release build keeps .symtab"
    );
    assert!(panicking.is_empty(), "{panicking:?}");
}

/// Every export that only forwards is its architecture's trampoline (on
/// x86_64 one `jmp *slot(%rip)`), through the slot its name forwards to.
#[test]
fn each_plain_hook_is_one_jump_through_its_own_slot() {
    let checked = test_support::hook_shape::check_library(&bytes()).expect("a library to check");
    assert!(checked.passed(), "{checked}");
}
