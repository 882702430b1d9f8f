//! The names the library will see for a program, derived the way the kernel
//! sets them: `AT_EXECFN` is the path given to `execve` (after an `execvp`
//! search of `PATH` for a bare name), and `/proc/self/exe` the canonical path
//! of the binary mapped, which for a `#!` script is its interpreter. A
//! `#!/usr/bin/env NAME` script leads to a second image, NAME, which the
//! library judges afresh.
//!
//! This is the part of `explain` that looks at the file system; parsing a
//! `#!` line and what `env` is asked to run are kept apart from it.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use memproxy_config::{Identity, basename};
use serde::Serialize;

use crate::shown::{shown, shown_os};

/// glibc's `execvp` searches this when `PATH` is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";
/// Linux follows at most this many nested `#!` interpreters.
const MAX_INTERPRETER_DEPTH: usize = 4;
/// Linux reads the `#!` line from the first 256 bytes (`BINPRM_BUF_SIZE`).
const SHEBANG_LIMIT: usize = 256;
/// The library reads `/proc/self/exe` into 4096 bytes; a longer target is
/// unknown to it.
const LIBRARY_EXE_BUFFER: usize = 4096;
/// `env` executes a further program, which the library judges afresh.
const MAX_ENV_HOPS: usize = 4;

/// One process image: what `execve` was given and what the kernel mapped.
#[derive(Debug, Serialize)]
pub(super) struct Image {
    /// How this image comes to run.
    pub(super) started_by: String,
    /// `AT_EXECFN`, escaped for display.
    pub(super) execfn: String,
    /// Its last component, which name entries are compared with.
    pub(super) execfn_name: String,
    /// The `/proc/self/exe` target, escaped for display; empty where the
    /// library cannot read it.
    pub(super) exe: String,
    /// Its last component.
    pub(super) exe_name: String,
    /// `#!` interpreters followed, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) interpreters: Vec<String>,
    /// What makes these names surprising.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) notes: Vec<String>,
    /// The names as bytes, for the library's matcher.
    #[serde(skip)]
    pub(super) raw: RawNames,
}

/// The two names the library trusts, byte for byte.
#[derive(Debug, Clone, Default)]
pub(super) struct RawNames {
    /// `AT_EXECFN`.
    pub(super) execfn: Vec<u8>,
    /// The `/proc/self/exe` target as the library reads it.
    pub(super) exe: Vec<u8>,
}

impl RawNames {
    /// The names in the matcher's terms.
    pub(super) fn identity(&self) -> Identity<'_> {
        Identity {
            execfn: &self.execfn,
            exe: &self.exe,
        }
    }
}

/// The images that run when a program is executed.
#[derive(Debug)]
pub(super) struct Trace {
    /// In the order they run: the program, then whatever `env` executes.
    pub(super) images: Vec<Image>,
    /// Why execution would stop early, if it would.
    pub(super) error: Option<String>,
}

/// Follows `program` as `execvp` and the kernel would, through `#!`
/// interpreters and `env`.
pub(super) fn trace(program: &[u8]) -> Trace {
    let mut images = Vec::new();
    let mut next = program.to_vec();
    for hop in 0..=MAX_ENV_HOPS {
        let caller = if hop == 0 { "" } else { "env: " };
        let (execfn, started_by) = if next.contains(&b'/') {
            let started_by = format!("{caller}execve(\"{}\")", shown(&next));
            (next.clone(), started_by)
        } else {
            match search_path(&next) {
                Ok(found) => {
                    let started_by = format!(
                        "{caller}execvp(\"{}\") finds {} on PATH",
                        shown(&next),
                        shown(&found)
                    );
                    (found, started_by)
                }
                Err(error) => return Trace::stopped(images, error),
            }
        };
        let mapped = match follow_interpreters(&execfn) {
            Ok(mapped) => mapped,
            Err(error) => return Trace::stopped(images, error),
        };
        let env_target = mapped.env_target.clone();
        images.push(Image::new(started_by, execfn, mapped));
        match env_target {
            None => return Trace::runs(images),
            Some(EnvTarget::Program(program)) => next = program,
            Some(EnvTarget::Unparsed(reason)) => {
                if let Some(last) = images.last_mut() {
                    last.notes.push(reason);
                }
                return Trace::runs(images);
            }
        }
    }
    Trace::stopped(images, "env starts env again too many times".to_owned())
}

