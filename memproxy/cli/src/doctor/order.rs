//! What each preload entry is, and whether their order lets memproxy
//! decide: memproxy before every object that defines `malloc`, a custom
//! allocator after it. Each problem names the entry and comes with a fix
//! written from the entries themselves (the reordered list, the real object
//! a linker script names).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::Serialize;

use super::abis::Abi;
use crate::elf::{self, Kind};
use crate::library::{self, DEFAULT_ALLOCATOR};
use crate::preload::{self, ListSource, SYSTEM_PRELOAD_FILE, Substituted};
use crate::report::Finding;
use crate::shown::{shown, shown_os};

/// One preload entry as found on disk.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// 1-based position in the combined order ld.so loads.
    pub(super) position: usize,
    /// Which list names it.
    pub(super) source: ListSource,
    /// The entry as written, escaped for display.
    pub(super) name: String,
    /// Where ld.so finds it; absent when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) path: Option<String>,
    /// memproxy, glibc, allocator, other, missing, unreadable,
    /// linker-script, wrong-machine, not-shared-object or not-elf.
    pub(super) kind: &'static str,
    /// Whether it defines `malloc`.
    pub(super) defines_malloc: bool,
    /// The prefixed allocator API it exports instead of `malloc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) api: Option<&'static str>,
    /// The entry with ld.so's `$LIB` and `$PLATFORM` replaced for this
    /// machine's programs, when it has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) expanded: Option<String>,
    /// What it gives the programs of every other ABI installed here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) abis: Vec<super::abis::AbiEntry>,
    #[serde(skip)]
    pub(super) raw_name: Vec<u8>,
    #[serde(skip)]
    pub(super) found: Found,
}

/// What is at the place ld.so will look.
#[derive(Debug)]
pub(super) enum Found {
    Missing,
    Unreadable(std::io::Error),
    File(Kind),
    /// The entry has `$ORIGIN`: a different file for each program's
    /// directory.
    OriginDependent,
    /// The entry has `$PLATFORM`, and this process has no AT_PLATFORM.
    PlatformUnknown,
}

impl Listed {
    pub(super) fn label(&self) -> String {
        match &self.expanded {
            Some(expanded) => format!(
                "'{}' ({} entry, {expanded} here)",
                self.name,
                self.source.label()
            ),
            None => format!("'{}' ({} entry)", self.name, self.source.label()),
        }
    }

    fn exports(&self) -> Option<&elf::Exports> {
        match &self.found {
            Found::File(Kind::SharedObject(exports)) => Some(exports),
            _ => None,
        }
    }
}

/// Finds the entry `name` the way ld.so would, and says what it is.
/// Tokens are replaced for this machine's programs, as ld.so does.
pub(super) fn inspect_entry(
    position: usize,
    source: ListSource,
    name: Vec<u8>,
    host: Option<&Abi>,
) -> Listed {
    let substituted = match host {
        Some(host) => preload::substitute(&name, &host.lib_token(), host.platform.as_deref()),
        None => Substituted::Literal,
    };
    let (path, found, expanded) = match substituted {
        Substituted::Origin => (None, Found::OriginDependent, None),
        Substituted::PlatformUnknown => (None, Found::PlatformUnknown, None),
        Substituted::Literal => {
            let path = preload::locate(&name);
            let found = inspect_located(path.as_deref());
            (path, found, None)
        }
        Substituted::Path(expanded) => {
            let path = preload::locate(&expanded);
            let found = inspect_located(path.as_deref());
            (path, found, Some(shown(&expanded)))
        }
    };
    let exports = match &found {
        Found::File(Kind::SharedObject(exports)) => Some(exports.clone()),
        _ => None,
    };
    Listed {
        position,
        source,
        name: shown(&name),
        path: path.as_ref().map(shown_os),
        kind: kind_label(&found),
        defines_malloc: exports.as_ref().is_some_and(|exports| exports.malloc),
        api: exports.and_then(|exports| exports.prefixed_api),
        expanded,
        abis: Vec::new(),
        raw_name: name,
        found,
    }
}

fn inspect_located(path: Option<&Path>) -> Found {
    match path.map(elf::inspect) {
        None => Found::Missing,
        Some(Err(error)) => Found::Unreadable(error),
        Some(Ok(kind)) => Found::File(kind),
    }
}

fn kind_label(found: &Found) -> &'static str {
    let kind = match found {
        Found::Missing => return "missing",
        Found::Unreadable(_) => return "unreadable",
        Found::OriginDependent => return "origin-dependent",
        Found::PlatformUnknown => return "platform-unknown",
        Found::File(kind) => kind,
    };
    match kind {
        Kind::SharedObject(exports) if exports.memproxy => "memproxy",
        Kind::SharedObject(exports) if exports.glibc => "glibc",
        Kind::SharedObject(exports) if exports.is_allocator() => "allocator",
        Kind::SharedObject(_) => "other",
        Kind::LinkerScript { .. } => "linker-script",
        Kind::WrongMachine { .. } => "wrong-machine",
        Kind::NotSharedObject => "not-shared-object",
        Kind::NotElf => "not-elf",
    }
}

