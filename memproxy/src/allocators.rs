//! Allocator families: the entry points memproxy looks for in an object, and
//! the functions it builds from an allocator's own primitives when that
//! allocator lacks one.
//!
//! One allocator must serve every call in a process: a block from one heap
//! freed into another corrupts both. So a missing function is never filled
//! from glibc. jemalloc, for example, exports no `pvalloc`; a direct
//! `LD_PRELOAD=libjemalloc.so.2` lets glibc's `pvalloc` hand jemalloc's `free`
//! a foreign block and crash. Here `pvalloc` becomes jemalloc's `memalign` of
//! whole pages instead.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::loader::Object;

pub type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
pub type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
pub type AlignFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
pub type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> usize;
pub type TrimFn = unsafe extern "C" fn(usize) -> c_int;
pub type StrdupFn = unsafe extern "C" fn(*const c_char) -> *mut c_char;
pub type StrndupFn = unsafe extern "C" fn(*const c_char, usize) -> *mut c_char;
pub type MallinfoFn = unsafe extern "C" fn() -> Mallinfo;
pub type Mallinfo2Fn = unsafe extern "C" fn() -> Mallinfo2;
pub type MalloptFn = unsafe extern "C" fn(c_int, c_int) -> c_int;
pub type MallocStatsFn = unsafe extern "C" fn();
pub type MallocInfoFn = unsafe extern "C" fn(c_int, *mut c_void) -> c_int;

/// glibc's `struct mallinfo`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Mallinfo {
    pub fields: [c_int; 10],
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Mallinfo2 {
    pub fields: [usize; 10],
}

/// The names of one allocator API. `None` where the API has no such function.
pub struct Family {
    /// Shown in diagnostics.
    pub label: &'static str,
    pub malloc: &'static [u8],
    pub free: &'static [u8],
    pub calloc: Option<&'static [u8]>,
    pub realloc: &'static [u8],
    pub memalign: Option<&'static [u8]>,
    pub posix_memalign: Option<&'static [u8]>,
    pub aligned_alloc: Option<&'static [u8]>,
    pub valloc: Option<&'static [u8]>,
    pub pvalloc: Option<&'static [u8]>,
    pub usable_size: Option<&'static [u8]>,
    pub trim: Option<&'static [u8]>,
}

/// The standard names, which every interposing allocator (and glibc) exports.
pub const STANDARD: Family = Family {
    label: "standard",
    malloc: b"malloc",
    free: b"free",
    calloc: Some(b"calloc"),
    realloc: b"realloc",
    memalign: Some(b"memalign"),
    posix_memalign: Some(b"posix_memalign"),
    aligned_alloc: Some(b"aligned_alloc"),
    valloc: Some(b"valloc"),
    pvalloc: Some(b"pvalloc"),
    usable_size: Some(b"malloc_usable_size"),
    trim: Some(b"malloc_trim"),
};

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
        usable_size: Some(b"mi_usable_size"),
        trim: None,
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
        usable_size: Some(b"tc_malloc_size"),
        trim: None,
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
        usable_size: Some(b"je_malloc_usable_size"),
        trim: None,
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
        usable_size: Some(b"TCMallocInternalMallocSize"),
        trim: None,
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
        usable_size: Some(b"scalable_msize"),
        trim: None,
    },
];

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

/// Every function a route serves, each the allocator's own or built from its
/// primitives, plus the glibc functions allocators take over (see
/// [`Takeovers`]).
#[derive(Clone, Copy)]
pub struct Table {
    pub core: Core,
    pub takeovers: Takeovers,
}

/// The allocation API proper.
#[derive(Clone, Copy)]
pub struct Core {
    pub malloc: MallocFn,
    pub free: FreeFn,
    pub calloc: CallocFn,
    pub realloc: ReallocFn,
    pub memalign: AlignFn,
    pub posix_memalign: PosixMemalignFn,
    pub aligned_alloc: AlignFn,
    pub valloc: MallocFn,
    pub pvalloc: MallocFn,
    pub usable_size: UsableSizeFn,
    pub trim: TrimFn,
}

/// The primitives the built functions call. Written before the route is
/// published and never after, except by a forked child that re-decides.
struct Primitives {
    malloc: AtomicUsize,
    realloc: AtomicUsize,
    free: AtomicUsize,
    memalign: AtomicUsize,
    posix_memalign: AtomicUsize,
    usable_size: AtomicUsize,
}