impl Trace {
    fn runs(images: Vec<Image>) -> Trace {
        Trace {
            images,
            error: None,
        }
    }

    fn stopped(images: Vec<Image>, error: String) -> Trace {
        Trace {
            images,
            error: Some(error),
        }
    }
}

impl Image {
    /// The image `execfn` maps, with notes on whatever makes its names
    /// differ from what one might expect.
    fn new(started_by: String, execfn: Vec<u8>, mapped: Mapped) -> Image {
        let mut notes = mapped.notes;
        let mut exe = mapped.exe;
        if exe.len() >= LIBRARY_EXE_BUFFER {
            notes.push(format!(
                "the real path is {} bytes long; the library reads at most {} and sees no exe \
                 name",
                exe.len(),
                LIBRARY_EXE_BUFFER - 1
            ));
            exe.clear();
        }
        if !execfn.starts_with(b"/") {
            notes.push(format!(
                "AT_EXECFN is the relative path '{}': path entries can match only the exe path",
                shown(&execfn)
            ));
        }
        if basename(&execfn) != basename(&exe) && mapped.interpreters.is_empty() && !exe.is_empty()
        {
            notes.push(format!(
                "the execfn name '{}' and the exe name '{}' differ (a symlink on the way): a name \
                 entry for either one matches",
                shown(basename(&execfn)),
                shown(basename(&exe))
            ));
        }
        Image {
            started_by,
            execfn: shown(&execfn),
            execfn_name: shown(basename(&execfn)),
            exe: shown(&exe),
            exe_name: shown(basename(&exe)),
            interpreters: mapped.interpreters.iter().map(|path| shown(path)).collect(),
            notes,
            raw: RawNames { execfn, exe },
        }
    }
}

/// `execvp`'s search: the first regular, executable `DIR/NAME` on `PATH`,
/// where an empty `DIR` is the current directory (and yields `NAME` itself,
/// as glibc builds it).
fn search_path(name: &[u8]) -> Result<Vec<u8>, String> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from(DEFAULT_PATH));
    for dir in path.as_bytes().split(|&byte| byte == b':') {
        let candidate = if dir.is_empty() {
            name.to_vec()
        } else {
            [dir, b"/", name].concat()
        };
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!(
        "'{}' is not found on PATH ({})",
        shown(name),
        shown_os(&path)
    ))
}

fn is_executable_file(path: &[u8]) -> bool {
    let Ok(metadata) = std::fs::metadata(OsStr::from_bytes(path)) else {
        return false;
    };
    let Ok(c_path) = CString::new(path) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string for the call.
    metadata.is_file() && unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } == 0
}

/// What the kernel maps for a path given to `execve`.
#[derive(Debug, Default)]
struct Mapped {
    exe: Vec<u8>,
    interpreters: Vec<Vec<u8>>,
    notes: Vec<String>,
    env_target: Option<EnvTarget>,
}

/// What `env` in a `#!` line goes on to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EnvTarget {
    Program(Vec<u8>),
    /// env is given no program, or one this command cannot read off.
    Unparsed(String),
}

