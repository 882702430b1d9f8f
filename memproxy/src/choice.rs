//! Which object serves the process, and why: the walk over loaded objects,
//! the exclusion list, and the route's table.

use core::ops::ControlFlow;

use memproxy_config::Identity;

use crate::abi::checked;
use crate::decision::{Decision, Reason};
use crate::exclusion::{self, Verdict};
use crate::families::{self, Family};
use crate::loader::{self, Object, Walk};
use crate::settings::Settings;
use crate::table::Table;
use crate::{preload_list, resolve, sys};

/// What the walk over loaded objects found.
#[derive(Default)]
struct Survey {
    /// The first object defining `malloc`: the one the global scope binds
    /// `malloc` to.
    first: Option<Candidate>,
    /// glibc.
    libc: Option<Candidate>,
    /// The first object other than memproxy and glibc defining `malloc`.
    custom: Option<Candidate>,
}

#[derive(Clone, Copy)]
struct Candidate {
    object: Object,
    role: Role,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Ours,
    OtherCopy,
    Libc,
    Loader,
    Other,
}

/// The role of an object that defines `malloc`: only those matter, and
/// asking no more of the others keeps the walk short (it runs in every
/// process).
fn role_of_malloc_definer(object: &Object) -> Role {
    if object.is_this_library() {
        Role::Ours
    } else if loader::is_memproxy(object) {
        Role::OtherCopy
    } else if object.soname == b"libc.so.6" {
        Role::Libc
    } else if object.soname.starts_with(b"ld-linux") {
        Role::Loader
    } else {
        Role::Other
    }
}

/// One walk over the loaded objects, in load order.
fn survey(walk: Walk) -> Survey {
    let mut found = Survey::default();
    loader::walk(walk, |object| {
        if !object.defines(b"malloc") {
            return ControlFlow::Continue(());
        }
        let candidate = Candidate {
            object: *object,
            role: role_of_malloc_definer(object),
        };
        found.first.get_or_insert(candidate);
        match candidate.role {
            Role::Libc if found.libc.is_none() => found.libc = Some(candidate),
            Role::Other if found.custom.is_none() => found.custom = Some(candidate),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    found
}

/// The first object, other than glibc and memproxy, that exports one of the
/// prefixed allocator APIs. Only looked for when nothing defines `malloc`,
/// which is rare, so the common walk need not ask every object about every
/// prefix.
fn prefixed_allocator(walk: Walk) -> Option<(Candidate, &'static Family)> {
    let mut found = None;
    loader::walk(walk, |object| {
        let family = families::PREFIXED
            .iter()
            .find(|family| object.defines(family.malloc));
        let Some(family) = family else {
            return ControlFlow::Continue(());
        };
        if loader::is_memproxy(object) || object.soname == b"libc.so.6" {
            return ControlFlow::Continue(());
        }
        let candidate = Candidate {
            object: *object,
            role: Role::Other,
        };
        found = Some((candidate, family));
        ControlFlow::Break(())
    });
    found
}

/// Chooses the route, using `scan` as the only memory to read the exclusion
/// list and the preload file with.
pub fn choose<'a>(
    identity: Identity<'a>,
    settings: &Settings<'a>,
    scan: &mut [u8],
    walk: Walk,
) -> Decision<'a> {
    let survey = survey(walk);
    let duplicate_of = match survey.first {
        Some(Candidate {
            role: Role::OtherCopy,
            object,
        }) => Some(object.path),
        _ => None,
    };
    let first_elsewhere = survey
        .first
        .filter(|first| !matches!(first.role, Role::Ours | Role::OtherCopy));
    let custom = match survey.custom {
        Some(candidate) => Some((candidate, &families::STANDARD)),
        None if first_elsewhere.is_none() => prefixed_allocator(walk)
            .filter(|(candidate, _)| preload_list::names(candidate.object.path, scan)),
        None => None,
    };

    let needs_config = first_elsewhere.is_none() && custom.is_some();
    let verdict = if needs_config || settings.debug {
        exclusion::read(settings.config_path, &identity, scan)
    } else {
        Verdict::NotRead
    };

    let (target, family, reason) = match (first_elsewhere, custom) {
        (Some(first), _) => (
            Some(first),
            &families::STANDARD,
            Reason::NotFirst {
                first: first.object.path,
            },
        ),
        (None, Some(_)) if verdict.excludes() => {
            (survey.libc, &families::STANDARD, Reason::Excluded)
        }
        (None, Some((candidate, family))) => (Some(candidate), family, Reason::NotExcluded),
        (None, None) => (survey.libc, &families::STANDARD, Reason::NoCustomAllocator),
    };
    let resolved = target.and_then(|target| {
        let (core, filled) = resolve::core_functions(family, &target.object)?;
        Some((target, core, filled))
    });
    let (target, family, reason, core, filled) = match resolved {
        Some((target, core, filled)) => (target, family, reason, core, filled),
        None => {
            let unusable = Reason::AllocatorUnusable {
                path: target.map_or(&[][..], |target| target.object.path),
            };
            let Some((libc, (core, filled))) = survey.libc.and_then(|libc| {
                resolve::core_functions(&families::STANDARD, &libc.object)
                    .map(|resolved| (libc, resolved))
            }) else {
                // glibc always defines these; without it nothing can allocate.
                sys::write_stderr(b"memproxy: glibc's malloc is not loaded; aborting\n");
                sys::abort()
            };
            (libc, &families::STANDARD, unusable, core, filled)
        }
    };
    let libc = survey.libc.map(|libc| libc.object);
    let takeovers = resolve::takeovers(&target.object, libc.as_ref(), &core);
    let proven = resolve::proven(&target.object, family, &filled);
    let (operators, straight) = checked::operators(&target.object, proven, core.free);
    Decision {
        identity,
        config_path: settings.config_path.to_bytes(),
        config_source: settings.config_source,
        verdict,
        reason,
        glibc: target.role == Role::Libc,
        allocator_path: target.object.path,
        family: family.label,
        filled,
        straight,
        duplicate_of,
        bootstrap_used: false,
        table: Table {
            core,
            takeovers,
            operators,
        },
    }
}
