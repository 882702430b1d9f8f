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
//! - [`abi`]: the exported symbols and the constructor, and every C function
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
//! - [`diag`]: the `MEMPROXY_DEBUG` line; [`record`]: the decision kept in
//!   static memory, exported for `memproxy status` as `memproxy_decision`;
//! - [`sys`] and [`loader`]: raw system calls and the loader's data.
//!
//! # The unsafe edge
//!
//! `unsafe` code is denied everywhere but in five modules, which say in their
//! docs what their callers rely on:
//! - [`abi`]: every C function memproxy defines or calls through a pointer;
//! - [`sys`] and [`loader`]: the kernel, glibc, and memory ld.so owns;
//! - [`slot`]: function pointers stored as atomics;
//! - [`bootstrap`]: static memory handed to one thread at a time.

// `cargo test` and `clippy --all-targets` build a test harness, which needs
// std; the library itself never links it.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[allow(unsafe_code)]
pub mod abi;
#[allow(unsafe_code)]
mod bootstrap;
mod choice;
mod cxx;
mod decision;
mod diag;
mod exclusion;
mod exe;
mod families;
mod functions;
#[allow(unsafe_code)]
mod loader;
mod preload_list;
mod record;
mod resolve;
mod route;
mod settings;
#[allow(unsafe_code)]
mod slot;
#[allow(unsafe_code)]
mod sys;
mod table;

/// A panic is a bug; inside a host's every process the only safe response
/// is to stop at once, without unwinding or printing.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    sys::abort()
}