fn follow_interpreters(execfn: &[u8]) -> Result<Mapped, String> {
    let mut mapped = Mapped::default();
    let mut current = execfn.to_vec();
    let mut last_argument: Option<Vec<u8>> = None;
    for _ in 0..=MAX_INTERPRETER_DEPTH {
        let path = PathBuf::from(OsString::from_vec(current.clone()));
        if !is_executable_file(&current) {
            return Err(not_executable(&path));
        }
        let head = read_head(&path)?;
        if let Some((interpreter, argument)) = parse_shebang(&head) {
            mapped.notes.push(format!(
                "{} is a script: the kernel maps its interpreter {}{}",
                shown(&current),
                shown(&interpreter),
                argument.as_ref().map_or(String::new(), |argument| format!(
                    " (with the one argument '{}')",
                    shown(argument)
                ))
            ));
            mapped.interpreters.push(interpreter.clone());
            last_argument = argument;
            current = interpreter;
            continue;
        }
        if !head.starts_with(b"\x7fELF") {
            return Err(format!(
                "{} is neither an ELF binary nor a #! script: execve fails with ENOEXEC \
                 (shells and execvp then run it with /bin/sh)",
                shown_os(&path)
            ));
        }
        let real = std::fs::canonicalize(&path)
            .map_err(|error| format!("cannot resolve {}: {error}", shown_os(&path)))?;
        mapped.exe = real.into_os_string().into_vec();
        if !mapped.interpreters.is_empty() && basename(&mapped.exe) == b"env" {
            mapped.env_target = Some(env_target(last_argument.as_deref()));
        }
        return Ok(mapped);
    }
    Err(format!(
        "{} nests more than {MAX_INTERPRETER_DEPTH} #! interpreters: execve fails with ELOOP",
        shown(execfn)
    ))
}

fn not_executable(path: &Path) -> String {
    match std::fs::metadata(path) {
        Err(error) => format!("{}: {error}", shown_os(path)),
        Ok(metadata) if !metadata.is_file() => {
            format!("{} is not a regular file", shown_os(path))
        }
        Ok(_) => format!(
            "{} is not executable (no execute permission)",
            shown_os(path)
        ),
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|error| format!("{}: {error}", shown_os(path)))?;
    let mut head = Vec::with_capacity(SHEBANG_LIMIT);
    file.take(SHEBANG_LIMIT as u64)
        .read_to_end(&mut head)
        .map_err(|error| format!("{}: {error}", shown_os(path)))?;
    Ok(head)
}

/// The interpreter and its optional single argument from a `#!` line, split
/// as Linux does: blanks after `#!` skipped, the interpreter up to the next
/// blank, the rest (trimmed) passed as one argument.
fn parse_shebang(head: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|&byte| byte == b'\n').next().unwrap_or(line);
    let is_blank = |byte: &u8| matches!(byte, b' ' | b'\t');
    let start = line.iter().position(|byte| !is_blank(byte))?;
    let line = &line[start..];
    let end = line.iter().position(is_blank).unwrap_or(line.len());
    let interpreter = line[..end].to_vec();
    let rest = line[end..].trim_ascii();
    let argument = (!rest.is_empty()).then(|| rest.to_vec());
    Some((interpreter, argument))
}

