//! The binary interface: every function memproxy exports, and every other C
//! function memproxy defines (the stubs, the functions built from an
//! allocator's primitives, the bootstrap checks).
//!
//! Each function forwards through the route's slot: once the route is
//! decided, `malloc` compiles to `mov slot(%rip), %rax; jmp *%rax`. The few
//! that do more do what C, POSIX or C++ require of every route, whatever the
//! allocator behind it does:
//! - `calloc` and `reallocarray` fail with `ENOMEM` on size overflow (some
//!   allocators return NULL without setting `errno`);
//! - `posix_memalign` rejects a bad alignment with `EINVAL`, leaving
//!   `*memptr` untouched;
//! - `operator new` honours the new-handler and throws `std::bad_alloc` (see
//!   [`crate::cxx`]); the nothrow forms return NULL.
//!
//! The symbols are unversioned, so they interpose glibc's `malloc@GLIBC_2.2.5`
//! and the C++ runtime's operators for every object in the process.

#![allow(non_snake_case, clippy::missing_safety_doc)]

pub mod bootstrap_checks;
pub mod fills;
pub mod stubs;

use core::ffi::{c_char, c_int, c_void};

use crate::cxx;
use crate::sys;
use crate::table::{Mallinfo, Mallinfo2, SLOTS, Table};