static PRIMITIVES: Primitives = Primitives {
    malloc: AtomicUsize::new(0),
    realloc: AtomicUsize::new(0),
    free: AtomicUsize::new(0),
    memalign: AtomicUsize::new(0),
    posix_memalign: AtomicUsize::new(0),
    usable_size: AtomicUsize::new(0),
};

fn find(object: &Object, name: Option<&[u8]>) -> Option<usize> {
    name.and_then(|name| object.lookup(name))
}

/// Builds the core functions of `family` as defined by `object`, filling gaps
/// from that object's own primitives. `None` if it lacks `malloc`, `free` or
/// `realloc`, or has no aligned allocation at all.
pub fn resolve(family: &Family, object: &Object) -> Option<(Core, Filled)> {
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
    PRIMITIVES.malloc.store(malloc, Ordering::Relaxed);
    PRIMITIVES.realloc.store(realloc, Ordering::Relaxed);
    PRIMITIVES.free.store(free, Ordering::Relaxed);
    PRIMITIVES
        .memalign
        .store(typed.memalign as *const () as usize, Ordering::Relaxed);
    PRIMITIVES
        .posix_memalign
        .store(posix_memalign.unwrap_or(0), Ordering::Relaxed);
    PRIMITIVES
        .usable_size
        .store(usable_size.unwrap_or(0), Ordering::Relaxed);

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

/// The route's `malloc`, `realloc`, `free` and `malloc_usable_size`, for code
/// that must call the primitive behind a slot (bootstrap-aware wrappers).
pub fn primitive_malloc() -> MallocFn {
    // SAFETY: set by `resolve` before any caller can reach this.
    unsafe { function(PRIMITIVES.malloc.load(Ordering::Relaxed)) }
}

pub fn primitive_realloc() -> ReallocFn {
    // SAFETY: as above.
    unsafe { function(PRIMITIVES.realloc.load(Ordering::Relaxed)) }
}

pub fn primitive_free() -> FreeFn {
    // SAFETY: as above.
    unsafe { function(PRIMITIVES.free.load(Ordering::Relaxed)) }
}

/// The allocator's `malloc_usable_size`, if it has one.
pub fn primitive_usable_size() -> Option<UsableSizeFn> {
    let address = PRIMITIVES.usable_size.load(Ordering::Relaxed);
    // SAFETY: as above; 0 means absent.
    (address != 0).then(|| unsafe { function(address) })
}

fn primitive_memalign() -> AlignFn {
    // SAFETY: as above.
    unsafe { function(PRIMITIVES.memalign.load(Ordering::Relaxed)) }
}

fn page_size() -> usize {
    match crate::sys::aux_value(libc::AT_PAGESZ) {
        0 => 4096,
        size => size,
    }
}

fn no_memory() -> *mut c_void {
    crate::sys::set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

unsafe extern "C" fn calloc_via_malloc(count: usize, size: usize) -> *mut c_void {
    let Some(bytes) = count.checked_mul(size) else {
        return no_memory();
    };
    // SAFETY: the route's malloc; a non-null result has `bytes` writable bytes.
    unsafe {
        let block = primitive_malloc()(bytes);
        if !block.is_null() {
            core::ptr::write_bytes(block as *mut u8, 0, bytes);
        }
        block
    }
}

unsafe extern "C" fn memalign_via_posix(align: usize, size: usize) -> *mut c_void {
    // posix_memalign wants a multiple of sizeof(void *); memalign allows less.
    let align = align.max(core::mem::size_of::<*mut c_void>());
    let mut block = core::ptr::null_mut();
    // SAFETY: this adapter is only installed when PRIMITIVES.posix_memalign
    // holds the allocator's posix_memalign.
    let status = unsafe {
        let posix_memalign: PosixMemalignFn =
            function(PRIMITIVES.posix_memalign.load(Ordering::Relaxed));
        posix_memalign(&mut block, align, size)
    };
    if status != 0 {
        crate::sys::set_errno(status);
        return core::ptr::null_mut();
    }
    block
}

unsafe extern "C" fn posix_memalign_via_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    // The exported posix_memalign has already rejected bad alignments.
    let saved = crate::sys::errno();
    // SAFETY: the route's aligned primitive; `out` is the caller's pointer.
    let block = unsafe { primitive_memalign()(align, size) };
    if block.is_null() {
        crate::sys::set_errno(saved);
        return libc::ENOMEM;
    }
    // SAFETY: the caller of posix_memalign passes a writable pointer.
    unsafe { out.write(block) };
    0
}

unsafe extern "C" fn aligned_alloc_via_memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: the route's aligned primitive.
    unsafe { primitive_memalign()(align, size) }
}