/// Problems with single entries: what ld.so will refuse to load.
pub(super) fn judge_entries(objects: &[Listed], findings: &mut Vec<Finding>) {
    for object in objects {
        let label = object.label();
        let finding = match &object.found {
            Found::Missing => Some(
                Finding::error(
                    "object-missing",
                    if object.raw_name.contains(&b'/') {
                        format!(
                            "{label} does not exist: ld.so prints \"cannot be preloaded (cannot \
                             open shared object file): ignored\" in every process"
                        )
                    } else {
                        format!(
                            "{label} is not found in LD_LIBRARY_PATH, the ld.so cache or the \
                             system directories: ld.so ignores it with an error in every \
                             process"
                        )
                    },
                )
                .with_fix("install it, or correct or remove the entry"),
            ),
            Found::Unreadable(error) => Some(
                Finding::error(
                    "object-unreadable",
                    format!("{label} cannot be read: {error}"),
                )
                .with_fix("make it readable, or remove the entry"),
            ),
            Found::OriginDependent => Some(
                Finding::warning(
                    "origin-token",
                    format!(
                        "{label} uses $ORIGIN, which ld.so replaces with each program's own \
                         directory: doctor cannot check it for every program, and checks it for \
                         none; setuid programs load it only where it expands into a system \
                         library directory, and never from LD_PRELOAD (ld.so ignores every \
                         LD_PRELOAD entry with a '/' in them)"
                    ),
                )
                .with_fix(
                    "name the object by its absolute path; $LIB, unlike $ORIGIN, serves every \
                     program, one object per architecture",
                ),
            ),
            Found::PlatformUnknown => Some(
                Finding::warning(
                    "platform-unknown",
                    format!(
                        "{label} uses $PLATFORM, but this process has no AT_PLATFORM: doctor \
                         cannot tell which file ld.so loads (ld.so itself drops such an entry)"
                    ),
                )
                .with_fix("name the directory instead of $PLATFORM"),
            ),
            Found::File(Kind::SharedObject(_)) => None,
            Found::File(Kind::LinkerScript { real_object }) => {
                Some(linker_script(&label, real_object.as_deref()))
            }
            Found::File(kind) => Some(
                Finding::error(
                    "object-unusable",
                    format!("{label}: {}", library::describe_unusable(kind, "")),
                )
                .with_fix(format!(
                    "use the {}-bit shared object for this machine (usually under /lib/{}/), or \
                     remove the entry",
                    usize::BITS,
                    preload::MULTIARCH
                )),
            ),
        };
        findings.extend(finding);
        let relative = object.raw_name.contains(&b'/')
            && !object.raw_name.starts_with(b"/")
            && !matches!(object.found, Found::OriginDependent);
        if relative {
            findings.push(
                Finding::warning(
                    "relative-path",
                    format!(
                        "{label} is a relative path: ld.so resolves it against each program's \
                         working directory, so most programs will not find it"
                    ),
                )
                .with_fix("write the absolute path"),
            );
        }
    }
}

fn linker_script(label: &str, real_object: Option<&Path>) -> Finding {
    let finding = Finding::error(
        "linker-script",
        format!(
            "{label} is a GNU ld linker script, not a shared object: ld.so rejects it \
             (\"invalid ELF header\") in every process"
        ),
    );
    let Some(real) = real_object else {
        return finding.with_fix("name the shared object it refers to, or remove the entry");
    };
    let is_glibc = matches!(
        elf::inspect(real),
        Ok(Kind::SharedObject(exports)) if exports.glibc
    );
    finding.with_fix(if is_glibc {
        format!(
            "use {} instead, or simply remove the entry: memproxy finds glibc itself",
            shown_os(real)
        )
    } else {
        format!("use {} instead", shown_os(real))
    })
}

