//! The functions in the slots until the decision is published, generated from
//! the table in [`crate::functions`].
//!
//! Each makes the decision if nobody has ([`enter`]), then serves its call
//! through the decided route; while another thread (or this one,
//! re-entering) is deciding, it serves it from the bootstrap region, or from
//! `PENDING` once that region is closed. How is the table's `deciding`
//! column: one of the strategies below, which several functions share.
//!
//! # Safety
//! Every stub has the C contract of the function whose slot it fills, and
//! forwards its caller's arguments unchanged to the same function of the
//! decided route, or serves the call from a bootstrap block of the size and
//! alignment the contract asks for. Every strategy is an `unsafe fn` whose
//! contract is that: its arguments are those of such a call, and `call`
//! forwards them to the same function of the slots it is given.

use core::ffi::{c_char, c_int, c_void};

use super::checked::is_posix_alignment;
use super::{no_memory, whole_pages};
use crate::bootstrap::{self, Refusal};
use crate::functions::{Mallinfo, Mallinfo2, routed_functions};
use crate::route::{Entry, enter};
use crate::sys;
use crate::table::{PENDING, SLOTS, Slots};

macro_rules! generate_stubs {
    (core { $($core:tt)* } takeovers { $($taken:tt)* } $($exported_only:tt)*) => {
        generate_stubs!(@routed $($core)* $($taken)*);
    };
    (@routed $($name:ident ($($arg:ident: $type:ty),*) -> $ret:ty {
        absent: $absent:ident $(($absent_with:ident))?,
        deciding: $deciding:ident ($($deciding_arg:expr),*)
        $(, guard: $guard:ident $guard_args:tt)?
    })*) => {$(
        pub(crate) unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            serve!($deciding ($($deciding_arg),*), $name ($($arg),*))
        }
    )*};
}

/// A stub's body: its strategy, given the call as a closure over a set of
/// slots; or, for `like(X)`, X's stub while deciding.
macro_rules! serve {
    (like ($other:expr), $name:ident ($($arg:ident),*)) => {
        match enter() {
            // SAFETY: see the module docs.
            Entry::Ready => unsafe { SLOTS.$name.get()($($arg),*) },
            // SAFETY: the stub of a function of the same C contract.
            Entry::Deciding => unsafe { $other($($arg),*) },
        }
    };
    ($strategy:ident ($($strategy_arg:expr),*), $name:ident ($($arg:ident),*)) => {
        // SAFETY: see the module docs.
        unsafe { $strategy($($strategy_arg,)* |slots: &Slots| slots.$name.get()($($arg),*)) }
    };
}

routed_functions!(generate_stubs);

fn invalid() -> *mut c_void {
    sys::set_errno(libc::EINVAL);
    core::ptr::null_mut()
}

fn is_bootstrap(block: *mut c_void) -> bool {
    bootstrap::contains(block as *const u8)
}

/// A bootstrap block, or the pending route's once the region is closed.
fn early(size: usize, align: usize, pending: impl FnOnce() -> *mut c_void) -> *mut c_void {
    match bootstrap::allocate(size, align) {
        Ok(block) => block as *mut c_void,
        Err(Refusal::Closed) => pending(),
        Err(Refusal::NoMemory) => no_memory(),
    }
}

/// A copy of bootstrap `block`'s first `size` bytes, as realloc must make:
/// in a new bootstrap block, or from `pending` once the region is closed.
///
/// # Safety
/// `block` must be a bootstrap block.
unsafe fn early_move(
    block: *mut c_void,
    size: usize,
    pending: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let moved = early(size, 16, pending);
    if !moved.is_null() {
        // SAFETY: a bootstrap block, and a new block of `size` bytes.
        unsafe { bootstrap::copy_out(block as *const u8, moved as *mut u8, size) };
    }
    moved
}

/// A bootstrap copy of `length` bytes of `text` plus a NUL, or `pending`'s
/// copy once the region is closed.
///
/// # Safety
/// `text` must have `length` readable bytes.
unsafe fn early_copy(
    text: *const c_char,
    length: usize,
    pending: impl FnOnce() -> *mut c_char,
) -> *mut c_char {
    let Some(size) = length.checked_add(1) else {
        return no_memory() as *mut c_char;
    };
    match bootstrap::allocate(size, 16) {
        Ok(copy) => {
            // SAFETY: `copy` has `size` bytes; bootstrap memory is zeroed, so
            // the terminator is already there.
            unsafe { core::ptr::copy_nonoverlapping(text, copy as *mut c_char, length) };
            copy as *mut c_char
        }
        Err(Refusal::Closed) => pending(),
        Err(Refusal::NoMemory) => no_memory() as *mut c_char,
    }
}

// The strategies. Each serves a call through `SLOTS` once the route is
// decided, and says what to do while it is not.

/// A block of `size` bytes aligned to `align`: `malloc`, `valloc`.
unsafe fn allocate(
    size: usize,
    align: usize,
    call: impl FnOnce(&Slots) -> *mut c_void,
) -> *mut c_void {
    match enter() {
        Entry::Ready => call(&SLOTS),
        Entry::Deciding => early(size, align, || call(&PENDING)),
    }
}

