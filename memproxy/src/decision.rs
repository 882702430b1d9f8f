//! What the decision found and chose: the route's table and everything
//! `MEMPROXY_DEBUG` reports about it.

use memproxy_common::contracts::Kept;
use memproxy_config::Identity;

use crate::exclusion::Verdict;
use crate::resolve::Filled;
use crate::table::Table;

/// Why the route is what it is.
#[derive(Clone, Copy)]
pub enum Reason<'a> {
    /// A config line names the program.
    Excluded,
    /// No config line names the program, and a custom allocator is loaded.
    NotExcluded,
    /// Only glibc defines `malloc`.
    NoCustomAllocator,
    /// Another object defines `malloc` before memproxy, so it serves the
    /// process whatever memproxy decides; memproxy routes the functions that
    /// still reach it to that same object.
    NotFirst { first: &'a [u8] },
    /// The custom allocator lacks `free`, `realloc` or any aligned
    /// allocation; glibc serves the process.
    AllocatorUnusable { path: &'a [u8] },
}

/// Where the config path came from (the rule is `memproxy_common::settings`).
pub use memproxy_common::settings::ConfigChoice as ConfigSource;

/// Everything the decision saw, and the route it chose.
pub struct Decision<'a> {
    pub identity: Identity<'a>,
    pub config_path: &'a [u8],
    pub config_source: ConfigSource,
    pub verdict: Verdict,
    pub reason: Reason<'a>,
    pub glibc: bool,
    pub allocator_path: &'a [u8],
    pub family: &'static str,
    pub filled: Filled,
    /// The contracts whose functions go straight to the allocator's own
    /// (see [`crate::abi::checked`]); memproxy keeps the others.
    pub straight: Kept,
    /// Another memproxy copy is loaded earlier and serves this process.
    pub duplicate_of: Option<&'a [u8]>,
    /// Some allocation was served from the bootstrap region, so `free`,
    /// `realloc` and `malloc_usable_size` check for its blocks from now on.
    pub bootstrap_used: bool,
    pub table: Table,
}
