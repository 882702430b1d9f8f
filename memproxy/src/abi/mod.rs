//! The binary interface: every function memproxy exports, the constructor
//! ld.so runs, and every other C function memproxy defines (the stubs, the
//! functions built from an allocator's primitives, the bootstrap checks).
//! All of them take raw pointers under a C contract, which is why this is
//! part of the unsafe edge.
//!
//! The exports are generated from the table in [`crate::functions`]. Each
//! forwards through the route's slot: once the route is decided, `malloc`
//! compiles to `mov slot(%rip), %rax; jmp *%rax`. The few that do more do
//! what C, POSIX or C++ require of every route, whatever the allocator behind
//! it does (see [`guards`]):
//! - `calloc` and `reallocarray` fail with `ENOMEM` on size overflow (some
//!   allocators return NULL without setting `errno`);
//! - `posix_memalign` rejects a bad alignment with `EINVAL`, leaving
//!   `*memptr` untouched;
//! - `operator new` honours the new-handler and throws `std::bad_alloc` (see
//!   [`crate::cxx`]); the nothrow forms return NULL.
//!
//! The symbols are unversioned, so they interpose glibc's `malloc@GLIBC_2.2.5`
//! and the C++ runtime's operators for every object in the process. A test
//! build exports nothing and registers no constructor: the test program must
//! keep its own allocator.

#![allow(non_snake_case, clippy::missing_safety_doc)]

pub mod bootstrap_checks;
pub mod fills;
pub mod stubs;

use core::ffi::{c_char, c_int, c_void};

use crate::cxx::{self, RuntimeOperator};
use crate::functions::{Mallinfo, Mallinfo2, routed_functions};
use crate::sys;
use crate::table::{SLOTS, Table};

/// The symbol of an exported function given as `LP64 / ILP32` in the table
/// (see [`crate::functions`]): the name for this target's `size_t`.
#[cfg(target_pointer_width = "64")]
macro_rules! cxx_symbol {
    ($lp64:ident $(/ $ilp32:ident)?) => {
        stringify!($lp64)
    };
}
#[cfg(target_pointer_width = "32")]
macro_rules! cxx_symbol {
    ($lp64:ident) => {
        stringify!($lp64)
    };
    ($lp64:ident / $ilp32:ident) => {
        stringify!($ilp32)
    };
}

macro_rules! generate_exports {
    (
        core { $($core:tt)* }
        takeovers { $($taken:tt)* }
        aliases { $($alias:tt)* }
        cxx { $($cxx:tt)* }
    ) => {
        generate_exports!(@routed $($core)* $($taken)*);
        generate_exports!(@via $($alias)* $($cxx)*);
    };
    (@routed $($name:ident ($($arg:ident: $type:ty),*) -> $ret:ty {
        absent: $absent:ident $(($absent_with:ident))?,
        deciding: $deciding:ident $deciding_args:tt
        $(, guard: $guard:ident ($($guard_arg:expr),*))?
    })*) => {$(
        #[cfg_attr(not(test), unsafe(no_mangle))]
        pub unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            $(if let Err(refusal) = guards::$guard($($guard_arg),*) {
                return refusal;
            })?
            // SAFETY: the caller upholds this function's C contract (and the
            // guard, if any, what the contract leaves to every route); the
            // slot holds the route's implementation of the same contract.
            unsafe { SLOTS.$name.get()($($arg),*) }
        }
    )*};
    (@via $($name:ident $(/ $ilp32:ident)? ($($parameters:tt)*) -> $ret:ty { $($how:tt)* })*) => {$(
        generate_exports!(@via_one $name [$($ilp32)?] ($($parameters)*) -> $ret { $($how)* });
    )*};
    (@via_one $name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty {
        $(guard: $checked:ident = $guard:ident ($($guard_arg:expr),*),)?
        via: $slot:ident ($($forward:expr),*)
    }) => {
        #[cfg_attr(not(test), unsafe(export_name = cxx_symbol!($name $(/ $ilp32)?)))]
        pub unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            $(let $checked = match guards::$guard($($guard_arg),*) {
                Ok(checked) => checked,
                Err(refusal) => return refusal,
            };)?
            // SAFETY: as for the routed functions: this function's contract
            // is the slot's function's, for the arguments forwarded.
            unsafe { SLOTS.$slot.get()($($forward),*) }
        }
    };
    // `operator new` tries the route first; on failure it tail-calls the C++
    // runtime's own operator, which runs the new-handler loop and throws (or
    // returns NULL for nothrow).
    (@via_one $name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty {
        via: $slot:ident ($($forward:expr),*), runtime: $fallback:ident
    }) => {
        #[cfg_attr(not(test), unsafe(export_name = cxx_symbol!($name $(/ $ilp32)?)))]
        pub unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            static RUNTIME: RuntimeOperator<unsafe extern "C" fn($($type),*) -> $ret> =
                RuntimeOperator::new(cxx_symbol!($name $(/ $ilp32)?).as_bytes(), cxx::$fallback);
            // SAFETY: the route's malloc or memalign, with the size (and the
            // alignment, a power of two by std::align_val_t's contract) of
            // this operator's call.
            let block = unsafe { SLOTS.$slot.get()($($forward),*) };
            if !block.is_null() {
                return block;
            }
            // SAFETY: the C++ runtime's own definition of this very operator
            // (or a fallback of the same signature), called with our caller's
            // arguments: a tail call, so no frame of ours is unwound through.
            unsafe { RUNTIME.get()($($arg),*) }
        }
    };
}

