//! Building a route's [`Table`](crate::table::Table) from the objects that
//! serve it: the allocator's core functions under its family's names, gaps
//! filled from its own primitives, and the glibc functions allocators take
//! over.
//!
//! One allocator must serve every call in a process: a block from one heap
//! freed into another corrupts both. So a missing core function is never
//! filled from glibc. jemalloc, for example, exports no `pvalloc`; a direct
//! `LD_PRELOAD=libjemalloc.so.2` lets glibc's `pvalloc` hand jemalloc's `free`
//! a foreign block and crash. Here `pvalloc` becomes jemalloc's `memalign` of
//! whole pages instead.
//!
//! Resolving writes nothing: the decision publishes the table it picks.

use crate::abi::fills::{
    aligned_alloc_via_memalign, calloc_via_malloc, mallinfo_unknown, mallinfo2_unknown,
    malloc_info_unsupported, malloc_stats_nothing, mallopt_unsupported, memalign_via_posix,
    posix_memalign_via_memalign, pvalloc_via_memalign, strdup_via_malloc, strndup_via_malloc,
    trim_nothing, usable_size_unknown, valloc_via_memalign,
};
use crate::families::Family;
use crate::loader::Object;
use crate::table::{Core, FreeFn, MallocFn, ReallocFn, Takeovers};

/// Which functions of a route are the allocator's own and which memproxy
/// built from its primitives; reported by `MEMPROXY_DEBUG`.
#[derive(Clone, Copy, Default)]
pub struct Filled {
    pub calloc: bool,
    pub memalign: bool,
    pub posix_memalign: bool,
    pub aligned_alloc: bool,
    pub valloc: bool,
    pub pvalloc: bool,
    pub usable_size: bool,
    pub trim: bool,
}

impl Filled {
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.calloc, "calloc"),
            (self.memalign, "memalign"),
            (self.posix_memalign, "posix_memalign"),
            (self.aligned_alloc, "aligned_alloc"),
            (self.valloc, "valloc"),
            (self.pvalloc, "pvalloc"),
            (self.usable_size, "malloc_usable_size"),
            (self.trim, "malloc_trim"),
        ]
        .into_iter()
        .filter_map(|(filled, name)| filled.then_some(name))
    }
}

fn find(object: &Object, name: Option<&[u8]>) -> Option<usize> {
    name.and_then(|name| object.lookup(name))
}

/// Builds the core functions of `family` as defined by `object`, filling gaps
/// from that object's own primitives. `None` if it lacks `malloc`, `free` or
/// `realloc`, or has no aligned allocation at all.
pub fn core_functions(family: &Family, object: &Object) -> Option<(Core, Filled)> {
    let malloc = object.lookup(family.malloc)?;
    let free = object.lookup(family.free)?;
    let realloc = object.lookup(family.realloc)?;
    let calloc = find(object, family.calloc);
    let memalign = find(object, family.memalign);
    let posix_memalign = find(object, family.posix_memalign);
    let aligned_alloc = find(object, family.aligned_alloc);
    let valloc = find(object, family.valloc);
    let pvalloc = find(object, family.pvalloc);
    let usable_size = find(object, family.usable_size);
    let trim = find(object, family.trim);

    // SAFETY: each address is the definition of the named function of an
    // allocator API whose C signature is the one of the field it fills; the
    // closures below run inside this block.
    let typed = unsafe {
        Core {
            malloc: function::<MallocFn>(malloc),
            free: function::<FreeFn>(free),
            calloc: calloc.map_or(calloc_via_malloc, |address| function(address)),
            realloc: function::<ReallocFn>(realloc),
            // The one memalign-shaped primitive the built functions use, in order
            // of directness.
            memalign: match (memalign, aligned_alloc, posix_memalign) {
                (Some(address), _, _) | (None, Some(address), _) => function(address),
                (None, None, Some(_)) => memalign_via_posix,
                (None, None, None) => return None,
            },
            posix_memalign: posix_memalign
                .map_or(posix_memalign_via_memalign, |address| function(address)),
            aligned_alloc: aligned_alloc
                .map_or(aligned_alloc_via_memalign, |address| function(address)),
            valloc: valloc.map_or(valloc_via_memalign, |address| function(address)),
            pvalloc: pvalloc.map_or(pvalloc_via_memalign, |address| function(address)),
            usable_size: usable_size.map_or(usable_size_unknown, |address| function(address)),
            trim: trim.map_or(trim_nothing, |address| function(address)),
        }
    };
    let filled = Filled {
        calloc: calloc.is_none(),
        memalign: memalign.is_none(),
        posix_memalign: posix_memalign.is_none(),
        aligned_alloc: aligned_alloc.is_none(),
        valloc: valloc.is_none(),
        pvalloc: pvalloc.is_none(),
        usable_size: usable_size.is_none(),
        trim: trim.is_none(),
    };
    Some((typed, filled))
}

