//! Allocator APIs that an allocator may export instead of the standard
//! names: builds that prefix every function (`mi_*`, `je_*`, ...). The
//! library adopts one when that allocator is preloaded and nothing defines
//! `malloc`; `memproxy doctor` recognises the same objects.

/// One prefixed API: for each core function the library routes, the
/// allocator's symbol for it, if the API has one.
pub struct PrefixedApi {
    /// Shown in diagnostics.
    pub label: &'static str,
    /// (core function, symbol) pairs.
    pub symbols: &'static [(&'static str, &'static str)],
}

impl PrefixedApi {
    /// The API's symbol for the core function `function`.
    pub const fn symbol(&self, function: &str) -> Option<&'static str> {
        let mut index = 0;
        while index < self.symbols.len() {
            let (name, symbol) = self.symbols[index];
            if same(name, function) {
                return Some(symbol);
            }
            index += 1;
        }
        None
    }

    /// Its `malloc`: an object that defines it has this API.
    pub const fn malloc(&self) -> &'static str {
        match self.symbol("malloc") {
            Some(symbol) => symbol,
            None => panic!("every prefixed API has a malloc"),
        }
    }
}

/// Whether two strings are equal, in a `const fn`.
pub const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// The prefixed APIs, in the order the library tries them.
pub const PREFIXED: [PrefixedApi; 5] = [
    PrefixedApi {
        label: "mimalloc (mi_*)",
        symbols: &[
            ("malloc", "mi_malloc"),
            ("free", "mi_free"),
            ("calloc", "mi_calloc"),
            ("realloc", "mi_realloc"),
            ("memalign", "mi_memalign"),
            ("posix_memalign", "mi_posix_memalign"),
            ("aligned_alloc", "mi_aligned_alloc"),
            ("valloc", "mi_valloc"),
            ("pvalloc", "mi_pvalloc"),
            ("malloc_usable_size", "mi_usable_size"),
        ],
    },
    PrefixedApi {
        label: "gperftools tcmalloc (tc_*)",
        symbols: &[
            ("malloc", "tc_malloc"),
            ("free", "tc_free"),
            ("calloc", "tc_calloc"),
            ("realloc", "tc_realloc"),
            ("memalign", "tc_memalign"),
            ("posix_memalign", "tc_posix_memalign"),
            ("valloc", "tc_valloc"),
            ("pvalloc", "tc_pvalloc"),
            ("malloc_usable_size", "tc_malloc_size"),
        ],
    },
    PrefixedApi {
        label: "jemalloc (je_*)",
        symbols: &[
            ("malloc", "je_malloc"),
            ("free", "je_free"),
            ("calloc", "je_calloc"),
            ("realloc", "je_realloc"),
            ("memalign", "je_memalign"),
            ("posix_memalign", "je_posix_memalign"),
            ("aligned_alloc", "je_aligned_alloc"),
            ("valloc", "je_valloc"),
            ("malloc_usable_size", "je_malloc_usable_size"),
        ],
    },
    PrefixedApi {
        label: "Google tcmalloc (TCMallocInternal*)",
        symbols: &[
            ("malloc", "TCMallocInternalMalloc"),
            ("free", "TCMallocInternalFree"),
            ("calloc", "TCMallocInternalCalloc"),
            ("realloc", "TCMallocInternalRealloc"),
            ("memalign", "TCMallocInternalMemalign"),
            ("posix_memalign", "TCMallocInternalPosixMemalign"),
            ("aligned_alloc", "TCMallocInternalAlignedAlloc"),
            ("valloc", "TCMallocInternalValloc"),
            ("pvalloc", "TCMallocInternalPvalloc"),
            ("malloc_usable_size", "TCMallocInternalMallocSize"),
        ],
    },
    PrefixedApi {
        label: "oneTBB (scalable_*)",
        symbols: &[
            ("malloc", "scalable_malloc"),
            ("free", "scalable_free"),
            ("calloc", "scalable_calloc"),
            ("realloc", "scalable_realloc"),
            ("posix_memalign", "scalable_posix_memalign"),
            ("malloc_usable_size", "scalable_msize"),
        ],
    },
];
