//! The allocators a run covers: glibc, the three Debian allocators the
//! project is built on, and any added with `--allocator NAME=PATH` (or
//! `MEMPROXY_HARNESS_ALLOCATORS`).

use memproxy_common::known;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use object::read::elf::{Dyn as _, ElfFile, FileHeader};
use object::{Object, ObjectSymbol};

/// Who answers for a block, as far as the ownership oracle can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    Glibc,
    Jemalloc,
    Mimalloc,
    Tcmalloc,
    /// No family the oracle can query claims the block: an allocator it
    /// has no query for.
    Unclaimed,
}

impl Owner {
    pub fn label(self) -> &'static str {
        match self {
            Owner::Glibc => "glibc",
            Owner::Jemalloc => "jemalloc",
            Owner::Mimalloc => "mimalloc",
            Owner::Tcmalloc => "tcmalloc",
            Owner::Unclaimed => "unclaimed",
        }
    }

    pub fn from_label(label: &str) -> Option<Owner> {
        [
            Owner::Glibc,
            Owner::Jemalloc,
            Owner::Mimalloc,
            Owner::Tcmalloc,
            Owner::Unclaimed,
        ]
        .into_iter()
        .find(|owner| owner.label() == label)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One allocator under test.
#[derive(Clone, Debug)]
pub struct Allocator {
    pub name: String,
    /// The shared object to preload; `None` for glibc (no custom allocator).
    pub path: Option<PathBuf>,
    /// Who the oracle will say owns its blocks.
    pub owner: Owner,
    /// Added on the command line rather than built in.
    pub added: bool,
    /// Whether it exports `malloc` itself, rather than only a prefixed API
    /// (`scalable_malloc`, ...), which memproxy adopts only when preloaded.
    pub exports_malloc: bool,
}

impl Allocator {
    pub fn glibc() -> Allocator {
        Allocator {
            name: "glibc".into(),
            path: None,
            owner: Owner::Glibc,
            added: false,
            exports_malloc: true,
        }
    }

    /// An allocator given as `NAME=PATH`. Its owner is derived from the
    /// ownership queries it exports, so an allocator the harness has never
    /// heard of is still judged correctly (as unclaimed, if it has none).
    pub fn added(spec: &str) -> Result<Allocator, String> {
        let (name, path) = spec
            .split_once('=')
            .filter(|(name, path)| !name.is_empty() && !path.is_empty())
            .ok_or_else(|| format!("--allocator wants NAME=PATH, got {spec:?}"))?;
        let path = PathBuf::from(path);
        let exports = Exports::read(&path)?;
        Ok(Allocator {
            name: name.to_owned(),
            owner: exports.owner(),
            exports_malloc: exports.has("malloc"),
            path: Some(path),
            added: true,
        })
    }
}

/// A built-in allocator and the oracle that tells its blocks; its files and
/// packages come from `memproxy_common::known`, the table `ci/setup`
/// installs from.
pub struct Known {
    pub name: &'static str,
    pub owner: Owner,
}

impl Known {
    /// The files Debian releases install it as.
    pub fn files(&self) -> impl Iterator<Item = &'static str> {
        known::files(self.name)
    }

    fn package(&self, release: Option<&str>) -> &'static str {
        known::package(self.name, release).unwrap_or(self.name)
    }
}

/// Debian's directory for this machine's libraries.
pub const LIB_DIR: &str = memproxy_common::multiarch::LIB_DIR;

pub const KNOWN: [Known; 3] = [
    Known {
        name: "jemalloc",
        owner: Owner::Jemalloc,
    },
    Known {
        name: "mimalloc",
        owner: Owner::Mimalloc,
    },
    Known {
        name: "tcmalloc",
        owner: Owner::Tcmalloc,
    },
];

/// This host's Debian release, to name the right packages.
fn this_release() -> Option<&'static str> {
    known::release_of_os_release(&std::fs::read_to_string("/etc/os-release").ok()?)
}

/// The names that narrow a run on purpose, from `MEMPROXY_HARNESS_ONLY`.
pub const ONLY_VAR: &str = "MEMPROXY_HARNESS_ONLY";
/// `NAME=PATH` entries, separated by commas, from `MEMPROXY_HARNESS_ALLOCATORS`.
pub const ADDED_VAR: &str = "MEMPROXY_HARNESS_ALLOCATORS";

const NARROWED: &str = "left out by --only / MEMPROXY_HARNESS_ONLY";

/// What a run covers, and what it leaves out on purpose.
pub struct Selection {
    pub allocators: Vec<Allocator>,
    /// Built-in allocators left out by an explicit narrowing, with the reason.
    pub narrowed_out: Vec<(String, String)>,
}