/// `calloc`. Bootstrap memory is zero and never reused.
unsafe fn zeroed(
    count: usize,
    size: usize,
    call: impl FnOnce(&Slots) -> *mut c_void,
) -> *mut c_void {
    match (enter(), count.checked_mul(size)) {
        (Entry::Ready, _) => call(&SLOTS),
        (Entry::Deciding, Some(bytes)) => early(bytes, 16, || call(&PENDING)),
        (Entry::Deciding, None) => no_memory(),
    }
}

/// `memalign`, `aligned_alloc`.
unsafe fn aligned(
    align: usize,
    size: usize,
    call: impl FnOnce(&Slots) -> *mut c_void,
) -> *mut c_void {
    match enter() {
        Entry::Ready => call(&SLOTS),
        Entry::Deciding if align.is_power_of_two() => early(size, align, || call(&PENDING)),
        Entry::Deciding => invalid(),
    }
}

/// `posix_memalign`.
unsafe fn posix_aligned(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
    call: impl FnOnce(&Slots) -> c_int,
) -> c_int {
    match enter() {
        Entry::Ready => call(&SLOTS),
        Entry::Deciding if !is_posix_alignment(align) => libc::EINVAL,
        Entry::Deciding => match bootstrap::allocate(size, align) {
            Ok(block) => {
                // SAFETY: the caller of posix_memalign passes a writable `out`.
                unsafe { out.write(block as *mut c_void) };
                0
            }
            Err(Refusal::Closed) => call(&PENDING),
            Err(Refusal::NoMemory) => libc::ENOMEM,
        },
    }
}

/// `pvalloc`: whole pages.
unsafe fn pages(size: usize, call: impl FnOnce(&Slots) -> *mut c_void) -> *mut c_void {
    match (enter(), whole_pages(size, 4096)) {
        (Entry::Ready, _) => call(&SLOTS),
        (Entry::Deciding, Some(rounded)) => early(rounded, 4096, || call(&PENDING)),
        (Entry::Deciding, None) => no_memory(),
    }
}

/// `free`: a bootstrap block is never freed, and NULL never decides.
unsafe fn release(block: *mut c_void, call: impl FnOnce(&Slots)) {
    if block.is_null() || is_bootstrap(block) {
        return;
    }
    // Only the published route can have made a block that is not a bootstrap
    // one.
    match enter() {
        Entry::Ready => call(&SLOTS),
        Entry::Deciding if bootstrap::is_closed() => call(&PENDING),
        Entry::Deciding => {}
    }
}

/// `realloc`.
unsafe fn resize(
    block: *mut c_void,
    size: usize,
    call: impl FnOnce(&Slots) -> *mut c_void,
) -> *mut c_void {
    match enter() {
        Entry::Ready => call(&SLOTS),
        // The region may close between any check and the allocation: each
        // early path falls back to the pending route then.
        Entry::Deciding if block.is_null() => early(size, 16, || call(&PENDING)),
        // SAFETY: a bootstrap block; the pending route's malloc.
        Entry::Deciding if is_bootstrap(block) => unsafe {
            early_move(block, size, || PENDING.malloc.get()(size))
        },
        // Only the published route can have made any other block.
        Entry::Deciding if bootstrap::is_closed() => call(&PENDING),
        Entry::Deciding => no_memory(),
    }
}

/// `malloc_usable_size`.
unsafe fn usable(block: *mut c_void, call: impl FnOnce(&Slots) -> usize) -> usize {
    match enter() {
        Entry::Ready => call(&SLOTS),
        // SAFETY: a bootstrap block.
        Entry::Deciding if is_bootstrap(block) => unsafe { bootstrap::size_of(block as *const u8) },
        Entry::Deciding if bootstrap::is_closed() => call(&PENDING),
        Entry::Deciding => 0,
    }
}

/// `strdup` (no `limit`) and `strndup`.
unsafe fn duplicate(
    text: *const c_char,
    limit: Option<usize>,
    call: impl FnOnce(&Slots) -> *mut c_char,
) -> *mut c_char {
    match enter() {
        Entry::Ready => call(&SLOTS),
        // SAFETY: `text` is a C string, or has `limit` bytes.
        Entry::Deciding => unsafe {
            let length = match limit {
                None => libc::strlen(text),
                Some(limit) => libc::strnlen(text, limit),
            };
            early_copy(text, length, || call(&PENDING))
        },
    }
}

/// Functions with nothing to do while deciding: `value` is their answer.
unsafe fn answer<R>(value: R, call: impl FnOnce(&Slots) -> R) -> R {
    match enter() {
        Entry::Ready => call(&SLOTS),
        Entry::Deciding => value,
    }
}

/// Functions that fail while deciding, with `errno` set.
unsafe fn fail<R>(errno: c_int, value: R, call: impl FnOnce(&Slots) -> R) -> R {
    match enter() {
        Entry::Ready => call(&SLOTS),
        Entry::Deciding => {
            sys::set_errno(errno);
            value
        }
    }
}