routed_functions!(generate_exports);

/// Checks an export makes before it forwards: what C, POSIX or C++ require
/// of every route. `Err` holds what the export returns instead.
mod guards {
    use core::ffi::{c_int, c_void};

    /// `count * size`, which must not overflow.
    #[inline(always)]
    pub fn product(count: usize, size: usize) -> Result<usize, *mut c_void> {
        count.checked_mul(size).ok_or_else(super::no_memory)
    }

    /// A power of two no smaller than a pointer (so a multiple of one).
    #[inline(always)]
    pub fn alignment(align: usize) -> Result<(), c_int> {
        #[allow(clippy::manual_is_power_of_two)]
        if align < core::mem::size_of::<*mut c_void>() || align & (align - 1) != 0 {
            return Err(libc::EINVAL);
        }
        Ok(())
    }
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

/// Makes glibc initialise its malloc on the deciding thread (see
/// [`crate::route`] for why): `mallinfo2`, or `mallinfo` before glibc 2.33,
/// runs `ptmalloc_init` and allocates nothing.
pub(crate) fn initialise_glibc(table: &Table) {
    let unknown: crate::functions::signature::mallinfo2 = fills::mallinfo2_unknown;
    // SAFETY: glibc's mallinfo2 or mallinfo, which take no argument (on a C
    // library without them, memproxy's fills, which do nothing).
    unsafe {
        if core::ptr::fn_addr_eq(table.takeovers.mallinfo2, unknown) {
            (table.takeovers.mallinfo)();
        } else {
            (table.takeovers.mallinfo2)();
        }
    }
}

/// Decides at load time if no allocation has done so already, so that the
/// `MEMPROXY_DEBUG` line appears even in programs that never allocate.
#[cfg(not(test))]
extern "C" fn on_load() {
    crate::route::enter();
}

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn() = on_load;

// `core` ships precompiled for `panic = "unwind"`, so without LTO its unwind
// tables reference `rust_eh_personality`; ld.so would refuse to load the
// library with that symbol undefined. This definition is hidden (never
// exported) and answers `_URC_CONTINUE_UNWIND`, so that if a foreign exception
// ever crossed one of our frames, the frame would be transparent to it.
#[cfg(all(any(target_arch = "x86_64", target_arch = "x86"), not(test)))]
core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality, @function",
    "rust_eh_personality:",
    "    mov eax, 8",
    "    ret",
    ".size rust_eh_personality, . - rust_eh_personality",
);

#[cfg(all(target_arch = "aarch64", not(test)))]
core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality, %function",
    "rust_eh_personality:",
    "    mov w0, #8",
    "    ret",
    ".size rust_eh_personality, . - rust_eh_personality",
);
