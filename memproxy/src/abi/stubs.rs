//! The functions in the slots until the decision is published.
//!
//! Each makes the decision if nobody has ([`enter`]), then serves its call
//! through the decided route; while another thread (or this one,
//! re-entering) is deciding, it serves it from the bootstrap region, or from
//! `PENDING` once that region is closed.
//!
//! # Safety
//! Every stub has the C contract of the function whose slot it fills, and
//! forwards its caller's arguments unchanged to the same function of the
//! decided route, or serves the call from a bootstrap block of the size and
//! alignment the contract asks for.

use core::ffi::{c_char, c_int, c_void};

use super::{no_memory, whole_pages};
use crate::bootstrap::{self, Refusal};
use crate::route::{Entry, enter};
use crate::sys;
use crate::table::{Mallinfo, Mallinfo2, PENDING, SLOTS};

fn invalid() -> *mut c_void {
    sys::set_errno(libc::EINVAL);
    core::ptr::null_mut()
}

/// A bootstrap block, or the pending route's once the region is closed.
fn early(size: usize, align: usize, pending: impl FnOnce() -> *mut c_void) -> *mut c_void {
    match bootstrap::allocate(size, align) {
        Ok(block) => block as *mut c_void,
        Err(Refusal::Closed) => pending(),
        Err(Refusal::NoMemory) => no_memory(),
    }
}

fn is_bootstrap(block: *mut c_void) -> bool {
    bootstrap::contains(block as *const u8)
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

pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.malloc()(size),
            Entry::Deciding => early(size, 16, || PENDING.malloc()(size)),
        }
    }
}

pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: see the module docs. Bootstrap memory is zero and never reused.
    unsafe {
        match (enter(), count.checked_mul(size)) {
            (Entry::Ready, _) => SLOTS.calloc()(count, size),
            (Entry::Deciding, Some(bytes)) => early(bytes, 16, || PENDING.calloc()(count, size)),
            (Entry::Deciding, None) => no_memory(),
        }
    }
}

pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.memalign()(align, size),
            Entry::Deciding if align.is_power_of_two() => {
                early(size, align, || PENDING.memalign()(align, size))
            }
            Entry::Deciding => invalid(),
        }
    }
}

pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.aligned_alloc()(align, size),
            Entry::Deciding if align.is_power_of_two() => {
                early(size, align, || PENDING.aligned_alloc()(align, size))
            }
            Entry::Deciding => invalid(),
        }
    }
}

pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: see the module docs; the caller passes a writable `out`.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.posix_memalign()(out, align, size),
            Entry::Deciding => match bootstrap::allocate(size, align) {
                Ok(block) => {
                    out.write(block as *mut c_void);
                    0
                }
                Err(Refusal::Closed) => PENDING.posix_memalign()(out, align, size),
                Err(Refusal::NoMemory) => libc::ENOMEM,
            },
        }
    }
}

pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.valloc()(size),
            Entry::Deciding => early(size, 4096, || PENDING.valloc()(size)),
        }
    }
}

pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match (enter(), whole_pages(size, 4096)) {
            (Entry::Ready, _) => SLOTS.pvalloc()(size),
            (Entry::Deciding, Some(rounded)) => early(rounded, 4096, || PENDING.pvalloc()(size)),
            (Entry::Deciding, None) => no_memory(),
        }
    }
}

pub unsafe extern "C" fn free(block: *mut c_void) {
    if block.is_null() || is_bootstrap(block) {
        return;
    }
    // SAFETY: see the module docs. Only the published route can have made a
    // block that is not a bootstrap one.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.free()(block),
            Entry::Deciding if bootstrap::is_closed() => PENDING.free()(block),
            Entry::Deciding => {}
        }
    }
}

pub unsafe extern "C" fn realloc(block: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.realloc()(block, size),
            // The region may close between any check and the allocation:
            // each early path falls back to the pending route then.
            Entry::Deciding if block.is_null() => {
                early(size, 16, || PENDING.realloc()(block, size))
            }
            Entry::Deciding if is_bootstrap(block) => {
                early_move(block, size, || PENDING.malloc()(size))
            }
            // Only the published route can have made any other block.
            Entry::Deciding if bootstrap::is_closed() => PENDING.realloc()(block, size),
            Entry::Deciding => no_memory(),
        }
    }
}

