//! The route's `free`, `realloc` and `malloc_usable_size` (and `__libc_free`,
//! `__libc_realloc`), wrapped to recognise bootstrap blocks; and memproxy's
//! own sized `operator delete`s, which free through that `free`, in place of
//! the allocator's.
//!
//! Installed only when the bootstrap region was used, so that the usual
//! process pays nothing for recognising blocks that do not exist. Each
//! forwards anything else to the route's own function in [`PRIMITIVES`].

use core::ffi::c_void;

use super::checked;
use crate::bootstrap;
use crate::table::{Core, PRIMITIVES, Table, Takeovers};

/// `table` with the functions that may receive a bootstrap block replaced.
pub fn with_bootstrap_checks(table: Table) -> Table {
    Table {
        core: Core {
            free,
            realloc,
            malloc_usable_size,
            ..table.core
        },
        takeovers: Takeovers {
            __libc_free,
            __libc_realloc,
            ..table.takeovers
        },
        operators: checked::with_sized_deletes_freeing_with(table.operators, free),
    }
}

fn is_bootstrap(block: *mut c_void) -> bool {
    bootstrap::contains(block as *const u8)
}

unsafe extern "C" fn free(block: *mut c_void) {
    if !is_bootstrap(block) {
        // SAFETY: a block of the route's allocator.
        unsafe { PRIMITIVES.free.get()(block) }
    }
}

unsafe extern "C" fn __libc_free(block: *mut c_void) {
    if !is_bootstrap(block) {
        // SAFETY: a block for the route's __libc_free.
        unsafe { PRIMITIVES.__libc_free.get()(block) }
    }
}

unsafe extern "C" fn realloc(block: *mut c_void, size: usize) -> *mut c_void {
    if !is_bootstrap(block) {
        // SAFETY: NULL or a block of the route's allocator.
        return unsafe { PRIMITIVES.realloc.get()(block, size) };
    }
    // SAFETY: a bootstrap block; the new block has `size` writable bytes.
    unsafe {
        let moved = PRIMITIVES.malloc.get()(size);
        if !moved.is_null() {
            bootstrap::copy_out(block as *const u8, moved as *mut u8, size);
        }
        moved
    }
}

unsafe extern "C" fn __libc_realloc(block: *mut c_void, size: usize) -> *mut c_void {
    if is_bootstrap(block) {
        // SAFETY: the same move as for `realloc`.
        return unsafe { realloc(block, size) };
    }
    // SAFETY: NULL or a block for the route's __libc_realloc.
    unsafe { PRIMITIVES.__libc_realloc.get()(block, size) }
}

unsafe extern "C" fn malloc_usable_size(block: *mut c_void) -> usize {
    if is_bootstrap(block) {
        // SAFETY: a bootstrap block.
        return unsafe { bootstrap::size_of(block as *const u8) };
    }
    // SAFETY: NULL or a block of the route's allocator.
    unsafe { PRIMITIVES.malloc_usable_size.get()(block) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::signature;

    unsafe extern "C" fn allocators_sized_delete(_block: *mut c_void, _size: usize) {}
    unsafe extern "C" fn allocators_new(_size: usize) -> *mut c_void {
        core::ptr::null_mut()
    }

    #[test]
    fn the_sized_deletes_become_the_free_that_recognises_bootstrap_blocks() {
        // A bootstrap block freed by the allocator's own sized delete would
        // corrupt its heap.
        // Nothing publishes in a test build: PENDING holds the stubs.
        let mut table = crate::table::PENDING.snapshot();
        table.operators._ZdlPvm = allocators_sized_delete;
        table.operators._ZdaPvm = allocators_sized_delete;
        table.operators._Znwm = allocators_new;
        let checked_table = with_bootstrap_checks(table);
        let checked_free: signature::free = free;
        let sized_deletes = [
            checked_table.operators._ZdlPvm as usize,
            checked_table.operators._ZdaPvm as usize,
            checked_table.operators._ZdlPvmSt11align_val_t as usize,
            checked_table.operators._ZdaPvmSt11align_val_t as usize,
        ];
        assert_eq!(sized_deletes, [checked_free as usize; 4]);
        // A new block is never a bootstrap one: the allocator's new stays.
        let own: signature::_Znwm = allocators_new;
        assert!(core::ptr::fn_addr_eq(checked_table.operators._Znwm, own));
    }
}
