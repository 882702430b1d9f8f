//! The binary interface: every function memproxy exports, the constructor
//! ld.so runs, and every other C function memproxy defines (the stubs, the
//! functions built from an allocator's primitives, the checked functions,
//! the bootstrap checks). All of them take raw pointers under a C contract,
//! which is why this is part of the unsafe edge.
//!
//! The exports are generated from the table in [`crate::functions`]. Every
//! one but `reallocarray` is one jump through its slot: `jmp *slot(%rip)` on
//! x86_64 (see [`jump_through!`] for i686 and aarch64). What C, POSIX and C++
//! require of every route is in the slots: where the allocator is not proven
//! to keep it, the slots of `calloc`, `posix_memalign` and the operator
//! `new`s hold memproxy's checked functions ([`checked`]):
//! - `calloc` fails with `ENOMEM` on size overflow (some allocators return
//!   NULL without setting `errno`);
//! - `posix_memalign` rejects a bad alignment with `EINVAL`, leaving
//!   `*memptr` untouched;
//! - `operator new` honours the new-handler and throws `std::bad_alloc` (see
//!   [`crate::cxx`]); the nothrow forms return NULL.
//!
//! `reallocarray` checks for overflow itself ([`guards`]): no allocator's is
//! used.
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

use crate::functions::{Mallinfo, Mallinfo2, routed_functions};
use crate::sys;
use crate::table::{SLOTS, Slots, Table};

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
        operators { $($operator:tt)* }
        aliases { $($alias:tt)* }
    ) => {
        generate_exports!(@routed $($core)* $($taken)*);
        generate_exports!(@operators $($operator)*);
        generate_exports!(@via $($alias)*);
    };
    (@routed $($name:ident ($($arg:ident: $type:ty),*) -> $ret:ty { $($how:tt)* })*) => {$(
        plain_hook!($name [] ($($arg: $type),*) -> $ret, via $name($($arg),*));
    )*};
    (@operators $($name:ident $(/ $ilp32:ident)? ($($arg:ident: $type:ty),*) -> $ret:ty { $($how:tt)* })*) => {$(
        plain_hook!($name [$($ilp32)?] ($($arg: $type),*) -> $ret, via $name($($arg),*));
    )*};
    (@via $($name:ident $(/ $ilp32:ident)? ($($parameters:tt)*) -> $ret:ty { $($how:tt)* })*) => {$(
        generate_exports!(@via_one $name [$($ilp32)?] ($($parameters)*) -> $ret { $($how)* });
    )*};
    (@via_one $name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty {
        guard: $checked:ident = $guard:ident ($($guard_arg:expr),*),
        via: $slot:ident ($($forward:expr),*)
    }) => {
        #[cfg_attr(not(test), unsafe(export_name = cxx_symbol!($name $(/ $ilp32)?)))]
        pub unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            let $checked = match guards::$guard($($guard_arg),*) {
                Ok(checked) => checked,
                Err(refusal) => return refusal,
            };
            // SAFETY: the caller upholds this function's C contract, and the
            // guard what the contract leaves to every route; the slot's
            // function has the same contract for the arguments forwarded.
            unsafe { SLOTS.$slot.get()($($forward),*) }
        }
    };
    (@via_one $name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty {
        via: $slot:ident ($($forward:ident),*)
    }) => {
        plain_hook!($name [$($ilp32)?] ($($arg: $type),*) -> $ret, via $slot($($forward),*));
    };
}

/// An export that only forwards through a slot: its whole body is
/// [`jump_through!`], so the slot's function runs with the caller's
/// arguments, stack and return address, as if called directly. The
/// forwarded arguments must be the export's first ones, in order (checked at
/// build time): extra ones, such as `operator delete`'s size, are left where
/// the caller put them, which the C calling conventions allow.
macro_rules! plain_hook {
    ($name:ident [$($ilp32:ident)?] ($($arg:ident: $type:ty),*) -> $ret:ty,
     via $slot:ident ($($forward:ident),*)) => {
        #[cfg_attr(not(test), unsafe(export_name = cxx_symbol!($name $(/ $ilp32)?)))]
        #[inline(never)]
        #[allow(unused_variables)] // the jump passes them all on
        pub unsafe extern "C" fn $name($($arg: $type),*) -> $ret {
            const {
                assert!(
                    forwards_leading_arguments(
                        &[$(stringify!($arg)),*],
                        &[$(stringify!($forward)),*],
                    ),
                    concat!(stringify!($name), " must forward its first arguments, in order"),
                );
            }
            // SAFETY: the caller upholds this function's C contract, which is
            // the slot's function's for the arguments forwarded (the types
            // are checked below); the jump leaves them, the stack and the
            // return address as the caller made them.
            unsafe { jump_through!($slot) }
        }

        const _: () = {
            /// Never called: makes the compiler check that the slot takes the
            /// forwarded arguments and returns what the export returns.
            #[allow(dead_code, clippy::too_many_arguments)]
            unsafe fn forwarded($($arg: $type),*) -> $ret {
                // SAFETY: as for the export itself.
                unsafe { SLOTS.$slot.get()($($forward),*) }
            }
        };
    };
}