pub unsafe extern "C" fn usable_size(block: *mut c_void) -> usize {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.usable_size()(block),
            Entry::Deciding if is_bootstrap(block) => bootstrap::size_of(block as *const u8),
            Entry::Deciding if bootstrap::is_closed() => PENDING.usable_size()(block),
            Entry::Deciding => 0,
        }
    }
}

pub unsafe extern "C" fn trim(pad: usize) -> c_int {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.trim()(pad),
            Entry::Deciding => 0,
        }
    }
}

pub unsafe extern "C" fn libc_malloc(size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_malloc()(size),
            Entry::Deciding => early(size, 16, || PENDING.libc_malloc()(size)),
        }
    }
}

pub unsafe extern "C" fn libc_free(block: *mut c_void) {
    if block.is_null() || is_bootstrap(block) {
        return;
    }
    // SAFETY: see the module docs, and `free`.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_free()(block),
            Entry::Deciding if bootstrap::is_closed() => PENDING.libc_free()(block),
            Entry::Deciding => {}
        }
    }
}

pub unsafe extern "C" fn libc_calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_calloc()(count, size),
            Entry::Deciding => calloc(count, size),
        }
    }
}

pub unsafe extern "C" fn libc_realloc(block: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_realloc()(block, size),
            Entry::Deciding => realloc(block, size),
        }
    }
}

pub unsafe extern "C" fn libc_memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_memalign()(align, size),
            Entry::Deciding => memalign(align, size),
        }
    }
}

pub unsafe extern "C" fn libc_valloc(size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_valloc()(size),
            Entry::Deciding => valloc(size),
        }
    }
}

pub unsafe extern "C" fn libc_pvalloc(size: usize) -> *mut c_void {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.libc_pvalloc()(size),
            Entry::Deciding => pvalloc(size),
        }
    }
}

pub unsafe extern "C" fn strdup(text: *const c_char) -> *mut c_char {
    // SAFETY: see the module docs; `text` is a C string.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.strdup()(text),
            Entry::Deciding => early_copy(text, libc::strlen(text), || PENDING.strdup()(text)),
        }
    }
}

pub unsafe extern "C" fn strndup(text: *const c_char, limit: usize) -> *mut c_char {
    // SAFETY: see the module docs; `text` is a C string or has `limit` bytes.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.strndup()(text, limit),
            Entry::Deciding => early_copy(text, libc::strnlen(text, limit), || {
                PENDING.strndup()(text, limit)
            }),
        }
    }
}

pub unsafe extern "C" fn mallinfo() -> Mallinfo {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.mallinfo()(),
            Entry::Deciding => Mallinfo::default(),
        }
    }
}

pub unsafe extern "C" fn mallinfo2() -> Mallinfo2 {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.mallinfo2()(),
            Entry::Deciding => Mallinfo2::default(),
        }
    }
}

pub unsafe extern "C" fn mallopt(option: c_int, value: c_int) -> c_int {
    // SAFETY: see the module docs.
    unsafe {
        match enter() {
            Entry::Ready => SLOTS.mallopt()(option, value),
            Entry::Deciding => 0,
        }
    }
}

pub unsafe extern "C" fn malloc_stats() {
    if let Entry::Ready = enter() {
        // SAFETY: see the module docs.
        unsafe { SLOTS.malloc_stats()() }
    }
}

pub unsafe extern "C" fn malloc_info(options: c_int, stream: *mut c_void) -> c_int {
    match enter() {
        // SAFETY: see the module docs; `stream` is the caller's FILE.
        Entry::Ready => unsafe { SLOTS.malloc_info()(options, stream) },
        Entry::Deciding => {
            sys::set_errno(libc::EAGAIN);
            -1
        }
    }
}
