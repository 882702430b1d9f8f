//! One preload list, every ABI installed here: on a multilib host ld.so
//! reads the same `/etc/ld.so.preload` (and inherited `LD_PRELOAD`) in
//! 64-bit and 32-bit programs alike, replacing `$LIB` and `$PLATFORM` for
//! each program's own ABI. An entry that names one fixed object, or whose
//! expansion is missing for one ABI, makes ld.so print an error line in
//! every program of that ABI, on every start.
//!
//! An ABI counts as installed when its libc is (`/lib/<tuple>/libc.so.6`, of
//! its class and machine): then its programs can run here. The host's is
//! the one this command was built for.

use std::ffi::{CStr, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use memproxy_common::known;
use memproxy_common::multiarch::{self, ARCHES, Arch};
use serde::Serialize;

use super::order::{Found, Listed};
use crate::elf::{self, Kind};
use crate::library;
use crate::preload::{self, ListSource, Substituted};
use crate::report::Finding;
use crate::shown::{shown, shown_os};

/// An ABI whose programs run here.
#[derive(Debug, Clone, Serialize)]
pub struct Abi {
    /// Debian's multiarch tuple.
    pub tuple: &'static str,
    pub bits: u8,
    /// This command's own ABI.
    pub host: bool,
    /// What `$PLATFORM` becomes in its programs; `None` when unknown here.
    pub platform: Option<String>,
    /// The libc that shows its programs are installed.
    pub libc: String,
    #[serde(skip)]
    pub arch: &'static Arch,
}

impl Abi {
    /// What `$LIB` becomes in its programs (Debian's multiarch layout).
    pub fn lib_token(&self) -> String {
        self.arch.lib_dir().to_string()
    }
}

/// This command's ABI, with `$PLATFORM` as the kernel gave it to this very
/// process (every program of the ABI gets the same); `None` for a build
/// for an architecture missing from the table.
pub fn host() -> Option<Abi> {
    let arch = multiarch::host()?;
    Some(Abi {
        tuple: arch.tuple,
        bits: arch.elf_bits,
        host: true,
        platform: own_platform(),
        libc: multiarch::LIBC.to_owned(),
        arch,
    })
}

/// The other ABIs whose libc is installed here, with `$PLATFORM` from the
/// table (the value a 64-bit kernel gives their programs), where fixed.
pub fn installed_others() -> Vec<Abi> {
    let host = multiarch::host();
    ARCHES
        .iter()
        .filter(|arch| Some(*arch) != host)
        .filter_map(|arch| {
            let libc = PathBuf::from(format!("/lib/{}/libc.so.6", arch.tuple));
            let usable = matches!(
                elf::inspect_for(&libc, Some(arch)),
                Ok(Kind::SharedObject(exports)) if exports.glibc
            );
            usable.then(|| Abi {
                tuple: arch.tuple,
                bits: arch.elf_bits,
                host: false,
                platform: arch.platform.map(str::to_owned),
                libc: shown_os(&libc),
                arch,
            })
        })
        .collect()
}

/// AT_PLATFORM of this process.
fn own_platform() -> Option<String> {
    // SAFETY: getauxval reads the auxiliary vector the kernel put on the
    // initial stack; it has no preconditions and returns 0 when the entry
    // is absent.
    let address = unsafe { libc::getauxval(libc::AT_PLATFORM) };
    if address == 0 {
        return None;
    }
    // SAFETY: a non-zero AT_PLATFORM is the address of a NUL-terminated
    // string the kernel copied onto the initial stack, which stays mapped
    // and unchanged for the life of the process.
    let platform = unsafe { CStr::from_ptr(address as *const libc::c_char) };
    Some(shown(platform.to_bytes()))
}

/// What one entry gives the programs of one other ABI.
#[derive(Debug, Clone, Serialize)]
pub struct AbiEntry {
    pub tuple: &'static str,
    /// The entry with that ABI's `$LIB` and `$PLATFORM`, when it has tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<String>,
    /// Where its programs find it; absent when they do not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// ok, missing, wrong-machine, unusable, unreadable or
    /// platform-unknown.
    pub state: &'static str,
    /// The object's own architecture, for wrong-machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// Checks every entry for every other installed ABI, records the results
/// in the entries and adds a finding, with its fix, per entry that fails
/// some ABI.
pub fn judge(objects: &mut [Listed], others: &[Abi], findings: &mut Vec<Finding>) {
    if others.is_empty() {
        return;
    }
    for object in objects.iter_mut() {
        if matches!(
            object.found,
            Found::OriginDependent | Found::PlatformUnknown
        ) {
            continue;
        }
        let results: Vec<AbiEntry> = others
            .iter()
            .map(|abi| check_entry(&object.raw_name, abi))
            .collect();
        findings.extend(entry_findings(object, others, &results));
        object.abis = results;
    }
}

fn check_entry(entry: &[u8], abi: &Abi) -> AbiEntry {
    let mut result = AbiEntry {
        tuple: abi.tuple,
        expanded: None,
        path: None,
        state: "missing",
        found: None,
    };
    let path = match preload::substitute(entry, &abi.lib_token(), abi.platform.as_deref()) {
        Substituted::Path(expanded) => {
            result.expanded = Some(shown(&expanded));
            Some(PathBuf::from(OsString::from_vec(expanded))).filter(|path| path.exists())
        }
        Substituted::Literal if entry.contains(&b'/') => {
            Some(PathBuf::from(OsStr::from_bytes(entry))).filter(|path| path.exists())
        }
        Substituted::Literal => search_abi_dirs(entry, abi),
        Substituted::PlatformUnknown => {
            result.state = "platform-unknown";
            return result;
        }
        Substituted::Origin => unreachable!("entries with $ORIGIN are skipped"),
    };
    let Some(path) = path else {
        return result;
    };
    result.path = Some(shown_os(&path));
    result.state = match elf::inspect_for(&path, Some(abi.arch)) {
        Ok(Kind::SharedObject(_)) => "ok",
        Ok(Kind::WrongMachine { found, .. }) => {
            result.found = Some(found);
            "wrong-machine"
        }
        Ok(_) => "unusable",
        Err(_) => "unreadable",
    };
    result
}

/// A bare name, as ld.so searches it for that ABI's programs: its system
/// directories (where its packages put what its cache lists).
fn search_abi_dirs(name: &[u8], abi: &Abi) -> Option<PathBuf> {
    let name = Path::new(OsStr::from_bytes(name));
    [
        format!("/lib/{}", abi.tuple),
        format!("/usr/lib/{}", abi.tuple),
    ]
    .into_iter()
    .map(|dir| Path::new(&dir).join(name))
    .find(|candidate| candidate.is_file())
}

fn entry_findings(object: &Listed, others: &[Abi], results: &[AbiEntry]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let label = object.label();
    let from = match object.source {
        ListSource::Environment => "LD_PRELOAD".to_owned(),
        ListSource::File => preload::SYSTEM_PRELOAD_FILE.to_owned(),
    };
    let fixed_path = object.raw_name.contains(&b'/')
        && preload::substitute(&object.raw_name, "", Some("")) == Substituted::Literal;
    let failing = |state: &str| -> Vec<(&Abi, &AbiEntry)> {
        others
            .iter()
            .zip(results)
            .filter(|(_, result)| result.state == state)
            .collect()
    };
    let wrong = failing("wrong-machine");
    if !wrong.is_empty() {
        let tuples: Vec<&str> = wrong.iter().map(|(abi, _)| abi.tuple).collect();
        let what = results
            .iter()
            .find_map(|result| result.found.clone())
            .unwrap_or_else(|| "another architecture".to_owned());
        let classes_differ = wrong
            .iter()
            .any(|(abi, _)| Some(abi.bits) != object_bits(object));
        let loader_says = if classes_differ {
            format!(
                "wrong ELF class: ELFCLASS{}",
                object_bits(object).unwrap_or(64)
            )
        } else {
            "cannot open shared object file".to_owned()
        };
        let subject = if fixed_path {
            format!("{label} names one object, for {what} only")
        } else {
            format!(
                "{label} gives the programs of {} an object for {what}",
                tuples.join(", ")
            )
        };
        findings.push(
            Finding::error(
                if fixed_path {
                    "single-abi-entry"
                } else {
                    "wrong-abi-object"
                },
                format!(
                    "{subject}, but programs for {} are installed here: ld.so prints \"ERROR: \
                     ld.so: object '{}' from {from} cannot be preloaded ({loader_says}): \
                     ignored.\" in every one of them, on every start",
                    tuples.join(", "),
                    object.name
                ),
            )
            .with_fix(single_abi_fix(object, &wrong)),
        );
    }
    let missing = failing("missing");
    // A fixed path missing for one ABI is missing for all: object-missing
    // has said so already.
    if !missing.is_empty() && !fixed_path {
        let tuples: Vec<&str> = missing.iter().map(|(abi, _)| abi.tuple).collect();
        let places: Vec<String> = missing
            .iter()
            .map(|(abi, result)| match &result.expanded {
                Some(expanded) => format!("{expanded} for {}", abi.tuple),
                None => format!("none in /lib/{0} or /usr/lib/{0}", abi.tuple),
            })
            .collect();
        let fixes: Vec<String> = missing
            .iter()
            .map(|(abi, _)| install_hint(object, abi))
            .collect();
        findings.push(
            Finding::error(
                "missing-for-abi",
                format!(
                    "{label} is missing for the programs of {} ({}), which are installed here: \
                     ld.so prints \"ERROR: ld.so: object '{}' from {from} cannot be preloaded \
                     (cannot open shared object file): ignored.\" in every one of them, on \
                     every start",
                    tuples.join(", "),
                    places.join("; "),
                    object.name
                ),
            )
            .with_fix(format!("{}; or remove the entry", fixes.join("; "))),
        );
    }
    for (abi, _) in failing("platform-unknown") {
        findings.push(Finding::note(
            "abi-platform-unknown",
            format!(
                "{label} uses $PLATFORM, whose value for the programs of {} doctor does not \
                 know: not checked for them",
                abi.tuple
            ),
        ));
    }
    findings
}

/// The class of the object the entry names for this machine, if any.
fn object_bits(object: &Listed) -> Option<u8> {
    match &object.found {
        Found::File(Kind::SharedObject(_)) => multiarch::host().map(|arch| arch.elf_bits),
        Found::File(Kind::WrongMachine {
            arch: Some(arch), ..
        }) => Some(arch.elf_bits),
        _ => None,
    }
}

/// The entry rewritten with `$LIB`, and what to install where it points.
fn single_abi_fix(object: &Listed, wrong: &[(&Abi, &AbiEntry)]) -> String {
    let installs: Vec<String> = wrong
        .iter()
        .map(|(abi, _)| install_hint(object, abi))
        .collect();
    match lib_token_form(&object.name) {
        Some(form) => format!(
            "name it {form}, which ld.so expands for each program's own architecture, with \
             each architecture's build there: {}",
            installs.join("; ")
        ),
        None => format!(
            "install each architecture's build where its programs look: {}",
            installs.join("; ")
        ),
    }
}

/// `/usr/lib/x86_64-linux-gnu/libjemalloc.so.2` → `/usr/$LIB/libjemalloc.so.2`;
/// `/usr/local/lib/libmemproxy.so` → `/usr/local/$LIB/libmemproxy.so` (where
/// install.sh puts each architecture's memproxy); any other directory D →
/// `D/$LIB/file`.
fn lib_token_form(entry: &str) -> Option<String> {
    let (dir, file) = entry.rsplit_once('/')?;
    if !entry.starts_with('/') || file.is_empty() {
        return None;
    }
    let dir = ARCHES
        .iter()
        .find_map(|arch| dir.strip_suffix(&format!("/lib/{}", arch.tuple)))
        .or_else(|| dir.strip_suffix("/lib"))
        .unwrap_or(dir);
    Some(format!("{dir}/$LIB/{file}"))
}

/// How to put the entry's object in place for `abi`'s programs: memproxy's
/// build for it, a known allocator's package, else the object itself.
fn install_hint(object: &Listed, abi: &Abi) -> String {
    let is_memproxy = matches!(&object.found, Found::File(Kind::SharedObject(exports)) if exports.memproxy)
        || object.name.ends_with("libmemproxy.so");
    if is_memproxy {
        return format!(
            "build memproxy for {} (`ci/cross/build.sh --target {} --group lib`) and install it \
             with `memproxy/install.sh --with-library \
             target/cross/build/{}/release/libmemproxy.so`",
            abi.tuple, abi.arch.rust_target, abi.arch.rust_target
        );
    }
    let file = object.name.rsplit('/').next().unwrap_or(&object.name);
    let package = known::all()
        .find(|row| row.file == file)
        .and_then(|row| library::known(row.name))
        .map(|known| known.package);
    match package {
        Some(package) => format!("apt-get install {package}:{}", abi.arch.debian_arch),
        None => format!("install the {} build of {file}", abi.tuple),
    }
}
