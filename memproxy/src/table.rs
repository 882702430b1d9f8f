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
//!   bootstrap checks or the contract checks: what the functions memproxy
//!   builds from an allocator's primitives, and both kinds of checks, call.

use crate::abi::{checked, stubs};
use crate::functions::{routed_functions, signature};
use crate::slot::Slot;

/// Every function a route serves: the allocation API proper ([`Core`]), the
/// glibc functions allocators take over ([`Takeovers`]) and the C++
/// operators with a slot of their own ([`Operators`]).
#[derive(Clone, Copy)]
pub struct Table {
    pub core: Core,
    pub takeovers: Takeovers,
    pub operators: Operators,
}

macro_rules! generate_table {
    (
        core { $($core:ident $core_signature:tt -> $core_ret:ty { $($_c:tt)* })* }
        takeovers { $($taken:ident $taken_signature:tt -> $taken_ret:ty { $($_t:tt)* })* }
        operators { $($operator:ident $(/ $_ilp32:ident)? ($($_operator_parameters:tt)*) -> $operator_ret:ty { $($_o:tt)* })* }
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

        /// The C++ operators that reach the allocator's own where it is
        /// proven to keep their contract, and memproxy's otherwise (see
        /// [`crate::abi::checked`]).
        #[derive(Clone, Copy)]
        #[allow(non_snake_case)] // named after their symbols
        pub struct Operators {
            $(pub $operator: signature::$operator,)*
        }

        /// One slot per routed function and per operator.
        #[allow(non_snake_case)]
        pub struct Slots {
            $(pub $core: Slot<signature::$core>,)*
            $(pub $taken: Slot<signature::$taken>,)*
            $(pub $operator: Slot<signature::$operator>,)*
        }

        impl Slots {
            /// Before the decision, the routed functions' stubs, and
            /// memproxy's own operators, which allocate and free through
            /// those stubs.
            const fn stubs() -> Slots {
                Slots {
                    $($core: Slot::new(stubs::$core as signature::$core),)*
                    $($taken: Slot::new(stubs::$taken as signature::$taken),)*
                    $($operator: Slot::new(checked::$operator as signature::$operator),)*
                }
            }

            /// What the slots hold, as a table.
            #[cfg(test)]
            pub fn snapshot(&self) -> Table {
                Table {
                    core: Core { $($core: self.$core.get(),)* },
                    takeovers: Takeovers { $($taken: self.$taken.get(),)* },
                    operators: Operators { $($operator: self.$operator.get(),)* },
                }
            }

            pub fn publish(&self, table: &Table) {
                $(self.$core.set(table.core.$core);)*
                $(self.$taken.set(table.takeovers.$taken);)*
                $(self.$operator.set(table.operators.$operator);)*
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
