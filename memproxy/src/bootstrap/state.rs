//! The once-per-process decision state.
//!
//! ```text
//! UNDECIDED ──first call or constructor──▶ DECIDING(pid) ──finish──▶ DECIDED
//!                                              ▲   │
//!                 a forked child finds the     └───┘
//!                 decider gone and takes over
//! ```
//!
//! The first thread to move the state from `UNDECIDED` becomes the decider
//! and gets the [`Scratch`] buffers; everyone else carries on without waiting
//! (see [`crate::route`]). The state holds no lock: a fork at any moment
//! leaves the child either `DECIDED`, or `DECIDING` under the parent's pid,
//! which the child detects and takes over.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use memproxy_common::PATH_MAX;

use crate::sys;

const UNDECIDED: u64 = 0;
const DECIDED: u64 = 1;

const fn deciding(pid: i32) -> u64 {
    ((pid as u32 as u64) << 2) | 2
}

static STATE: AtomicU64 = AtomicU64::new(UNDECIDED);

/// Memory only the decider uses, kept static because the first `malloc` may
/// run on a small stack.
pub struct Scratch {
    pub exe: [u8; PATH_MAX],
    pub config_path: [u8; PATH_MAX],
    pub env_value: [u8; PATH_MAX],
    pub scan: [u8; 16384],
    pub line: [u8; 8192],
}

struct DeciderOnly(UnsafeCell<Scratch>);

// SAFETY: only the thread that moved STATE to DECIDING(pid) touches it; see
// `claim`.
unsafe impl Sync for DeciderOnly {}

static SCRATCH: DeciderOnly = DeciderOnly(UnsafeCell::new(Scratch {
    exe: [0; PATH_MAX],
    config_path: [0; PATH_MAX],
    env_value: [0; PATH_MAX],
    scan: [0; 16384],
    line: [0; 8192],
}));

/// What [`claim`] found.
pub enum Claim {
    /// The route is decided and published.
    Decided,
    /// Another thread of this process (or this one, re-entering) is deciding.
    Deciding,
    /// The caller is the decider.
    Won(Decider, &'static mut Scratch),
}

/// The decider's right to [`Decider::finish`]; there is one per decision.
pub struct Decider {
    after_fork: bool,
}

impl Decider {
    /// Whether this process took the decision over from the parent it was
    /// forked from, mid-decision.
    pub fn after_fork(&self) -> bool {
        self.after_fork
    }

    /// Marks the route decided: it must be published by now.
    pub fn finish(self) {
        STATE.store(DECIDED, Ordering::Release);
    }
}

/// Becomes the decider if nobody is, and says what the state is.
pub fn claim() -> Claim {
    loop {
        let state = STATE.load(Ordering::Acquire);
        if state == DECIDED {
            return Claim::Decided;
        }
        let ours = deciding(sys::process_id());
        if state == ours {
            return Claim::Deciding;
        }
        // UNDECIDED, or DECIDING in a parent whose decider did not survive the
        // fork that made this process.
        if STATE
            .compare_exchange(state, ours, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: this thread won the exchange to DECIDING(pid), and no
            // other thread of this process can until the state changes, which
            // only `finish` does, to DECIDED, from which nobody claims again.
            // A parent's decider that the fork left behind has no thread here.
            let scratch = unsafe { &mut *SCRATCH.0.get() };
            let decider = Decider {
                after_fork: state != UNDECIDED,
            };
            return Claim::Won(decider, scratch);
        }
    }
}
