//! Every function memproxy exports, each listed once, with its C signature
//! and how it is served.
//!
//! [`routed_functions!`] is the table. It generates nothing itself: it hands
//! the whole table to a generator macro, and each module generates its part
//! from it (`routed_functions!(generate_stubs)` and so on):
//!
//! - [`signature`] (here): the C type of each function with a slot;
//! - [`crate::table`]: `Core`, `Takeovers`, `Operators` and the `Slots` the
//!   exports jump through;
//! - [`crate::families`] and [`crate::resolve`]: the names an allocator API
//!   gives each core function, and how a missing one is filled;
//! - [`crate::abi`]: the exported symbols;
//! - [`crate::abi::stubs`]: what each routed slot holds until the route is
//!   decided;
//! - [`crate::abi::checked`]: memproxy's operators, and what the operator
//!   slots hold where the allocator's own are not used.
//!
//! # The table
//!
//! `core` and `takeovers` are the *routed* functions: each has a slot, named
//! after its C symbol, which holds the decided route's function.
//!
//! - `core`: the allocation API proper. Each allocator API names these
//!   (`mi_malloc`, ...). `absent` says what serves the function when the
//!   allocator lacks it: `required` (the allocator is unusable without it),
//!   `fill(F)` (`crate::abi::fills::F`, built from the allocator's own
//!   primitives) or `pick(F)` (`crate::resolve::F` chooses among what it has).
//!   The slots of `calloc` and `posix_memalign` hold memproxy's checked
//!   functions instead where the allocator is not proven to keep their
//!   contract ([`crate::abi::checked`]).
//! - `takeovers`: glibc functions that allocators also export, and so take
//!   over. Each is the route's object's own if it defines it, glibc's
//!   otherwise; `absent` covers neither: `same(X)` is the route's core `X`.
//!
//! `deciding` names how the slot's stub serves a call made while the route
//! is being decided (a function of `crate::abi::stubs`, given these arguments
//! and the call itself); `like(X)` serves it as the stub of `X` does.
//!
//! `operators` are the C++ operators with a slot of their own: the object's
//! own operator where it is proven to keep the contract named by `kept`
//! (`memproxy_common::contracts::Contract`), and `otherwise` memproxy's: an
//! `operator new` that calls `via` the named slot and, when that allocation
//! fails, tail-calls the C++ runtime's own operator (see [`crate::cxx`];
//! `runtime` names what serves when no C++ runtime is loaded), or, for a
//! sized delete, the route's `free`.
//!
//! `aliases` are exported functions with no slot of their own: each forwards
//! `via` another's slot, after its `guard` if it has one (a check of
//! `crate::abi`'s `guards`, whose result, if named, the forwarded arguments
//! may use).
//!
//! A C++ name that mangles `size_t` is given as `LP64 / ILP32`: `size_t` is
//! `unsigned long` (`m`) on 64-bit Linux and `unsigned int` (`j`) on 32-bit
//! Linux, and each build exports its own.

use core::ffi::{c_char, c_int, c_void};

