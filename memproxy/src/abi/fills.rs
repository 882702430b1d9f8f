//! The functions memproxy builds from the route's own primitives when the
//! allocator lacks one (the `fill(..)` entries of [`crate::functions`]).
//!
//! Each calls the route's functions through [`PRIMITIVES`], which the
//! decision publishes before any of these can be reached. None ever falls
//! back to glibc: one allocator serves every call in a process (see
//! [`crate::resolve`]).

use core::ffi::{c_char, c_int, c_void};

use super::{no_memory, whole_pages};
use crate::functions::{Mallinfo, Mallinfo2};
use crate::sys;
use crate::table::PRIMITIVES;

fn page_size() -> usize {
    match sys::aux_value(libc::AT_PAGESZ) {
        0 => 4096,
        size => size,
    }
}

pub(crate) unsafe extern "C" fn calloc_via_malloc(count: usize, size: usize) -> *mut c_void {
    let Some(bytes) = count.checked_mul(size) else {
        return no_memory();
    };
    // SAFETY: the route's malloc; a non-null result has `bytes` writable bytes.
    unsafe {
        let block = PRIMITIVES.malloc.get()(bytes);
        if !block.is_null() {
            core::ptr::write_bytes(block as *mut u8, 0, bytes);
        }
        block
    }
}

/// Installed as `memalign` only when the allocator has `posix_memalign` (see
/// [`crate::resolve`]), which is then its own.
pub(crate) unsafe extern "C" fn memalign_via_posix(align: usize, size: usize) -> *mut c_void {
    // posix_memalign wants a multiple of sizeof(void *); memalign allows less.
    let align = align.max(core::mem::size_of::<*mut c_void>());
    let mut block = core::ptr::null_mut();
    // SAFETY: the allocator's posix_memalign, with a writable `block`.
    let status = unsafe { PRIMITIVES.posix_memalign.get()(&mut block, align, size) };
    if status != 0 {
        sys::set_errno(status);
        return core::ptr::null_mut();
    }
    block
}

pub(crate) unsafe extern "C" fn posix_memalign_via_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    // Only memproxy's checked posix_memalign (abi/checked.rs) calls this, with
    // a good alignment: a filled function never goes straight.
    let saved = sys::errno();
    // SAFETY: the route's aligned primitive.
    let block = unsafe { PRIMITIVES.memalign.get()(align, size) };
    if block.is_null() {
        sys::set_errno(saved);
        return libc::ENOMEM;
    }
    // SAFETY: the caller of posix_memalign passes a writable pointer.
    unsafe { out.write(block) };
    0
}

pub(crate) unsafe extern "C" fn aligned_alloc_via_memalign(
    align: usize,
    size: usize,
) -> *mut c_void {
    // SAFETY: the route's aligned primitive.
    unsafe { PRIMITIVES.memalign.get()(align, size) }
}

pub(crate) unsafe extern "C" fn valloc_via_memalign(size: usize) -> *mut c_void {
    // SAFETY: the route's aligned primitive.
    unsafe { PRIMITIVES.memalign.get()(page_size(), size) }
}

pub(crate) unsafe extern "C" fn pvalloc_via_memalign(size: usize) -> *mut c_void {
    let page = page_size();
    let Some(rounded) = whole_pages(size, page) else {
        return no_memory();
    };
    // SAFETY: the route's aligned primitive.
    unsafe { PRIMITIVES.memalign.get()(page, rounded) }
}

pub(crate) unsafe extern "C" fn usable_size_unknown(_block: *mut c_void) -> usize {
    0
}

pub(crate) unsafe extern "C" fn trim_nothing(_pad: usize) -> c_int {
    0
}

pub(crate) unsafe extern "C" fn strdup_via_malloc(text: *const c_char) -> *mut c_char {
    // SAFETY: `text` is a C string, per strdup's contract.
    unsafe { copy_string(text, libc::strlen(text)) }
}

pub(crate) unsafe extern "C" fn strndup_via_malloc(
    text: *const c_char,
    limit: usize,
) -> *mut c_char {
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
        let copy = PRIMITIVES.malloc.get()(size) as *mut c_char;
        if !copy.is_null() {
            core::ptr::copy_nonoverlapping(text, copy, length);
            copy.add(length).write(0);
        }
        copy
    }
}

pub(crate) unsafe extern "C" fn mallinfo_unknown() -> Mallinfo {
    Mallinfo::default()
}

pub(crate) unsafe extern "C" fn mallinfo2_unknown() -> Mallinfo2 {
    Mallinfo2::default()
}

pub(crate) unsafe extern "C" fn mallopt_unsupported(_option: c_int, _value: c_int) -> c_int {
    0
}

pub(crate) unsafe extern "C" fn malloc_stats_nothing() {}

pub(crate) unsafe extern "C" fn malloc_info_unsupported(
    _options: c_int,
    _stream: *mut c_void,
) -> c_int {
    sys::set_errno(libc::ENOSYS);
    -1
}
