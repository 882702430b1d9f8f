//! Where the route's object is proven to keep a contract
//! (`memproxy_common::contracts::PROVEN`, which `harness contracts` checks
//! against the allocators themselves), the slots of that contract's
//! functions hold the object's own; everywhere else they hold memproxy's
//! checked functions, except the sized deletes, which then hold the object's
//! `free` (memproxy's bootstrap-aware one when the bootstrap region was
//! used). Read from the slots themselves: the `slots` fixture
//! runs under each allocator and looks up, in the live process, which
//! object each slot's function belongs to. hook-shape proves that each
//! export is one jump through its slot; together they prove what each
//! export reaches.
//!
//! The expectation is restated here from the table and the allocator's
//! file, not taken from memproxy: straight exactly where PROVEN names the
//! object's soname (sized deletes only where they are faster than `free`)
//! and the object defines every function of the contract.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::allocators::{self, SharedObject};
use harness::run::LIBC;
use memproxy_common::contracts::{self, Contract, Kept};
use rstest::rstest;
use test_support::hook_shape::slot_symbols;
use test_support::{Artifacts, Dir, Process};

/// Where each `memproxy_slot_<name>` is in the library, by slot name.
fn slot_offsets(library: &Path) -> BTreeMap<String, u64> {
    let bytes = std::fs::read(library).expect("libmemproxy.so is readable");
    let file = object::File::parse(&*bytes).expect("an ELF object");
    slot_symbols(&file).into_iter().collect()
}

fn shared_object(path: &Path) -> SharedObject {
    SharedObject::read(path).unwrap_or_else(|error| panic!("{error}"))
}

fn soname(object: &SharedObject) -> &str {
    object.soname.as_deref().expect("a DT_SONAME")
}

/// What should go straight to `object`, through the standard names:
/// restated from the table, with the sized deletes only where both kinds of
/// `operator new` go straight too.
fn expected_straight(object: &Path) -> Kept {
    let object = shared_object(object);
    let proven = contracts::worth_routing_to(soname(&object).as_bytes());
    let straight = Contract::ALL
        .into_iter()
        .filter(|&contract| proven.contains(contract))
        .filter(|&contract| harness::contracts::missing(&object, contract).is_empty())
        .fold(Kept::NONE, Kept::with);
    if straight.contains(Contract::ThrowingNew) && straight.contains(Contract::NothrowNew) {
        straight
    } else {
        straight.without(Contract::SizedDelete)
    }
}

/// Each contract's slots, as the fixture prints them: `(contract, slot,
/// object, own)`, where `own` says whether the slot holds the `allocator`'s
/// function named by `symbol(contract, slot)`.
fn slots_under<'s>(
    preload: &[PathBuf],
    allocator: &Path,
    config: &str,
    symbol: impl Fn(Contract, &'s str) -> &'s str,
) -> (Vec<(Contract, String, PathBuf, bool)>, String) {
    let artifacts = Artifacts::shared();
    let offsets = slot_offsets(&artifacts.memproxy);
    let mut arguments = vec![allocator.display().to_string()];
    let mut contract_of = BTreeMap::new();
    for contract in Contract::ALL {
        for (slot, _) in contract.functions() {
            let offset = offsets
                .get(*slot)
                .unwrap_or_else(|| panic!("libmemproxy.so has no slot symbol for {slot}"));
            arguments.push(format!("{slot}={offset:x}:{}", symbol(contract, slot)));
            contract_of.insert((*slot).to_owned(), contract);
        }
    }
    let dir = Dir::new("straight-");
    let ran = Process::new(artifacts.fixture("slots"))
        .args(&arguments)
        .preload(preload)
        .config(dir.config(config))
        .debug(true)
        .run();
    let transcript = ran.describe();
    assert!(ran.succeeded(), "{transcript}");
    let slots = ran
        .stdout
        .lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let slot = fields.next().expect("a slot name").to_owned();
            let object = fields
                .next()
                .and_then(|field| field.strip_prefix("object="))
                .unwrap_or_else(|| panic!("no object= in {line:?}"));
            let own = fields.next() == Some("own=yes");
            let contract = contract_of[&slot];
            (contract, slot, PathBuf::from(object), own)
        })
        .collect::<Vec<_>>();
    assert_eq!(slots.len(), contract_of.len(), "{transcript}");
    (slots, transcript)
}