/// The built-in allocators (all of them unless `only` narrows the run) plus
/// `added`. A built-in allocator that is missing is an error naming the
/// package to install: a conformance run never shrinks silently.
pub fn select(only: Option<&[String]>, added: &[String]) -> Result<Selection, String> {
    let wanted = |name: &str| only.is_none_or(|only| only.iter().any(|wanted| wanted == name));
    let mut allocators = Vec::new();
    let mut narrowed_out = Vec::new();
    let mut missing = Vec::new();
    if wanted("glibc") {
        allocators.push(Allocator::glibc());
    } else {
        narrowed_out.push(("glibc".to_owned(), NARROWED.to_owned()));
    }
    for known in &KNOWN {
        if !wanted(known.name) {
            narrowed_out.push((known.name.to_owned(), NARROWED.to_owned()));
            continue;
        }
        let installed = known
            .files()
            .map(|file| Path::new(LIB_DIR).join(file))
            .find(|path| path.exists());
        if let Some(path) = installed {
            allocators.push(Allocator {
                name: known.name.into(),
                path: Some(path),
                owner: known.owner,
                added: false,
                exports_malloc: true,
            });
        } else {
            missing.push(known);
        }
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|known| known.name).collect();
        let release = this_release();
        let packages: Vec<&str> = missing.iter().map(|known| known.package(release)).collect();
        return Err(format!(
            "allocator(s) {} not installed. Install with:\n    apt-get install -y {}\n\
             or narrow the run on purpose with {ONLY_VAR}=glibc,...",
            names.join(", "),
            packages.join(" ")
        ));
    }
    for spec in added {
        allocators.push(Allocator::added(spec)?);
    }
    Ok(Selection {
        allocators,
        narrowed_out,
    })
}

