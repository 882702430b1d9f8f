//! What the two benchmarks of memproxy share.
//!
//! - `benches/dispatch.rs`: the cost of one allocator call through memproxy,
//!   against preloading the same allocator directly (and against plain glibc
//!   for an excluded program), as wall-time ratios and as extra instructions
//!   per call.
//! - `benches/startup.rs`: what memproxy adds to a process start, as a
//!   function of the exclusion list's size.
//!
//! Each benchmark first runs criterion (its HTML report draws the plots),
//! then makes its own measurements for the summary: criterion times one
//! configuration after the other, and on these noisy machines only
//! configurations measured in alternation (A B A B ...) compare. Instruction
//! counts come from `valgrind --tool=callgrind`, which counts exactly.
//! Everything ends up in `target/bench-summary/` (see [`summary`]).
//!
//! Nothing here is a test with a threshold: the targets are reported, met or
//! missed by how much, and never fail a run.

pub mod allocators;
pub mod artifacts;
pub mod callgrind;
pub mod dispatch_setups;
pub mod mode;
pub mod setup;
pub mod summary;
pub mod workload;
