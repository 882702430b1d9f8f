//! The parts of the C and C++ allocation contract that memproxy keeps on
//! every route, and which allocators' own functions are proven to keep them.
//!
//! memproxy's `calloc`, `posix_memalign` and `operator new` normally check
//! their arguments or handle failure themselves, because some allocators do
//! not (tcmalloc's `calloc` leaves `errno` unset on overflow; mimalloc's
//! `operator new` aborts instead of throwing). Where [`PROVEN`] says the
//! route's object keeps a [`Contract`], the library routes those calls
//! straight to the object's own functions instead, one jump each; the sized
//! `operator delete`s likewise reach the object's own where they are faster
//! than its `free` (tcmalloc's sized fast path; [`worth_routing_to`]).
//!
//! [`PROVEN`] is not trusted on its word: the harness runs each
//! [`Contract::checks`] of `fixtures/c/semantics.cpp` under every installed
//! allocator preloaded alone, and fails unless what it measures is exactly
//! what the table says (`harness contracts`, `harness/tests/contracts.rs`,
//! and `ci/cross/validate.sh` on each architecture). An object the table
//! does not name keeps memproxy's checks.

/// A part of the contract an allocator's own functions may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// `calloc` fails with `ENOMEM` when `count * size` overflows.
    Calloc,
    /// `posix_memalign` answers `EINVAL` to an alignment that is not a power
    /// of two multiple of `sizeof(void *)`, leaving `*memptr` untouched.
    PosixMemalign,
    /// The throwing `operator new`s run the new-handler until it is null,
    /// then throw `std::bad_alloc`.
    ThrowingNew,
    /// The nothrow `operator new`s run the new-handler until it is null,
    /// then return NULL.
    NothrowNew,
    /// The sized `operator delete`s free the block they are given.
    SizedDelete,
}

impl Contract {
    pub const ALL: [Contract; 5] = [
        Contract::Calloc,
        Contract::PosixMemalign,
        Contract::ThrowingNew,
        Contract::NothrowNew,
        Contract::SizedDelete,
    ];