/// Every slot holds a function of libmemproxy.so.
fn assert_every_slot_is_memproxys(slots: &[(Contract, String, PathBuf, bool)], transcript: &str) {
    let memproxy = &Artifacts::shared().memproxy;
    for (_, slot, object, _) in slots {
        assert!(
            same_file(object, memproxy),
            "{slot}: {}\n{transcript}",
            object.display()
        );
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().ok() == b.canonicalize().ok()
}

#[rstest]
fn slots_hold_the_allocators_own_functions_exactly_where_proven(
    #[values("glibc", "jemalloc", "mimalloc", "tcmalloc")] name: &str,
    #[values(false, true)] excluded: bool,
) {
    let artifacts = Artifacts::shared();
    let Some(allocator) = allocators::selected().built_in(name) else {
        return;
    };
    let mut preload = vec![artifacts.memproxy.clone()];
    preload.extend(allocator.path.clone());
    let route = match (&allocator.path, excluded) {
        (Some(path), false) => path.clone(),
        _ => PathBuf::from(LIBC),
    };
    let expected = expected_straight(&route);
    let config = if excluded { "slots\n" } else { "" };
    // The object's own operator, or its free for a sized delete it does
    // not get.
    let symbol = |contract: Contract, slot| match expected.contains(contract) {
        true => slot,
        false => "free",
    };
    let (slots, transcript) = slots_under(&preload, &route, config, symbol);
    assert!(!transcript.contains("bootstrap=used"), "{transcript}");

    for (contract, slot, object, own) in &slots {
        if expected.contains(*contract) || *contract == Contract::SizedDelete {
            assert!(
                *own,
                "{slot} ({}) should be {}'s {}\n{transcript}",
                contract.name(),
                route.display(),
                symbol(*contract, slot)
            );
        } else {
            assert!(
                same_file(object, &artifacts.memproxy),
                "{slot} ({}) should be memproxy's, holds {}'s\n{transcript}",
                contract.name(),
                object.display()
            );
        }
    }
    // memproxy's report agrees with what the slots hold.
    let names: Vec<&str> = expected.iter().map(Contract::name).collect();
    let reported = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    };
    assert!(
        transcript.contains(&format!(" straight={reported} ")),
        "{transcript}"
    );
}

#[test]
fn a_proven_allocator_gets_some_contracts_straight_and_not_others() {
    // Otherwise the test above could pass with every slot memproxy's, or
    // every slot the allocator's.
    let Some(tcmalloc) = allocators::selected().built_in("tcmalloc") else {
        return;
    };
    let tcmalloc = tcmalloc.path.clone().expect("tcmalloc has a path");
    let straight = expected_straight(&tcmalloc);
    assert!(straight.contains(Contract::ThrowingNew));
    assert!(straight.contains(Contract::SizedDelete));
    assert!(!straight.contains(Contract::Calloc));
    // jemalloc keeps the sized-delete contract, but its free is faster.
    let Some(jemalloc) = allocators::selected().built_in("jemalloc") else {
        return;
    };
    let jemalloc = expected_straight(jemalloc.path.as_ref().expect("jemalloc has a path"));
    assert!(jemalloc.contains(Contract::ThrowingNew));
    assert!(!jemalloc.contains(Contract::SizedDelete));
}

#[test]
fn an_allocator_the_table_does_not_name_keeps_every_check_and_bootstrap_blocks_stay_safe() {
    let artifacts = Artifacts::shared();
    let unknown = artifacts.fixture("libbootstrap-allocator.so");
    assert_eq!(expected_straight(&unknown), Kept::NONE);
    let (slots, transcript) = slots_under(
        &[artifacts.memproxy.clone(), unknown.clone()],
        &unknown,
        "",
        |_, slot| slot,
    );
    // Its IFUNC resolver allocates while memproxy decides (see
    // tests/bootstrap.rs), so even the sized deletes are memproxy's: the free
    // that recognises bootstrap blocks.
    assert!(transcript.contains(" bootstrap=used"), "{transcript}");
    assert_every_slot_is_memproxys(&slots, &transcript);
    assert!(transcript.contains(" straight=none "), "{transcript}");
}

#[test]
fn a_route_through_a_prefixed_api_keeps_every_check() {
    // The table was measured on the standard names. This je_*-only object
    // has jemalloc's soname, and a je_calloc and je_posix_memalign that
    // break the contract: memproxy must keep its own checks.
    let artifacts = Artifacts::shared();
    let prefixed = artifacts.fixture("libprefixed-jemalloc.so");
    let object = shared_object(&prefixed);
    assert!(contracts::kept_by(soname(&object).as_bytes()).contains(Contract::Calloc));
    let preload = [artifacts.memproxy.clone(), prefixed.clone()];
    let (slots, transcript) = slots_under(&preload, &prefixed, "", |_, slot| slot);
    // (The transcript quotes stderr, escaping its quotes.)
    assert!(transcript.contains("jemalloc (je_*)"), "{transcript}");
    assert!(transcript.contains(" straight=none "), "{transcript}");
    assert_every_slot_is_memproxys(&slots, &transcript);
    let dir = Dir::new("straight-");
    let ran = Process::new(artifacts.fixture("semantics"))
        .args([
            "calloc_overflow_fails_with_enomem",
            "posix_memalign_bad_alignment_is_einval_and_untouched",
        ])
        .preload(&preload)
        .config(dir.config(""))
        .run();
    assert!(ran.succeeded(), "{}", ran.describe());
}
