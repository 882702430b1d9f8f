//! Building a route's [`Table`](crate::table::Table) from the objects that
//! serve it: the allocator's core functions under its family's names, gaps
//! filled from its own primitives, and the glibc functions allocators take
//! over.
//!
//! One allocator must serve every call in a process: a block from one heap
//! freed into another corrupts both. So a missing core function is never
//! filled from glibc. jemalloc, for example, exports no `pvalloc`; a direct
//! `LD_PRELOAD=libjemalloc.so.2` lets glibc's `pvalloc` hand jemalloc's `free`
//! a foreign block and crash. Here `pvalloc` becomes jemalloc's `memalign` of
//! whole pages instead.
//!
//! Resolving writes nothing: the decision publishes the table it picks.

use memproxy_common::contracts::{self, Contract, Kept};

use crate::abi::fills;
use crate::families::{Family, STANDARD};
use crate::functions::{routed_functions, signature};
use crate::loader::Object;
use crate::table::{Core, Takeovers};

/// Looks a core function up under its family's name.
macro_rules! find_core {
    (required, $object:ident, $name:expr) => {
        $object.function($name)
    };
    ($absent:ident, $object:ident, $name:expr) => {
        $name.and_then(|name| $object.function(name))
    };
}

/// What serves a core function, from what the allocator has (`None`: the
/// allocator is unusable).
macro_rules! serve_core {
    (required, $found:ident.$name:ident) => {
        $found.$name
    };
    (fill($fill:ident), $found:ident.$name:ident) => {
        Some($found.$name.unwrap_or(fills::$fill))
    };
    (pick($pick:ident), $found:ident.$name:ident) => {
        $pick(&$found)
    };
}

/// What serves a takeover that no object defines.
macro_rules! serve_absent_takeover {
    (same($name:ident), $core:ident) => {
        $core.$name
    };
    (fill($fill:ident), $core:ident) => {
        fills::$fill
    };
}

macro_rules! generate_resolve {
    (
        core { $($core:ident $core_signature:tt -> $core_ret:ty {
            absent: $core_absent:ident $(($core_absent_with:ident))?, $($core_how:tt)*
        })* }
        takeovers { $($taken:ident $taken_signature:tt -> $taken_ret:ty {
            absent: $taken_absent:ident($taken_absent_with:ident), $($taken_how:tt)*
        })* }
        $($exported_only:tt)*
    ) => {
        /// The core functions an object defines under a family's names.
        struct Found {
            $($core: Option<signature::$core>,)*
        }

        /// Which core functions of a route are the allocator's own and which
        /// memproxy built from its primitives; reported by `MEMPROXY_DEBUG`.
        #[derive(Clone, Copy, Default)]
        pub struct Filled {
            $($core: bool,)*
        }

        impl Filled {
            pub fn names(&self) -> impl Iterator<Item = &'static str> {
                [$((self.$core, stringify!($core)),)*]
                    .into_iter()
                    .filter_map(|(filled, name)| filled.then_some(name))
            }
        }

        /// The core functions of `family` as `object` defines them, gaps
        /// filled from that object's own primitives. `None` if it lacks a
        /// required one (`malloc`, `free`, `realloc`) or has no aligned
        /// allocation at all.
        pub fn core_functions(family: &Family, object: &Object) -> Option<(Core, Filled)> {
            let found = Found {
                $($core: find_core!($core_absent, object, family.$core),)*
            };
            let core = Core {
                $($core: serve_core!($core_absent $(($core_absent_with))?, found.$core)?,)*
            };
            let filled = Filled {
                $($core: found.$core.is_none(),)*
            };
            Some((core, filled))
        }

        /// The glibc functions allocators take over: from the route's object
        /// where it defines them, from glibc otherwise, and from `core` (or a
        /// fill) where neither does (a C library other than glibc, or one
        /// older than `mallinfo2`).
        ///
        /// On the glibc route each is glibc's own. On a custom route each is
        /// the allocator's own if it exports it, as a direct preload would have
        /// it, and glibc's otherwise; glibc's allocate through the interposed
        /// `malloc`, so the route serves them either way.
        pub fn takeovers(route: &Object, libc: Option<&Object>, core: &Core) -> Takeovers {
            Takeovers {
                $($taken: defined(stringify!($taken).as_bytes(), route, libc)
                    .unwrap_or(serve_absent_takeover!($taken_absent($taken_absent_with), core)),)*
            }
        }
    };
}

routed_functions!(generate_resolve);

/// The contracts whose functions may reach the route's object straight:
/// those [`memproxy_common::contracts::PROVEN`] says the object keeps (and
/// are worth it: [`contracts::worth_routing_to`]), less `calloc` and
/// `posix_memalign` where memproxy filled them in. None through a prefixed
/// API: the table was measured on the standard names. Of the operators'
/// contracts, [`crate::abi::checked::operators`] keeps those whose operators
/// the object defines (an allocator built without its C++ operators keeps
/// memproxy's).
pub fn proven(route: &Object, family: &Family, filled: &Filled) -> Kept {
    // `STANDARD` is a constant: compared by its label, not its address.
    if family.label != STANDARD.label {
        return Kept::NONE;
    }
    let mut proven = contracts::worth_routing_to(route.soname);
    if filled.calloc {
        proven = proven.without(Contract::Calloc);
    }
    if filled.posix_memalign {
        proven = proven.without(Contract::PosixMemalign);
    }
    proven
}

/// `name` as the route's object defines it, or else as glibc does.
fn defined<F: crate::slot::Function>(
    name: &[u8],
    route: &Object,
    libc: Option<&Object>,
) -> Option<F> {
    route
        .function(name)
        .or_else(|| libc.and_then(|libc| libc.function(name)))
}

/// The one memalign-shaped primitive the built functions use, in order of
/// directness: `memalign`, `aligned_alloc`, or `posix_memalign` through an
/// adapter. `None`: no aligned allocation at all.
fn aligned_primitive(found: &Found) -> Option<signature::memalign> {
    match (found.memalign, found.aligned_alloc, found.posix_memalign) {
        (Some(primitive), _, _) | (None, Some(primitive), _) => Some(primitive),
        (None, None, Some(_)) => Some(fills::memalign_via_posix),
        (None, None, None) => None,
    }
}