/// Problems with the order: memproxy must come before every object that
/// defines `malloc`, and a custom allocator must follow it.
pub(super) fn judge_order(objects: &[Listed], findings: &mut Vec<Finding>) {
    let is_memproxy = |object: &&Listed| object.exports().is_some_and(|exports| exports.memproxy);
    let Some(first_memproxy) = objects.iter().position(|object| is_memproxy(&object)) else {
        findings.push(
            Finding::error(
                "memproxy-not-preloaded",
                "libmemproxy.so is in neither LD_PRELOAD nor the preload file: memproxy is not \
                 in effect",
            )
            .with_fix(suggested_set_up(objects)),
        );
        return;
    };
    let memproxy = &objects[first_memproxy];
    let (before, after) = objects.split_at(first_memproxy);
    let is_allocator = |object: &&Listed| object.exports().is_some_and(elf::Exports::is_allocator);
    let allocator_before = before
        .iter()
        .any(|object| object.defines_malloc && is_allocator(&object));
    for object in before {
        if object.defines_malloc {
            findings.push(
                Finding::error(
                    "before-memproxy",
                    format!(
                        "{} defines malloc and is loaded before libmemproxy.so: it serves every \
                         program, excluded ones included (the library reports \
                         reason=not-first)",
                        object.label()
                    ),
                )
                .with_fix(reorder_fix(objects, memproxy)),
            );
        }
    }
    for copy in after[1..].iter().filter(is_memproxy) {
        findings.push(
            Finding::warning(
                "memproxy-twice",
                format!(
                    "{} is a second copy of memproxy: the first one, {}, decides",
                    copy.label(),
                    memproxy.label()
                ),
            )
            .with_fix("remove the second entry"),
        );
    }
    // The library takes the first object after it that defines malloc, else
    // a preloaded prefixed-only allocator wherever it is in the list.
    let allocators: Vec<&Listed> = after[1..]
        .iter()
        .filter(is_allocator)
        .chain(before.iter().filter(|object| object.api.is_some()))
        .collect();
    let serving = allocators
        .iter()
        .position(|object| object.defines_malloc)
        .unwrap_or(0);
    match allocators.get(serving) {
        // Moving memproxy first, as the finding above says, fixes this too.
        None if allocator_before => {}
        None => findings.push(
            Finding::error(
                "no-allocator",
                "no custom allocator follows libmemproxy.so: every program gets glibc's malloc, \
                 so memproxy changes nothing",
            )
            .with_fix(match library::known(DEFAULT_ALLOCATOR) {
                Some(known) => format!(
                    "append an allocator after libmemproxy.so, e.g. {} ({})",
                    known.path().display(),
                    known.install_hint()
                ),
                None => "append an allocator after libmemproxy.so".to_owned(),
            }),
        ),
        Some(first) => {
            let others = allocators
                .iter()
                .enumerate()
                .filter(|(index, _)| *index != serving);
            for (_, other) in others {
                findings.push(
                    Finding::warning(
                        "several-allocators",
                        format!(
                            "{} is an allocator too, but only {} serves programs",
                            other.label(),
                            first.label()
                        ),
                    )
                    .with_fix("remove the allocators that are not used"),
                );
            }
            if let Some(api) = first.api {
                findings.push(Finding::note(
                    "prefixed-allocator",
                    format!(
                        "{} exports no malloc, only the {api} API: memproxy uses that because \
                         it is preloaded",
                        first.label()
                    ),
                ));
            }
        }
    }
    for object in objects.iter().filter(|object| object.kind == "glibc") {
        findings.push(Finding::note(
            "glibc-preloaded",
            format!(
                "{} needs no preloading: memproxy finds glibc itself (harmless)",
                object.label()
            ),
        ));
    }
}

/// A whole set-up to copy, for when memproxy is missing.
fn suggested_set_up(objects: &[Listed]) -> String {
    let lib = shown_os(library::find_memproxy(None).unwrap_or_else(|_| library::installed_path()));
    let allocator = objects
        .iter()
        .find(|object| object.exports().is_some_and(elf::Exports::is_allocator))
        .and_then(|object| object.path.clone())
        .or_else(|| {
            library::known(DEFAULT_ALLOCATOR).map(|known| known.path().display().to_string())
        })
        .unwrap_or_default();
    format!(
        "preload libmemproxy.so first and the allocator after it: for one shell, export \
         LD_PRELOAD={lib}:{allocator}; for the whole host, write that list to {SYSTEM_PRELOAD_FILE} \
         (try it first with `memproxy doctor --preload-file FILE`)"
    )
}

/// The list holding memproxy, rewritten with memproxy first, when that alone
/// fixes the order; else what to change.
fn reorder_fix(objects: &[Listed], memproxy: &Listed) -> String {
    let same_list = objects
        .iter()
        .filter(|object| object.defines_malloc && object.position < memproxy.position)
        .all(|object| object.source == memproxy.source);
    if !same_list {
        return "put libmemproxy.so first: LD_PRELOAD is loaded before the preload file, so \
                list libmemproxy.so first in LD_PRELOAD, or remove the allocator from it"
            .to_owned();
    }
    let rest = objects
        .iter()
        .filter(|object| object.source == memproxy.source && object.position != memproxy.position);
    let names: Vec<&OsStr> = std::iter::once(memproxy)
        .chain(rest)
        .map(|object| OsStr::from_bytes(&object.raw_name))
        .collect();
    let list = shown_os(preload::join(&names));
    match memproxy.source {
        ListSource::Environment => format!("put libmemproxy.so first: LD_PRELOAD={list}"),
        ListSource::File => format!("put libmemproxy.so first in the preload file: {list}"),
    }
}
