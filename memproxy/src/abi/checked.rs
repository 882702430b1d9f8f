//! What the slots of `calloc`, `posix_memalign` and the C++ operators hold
//! when the route's object is not proven to keep their contract
//! ([`memproxy_common::contracts`]): memproxy's own functions, which keep it
//! whatever the allocator does.
//!
//! Every export of these is one jump through its slot, so a route whose
//! allocator is proven (jemalloc's `calloc`, tcmalloc's `operator new`, ...)
//! costs what a direct preload costs plus that jump. A route that is not
//! pays one jump more than the check itself: the export cannot know the
//! route when it is built.
//!
//! - `calloc` fails with `ENOMEM` on size overflow, then calls the route's
//!   own through [`PRIMITIVES`];
//! - `posix_memalign` rejects a bad alignment with `EINVAL`, leaving
//!   `*memptr` untouched;
//! - each `operator new` calls the route's `malloc` (or `memalign`) through
//!   its slot; when that fails, it tail-calls the C++ runtime's own operator,
//!   which runs the new-handler loop and throws (or returns NULL for nothrow;
//!   see [`crate::cxx`]);
//! - each sized `operator delete` is the route's `free` itself, which ignores
//!   the size and alignment ([`crate::slot::reinterpret`]): one jump, as the
//!   unsized ones.
//!
//! Until the route is published the operator slots hold memproxy's operators
//! below, which allocate and free through the routed functions' slots, and so
//! through the stubs: each `operator new` as above, each sized `operator
//! delete` a jump through `free`'s slot.

#![allow(non_snake_case)]

use core::ffi::{c_int, c_void};

use memproxy_common::contracts::{Contract, Kept};

use super::no_memory;
use crate::cxx::{self, RuntimeOperator};
use crate::functions::{routed_functions, signature};
use crate::loader::Object;
use crate::table::{Operators, PRIMITIVES, SLOTS, Slots, Table};

/// `table` as the exports must see it: its `calloc` and `posix_memalign`
/// replaced by memproxy's checked ones unless `straight` holds their
/// contracts. (The operators are resolved with `straight` already, by
/// [`operators`].) [`PRIMITIVES`] keeps the unchecked table, which the
/// checked functions call.
pub fn with_contract_checks(table: Table, straight: Kept) -> Table {
    let mut core = table.core;
    if !straight.contains(Contract::Calloc) {
        core.calloc = calloc;
    }
    if !straight.contains(Contract::PosixMemalign) {
        core.posix_memalign = posix_memalign;
    }
    Table { core, ..table }
}

unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    if count.checked_mul(size).is_none() {
        return no_memory();
    }
    // SAFETY: the caller's calloc arguments, whose product fits; the route's
    // own calloc.
    unsafe { PRIMITIVES.calloc.get()(count, size) }
}

unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !is_posix_alignment(align) {
        return libc::EINVAL;
    }
    // SAFETY: the caller's posix_memalign arguments, with a valid alignment;
    // the route's own posix_memalign (or memproxy's fill, which relies on
    // this check).
    unsafe { PRIMITIVES.posix_memalign.get()(out, align, size) }
}

/// What `posix_memalign` accepts: a power of two no smaller than a pointer
/// (so a multiple of one).
pub(crate) fn is_posix_alignment(align: usize) -> bool {
    align >= core::mem::size_of::<*mut c_void>() && align.is_power_of_two()
}