/// The program `env` executes given the single `#!` argument: `-S` splits it
/// into words; otherwise Linux passes it whole, blanks included.
fn env_target(argument: Option<&[u8]>) -> EnvTarget {
    let Some(argument) = argument else {
        return EnvTarget::Unparsed("env is given no program: it prints the environment".into());
    };
    let split = argument
        .strip_prefix(b"-S")
        .map(|rest| rest.trim_ascii_start());
    let words: Vec<&[u8]> = match split {
        Some(rest) => rest
            .split(|byte| matches!(byte, b' ' | b'\t'))
            .filter(|word| !word.is_empty())
            .collect(),
        None => vec![argument],
    };
    let program = words
        .into_iter()
        .find(|word| !word.starts_with(b"-") && !word.contains(&b'='));
    match program {
        Some(program) => EnvTarget::Program(program.to_vec()),
        None => EnvTarget::Unparsed(format!(
            "cannot tell which program env runs from '{}'",
            shown(argument)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shebang(head: &[u8]) -> Option<(String, Option<String>)> {
        parse_shebang(head).map(|(interpreter, argument)| {
            (
                shown(&interpreter),
                argument.map(|argument| shown(&argument)),
            )
        })
    }

    fn mapped_to(exe: &[u8], interpreters: &[&[u8]]) -> Mapped {
        Mapped {
            exe: exe.to_vec(),
            interpreters: interpreters.iter().map(|path| path.to_vec()).collect(),
            ..Mapped::default()
        }
    }

    #[test]
    fn a_shebang_line_is_split_at_the_first_blank_like_linux() {
        assert_eq!(
            shebang(b"#!/bin/sh\necho\n"),
            Some(("/bin/sh".into(), None))
        );
        assert_eq!(
            shebang(b"#! /usr/bin/env  -S python3 -u \nimport os\n"),
            Some(("/usr/bin/env".into(), Some("-S python3 -u".into())))
        );
        assert_eq!(
            shebang(b"#!/bin/sh -e\t-x"),
            Some(("/bin/sh".into(), Some("-e\\x09-x".into())))
        );
    }

    #[test]
    fn no_interpreter_means_no_shebang() {
        assert_eq!(shebang(b"#! \t\n/bin/sh\n"), None);
        assert_eq!(shebang(b"\x7fELF\x02\x01"), None);
        assert_eq!(shebang(b" #!/bin/sh\n"), None);
    }

    #[test]
    fn env_runs_its_argument_whole_unless_split_by_dash_s() {
        assert_eq!(env_target(Some(b"sh")), EnvTarget::Program(b"sh".to_vec()));
        assert_eq!(
            env_target(Some(b"python3 -u")),
            EnvTarget::Program(b"python3 -u".to_vec())
        );
        assert_eq!(
            env_target(Some(b"-S python3 -u")),
            EnvTarget::Program(b"python3".to_vec())
        );
        assert_eq!(
            env_target(Some(b"-S -i LANG=C\tperl -w")),
            EnvTarget::Program(b"perl".to_vec())
        );
    }

    #[test]
    fn env_without_a_program_is_noted_not_followed() {
        assert!(matches!(
            env_target(None),
            EnvTarget::Unparsed(reason) if reason.contains("prints the environment")
        ));
        assert_eq!(
            env_target(Some(b"-S -i A=1")),
            EnvTarget::Unparsed("cannot tell which program env runs from '-S -i A=1'".into())
        );
    }

    #[test]
    fn a_symlink_gives_two_names_and_a_note_saying_so() {
        let image = Image::new(
            "execve(\"./myls\")".into(),
            b"./myls".to_vec(),
            mapped_to(b"/usr/bin/ls", &[]),
        );
        assert_eq!(
            (image.execfn_name.as_str(), image.exe_name.as_str()),
            ("myls", "ls")
        );
        assert_eq!(
            image.notes,
            [
                "AT_EXECFN is the relative path './myls': path entries can match only the exe path",
                "the execfn name 'myls' and the exe name 'ls' differ (a symlink on the way): a \
                 name entry for either one matches",
            ]
        );
    }

    #[test]
    fn a_script_names_differ_without_a_symlink_note() {
        let image = Image::new(
            String::new(),
            b"/opt/job.sh".to_vec(),
            mapped_to(b"/usr/bin/dash", &[b"/bin/sh"]),
        );
        assert!(image.notes.is_empty(), "{:?}", image.notes);
        assert_eq!(image.interpreters, ["/bin/sh"]);
    }

    #[test]
    fn an_exe_path_too_long_for_the_library_is_no_name_at_all() {
        let long = [b"/".as_slice(), &[b'd'; LIBRARY_EXE_BUFFER - 1]].concat();
        let image = Image::new(String::new(), b"/bin/x".to_vec(), mapped_to(&long, &[]));
        assert_eq!(image.exe, "");
        assert!(image.raw.exe.is_empty());
        assert_eq!(
            image.notes,
            [
                "the real path is 4096 bytes long; the library reads at most 4095 and sees no exe \
              name"
            ]
        );
    }
}