unsafe extern "C" fn valloc_via_memalign(size: usize) -> *mut c_void {
    // SAFETY: the route's aligned primitive.
    unsafe { primitive_memalign()(page_size(), size) }
}

unsafe extern "C" fn pvalloc_via_memalign(size: usize) -> *mut c_void {
    let page = page_size();
    // glibc rounds up to whole pages, and serves one page for 0.
    let Some(rounded) = size.max(1).checked_next_multiple_of(page) else {
        return no_memory();
    };
    // SAFETY: the route's aligned primitive.
    unsafe { primitive_memalign()(page, rounded) }
}

unsafe extern "C" fn usable_size_unknown(_block: *mut c_void) -> usize {
    0
}

unsafe extern "C" fn trim_nothing(_pad: usize) -> c_int {
    0
}

/// glibc functions that allocators export too, and so take over in every
/// process they are preloaded into, excluded programs included: the
/// `__libc_*` aliases (mimalloc, tcmalloc, TBB), `strdup` and `strndup`
/// (mimalloc 3), and the statistics and tuning calls (tcmalloc, TBB).
///
/// On the glibc route each is glibc's own. On a custom route each is the
/// allocator's own if it exports it, as a direct preload would have it, and
/// glibc's otherwise; glibc's allocate through the interposed `malloc`, so
/// the route serves them either way.
#[derive(Clone, Copy)]
pub struct Takeovers {
    pub libc_malloc: MallocFn,
    pub libc_free: FreeFn,
    pub libc_calloc: CallocFn,
    pub libc_realloc: ReallocFn,
    pub libc_memalign: AlignFn,
    pub libc_valloc: MallocFn,
    pub libc_pvalloc: MallocFn,
    pub strdup: StrdupFn,
    pub strndup: StrndupFn,
    pub mallinfo: MallinfoFn,
    pub mallinfo2: Mallinfo2Fn,
    pub mallopt: MalloptFn,
    pub malloc_stats: MallocStatsFn,
    pub malloc_info: MallocInfoFn,
}

/// The names of [`Takeovers`], in field order.
pub const TAKEOVER_NAMES: [&[u8]; 14] = [
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

impl Takeovers {
    /// `found[i]` is the address of `TAKEOVER_NAMES[i]` in the object chosen
    /// for it; `core` serves any that no object defines (a C library other
    /// than glibc, or one older than `mallinfo2`).
    pub fn from_addresses(found: [Option<usize>; 14], core: &Core) -> Takeovers {
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
}

unsafe extern "C" fn strdup_via_malloc(text: *const c_char) -> *mut c_char {
    // SAFETY: `text` is a C string, per strdup's contract.
    unsafe { copy_string(text, libc::strlen(text)) }
}

unsafe extern "C" fn strndup_via_malloc(text: *const c_char, limit: usize) -> *mut c_char {
    // SAFETY: `text` is a C string or has at least `limit` bytes.
    unsafe { copy_string(text, libc::strnlen(text, limit)) }
}

/// # Safety
/// `text` must have `length` readable bytes.
unsafe fn copy_string(text: *const c_char, length: usize) -> *mut c_char {
    let Some(size) = length.checked_add(1) else {
        return no_memory() as *mut c_char;
    };
    // SAFETY: the route's malloc; a non-null result has `size` writable bytes.
    unsafe {
        let copy = primitive_malloc()(size) as *mut c_char;
        if !copy.is_null() {
            core::ptr::copy_nonoverlapping(text, copy, length);
            copy.add(length).write(0);
        }
        copy
    }
}

unsafe extern "C" fn mallinfo_unknown() -> Mallinfo {
    Mallinfo::default()
}

unsafe extern "C" fn mallinfo2_unknown() -> Mallinfo2 {
    Mallinfo2::default()
}

unsafe extern "C" fn mallopt_unsupported(_option: c_int, _value: c_int) -> c_int {
    0
}

unsafe extern "C" fn malloc_stats_nothing() {}

unsafe extern "C" fn malloc_info_unsupported(_options: c_int, _stream: *mut c_void) -> c_int {
    crate::sys::set_errno(libc::ENOSYS);
    -1
}