/// The table; see the module docs. `routed_functions!(generate)` expands to
/// `generate! { TABLE }`.
macro_rules! routed_functions {
    ($generate:ident) => {
        $generate! {
            core {
                malloc(size: usize) -> *mut c_void
                    { absent: required, deciding: allocate(size, 16) }
                free(block: *mut c_void) -> ()
                    { absent: required, deciding: release(block) }
                calloc(count: usize, size: usize) -> *mut c_void
                    { absent: fill(calloc_via_malloc), deciding: zeroed(count, size) }
                realloc(block: *mut c_void, size: usize) -> *mut c_void
                    { absent: required, deciding: resize(block, size) }
                memalign(align: usize, size: usize) -> *mut c_void
                    { absent: pick(aligned_primitive), deciding: aligned(align, size) }
                posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int
                    { absent: fill(posix_memalign_via_memalign),
                      deciding: posix_aligned(out, align, size) }
                aligned_alloc(align: usize, size: usize) -> *mut c_void
                    { absent: fill(aligned_alloc_via_memalign), deciding: aligned(align, size) }
                valloc(size: usize) -> *mut c_void
                    { absent: fill(valloc_via_memalign), deciding: allocate(size, 4096) }
                pvalloc(size: usize) -> *mut c_void
                    { absent: fill(pvalloc_via_memalign), deciding: pages(size) }
                malloc_usable_size(block: *mut c_void) -> usize
                    { absent: fill(usable_size_unknown), deciding: usable(block) }
                malloc_trim(pad: usize) -> c_int
                    { absent: fill(trim_nothing), deciding: answer(0) }
            }
            takeovers {
                __libc_malloc(size: usize) -> *mut c_void
                    { absent: same(malloc), deciding: allocate(size, 16) }
                __libc_free(block: *mut c_void) -> ()
                    { absent: same(free), deciding: release(block) }
                __libc_calloc(count: usize, size: usize) -> *mut c_void
                    { absent: same(calloc), deciding: like(calloc) }
                __libc_realloc(block: *mut c_void, size: usize) -> *mut c_void
                    { absent: same(realloc), deciding: like(realloc) }
                __libc_memalign(align: usize, size: usize) -> *mut c_void
                    { absent: same(memalign), deciding: like(memalign) }
                __libc_valloc(size: usize) -> *mut c_void
                    { absent: same(valloc), deciding: like(valloc) }
                __libc_pvalloc(size: usize) -> *mut c_void
                    { absent: same(pvalloc), deciding: like(pvalloc) }
                strdup(text: *const c_char) -> *mut c_char
                    { absent: fill(strdup_via_malloc), deciding: duplicate(text, None) }
                strndup(text: *const c_char, limit: usize) -> *mut c_char
                    { absent: fill(strndup_via_malloc), deciding: duplicate(text, Some(limit)) }
                mallinfo() -> Mallinfo
                    { absent: fill(mallinfo_unknown), deciding: answer(Mallinfo::default()) }
                mallinfo2() -> Mallinfo2
                    { absent: fill(mallinfo2_unknown), deciding: answer(Mallinfo2::default()) }
                mallopt(option: c_int, value: c_int) -> c_int
                    { absent: fill(mallopt_unsupported), deciding: answer(0) }
                malloc_stats() -> ()
                    { absent: fill(malloc_stats_nothing), deciding: answer(()) }
                malloc_info(options: c_int, stream: *mut c_void) -> c_int
                    { absent: fill(malloc_info_unsupported), deciding: fail(libc::EAGAIN, -1) }
            }
            operators {
                _Znwm / _Znwj(size: usize) -> *mut c_void
                    { kept: ThrowingNew, otherwise: via malloc(size), runtime: abort_new }
                _Znam / _Znaj(size: usize) -> *mut c_void
                    { kept: ThrowingNew, otherwise: via malloc(size), runtime: abort_new }
                _ZnwmSt11align_val_t / _ZnwjSt11align_val_t(size: usize, align: usize) -> *mut c_void
                    { kept: ThrowingNew, otherwise: via memalign(align, size), runtime: abort_new_aligned }
                _ZnamSt11align_val_t / _ZnajSt11align_val_t(size: usize, align: usize) -> *mut c_void
                    { kept: ThrowingNew, otherwise: via memalign(align, size), runtime: abort_new_aligned }
                _ZnwmRKSt9nothrow_t / _ZnwjRKSt9nothrow_t(size: usize, tag: *const c_void) -> *mut c_void
                    { kept: NothrowNew, otherwise: via malloc(size), runtime: null_new_nothrow }
                _ZnamRKSt9nothrow_t / _ZnajRKSt9nothrow_t(size: usize, tag: *const c_void) -> *mut c_void
                    { kept: NothrowNew, otherwise: via malloc(size), runtime: null_new_nothrow }
                _ZnwmSt11align_val_tRKSt9nothrow_t / _ZnwjSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, tag: *const c_void)
                    -> *mut c_void
                    { kept: NothrowNew, otherwise: via memalign(align, size), runtime: null_new_aligned_nothrow }
                _ZnamSt11align_val_tRKSt9nothrow_t / _ZnajSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, tag: *const c_void)
                    -> *mut c_void
                    { kept: NothrowNew, otherwise: via memalign(align, size), runtime: null_new_aligned_nothrow }
                // The size (and alignment) are hints that the allocator's own
                // sized delete uses for its fast path; `free` needs neither.
                _ZdlPvm / _ZdlPvj(block: *mut c_void, size: usize) -> ()
                    { kept: SizedDelete, otherwise: via free(block) }
                _ZdaPvm / _ZdaPvj(block: *mut c_void, size: usize) -> ()
                    { kept: SizedDelete, otherwise: via free(block) }
                _ZdlPvmSt11align_val_t / _ZdlPvjSt11align_val_t(block: *mut c_void, size: usize, align: usize) -> ()
                    { kept: SizedDelete, otherwise: via free(block) }
                _ZdaPvmSt11align_val_t / _ZdaPvjSt11align_val_t(block: *mut c_void, size: usize, align: usize) -> ()
                    { kept: SizedDelete, otherwise: via free(block) }
            }
            aliases {
                // Removed from glibc's API in 2.26 but still called by old binaries.
                cfree(block: *mut c_void) -> ()
                    { via: free(block) }
                reallocarray(block: *mut c_void, count: usize, size: usize) -> *mut c_void
                    { guard: bytes = product(count, size), via: realloc(block, bytes) }
                // The unsized operator deletes are the route's free, as
                // every allocator's own are.
                _ZdlPv(block: *mut c_void) -> ()
                    { via: free(block) }
                _ZdaPv(block: *mut c_void) -> ()
                    { via: free(block) }
                _ZdlPvRKSt9nothrow_t(block: *mut c_void, _tag: *const c_void) -> ()
                    { via: free(block) }
                _ZdaPvRKSt9nothrow_t(block: *mut c_void, _tag: *const c_void) -> ()
                    { via: free(block) }
                _ZdlPvSt11align_val_t(block: *mut c_void, _align: usize) -> ()
                    { via: free(block) }
                _ZdaPvSt11align_val_t(block: *mut c_void, _align: usize) -> ()
                    { via: free(block) }
                _ZdlPvSt11align_val_tRKSt9nothrow_t(
                    block: *mut c_void, _align: usize, _tag: *const c_void) -> ()
                    { via: free(block) }
                _ZdaPvSt11align_val_tRKSt9nothrow_t(
                    block: *mut c_void, _align: usize, _tag: *const c_void) -> ()
                    { via: free(block) }
            }
        }
    };
}

pub(crate) use routed_functions;

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

macro_rules! generate_signatures {
    (
        core { $($core:tt)* }
        takeovers { $($taken:tt)* }
        operators { $($name:ident $(/ $ilp32:ident)? ($($arg:ident: $type:ty),*) -> $ret:ty { $($how:tt)* })* }
        $($exported_only:tt)*
    ) => {
        generate_signatures!(@routed [$($name ($($type),*) -> $ret;)*] $($core)* $($taken)*);
    };
    (@routed [$($operators:tt)*] $($name:ident ($($arg:ident: $type:ty),*) -> $ret:ty { $($how:tt)* })*) => {
        /// The C type of each function with a slot, named after it.
        #[allow(non_camel_case_types)]
        pub mod signature {
            use super::*;
            $(pub type $name = unsafe extern "C" fn($($type),*) -> $ret;)*
            generate_signatures!(@operators $($operators)*);
        }
    };
    (@operators $($name:ident ($($type:ty),*) -> $ret:ty;)*) => {
        $(pub type $name = unsafe extern "C" fn($($type),*) -> $ret;)*
    };
}

routed_functions!(generate_signatures);