    /// Its name in reports and in the `MEMPROXY_DEBUG` line.
    pub const fn name(self) -> &'static str {
        match self {
            Contract::Calloc => "calloc",
            Contract::PosixMemalign => "posix_memalign",
            Contract::ThrowingNew => "new",
            Contract::NothrowNew => "nothrow_new",
            Contract::SizedDelete => "sized_delete",
        }
    }

    /// The functions routed straight to the allocator when it keeps this
    /// contract, as `(LP64, ILP32)` symbols (`size_t` mangles as `m` on
    /// 64-bit Linux, `j` on 32-bit). The object must define every one.
    pub const fn functions(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Contract::Calloc => &[("calloc", "calloc")],
            Contract::PosixMemalign => &[("posix_memalign", "posix_memalign")],
            Contract::ThrowingNew => &[
                ("_Znwm", "_Znwj"),
                ("_Znam", "_Znaj"),
                ("_ZnwmSt11align_val_t", "_ZnwjSt11align_val_t"),
                ("_ZnamSt11align_val_t", "_ZnajSt11align_val_t"),
            ],
            Contract::NothrowNew => &[
                ("_ZnwmRKSt9nothrow_t", "_ZnwjRKSt9nothrow_t"),
                ("_ZnamRKSt9nothrow_t", "_ZnajRKSt9nothrow_t"),
                (
                    "_ZnwmSt11align_val_tRKSt9nothrow_t",
                    "_ZnwjSt11align_val_tRKSt9nothrow_t",
                ),
                (
                    "_ZnamSt11align_val_tRKSt9nothrow_t",
                    "_ZnajSt11align_val_tRKSt9nothrow_t",
                ),
            ],
            Contract::SizedDelete => &[
                ("_ZdlPvm", "_ZdlPvj"),
                ("_ZdaPvm", "_ZdaPvj"),
                ("_ZdlPvmSt11align_val_t", "_ZdlPvjSt11align_val_t"),
                ("_ZdaPvmSt11align_val_t", "_ZdaPvjSt11align_val_t"),
            ],
        }
    }

    /// The checks of `fixtures/c/semantics.cpp` that prove it, one per
    /// function above where the contract is per function.
    pub const fn checks(self) -> &'static [&'static str] {
        match self {
            Contract::Calloc => &["calloc_overflow_fails_with_enomem"],
            Contract::PosixMemalign => &["posix_memalign_bad_alignment_is_einval_and_untouched"],
            Contract::ThrowingNew => &[
                "new_runs_the_handler_then_throws",
                "new_array_runs_the_handler_then_throws",
                "aligned_new_runs_the_handler_then_throws",
                "aligned_new_array_runs_the_handler_then_throws",
            ],
            Contract::NothrowNew => &[
                "nothrow_new_runs_the_handler_then_returns_null",
                "nothrow_new_array_runs_the_handler_then_returns_null",
                "nothrow_aligned_new_runs_the_handler_then_returns_null",
                "nothrow_aligned_new_array_runs_the_handler_then_returns_null",
            ],
            Contract::SizedDelete => &[
                "sized_delete_frees",
                "sized_delete_array_frees",
                "sized_aligned_delete_frees",
                "sized_aligned_delete_array_frees",
            ],
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Contract`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kept(u8);

impl Kept {
    pub const NONE: Kept = Kept(0);

    pub const fn of(contracts: &[Contract]) -> Kept {
        let mut bits = 0;
        let mut index = 0;
        while index < contracts.len() {
            bits |= contracts[index].bit();
            index += 1;
        }
        Kept(bits)
    }

    /// The set as bits, one per contract in [`Contract::ALL`]'s order: what
    /// the decision record keeps ([`crate::decision_record::STRAIGHT_SHIFT`]).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set of `bits`; bits of no contract are ignored.
    pub const fn from_bits(bits: u8) -> Kept {
        Kept(bits & ((1 << Contract::ALL.len()) - 1))
    }

    /// This set and `contract`.
    pub const fn with(self, contract: Contract) -> Kept {
        Kept(self.0 | contract.bit())
    }

    /// This set less `contract`.
    pub const fn without(self, contract: Contract) -> Kept {
        Kept(self.0 & !contract.bit())
    }

    pub const fn contains(self, contract: Contract) -> bool {
        self.0 & contract.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Contract> {
        Contract::ALL
            .into_iter()
            .filter(move |contract| self.contains(*contract))
    }
}

/// An object, by soname, and the contracts its own functions keep.
pub struct Proven {
    pub soname: &'static str,
    pub kept: Kept,
    /// Whether its sized `operator delete`s cost less than its `free`, so
    /// that sending them there is worth a slot. Every allocator's sized
    /// deletes free correctly ([`Contract::SizedDelete`]), but only
    /// tcmalloc's skip work: per new/delete pair, callgrind counts
    /// tcmalloc's 5 instructions fewer than `free`, jemalloc's 32 more and
    /// mimalloc's 1 more (the dispatch bench's `new_delete`, docs/benchmarks.md).
    pub sized_delete_is_faster: bool,
}

use Contract::{Calloc, NothrowNew, PosixMemalign, SizedDelete, ThrowingNew};

/// What each object's own functions keep, as the harness measured it on
/// Debian 12 and 13 (x86_64, i686 and aarch64) with every check of
/// [`Contract::checks`]: glibc and jemalloc 5.3.0 keep every contract they
/// have functions for; tcmalloc (gperftools 2.10 and 2.16, minimal and full)
/// every one but `calloc`; mimalloc (2.0.9 and 3.0.1) sets no `errno` on
/// `calloc` overflow and aborts or returns NULL from `operator new` without
/// running the new-handler.
pub const PROVEN: [Proven; 6] = [
    Proven {
        soname: "libc.so.6",
        kept: Kept::of(&[Calloc, PosixMemalign]),
        sized_delete_is_faster: false,
    },
    Proven {
        soname: "libjemalloc.so.2",
        kept: Kept::of(&[Calloc, PosixMemalign, ThrowingNew, NothrowNew, SizedDelete]),
        sized_delete_is_faster: false,
    },
    Proven {
        soname: "libtcmalloc_minimal.so.4",
        kept: Kept::of(&[PosixMemalign, ThrowingNew, NothrowNew, SizedDelete]),
        sized_delete_is_faster: true,
    },
    Proven {
        soname: "libtcmalloc.so.4",
        kept: Kept::of(&[PosixMemalign, ThrowingNew, NothrowNew, SizedDelete]),
        sized_delete_is_faster: true,
    },
    Proven {
        soname: "libmimalloc.so.2",
        kept: Kept::of(&[PosixMemalign, SizedDelete]),
        sized_delete_is_faster: false,
    },
    Proven {
        soname: "libmimalloc.so.3",
        kept: Kept::of(&[PosixMemalign, SizedDelete]),
        sized_delete_is_faster: false,
    },
];

fn proven(soname: &[u8]) -> Option<&'static Proven> {
    PROVEN
        .iter()
        .find(|proven| proven.soname.as_bytes() == soname)
}

/// What the object named `soname` is proven to keep; nothing for an object
/// the table does not name.
pub fn kept_by(soname: &[u8]) -> Kept {
    proven(soname).map_or(Kept::NONE, |proven| proven.kept)
}

/// The contracts whose functions memproxy sends to the object named
/// `soname` rather than keep them itself: what it keeps, less the sized
/// deletes unless they are faster than its `free`. The object must also
/// define every function concerned, which only the library can see.
pub fn worth_routing_to(soname: &[u8]) -> Kept {
    match proven(soname) {
        Some(proven) if proven.sized_delete_is_faster => proven.kept,
        Some(proven) => proven.kept.without(Contract::SizedDelete),
        None => Kept::NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_contract_is_its_own_bit() {
        let all = Kept::of(&Contract::ALL);
        assert_eq!(all.iter().count(), Contract::ALL.len());
        for contract in Contract::ALL {
            let one = Kept::of(&[contract]);
            assert!(one.contains(contract));
            assert_eq!(one.iter().count(), 1);
        }
    }

    #[test]
    fn a_set_survives_its_bits() {
        let set = Kept::of(&[Contract::Calloc, Contract::SizedDelete]);
        assert_eq!(Kept::from_bits(set.bits()), set);
        assert_eq!(Kept::from_bits(0xff), Kept::of(&Contract::ALL));
    }

    #[test]
    fn an_unnamed_object_keeps_nothing() {
        assert_eq!(kept_by(b"libfoo.so.1"), Kept::NONE);
        assert_eq!(kept_by(b"libc.so"), Kept::NONE);
        assert!(kept_by(b"libjemalloc.so.2").contains(Contract::ThrowingNew));
        assert!(!kept_by(b"libtcmalloc_minimal.so.4").contains(Contract::Calloc));
        assert_eq!(worth_routing_to(b"libfoo.so.1"), Kept::NONE);
    }

    #[test]
    fn only_faster_sized_deletes_are_worth_routing_to() {
        for proven in &PROVEN {
            let soname = proven.soname.as_bytes();
            let routed = worth_routing_to(soname);
            assert_eq!(
                routed.contains(Contract::SizedDelete),
                proven.sized_delete_is_faster && proven.kept.contains(Contract::SizedDelete),
                "{}",
                proven.soname
            );
            assert_eq!(
                routed.with(Contract::SizedDelete),
                kept_by(soname).with(Contract::SizedDelete)
            );
        }
        assert!(worth_routing_to(b"libtcmalloc.so.4").contains(Contract::SizedDelete));
        assert!(!worth_routing_to(b"libjemalloc.so.2").contains(Contract::SizedDelete));
    }

    #[test]
    fn each_contract_checks_every_operator_it_routes() {
        for contract in [
            Contract::ThrowingNew,
            Contract::NothrowNew,
            Contract::SizedDelete,
        ] {
            assert_eq!(contract.functions().len(), contract.checks().len());
        }
    }
}
