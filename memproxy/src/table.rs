//! A route as a value ([`Table`]), and the slots every export jumps through
//! ([`Slots`]), both generated from [`crate::functions`].
//!
//! Three sets of slots exist, written only by the decision (and by a forked
//! child that redoes it):
//! - [`SLOTS`], what the exports call: the stubs until the route is
//!   published, the route's functions after;
//! - [`PENDING`], what the stubs call once the bootstrap region has closed
//!   but the route is not yet in `SLOTS` (see [`crate::route`]);
//! - [`PRIMITIVES`], the route's functions as resolved, without the
//!   bootstrap checks: what the functions memproxy builds from an allocator's
//!   primitives, and the bootstrap checks themselves, call.

use crate::abi::stubs;
use crate::functions::{routed_functions, signature};
use crate::slot::Slot;

/// Every function a route serves: the allocation API proper ([`Core`]) and
/// the glibc functions allocators take over ([`Takeovers`]).
#[derive(Clone, Copy)]
pub struct Table {
    pub core: Core,
    pub takeovers: Takeovers,
}

macro_rules! generate_table {
    (
        core { $($core:ident $core_signature:tt -> $core_ret:ty { $($_c:tt)* })* }
        takeovers { $($taken:ident $taken_signature:tt -> $taken_ret:ty { $($_t:tt)* })* }
        $($exported_only:tt)*
    ) => {
        /// The allocation API proper: each the allocator's own or built from its
        /// primitives.
        #[derive(Clone, Copy)]
        pub struct Core {
            $(pub $core: signature::$core,)*
        }

        /// The glibc functions allocators take over, each the route's object's
        /// own or glibc's (see [`crate::resolve::takeovers`]).
        #[derive(Clone, Copy)]
        pub struct Takeovers {
            $(pub $taken: signature::$taken,)*
        }

        /// One slot per routed function.
        pub struct Slots {
            $(pub $core: Slot<signature::$core>,)*
            $(pub $taken: Slot<signature::$taken>,)*
        }

        impl Slots {
            const fn stubs() -> Slots {
                Slots {
                    $($core: Slot::new(stubs::$core as signature::$core),)*
                    $($taken: Slot::new(stubs::$taken as signature::$taken),)*
                }
            }

            pub fn publish(&self, table: &Table) {
                $(self.$core.set(table.core.$core);)*
                $(self.$taken.set(table.takeovers.$taken);)*
            }
        }
    };
}

routed_functions!(generate_table);

/// What every exported function calls.
pub static SLOTS: Slots = Slots::stubs();
/// The decided table, with bootstrap-aware `free`/`realloc`, from the moment
/// the bootstrap region closes; see [`crate::route`].
pub static PENDING: Slots = Slots::stubs();
/// The decided table without bootstrap checks.
pub static PRIMITIVES: Slots = Slots::stubs();
