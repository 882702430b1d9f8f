//! Making the once-per-process decision, and publishing the route.
//!
//! Before the route is published, every slot of [`SLOTS`] holds a stub. The
//! first stub (or the constructor, whichever runs first) to claim the
//! decision ([`bootstrap::state`]) becomes the decider. It reads the settings
//! and the program's names, chooses the route ([`crate::choice`]) and
//! publishes it. Any allocation made meanwhile, by the decider re-entering or
//! by another thread, is served from the [`bootstrap`] region: nobody ever
//! waits for the decider, which may itself be waiting for a loader lock that
//! another allocating thread holds.
//!
//! Publishing writes the table to [`PRIMITIVES`] and, with the contract
//! checks the allocator needs ([`checked`]) and the bootstrap checks, to
//! [`PENDING`], closes the bootstrap region, writes it to [`SLOTS`], then
//! marks the state decided. A stub refused by the closed region uses
//! `PENDING`, so no thread spins on the decider at any point. After that,
//! each export that only forwards is one jump through its slot (see
//! `jump_through!` in [`crate::abi`]); the slots never change again.

use crate::abi::{self, bootstrap_checks::with_bootstrap_checks, checked};
use crate::bootstrap::{
    self,
    state::{Claim, Decider, Scratch},
};
use crate::loader::Walk;
use crate::table::{PENDING, PRIMITIVES, SLOTS};
use crate::{choice, diag, exe, record, settings, sys};

/// How a stub must serve the call it received.
pub enum Entry {
    /// `SLOTS` holds the decided route.
    Ready,
    /// A decision is in progress in this process: use the bootstrap region,
    /// or `PENDING` once it is closed.
    Deciding,
}

/// Makes the decision if nobody has, and says how to serve a call.
pub fn enter() -> Entry {
    match bootstrap::state::claim() {
        Claim::Decided => Entry::Ready,
        Claim::Deciding => Entry::Deciding,
        Claim::Won(decider, scratch) => {
            decide(decider, scratch);
            Entry::Ready
        }
    }
}

fn decide(decider: Decider, scratch: &'static mut Scratch) {
    let saved_errno = sys::errno();
    let settings = settings::read(&mut scratch.env_value, &mut scratch.config_path);
    let identity = exe::identify(&mut scratch.exe);
    let walk = if decider.after_fork() {
        Walk::AfterFork
    } else {
        Walk::Locked
    };
    let mut decision = choice::choose(identity, &settings, &mut scratch.scan, walk);

    PRIMITIVES.publish(&decision.table);
    // The route's first call is made here, on the deciding thread alone. An
    // allocator that initialises itself lazily, and not thread-safely, on its
    // first call would otherwise see every thread that allocated during the
    // decision rush into that first call the moment the route is published.
    // mimalloc (before its constructor has run) is one; so is glibc, whose
    // `ptmalloc_init` runs on the first call of any malloc function with no
    // lock: two threads in it re-initialise `main_arena` under each other's
    // blocks ("malloc(): corrupted top size", "corrupted double-linked
    // list"). glibc's heap layout is better left as the program makes it (a
    // block freed this early makes later aligned allocations slower), so the
    // glibc route initialises it with a call that allocates nothing.
    if decision.glibc {
        abi::initialise_glibc(&decision.table);
    } else {
        abi::warm_up(&decision.table);
    }
    let routed = checked::with_contract_checks(decision.table, decision.straight);
    PENDING.publish(&with_bootstrap_checks(routed));
    decision.bootstrap_used = bootstrap::close();
    let table = if decision.bootstrap_used {
        with_bootstrap_checks(routed)
    } else {
        routed
    };
    SLOTS.publish(&table);
    // Before `finish`: a fork in between leaves the child deciding, and it
    // records its own decision.
    record::publish(&decision, settings.config_path);
    decider.finish();

    if settings.debug {
        diag::report(&decision, &mut scratch.line);
    }
    sys::set_errno(saved_errno);
}