/// # Safety
/// `address` must be a function of C signature `F`.
unsafe fn function<F: Copy>(address: usize) -> F {
    // SAFETY: `F` is a function pointer type (the size of a usize), per the
    // caller's contract.
    unsafe { core::mem::transmute_copy::<usize, F>(&address) }
}

/// The names of [`Takeovers`], in field order.
const TAKEOVER_NAMES: [&[u8]; 14] = [
    b"__libc_malloc",
    b"__libc_free",
    b"__libc_calloc",
    b"__libc_realloc",
    b"__libc_memalign",
    b"__libc_valloc",
    b"__libc_pvalloc",
    b"strdup",
    b"strndup",
    b"mallinfo",
    b"mallinfo2",
    b"mallopt",
    b"malloc_stats",
    b"malloc_info",
];

/// `found[i]` is the address of `TAKEOVER_NAMES[i]` in the object chosen for
/// it; `core` serves any that no object defines (a C library other than
/// glibc, or one older than `mallinfo2`).
fn takeovers_at(found: [Option<usize>; 14], core: &Core) -> Takeovers {
    let pick = |index: usize| found.get(index).copied().flatten();
    // SAFETY: each address is the definition of the glibc function of the
    // field's name (or the allocator's function of that name), whose C
    // signature is the field's; the closures below run inside this block.
    unsafe {
        Takeovers {
            libc_malloc: pick(0).map_or(core.malloc, |address| function(address)),
            libc_free: pick(1).map_or(core.free, |address| function(address)),
            libc_calloc: pick(2).map_or(core.calloc, |address| function(address)),
            libc_realloc: pick(3).map_or(core.realloc, |address| function(address)),
            libc_memalign: pick(4).map_or(core.memalign, |address| function(address)),
            libc_valloc: pick(5).map_or(core.valloc, |address| function(address)),
            libc_pvalloc: pick(6).map_or(core.pvalloc, |address| function(address)),
            strdup: pick(7).map_or(strdup_via_malloc, |address| function(address)),
            strndup: pick(8).map_or(strndup_via_malloc, |address| function(address)),
            mallinfo: pick(9).map_or(mallinfo_unknown, |address| function(address)),
            mallinfo2: pick(10).map_or(mallinfo2_unknown, |address| function(address)),
            mallopt: pick(11).map_or(mallopt_unsupported, |address| function(address)),
            malloc_stats: pick(12).map_or(malloc_stats_nothing, |address| function(address)),
            malloc_info: pick(13).map_or(malloc_info_unsupported, |address| function(address)),
        }
    }
}

/// The glibc functions allocators take over: from the route's object where
/// it defines them, and from glibc otherwise.
///
/// On the glibc route each is glibc's own. On a custom route each is the
/// allocator's own if it exports it, as a direct preload would have it, and
/// glibc's otherwise; glibc's allocate through the interposed `malloc`, so the
/// route serves them either way.
pub fn takeovers(route: &Object, libc: Option<&Object>, core: &Core) -> Takeovers {
    let found = TAKEOVER_NAMES.map(|name| {
        route
            .lookup(name)
            .or_else(|| libc.and_then(|libc| libc.lookup(name)))
    });
    takeovers_at(found, core)
}