/// The selection from the environment, as the test suite uses it.
pub fn select_from_env() -> Result<Selection, String> {
    let only: Option<Vec<String>> = std::env::var(ONLY_VAR).ok().map(|list| {
        list.split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let added: Vec<String> = std::env::var(ADDED_VAR)
        .map(|list| {
            list.split(',')
                .filter(|spec| !spec.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    select(only.as_deref(), &added)
}

/// [`select_from_env`], once per process, for the tests: a missing
/// allocator fails the calling test with the command that installs it.
#[track_caller]
pub fn selected() -> &'static Selection {
    static SELECTION: std::sync::OnceLock<Result<Selection, String>> = std::sync::OnceLock::new();
    match SELECTION.get_or_init(select_from_env) {
        Ok(selection) => selection,
        Err(error) => panic!("{error}"),
    }
}

impl Selection {
    /// The selected built-in allocator `name`; `None`, said aloud as
    /// `NOT RUN` with the reason, when the run was narrowed on purpose to
    /// leave it out.
    #[track_caller]
    pub fn built_in(&self, name: &str) -> Option<&Allocator> {
        if let Some(allocator) = self
            .allocators
            .iter()
            .find(|allocator| allocator.name == name && !allocator.added)
        {
            return Some(allocator);
        }
        match self.narrowed_out.iter().find(|(left, _)| left == name) {
            Some((_, why)) => {
                test_support::not_run(&format!("with {name}: {why}"));
                None
            }
            None => panic!("allocator {name} is neither selected nor narrowed out"),
        }
    }

    /// The selected custom allocators (every one but glibc); the narrowed
    /// out ones are said aloud as `NOT RUN`.
    pub fn customs(&self) -> Vec<&Allocator> {
        self.say_narrowed_out();
        self.allocators
            .iter()
            .filter(|allocator| allocator.path.is_some())
            .collect()
    }

    /// Prints `NOT RUN NAME: WHY` for every allocator left out on purpose.
    pub fn say_narrowed_out(&self) {
        for (name, why) in &self.narrowed_out {
            test_support::not_run(&format!("{name}: {why}"));
        }
    }
}

/// The prefixed `malloc`s of the allocator APIs memproxy knows, per its
/// specification.
const PREFIXED_MALLOCS: [&str; 5] = [
    "mi_malloc",
    "tc_malloc",
    "je_malloc",
    "TCMallocInternalMalloc",
    "scalable_malloc",
];

/// What a shared object says about itself: its soname, class and the
/// functions (and data) it defines.
#[derive(Clone, Debug)]
pub struct SharedObject {
    pub soname: Option<String>,
    /// A 32-bit ELF object.
    pub ilp32: bool,
    defined: BTreeSet<String>,
}

impl SharedObject {
    pub fn read(path: &Path) -> Result<SharedObject, String> {
        let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
        let file = object::File::parse(&*bytes)
            .map_err(|error| format!("{}: not an ELF object: {error}", path.display()))?;
        let soname = match &file {
            object::File::Elf32(elf) => soname(elf),
            object::File::Elf64(elf) => soname(elf),
            _ => Err("not an ELF object".to_owned()),
        }
        .map_err(|error| format!("{}: {error}", path.display()))?;
        let defined = file
            .dynamic_symbols()
            .filter(|symbol| symbol.is_definition())
            .filter_map(|symbol| symbol.name().ok().map(str::to_owned))
            .collect();
        Ok(SharedObject {
            soname,
            ilp32: !file.is_64(),
            defined,
        })
    }

    /// An object with this soname and class that defines `names`, for tests.
    pub fn synthetic(soname: Option<&str>, ilp32: bool, names: &[&str]) -> SharedObject {
        SharedObject {
            soname: soname.map(str::to_owned),
            ilp32,
            defined: names.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    pub fn defines(&self, name: &str) -> bool {
        self.defined.contains(name)
    }
}

/// The object's `DT_SONAME`, if it has one.
fn soname<Elf: FileHeader<Endian = object::Endianness>>(
    file: &ElfFile<'_, Elf>,
) -> Result<Option<String>, String> {
    let (endian, data) = (file.endian(), file.data());
    let sections = file.elf_section_table();
    let malformed = |error: object::read::Error| format!("malformed dynamic section: {error}");
    let Some((entries, link)) = sections.dynamic(endian, data).map_err(malformed)? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, data, link).map_err(malformed)?;
    for entry in entries {
        if entry.tag32(endian) == Some(object::elf::DT_SONAME) {
            let name = entry.string(endian, strings).map_err(malformed)?;
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

/// The functions an allocator object defines.
struct Exports(SharedObject);

impl Exports {
    fn read(path: &Path) -> Result<Exports, String> {
        let exports = Exports(SharedObject::read(path)?);
        if !exports.has("malloc") && !PREFIXED_MALLOCS.iter().any(|name| exports.has(name)) {
            return Err(format!(
                "{} exports no malloc of any API memproxy knows: it is not an allocator",
                path.display()
            ));
        }
        Ok(exports)
    }

    fn has(&self, name: &str) -> bool {
        self.0.defines(name)
    }

    /// The oracle family whose query the object exports, or `Unclaimed`.
    fn owner(&self) -> Owner {
        let queries = [
            ("mallctl", Owner::Jemalloc),
            ("mi_is_in_heap_region", Owner::Mimalloc),
            ("MallocExtension_GetOwnership", Owner::Tcmalloc),
        ];
        queries
            .iter()
            .find(|(query, _)| self.has(query))
            .map_or(Owner::Unclaimed, |&(_, owner)| owner)
    }
}

/// glibc functions that hand out or take back heap blocks, or report and
/// tune the heap. An allocator that exports one of them takes it over in
/// every process it is preloaded into; memproxy must export it too, or
/// excluded programs get the allocator's version.
pub const HEAP_FUNCTIONS: &[&str] = &[
    "malloc",
    "free",
    "calloc",
    "realloc",
    "reallocarray",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "malloc_trim",
    "cfree",
    "mallinfo",
    "mallinfo2",
    "mallopt",
    "malloc_stats",
    "malloc_info",
    "__libc_malloc",
    "__libc_free",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "__libc_valloc",
    "__libc_pvalloc",
    "__libc_mallinfo",
    "__libc_mallopt",
    "strdup",
    "strndup",
    "wcsdup",
    "realpath",
    "canonicalize_file_name",
    "get_current_dir_name",
    "getcwd",
    "asprintf",
    "vasprintf",
    "getline",
    "getdelim",
    "open_memstream",
    "open_wmemstream",
    "tempnam",
    "scandir",
    "backtrace_symbols",
];

/// Heap functions `allocator` exports that the library at `memproxy` does
/// not: each would reach excluded programs unrouted.
pub fn unrouted_takeovers(allocator: &Allocator, memproxy: &Path) -> Result<Vec<String>, String> {
    let Some(path) = &allocator.path else {
        return Ok(Vec::new());
    };
    let (exported, routed) = (Exports::read(path)?, Exports::read(memproxy)?);
    Ok(HEAP_FUNCTIONS
        .iter()
        .filter(|name| exported.has(name) && !routed.has(name))
        .map(|name| (*name).to_owned())
        .collect())
}
