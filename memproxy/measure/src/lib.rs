//! What the benchmarks (`benches/`) and `memproxy compare` measure alike,
//! so that the command a user runs and the numbers the project publishes
//! come from one implementation.
//!
//! - [`child`]: one run of a command to its end, with its wall time, CPU
//!   time and peak RSS from `wait4`, and a digest of its standard output.
//! - [`stats`]: interleaved rounds (a rotating order), medians and
//!   quartiles, ratios paired within a round.

// The one unsafe call, `wait4`, says why it holds.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod child;
pub mod stats;
