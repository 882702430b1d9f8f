//! libmemproxy.so: routes every allocation of an excluded program to glibc's
//! allocator and every other program's to the custom allocator preloaded
//! after it.
//!
//! This library is loaded into every process on a host, so it has no
//! `std`, no allocation, no thread-local state, no locks and no unwinding.
//! The layout follows that discipline:
//!
//! - [`functions`]: the table of every exported function, each listed once
//!   with its C signature and how it is served; the other modules generate
//!   their part from it;
//! - [`abi`]: the exported symbols, each a thin forward, and every C function
//!   the slots may hold: [`abi::stubs`] (until the route is decided),
//!   [`abi::fills`] (built from an allocator's primitives) and
//!   [`abi::bootstrap_checks`];
//! - [`table`]: a route as a value, and the slots the exports jump through;
//!   [`slot`]: the typed atomic cell each slot is;
//! - [`route`]: making the once-per-process decision and publishing it;
//!   [`bootstrap`]: the state that elects the decider, and the static memory
//!   it runs on and serves allocations from meanwhile;
//! - [`choice`]: which loaded object serves the process, and why;
//!   [`decision`]: what was chosen and seen;
//! - [`families`] and [`resolve`]: allocator APIs, and building a route's
//!   table from the objects that serve it; [`cxx`]: the C++ runtime's
//!   `operator new` for the out-of-memory path;
//! - [`settings`] (`MEMPROXY_DEBUG`, `MEMPROXY_CONF`), [`exe`] and
//!   [`exclusion`]: what the environment asks, which program this is, and
//!   whether the config names it (the parsing itself is the `memproxy-config`
//!   crate); [`preload_list`]: whether `LD_PRELOAD` or `/etc/ld.so.preload`
//!   lists an object;
//! - [`diag`]: the `MEMPROXY_DEBUG` line;
//! - [`sys`] and [`loader`]: raw system calls and the loader's data (and the
//!   marker by which copies of memproxy recognise each other), the only
//!   modules that touch memory they do not own.

// `cargo test`/`clippy --all-targets` build a test harness, which needs std;
// the library itself never links it.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod abi;
mod bootstrap;
mod choice;
mod cxx;
mod decision;
mod diag;
mod exclusion;
mod exe;
mod families;
mod functions;
mod loader;
mod preload_list;
mod resolve;
mod route;
mod settings;
mod slot;
mod sys;
mod table;

/// Decides at load time if no allocation has done so already, so that the
/// `MEMPROXY_DEBUG` line appears even in programs that never allocate.
extern "C" fn on_load() {
    route::enter();
}

#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn() = on_load;

/// A panic is a bug; inside a host's every process the only safe response
/// is to stop at once, without unwinding or printing.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort is always safe to call.
    unsafe { libc::abort() }
}

// `core` ships precompiled for `panic = "unwind"`, so without LTO its unwind
// tables reference `rust_eh_personality`; ld.so would refuse to load the
// library with that symbol undefined. This definition is hidden (never
// exported) and answers `_URC_CONTINUE_UNWIND`, so that if a foreign exception
// ever crossed one of our frames, the frame would be transparent to it.
#[cfg(all(target_arch = "x86_64", not(test)))]
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
