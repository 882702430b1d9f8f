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
use crate::slot::{self, Function};
use crate::table::{
    AlignFn, CallocFn, Core, FreeFn, MallocFn, PosixMemalignFn, ReallocFn, Takeovers, TrimFn,
    UsableSizeFn,
};

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

fn find<F: Function>(object: &Object, name: Option<&[u8]>) -> Option<F> {
    name.and_then(|name| object.function(name))
}

/// Builds the core functions of `family` as defined by `object`, filling gaps
/// from that object's own primitives. `None` if it lacks `malloc`, `free` or
/// `realloc`, or has no aligned allocation at all.
pub fn core_functions(family: &Family, object: &Object) -> Option<(Core, Filled)> {
    let malloc: MallocFn = object.function(family.malloc)?;
    let free: FreeFn = object.function(family.free)?;
    let realloc: ReallocFn = object.function(family.realloc)?;
    let calloc: Option<CallocFn> = find(object, family.calloc);
    let memalign: Option<AlignFn> = find(object, family.memalign);
    let posix_memalign: Option<PosixMemalignFn> = find(object, family.posix_memalign);
    let aligned_alloc: Option<AlignFn> = find(object, family.aligned_alloc);
    let valloc: Option<MallocFn> = find(object, family.valloc);
    let pvalloc: Option<MallocFn> = find(object, family.pvalloc);
    let usable_size: Option<UsableSizeFn> = find(object, family.usable_size);
    let trim: Option<TrimFn> = find(object, family.trim);

    let core = Core {
        malloc,
        free,
        calloc: calloc.unwrap_or(calloc_via_malloc),
        realloc,
        // The one memalign-shaped primitive the built functions use, in order
        // of directness.
        memalign: match (memalign, aligned_alloc, posix_memalign) {
            (Some(primitive), _, _) | (None, Some(primitive), _) => primitive,
            (None, None, Some(_)) => memalign_via_posix,
            (None, None, None) => return None,
        },
        posix_memalign: posix_memalign.unwrap_or(posix_memalign_via_memalign),
        aligned_alloc: aligned_alloc.unwrap_or(aligned_alloc_via_memalign),
        valloc: valloc.unwrap_or(valloc_via_memalign),
        pvalloc: pvalloc.unwrap_or(pvalloc_via_memalign),
        usable_size: usable_size.unwrap_or(usable_size_unknown),
        trim: trim.unwrap_or(trim_nothing),
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
    Some((core, filled))
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

/// `found(name)` is `name` in the object chosen for it; `core` serves any
/// that no object defines (a C library other than glibc, or one older than
/// `mallinfo2`).
fn takeovers_at(found: [Option<usize>; 14], core: &Core) -> Takeovers {
    let pick = |index: usize| found.get(index).copied().flatten();
    Takeovers {
        libc_malloc: pick(0).and_then(slot::function).unwrap_or(core.malloc),
        libc_free: pick(1).and_then(slot::function).unwrap_or(core.free),
        libc_calloc: pick(2).and_then(slot::function).unwrap_or(core.calloc),
        libc_realloc: pick(3).and_then(slot::function).unwrap_or(core.realloc),
        libc_memalign: pick(4).and_then(slot::function).unwrap_or(core.memalign),
        libc_valloc: pick(5).and_then(slot::function).unwrap_or(core.valloc),
        libc_pvalloc: pick(6).and_then(slot::function).unwrap_or(core.pvalloc),
        strdup: pick(7)
            .and_then(slot::function)
            .unwrap_or(strdup_via_malloc),
        strndup: pick(8)
            .and_then(slot::function)
            .unwrap_or(strndup_via_malloc),
        mallinfo: pick(9).and_then(slot::function).unwrap_or(mallinfo_unknown),
        mallinfo2: pick(10)
            .and_then(slot::function)
            .unwrap_or(mallinfo2_unknown),
        mallopt: pick(11)
            .and_then(slot::function)
            .unwrap_or(mallopt_unsupported),
        malloc_stats: pick(12)
            .and_then(slot::function)
            .unwrap_or(malloc_stats_nothing),
        malloc_info: pick(13)
            .and_then(slot::function)
            .unwrap_or(malloc_info_unsupported),
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
