//! Allocator APIs: the names under which an allocator exports each core
//! function ([`crate::functions`]), as data.

use crate::functions::routed_functions;

/// The type of a family's name for a core function: a function the allocator
/// cannot do without has a name in every family.
macro_rules! name_type {
    (required) => { &'static [u8] };
    ($absent:ident) => { Option<&'static [u8]> };
}

/// The standard name of a core function: its C symbol.
macro_rules! standard_name {
    (required, $name:ident) => {
        stringify!($name).as_bytes()
    };
    ($absent:ident, $name:ident) => {
        Some(stringify!($name).as_bytes())
    };
}

macro_rules! generate_families {
    (
        core { $($name:ident $signature:tt -> $ret:ty {
            absent: $absent:ident $(($absent_with:ident))?, $($how:tt)*
        })* }
        $($not_core:tt)*
    ) => {
        /// The names of one allocator API, one field per core function. `None`
        /// where the API has no such function.
        pub struct Family {
            /// Shown in diagnostics.
            pub label: &'static str,
            $(pub $name: name_type!($absent),)*
        }

        /// The standard names, which every interposing allocator (and glibc)
        /// exports.
        pub const STANDARD: Family = Family {
            label: "standard",
            $($name: standard_name!($absent, $name),)*
        };
    };
}

routed_functions!(generate_families);

/// Allocators that can be built to export only a prefixed API. memproxy uses
/// them when they were explicitly preloaded and nothing defines `malloc`.
pub const PREFIXED: [Family; 5] = [
    Family {
        label: "mimalloc (mi_*)",
        malloc: b"mi_malloc",
        free: b"mi_free",
        calloc: Some(b"mi_calloc"),
        realloc: b"mi_realloc",
        memalign: Some(b"mi_memalign"),
        posix_memalign: Some(b"mi_posix_memalign"),
        aligned_alloc: Some(b"mi_aligned_alloc"),
        valloc: Some(b"mi_valloc"),
        pvalloc: Some(b"mi_pvalloc"),
        malloc_usable_size: Some(b"mi_usable_size"),
        malloc_trim: None,
    },
    Family {
        label: "gperftools tcmalloc (tc_*)",
        malloc: b"tc_malloc",
        free: b"tc_free",
        calloc: Some(b"tc_calloc"),
        realloc: b"tc_realloc",
        memalign: Some(b"tc_memalign"),
        posix_memalign: Some(b"tc_posix_memalign"),
        aligned_alloc: None,
        valloc: Some(b"tc_valloc"),
        pvalloc: Some(b"tc_pvalloc"),
        malloc_usable_size: Some(b"tc_malloc_size"),
        malloc_trim: None,
    },
    Family {
        label: "jemalloc (je_*)",
        malloc: b"je_malloc",
        free: b"je_free",
        calloc: Some(b"je_calloc"),
        realloc: b"je_realloc",
        memalign: Some(b"je_memalign"),
        posix_memalign: Some(b"je_posix_memalign"),
        aligned_alloc: Some(b"je_aligned_alloc"),
        valloc: Some(b"je_valloc"),
        pvalloc: None,
        malloc_usable_size: Some(b"je_malloc_usable_size"),
        malloc_trim: None,
    },
    Family {
        label: "Google tcmalloc (TCMallocInternal*)",
        malloc: b"TCMallocInternalMalloc",
        free: b"TCMallocInternalFree",
        calloc: Some(b"TCMallocInternalCalloc"),
        realloc: b"TCMallocInternalRealloc",
        memalign: Some(b"TCMallocInternalMemalign"),
        posix_memalign: Some(b"TCMallocInternalPosixMemalign"),
        aligned_alloc: Some(b"TCMallocInternalAlignedAlloc"),
        valloc: Some(b"TCMallocInternalValloc"),
        pvalloc: Some(b"TCMallocInternalPvalloc"),
        malloc_usable_size: Some(b"TCMallocInternalMallocSize"),
        malloc_trim: None,
    },
    Family {
        label: "oneTBB (scalable_*)",
        malloc: b"scalable_malloc",
        free: b"scalable_free",
        calloc: Some(b"scalable_calloc"),
        realloc: b"scalable_realloc",
        memalign: None,
        posix_memalign: Some(b"scalable_posix_memalign"),
        aligned_alloc: None,
        valloc: None,
        pvalloc: None,
        malloc_usable_size: Some(b"scalable_msize"),
        malloc_trim: None,
    },
];
