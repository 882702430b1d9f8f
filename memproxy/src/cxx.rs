//! The C++ runtime's own `operator new`, for the out-of-memory path.
//!
//! memproxy's `operator new` calls the route's `malloc` itself, so the common
//! case costs what `malloc` costs. When that fails, C++ requires the
//! new-handler loop and `std::bad_alloc`, which only the C++ runtime can
//! provide; so the exported function tail-calls the runtime's own operator
//! (libstdc++'s `new_op.cc` and friends), which retries through the
//! interposed `malloc`/`aligned_alloc` and throws. No memproxy frame is on the
//! stack while the exception unwinds.
//!
//! The runtime is found lazily, on the first failure: a C program may
//! `dlopen` a C++ library long after the route was decided. It is the first
//! loaded object, other than memproxy, that defines the operator without
//! defining `malloc` (allocators export both, and are skipped).

use core::ffi::c_void;
use core::ops::ControlFlow;

use crate::loader;
use crate::slot::{Function, Slot};
use crate::sys;

/// One operator of the C++ runtime, of C signature `F`, resolved on first
/// use. Each `operator new` export has its own (see [`crate::abi`]).
pub struct RuntimeOperator<F: Function> {
    name: &'static [u8],
    /// Empty until resolved; then the runtime's operator, or `fallback`.
    resolved: Slot<Option<F>>,
    /// Used when no C++ runtime defines the operator.
    fallback: F,
}

impl<F: Function> RuntimeOperator<F> {
    pub const fn new(name: &'static [u8], fallback: F) -> Self {
        RuntimeOperator {
            name,
            resolved: Slot::new(None),
            fallback,
        }
    }

    /// The runtime's operator, or the fallback. Inlined into `operator new`'s
    /// failure branch, so it must stay small: finding the operator is out of
    /// line.
    #[inline(always)]
    pub fn get(&self) -> F {
        match self.resolved.get() {
            Some(operator) => operator,
            None => self.resolve(),
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> F {
        let operator = find_in_runtime(self.name).unwrap_or(self.fallback);
        self.resolved.set(Some(operator));
        operator
    }
}

/// `name` in the first loaded object, other than memproxy, that defines it
/// without defining `malloc`. The caller pairs `name` with its signature `F`.
fn find_in_runtime<F: Function>(name: &[u8]) -> Option<F> {
    let mut found = None;
    loader::for_each_object(|object| {
        if loader::is_memproxy(object) || object.defines(b"malloc") {
            return ControlFlow::Continue(());
        }
        found = object.function(name);
        if found.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

// The fallbacks, for when no C++ runtime is loaded. A throwing operator new
// that failed can then neither return NULL nor throw: it aborts, as the
// runtime itself does when it cannot throw. The nothrow forms return NULL.

pub extern "C" fn abort_new(_size: usize) -> *mut c_void {
    sys::abort()
}

pub extern "C" fn abort_new_aligned(_size: usize, _align: usize) -> *mut c_void {
    sys::abort()
}

pub extern "C" fn null_new_nothrow(_size: usize, _tag: *const c_void) -> *mut c_void {
    core::ptr::null_mut()
}

pub extern "C" fn null_new_aligned_nothrow(
    _size: usize,
    _align: usize,
    _tag: *const c_void,
) -> *mut c_void {
    core::ptr::null_mut()
}
