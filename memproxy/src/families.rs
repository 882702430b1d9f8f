//! Allocator APIs: the names under which an allocator exports each core
//! function ([`crate::functions`]), as data.

use memproxy_common::families::{PREFIXED as PREFIXED_APIS, PrefixedApi};

use crate::functions::routed_functions;

/// The type of a family's name for a core function: a function the allocator
/// cannot do without has a name in every family.
macro_rules! name_type {
    (required) => { &'static [u8] };
    ($absent:ident) => { Option<&'static [u8]> };
}

/// A prefixed API's name for a core function; a function the allocator
/// cannot do without must have one (checked when the library is built).
macro_rules! prefixed_name {
    (required, $api:expr, $name:ident) => {
        match $api.symbol(stringify!($name)) {
            Some(symbol) => symbol.as_bytes(),
            None => panic!(concat!("a prefixed API lacks ", stringify!($name))),
        }
    };
    ($absent:ident, $api:expr, $name:ident) => {
        match $api.symbol(stringify!($name)) {
            Some(symbol) => Some(symbol.as_bytes()),
            None => None,
        }
    };
}

/// The standard name of a core function: its C symbol.
macro_rules! standard_name {
    (required, $name:ident) => {
        stringify!($name).as_bytes()
    };
    ($absent:ident, $name:ident) => {
        Some(stringify!($name).as_bytes())
    };
}

macro_rules! generate_families {
    (
        core { $($name:ident $signature:tt -> $ret:ty {
            absent: $absent:ident $(($absent_with:ident))?, $($how:tt)*
        })* }
        $($not_core:tt)*
    ) => {
        /// The names of one allocator API, one field per core function. `None`
        /// where the API has no such function.
        pub struct Family {
            /// Shown in diagnostics.
            pub label: &'static str,
            $(pub $name: name_type!($absent),)*
        }

        impl Family {
            /// The names of a prefixed API.
            const fn prefixed(api: &PrefixedApi) -> Family {
                Family {
                    label: api.label,
                    $($name: prefixed_name!($absent, api, $name),)*
                }
            }
        }

        /// The standard names, which every interposing allocator (and glibc)
        /// exports.
        pub const STANDARD: Family = Family {
            label: "standard",
            $($name: standard_name!($absent, $name),)*
        };
    };
}

routed_functions!(generate_families);

/// Allocators that can be built to export only a prefixed API (the table is
/// `memproxy_common::families`, shared with the command). memproxy uses them
/// when they were explicitly preloaded and nothing defines `malloc`.
pub const PREFIXED: [Family; PREFIXED_APIS.len()] = {
    let mut families = [const { Family::prefixed(&PREFIXED_APIS[0]) }; PREFIXED_APIS.len()];
    let mut index = 1;
    while index < families.len() {
        families[index] = Family::prefixed(&PREFIXED_APIS[index]);
        index += 1;
    }
    families
};
