//! The memproxy conformance matrix.
//!
//! A *cell* is (allocator, preload order, name case, allocation kind). For
//! each (allocator, order, name case) the harness materialises the probe
//! programs under the case's name in a fresh directory, writes the case's
//! exclusion list, starts them the case's way under the order's preload
//! set-up, and compares every allocation's owner, as answered by the
//! allocators themselves (see the `fixtures` crate), with the owner the
//! specification gives. memproxy's own view is never consulted, except
//! where the specification is about what `MEMPROXY_DEBUG` says.
//!
//! - [`allocators`]: the real allocators on this system, plus added ones;
//! - [`orders`] and [`names`]: the preload orders and the name cases, as data;
//! - [`expect`]: the specification, restated independently of memproxy's code;
//! - [`probe`]: the probes' records and what they say about ownership;
//! - [`run`]: starting a probe the way a case says;
//! - [`matrix`]: running cells and judging them;
//! - [`report`]: the table, JSON and Markdown; [`compare`]: platforms side by side;
//! - [`contracts`]: which contracts each allocator's own functions keep, against
//!   memproxy's table; [`through_memproxy`]: every check of the contract with
//!   memproxy in front of each allocator, on each route;
//! - [`global_preload`]: real programs under a host-wide preload.
//!
//! Building the library and the probes, laying out files and starting
//! processes are the `test-support` crate's, shared with every other test.

pub mod allocators;
pub mod compare;
pub mod configs;
pub mod contracts;
pub mod emulation;
pub mod expect;
pub mod global_preload;
pub mod matrix;
pub mod names;
pub mod orders;
pub mod probe;
pub mod report;
pub mod run;
pub mod through_memproxy;
