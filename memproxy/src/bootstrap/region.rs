//! The static region that serves allocations made while the route is being
//! decided: by ld.so or `dl_iterate_phdr` internals re-entering `malloc`, or
//! by other threads that must not wait for the deciding one (it may be
//! waiting for a loader lock they hold).
//!
//! Blocks are never reused: `free` of a bootstrap block does nothing, and
//! `realloc` copies it out. The region sits in `.bss`, so it costs address
//! space but no memory until a block is actually handed out. It is closed for
//! good when the decision is published; [`close`] reports whether it was ever
//! used, so that the common case pays nothing for recognising its blocks.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

const REGION_BYTES: usize = 1 << 20;
/// Each block is preceded by its requested size.
const HEADER: usize = 16;
/// Largest alignment served; the region itself is aligned to it.
const MAX_ALIGN: usize = 4096;
/// Set in [`NEXT`] once the decision is published.
const CLOSED: usize = 1 << (usize::BITS - 1);

#[repr(C, align(4096))]
struct Region(UnsafeCell<[u8; REGION_BYTES]>);

// SAFETY: disjoint blocks are handed out by an atomic bump pointer; no two
// threads ever get overlapping bytes.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; REGION_BYTES]));
/// Offset of the first unreserved byte, plus [`CLOSED`].
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Why a bootstrap allocation was not served.
pub enum Refusal {
    /// The decision is published: use the route.
    Closed,
    /// Too large, too aligned, or the region is used up.
    NoMemory,
}

fn start() -> usize {
    REGION.0.get() as usize
}

/// A zeroed block of `size` bytes aligned to `align` (a power of two).
pub fn allocate(size: usize, align: usize) -> Result<*mut u8, Refusal> {
    let align = align.max(HEADER);
    if align > MAX_ALIGN || size > REGION_BYTES {
        return Err(Refusal::NoMemory);
    }
    // Worst case: the header, padding up to the alignment, the block.
    let reserve = HEADER + align + size.next_multiple_of(HEADER);
    let offset = NEXT.fetch_add(reserve, Ordering::AcqRel);
    if offset & CLOSED != 0 {
        return Err(Refusal::Closed);
    }
    if offset + reserve > REGION_BYTES {
        return Err(Refusal::NoMemory);
    }
    let block = (start() + offset + HEADER).next_multiple_of(align);
    // SAFETY: `block - HEADER .. block + size` lies inside the reservation
    // made above, which no other thread can receive; it is suitably aligned
    // for a usize.
    unsafe { ((block - HEADER) as *mut usize).write(size) };
    Ok(block as *mut u8)
}

/// Whether `pointer` is a bootstrap block.
pub fn contains(pointer: *const u8) -> bool {
    (pointer as usize).wrapping_sub(start()) < REGION_BYTES
}

/// The size requested for a bootstrap block.
///
/// # Safety
/// `pointer` must be a block returned by [`allocate`].
pub unsafe fn size_of(pointer: *const u8) -> usize {
    // SAFETY: every block is preceded by the header `allocate` wrote.
    unsafe { ((pointer as usize - HEADER) as *const usize).read() }
}

/// Copies bootstrap `block`'s first `size` bytes (fewer if it is smaller) to
/// `to`, as `realloc` moving it out must.
///
/// # Safety
/// `block` must be a block returned by [`allocate`], and `to` must have
/// `size` writable bytes outside it.
pub unsafe fn copy_out(block: *const u8, to: *mut u8, size: usize) {
    // SAFETY: the caller's contract; `keep` fits both blocks.
    unsafe {
        let keep = size_of(block).min(size);
        core::ptr::copy_nonoverlapping(block, to, keep);
    }
}

/// Stops serving blocks; returns whether any block was ever handed out.
pub fn close() -> bool {
    NEXT.fetch_or(CLOSED, Ordering::AcqRel) & !CLOSED != 0
}

/// Whether [`close`] has run.
pub fn is_closed() -> bool {
    NEXT.load(Ordering::Acquire) & CLOSED != 0
}
