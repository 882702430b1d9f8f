//! What memproxy's parts must agree on, defined once.
//!
//! The preload library decides inside every process; the `memproxy` command,
//! the conformance harness and the benchmarks explain, check and measure
//! those decisions. Each fact they share lives here: the library links this
//! crate, so it is `no_std`, never allocates and never panics, and builds
//! with Rust 1.85 (Debian's own toolchain).
//!
//! - [`contracts`]: which allocators' own functions keep the C and C++
//!   contract memproxy otherwise keeps for them;
//! - [`families`]: allocator APIs that export only prefixed names;
//! - [`known`]: allocators by short name, with their files and Debian
//!   packages per release (the same table `ci/setup` installs from);
//! - [`preload_list`]: `LD_PRELOAD` and `/etc/ld.so.preload` as ld.so splits them;
//! - [`settings`]: the environment variables and the rule for `MEMPROXY_CONF`;
//! - [`debug_line`]: the `MEMPROXY_DEBUG` line's fields, written by the
//!   library and read by the command and the harness;
//! - [`decision_record`]: the layout of the decision record, written by the
//!   library into its own memory and read by `memproxy status`;
//! - [`civil`]: calendar dates for reports;
//! - [`multiarch`]: Debian's library directory for the target;
//! - [`namespace`]: making sure a mount namespace's binds stay in it;
//! - [`MARKER`]: the symbol only libmemproxy.so defines, and
//!   [`CONFIG_SYMBOL`], its built-in config path.

#![no_std]

pub mod civil;
pub mod contracts;
pub mod debug_line;
pub mod decision_record;
pub mod families;
pub mod known;
pub mod multiarch;
pub mod namespace;
pub mod preload_list;
pub mod settings;

/// A data symbol only libmemproxy.so defines: finding it in an object says
/// the object is memproxy, whatever its file is called.
pub const MARKER: &str = "memproxy_version";

/// The data symbol holding a libmemproxy.so's built-in config path
/// (`$MEMPROXY_PREFIX/etc/memproxy.conf`), NUL-terminated: install.sh checks
/// through `memproxy lib-dir` that a library built elsewhere reads the
/// config it installs.
pub const CONFIG_SYMBOL: &str = "memproxy_default_config";

/// No path passed to `execve`, read from `/proc/self/exe` or named by
/// `MEMPROXY_CONF` is longer than this, its NUL included (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;