/// A local symbol at each slot of `SLOTS`, `memproxy_slot_<name>`: what the
/// machine-code check of the exports (test-support's `hook_shape`) compares
/// the address each export loads from with. Only in `.symtab`: neither
/// exported nor mapped.
macro_rules! generate_slot_labels {
    (
        core { $($core:ident $core_signature:tt -> $core_ret:ty { $($_c:tt)* })* }
        takeovers { $($taken:ident $taken_signature:tt -> $taken_ret:ty { $($_t:tt)* })* }
        operators { $($operator:ident $(/ $_ilp32:ident)? ($($_operator_parameters:tt)*) -> $operator_ret:ty { $($_o:tt)* })* }
        $($exported_only:tt)*
    ) => {
        #[cfg(not(test))]
        core::arch::global_asm!(
            $(concat!(".set memproxy_slot_", stringify!($core), ", {slots} + {", stringify!($core), "}"),)*
            $(concat!(".set memproxy_slot_", stringify!($taken), ", {slots} + {", stringify!($taken), "}"),)*
            $(concat!(".set memproxy_slot_", stringify!($operator), ", {slots} + {", stringify!($operator), "}"),)*
            slots = sym SLOTS,
            $($core = const core::mem::offset_of!(Slots, $core),)*
            $($taken = const core::mem::offset_of!(Slots, $taken),)*
            $($operator = const core::mem::offset_of!(Slots, $operator),)*
        );
    };
}

routed_functions!(generate_slot_labels);

/// Whether `forwarded` names the first of `parameters`, in order.
const fn forwards_leading_arguments(parameters: &[&str], forwarded: &[&str]) -> bool {
    if forwarded.len() > parameters.len() {
        return false;
    }
    let mut index = 0;
    while index < forwarded.len() {
        if !memproxy_common::families::same(parameters[index], forwarded[index]) {
            return false;
        }
        index += 1;
    }
    true
}

/// Jumps to the function in `SLOTS.$slot`, as the whole body of a
/// [`plain_hook!`]: one indirect jump through the slot on x86_64 (x86 loads
/// are acquire loads already); on i686 the program counter from a thunk (a
/// `call` to the next instruction would unbalance the return stack buffer,
/// which is why glibc uses thunks too), then one indirect jump; on aarch64
/// an acquire load (the `Release` store of a slot publishes the table state
/// its function reads) into x16, the intra-procedure-call scratch register
/// (x0-x7 hold arguments, x8 a returned struct's address), and a branch.
///
/// A stable Rust function with an inline-assembly body, not `global_asm!`:
/// rustc's version script hides every symbol it did not define itself
/// (rust-lang/rust#128071), and GNU ld refuses a second one. It relies on the
/// function having no prologue, which rustc emits only with `opt-level = 0`
/// or forced frame pointers; `build.rs` refuses both, and
/// `tests/library.rs` checks every hook's machine code. `nostack` tells rustc
/// the jump pushes nothing: without it, x86_64 aligned the stack for the
/// assembly with a `push rax` first.
#[cfg(target_arch = "x86_64")]
macro_rules! jump_through {
    ($slot:ident) => {
        core::arch::asm!(
            "jmp qword ptr [rip + {slots} + {offset}]",
            slots = sym SLOTS,
            offset = const core::mem::offset_of!(Slots, $slot),
            options(noreturn, nostack),
        )
    };
}

#[cfg(target_arch = "x86")]
macro_rules! jump_through {
    ($slot:ident) => {
        // AT&T syntax: LLVM's Intel syntax takes one symbol per memory operand.
        core::arch::asm!(
            "call memproxy_pc_thunk_eax",
            "2:",
            "jmp *({slots} + {offset} - 2b)(%eax)",
            slots = sym SLOTS,
            offset = const core::mem::offset_of!(Slots, $slot),
            options(noreturn, nostack, att_syntax),
        )
    };
}

#[cfg(target_arch = "aarch64")]
macro_rules! jump_through {
    ($slot:ident) => {
        core::arch::asm!(
            "adrp x16, {slots} + {offset}",
            "add x16, x16, :lo12:{slots} + {offset}",
            "ldar x16, [x16]",
            "br x16",
            slots = sym SLOTS,
            offset = const core::mem::offset_of!(Slots, $slot),
            options(noreturn, nostack),
        )
    };
}

// The i686 hooks' program counter: the return address, in eax (free at the
// entry of a cdecl function). Hidden: a local symbol, called directly.
#[cfg(target_arch = "x86")]
core::arch::global_asm!(
    ".pushsection .text.memproxy_pc_thunk_eax,\"ax\",@progbits",
    ".globl memproxy_pc_thunk_eax",
    ".hidden memproxy_pc_thunk_eax",
    ".type memproxy_pc_thunk_eax, @function",
    "memproxy_pc_thunk_eax:",
    "    mov eax, dword ptr [esp]",
    "    ret",
    ".size memproxy_pc_thunk_eax, . - memproxy_pc_thunk_eax",
    ".popsection",
);

routed_functions!(generate_exports);

pub mod checked;

/// Checks an alias makes before it forwards: what C requires of every route.
/// `Err` holds what the export returns instead.
mod guards {
    use core::ffi::c_void;

    /// `count * size`, which must not overflow.
    #[inline(always)]
    pub fn product(count: usize, size: usize) -> Result<usize, *mut c_void> {
        count.checked_mul(size).ok_or_else(super::no_memory)
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

#[cfg(test)]
mod tests {
    use super::forwards_leading_arguments;

    #[test]
    fn a_plain_hook_forwards_its_first_arguments_in_order() {
        let delete = ["block", "_size", "_align"];
        assert!(forwards_leading_arguments(&delete, &["block"]));
        assert!(forwards_leading_arguments(&delete, &["block", "_size"]));
        assert!(forwards_leading_arguments(&["size"], &["size"]));
        assert!(!forwards_leading_arguments(&delete, &["_size"]));
        assert!(!forwards_leading_arguments(
            &["align", "size"],
            &["size", "align"]
        ));
        assert!(!forwards_leading_arguments(&["block"], &["block", "size"]));
    }
}
