//! Real programs under a global preload.
//!
//! [`run`] starts every program of the [`catalogue`] (coreutils, shells,
//! Python, Perl, git, tar, ...) on deterministic [`Inputs`], first without
//! any preload (twice, to prove the output is deterministic), then inside a
//! private mount namespace whose `/etc/ld.so.preload` holds memproxy and one
//! allocator, with an exclusion list naming half of them. Each preloaded run
//! must give the baseline's stdout and exit status with nothing added on
//! stderr; a second run with `MEMPROXY_DEBUG=1` checks, for every process
//! that loaded memproxy (helpers a program starts included), that the route
//! is the one the exclusion list gives, per [`crate::expect::listed`].
//! [`Figures`] counts what was run.
//!
//! - [`catalogue`]: the programs, their packages, the exclusion list;
//! - [`inputs`]: the files they read;
//! - [`runner`]: running and comparing.

pub mod catalogue;
pub mod inputs;
pub mod runner;

pub use catalogue::{Program, catalogue, check_installed, exclusion_list};
pub use inputs::Inputs;
pub use runner::{Figures, GlobalPreload, run};
