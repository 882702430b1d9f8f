//! A route as a value ([`Table`]), and the slots every export jumps through
//! ([`Slots`]).
//!
//! Three sets of slots exist, written only by the decision (and by a forked
//! child that redoes it):
//! - [`SLOTS`], what the exports call: the stubs until the route is
//!   published, the route's functions after;
//! - [`PENDING`], what the stubs call once the bootstrap region has closed
//!   but the route is not yet in `SLOTS` (see [`crate::route`]);
//! - [`PRIMITIVES`], the route's functions as resolved, without the
//!   bootstrap checks: what the functions memproxy builds from an allocator's
//!   primitives, and the bootstrap checks themselves, call.

use crate::abi::stubs;
use crate::slot::Slot;
use core::ffi::{c_char, c_int, c_void};

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

/// Every function a route serves: the allocation API proper ([`Core`]) and
/// the glibc functions allocators take over ([`Takeovers`]).
#[derive(Clone, Copy)]
pub struct Table {
    pub core: Core,
    pub takeovers: Takeovers,
}

/// The allocation API proper: each the allocator's own or built from its
/// primitives.
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

/// The glibc functions allocators take over, each the route's object's own
/// or glibc's (see [`crate::resolve::takeovers`]).
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

macro_rules! slots {
    ($($name:ident: $signature:ty = $stub:path => $($field:ident).+;)*) => {
        /// One slot per route function.
        pub struct Slots {
            $($name: Slot<$signature>,)*
        }

        impl Slots {
            const fn stubs() -> Slots {
                Slots { $($name: Slot::new($stub as $signature),)* }
            }

            $(
                #[inline(always)]
                pub fn $name(&self) -> $signature {
                    self.$name.get()
                }
            )*

            pub fn publish(&self, table: &Table) {
                $(self.$name.set(table.$($field).+);)*
            }
        }
    };
}

slots! {
    malloc: MallocFn = stubs::malloc => core.malloc;
    free: FreeFn = stubs::free => core.free;
    calloc: CallocFn = stubs::calloc => core.calloc;
    realloc: ReallocFn = stubs::realloc => core.realloc;
    memalign: AlignFn = stubs::memalign => core.memalign;
    posix_memalign: PosixMemalignFn = stubs::posix_memalign => core.posix_memalign;
    aligned_alloc: AlignFn = stubs::aligned_alloc => core.aligned_alloc;
    valloc: MallocFn = stubs::valloc => core.valloc;
    pvalloc: MallocFn = stubs::pvalloc => core.pvalloc;
    usable_size: UsableSizeFn = stubs::usable_size => core.usable_size;
    trim: TrimFn = stubs::trim => core.trim;
    libc_malloc: MallocFn = stubs::libc_malloc => takeovers.libc_malloc;
    libc_free: FreeFn = stubs::libc_free => takeovers.libc_free;
    libc_calloc: CallocFn = stubs::libc_calloc => takeovers.libc_calloc;
    libc_realloc: ReallocFn = stubs::libc_realloc => takeovers.libc_realloc;
    libc_memalign: AlignFn = stubs::libc_memalign => takeovers.libc_memalign;
    libc_valloc: MallocFn = stubs::libc_valloc => takeovers.libc_valloc;
    libc_pvalloc: MallocFn = stubs::libc_pvalloc => takeovers.libc_pvalloc;
    strdup: StrdupFn = stubs::strdup => takeovers.strdup;
    strndup: StrndupFn = stubs::strndup => takeovers.strndup;
    mallinfo: MallinfoFn = stubs::mallinfo => takeovers.mallinfo;
    mallinfo2: Mallinfo2Fn = stubs::mallinfo2 => takeovers.mallinfo2;
    mallopt: MalloptFn = stubs::mallopt => takeovers.mallopt;
    malloc_stats: MallocStatsFn = stubs::malloc_stats => takeovers.malloc_stats;
    malloc_info: MallocInfoFn = stubs::malloc_info => takeovers.malloc_info;
}

/// What every exported function calls.
pub static SLOTS: Slots = Slots::stubs();
/// The decided table, with bootstrap-aware `free`/`realloc`, from the moment
/// the bootstrap region closes; see [`crate::route`].
pub static PENDING: Slots = Slots::stubs();
/// The decided table without bootstrap checks.
pub static PRIMITIVES: Slots = Slots::stubs();