macro_rules! generate_operators {
    (
        core { $($core:tt)* }
        takeovers { $($taken:tt)* }
        operators { $($name:ident $(/ $ilp32:ident)? ($($arg:ident: $type:ty),*) -> $ret:ty {
            kept: $contract:ident, otherwise: via $($how:tt)*
        })* }
        $($exported_only:tt)*
    ) => {
        $(generate_operators!(@one $name [$($ilp32)?] ($($arg: $type),*) -> $ret { $($how)* });)*

        /// The operators of a route through `object`, whose `free` is
        /// `free`, and the contracts that go straight: of `proven` (see
        /// [`crate::resolve::proven`]), those whose operators the object
        /// all defines, each looked up once, and the sized deletes only with
        /// both kinds of `operator new` (the table measured the object's
        /// deletes on its own operators' blocks). The object's own operators
        /// for those, memproxy's `operator new`s and `free` for the others.
        pub fn operators(object: &Object, proven: Kept, free: signature::free) -> (Operators, Kept) {
            struct Own {
                $($name: Option<signature::$name>,)*
            }
            let own = Own {
                $($name: if proven.contains(Contract::$contract) {
                    object.function(cxx_symbol!($name $(/ $ilp32)?).as_bytes())
                } else {
                    None
                },)*
            };
            let mut straight = proven;
            $(if own.$name.is_none() {
                straight = straight.without(Contract::$contract);
            })*
            if !(straight.contains(Contract::ThrowingNew) && straight.contains(Contract::NothrowNew)) {
                straight = straight.without(Contract::SizedDelete);
            }
            let otherwise = sized_deletes_freeing_with(free);
            let operators = Operators {
                $($name: match own.$name {
                    Some(own) if straight.contains(Contract::$contract) => own,
                    _ => otherwise.$name,
                },)*
            };
            (operators, straight)
        }

        /// memproxy's operators, with `free` as every sized delete.
        fn sized_deletes_freeing_with(free: signature::free) -> Operators {
            Operators {
                $($name: generate_operators!(@otherwise $name, free, $($how)*),)*
            }
        }

        /// `operators` with `free` as every sized delete.
        pub fn with_sized_deletes_freeing_with(operators: Operators, free: signature::free) -> Operators {
            let freeing = sized_deletes_freeing_with(free);
            Operators {
                $($name: match Contract::$contract {
                    Contract::SizedDelete => freeing.$name,
                    _ => operators.$name,
                },)*
            }
        }
    };
    (@otherwise $name:ident, $free:ident, free($freed:ident)) => {
        // SAFETY: only the export's jump calls this slot, with a block and
        // the size (and alignment) after it, which free ignores (see
        // `reinterpret`).
        unsafe { crate::slot::reinterpret($free) }
    };
    (@otherwise $name:ident, $free:ident, $slot:ident ($($forward:expr),*), runtime: $fallback:ident) => {
        $name
    };
    // `operator new`: the route's allocation, then the C++ runtime's own
    // operator on failure.
    (@one $name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty {
        $slot:ident ($($forward:expr),*), runtime: $fallback:ident
    }) => {
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
    // A sized `operator delete`: `free`, through its slot.
    (@one $name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty {
        free($freed:ident)
    }) => {
        #[inline(never)]
        #[allow(unused_variables)] // the jump passes them all on
        pub unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            // SAFETY: a block the caller got from `operator new`, which
            // `free` takes; the size and alignment after it are left where
            // the caller put them, which the C calling conventions allow.
            unsafe { jump_through!(free) }
        }

        const _: () = {
            /// Never called: checks that `free` takes this operator's block.
            #[allow(dead_code, unused_variables)]
            unsafe fn forwarded($($arg: $type),*) -> $ret {
                // SAFETY: as for the operator itself.
                unsafe { SLOTS.free.get()($freed) }
            }
        };
    };
}

routed_functions!(generate_operators);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::signature;
    use crate::table::PENDING;

    unsafe extern "C" fn allocators_calloc(_count: usize, _size: usize) -> *mut c_void {
        core::ptr::null_mut()
    }

    #[test]
    fn calloc_and_posix_memalign_are_checked_unless_straight() {
        let mut table = PENDING.snapshot();
        table.core.calloc = allocators_calloc;
        let own: signature::calloc = allocators_calloc;
        let checked: signature::calloc = calloc;

        let kept = with_contract_checks(table, Kept::of(&[Contract::Calloc]));
        assert!(core::ptr::fn_addr_eq(kept.core.calloc, own));
        let memproxys: signature::posix_memalign = posix_memalign;
        assert!(core::ptr::fn_addr_eq(kept.core.posix_memalign, memproxys));

        let not_kept = with_contract_checks(table, Kept::of(&[Contract::PosixMemalign]));
        assert!(core::ptr::fn_addr_eq(not_kept.core.calloc, checked));
        assert!(core::ptr::fn_addr_eq(
            not_kept.core.posix_memalign,
            table.core.posix_memalign
        ));
    }

    #[test]
    fn posix_alignments_are_powers_of_two_of_at_least_a_pointer() {
        let pointer = core::mem::size_of::<*mut u8>();
        for good in [pointer, 2 * pointer, 64, 4096, 1 << 20] {
            assert!(is_posix_alignment(good), "{good}");
        }
        for bad in [0, 1, pointer / 2, 3, 24, pointer + 1, usize::MAX] {
            assert!(!is_posix_alignment(bad), "{bad}");
        }
    }
}
