//! Before the route is decided: the once-per-process state that elects one
//! decider ([`state`]), and the static memory the decision runs on, its
//! scratch buffers and the region that serves every allocation made
//! meanwhile ([`region`]).
//!
//! Part of the unsafe edge: both hand out static memory to one thread at a
//! time, which the type system cannot see.

pub mod region;
pub mod state;

pub use region::{Refusal, allocate, close, contains, copy_out, is_closed, size_of};