/// Functions that forward their arguments unchanged to the route's slot.
macro_rules! forward {
    ($($(#[$doc:meta])* $symbol:ident => $slot:ident($($arg:ident: $type:ty),*) -> $ret:ty;)*) => {$(
        $(#[$doc])*
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $symbol($($arg: $type),*) -> $ret {
            // SAFETY: the caller upholds this function's C contract; the slot
            // holds the route's implementation of the same contract.
            unsafe { SLOTS.$slot()($($arg),*) }
        }
    )*};
}

forward! {
    malloc => malloc(size: usize) -> *mut c_void;
    free => free(block: *mut c_void) -> ();
    /// Removed from glibc's API in 2.26 but still called by old binaries.
    cfree => free(block: *mut c_void) -> ();
    realloc => realloc(block: *mut c_void, size: usize) -> *mut c_void;
    memalign => memalign(align: usize, size: usize) -> *mut c_void;
    aligned_alloc => aligned_alloc(align: usize, size: usize) -> *mut c_void;
    valloc => valloc(size: usize) -> *mut c_void;
    pvalloc => pvalloc(size: usize) -> *mut c_void;
    malloc_usable_size => usable_size(block: *mut c_void) -> usize;
    malloc_trim => trim(pad: usize) -> c_int;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    if count.checked_mul(size).is_none() {
        return no_memory();
    }
    // SAFETY: as for `forward!`, with the product known not to overflow.
    unsafe { SLOTS.calloc()(count, size) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(
    block: *mut c_void,
    count: usize,
    size: usize,
) -> *mut c_void {
    match count.checked_mul(size) {
        // SAFETY: the caller's block, and the size reallocarray promises.
        Some(bytes) => unsafe { SLOTS.realloc()(block, bytes) },
        None => no_memory(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // A power of two no smaller than a pointer is a multiple of one.
    #[allow(clippy::manual_is_power_of_two)]
    if align < core::mem::size_of::<*mut c_void>() || align & (align - 1) != 0 {
        return libc::EINVAL;
    }
    // SAFETY: as for `forward!`, with an alignment posix_memalign accepts.
    unsafe { SLOTS.posix_memalign()(out, align, size) }
}

/// The glibc functions allocators also export; see
/// [`crate::resolve::takeovers`] for where each call goes.
macro_rules! takeover {
    ($($symbol:ident => $slot:ident($($arg:ident: $type:ty),*) -> $ret:ty;)*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $symbol($($arg: $type),*) -> $ret {
            // SAFETY: the caller upholds this function's contract; the slot
            // holds glibc's or the allocator's implementation of it.
            unsafe { SLOTS.$slot()($($arg),*) }
        }
    )*};
}

takeover! {
    __libc_malloc => libc_malloc(size: usize) -> *mut c_void;
    __libc_free => libc_free(block: *mut c_void) -> ();
    __libc_calloc => libc_calloc(count: usize, size: usize) -> *mut c_void;
    __libc_realloc => libc_realloc(block: *mut c_void, size: usize) -> *mut c_void;
    __libc_memalign => libc_memalign(align: usize, size: usize) -> *mut c_void;
    __libc_valloc => libc_valloc(size: usize) -> *mut c_void;
    __libc_pvalloc => libc_pvalloc(size: usize) -> *mut c_void;
    strdup => strdup(text: *const c_char) -> *mut c_char;
    strndup => strndup(text: *const c_char, limit: usize) -> *mut c_char;
    mallinfo => mallinfo() -> Mallinfo;
    mallinfo2 => mallinfo2() -> Mallinfo2;
    mallopt => mallopt(option: c_int, value: c_int) -> c_int;
    malloc_stats => malloc_stats() -> ();
    malloc_info => malloc_info(options: c_int, stream: *mut c_void) -> c_int;
}

/// Fails as `malloc` does: `ENOMEM` and NULL.
pub(crate) fn no_memory() -> *mut c_void {
    sys::set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

/// `size` rounded up to whole pages, one page for 0, as glibc's `pvalloc`
/// does; `None` on overflow.
pub(crate) fn whole_pages(size: usize, page: usize) -> Option<usize> {
    size.max(1).checked_next_multiple_of(page)
}

/// Makes the route's first call, a `malloc` and a `free`, on the deciding
/// thread (see [`crate::route`] for why).
pub(crate) fn warm_up(table: &Table) {
    // SAFETY: a malloc and a free of the decided route, of its own block.
    unsafe {
        let block = (table.core.malloc)(1);
        (table.core.free)(block);
    }
}

/// The C++ operators. `operator new` tries the route first; on failure it
/// tail-calls the C++ runtime's own operator, which runs the new-handler loop
/// and throws (or returns NULL for nothrow).
macro_rules! operator_new {
    ($($symbol:ident($($arg:ident: $type:ty),*) => $allocate:expr, $runtime:expr;)*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $symbol($($arg: $type),*) -> *mut c_void {
            // SAFETY: the route's malloc or memalign, with the size (and the
            // alignment, a power of two by std::align_val_t's contract) of
            // this operator's call.
            let block = unsafe { $allocate };
            if !block.is_null() {
                return block;
            }
            // SAFETY: the C++ runtime's own definition of this very operator
            // (or a fallback of the same signature), called with our caller's
            // arguments: a tail call, so no frame of ours is unwound through.
            unsafe { $runtime.get()($($arg),*) }
        }
    )*};
}

operator_new! {
    _Znwm(size: usize) => SLOTS.malloc()(size), cxx::NEW;
    _Znam(size: usize) => SLOTS.malloc()(size), cxx::NEW_ARRAY;
    _ZnwmRKSt9nothrow_t(size: usize, tag: *const c_void) => SLOTS.malloc()(size), cxx::NEW_NOTHROW;
    _ZnamRKSt9nothrow_t(size: usize, tag: *const c_void) => SLOTS.malloc()(size), cxx::NEW_ARRAY_NOTHROW;
    _ZnwmSt11align_val_t(size: usize, align: usize) => SLOTS.memalign()(align, size), cxx::NEW_ALIGNED;
    _ZnamSt11align_val_t(size: usize, align: usize) => SLOTS.memalign()(align, size), cxx::NEW_ARRAY_ALIGNED;
    _ZnwmSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, tag: *const c_void) =>
        SLOTS.memalign()(align, size), cxx::NEW_ALIGNED_NOTHROW;
    _ZnamSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, tag: *const c_void) =>
        SLOTS.memalign()(align, size), cxx::NEW_ARRAY_ALIGNED_NOTHROW;
}

/// Every `operator delete` is the route's `free`: the size and alignment
/// arguments are hints no allocator needs for correctness.
macro_rules! operator_delete {
    ($($symbol:ident($($extra:ident: $type:ty),*);)*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $symbol(block: *mut c_void, $(_: $type),*) {
            // SAFETY: `block` came from an operator new above, which always
            // allocates through the route.
            unsafe { SLOTS.free()(block) }
        }
    )*};
}

operator_delete! {
    _ZdlPv();
    _ZdaPv();
    _ZdlPvm(size: usize);
    _ZdaPvm(size: usize);
    _ZdlPvRKSt9nothrow_t(tag: *const c_void);
    _ZdaPvRKSt9nothrow_t(tag: *const c_void);
    _ZdlPvSt11align_val_t(align: usize);
    _ZdaPvSt11align_val_t(align: usize);
    _ZdlPvmSt11align_val_t(size: usize, align: usize);
    _ZdaPvmSt11align_val_t(size: usize, align: usize);
    _ZdlPvSt11align_val_tRKSt9nothrow_t(align: usize, tag: *const c_void);
    _ZdaPvSt11align_val_tRKSt9nothrow_t(align: usize, tag: *const c_void);
}
