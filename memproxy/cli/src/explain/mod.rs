//! `memproxy explain`: which names the library will see for a program, and
//! whether the config excludes it.
//!
//! The library trusts two names, both set by the kernel at `execve`: the path
//! passed to `execve` (`AT_EXECFN`) and the binary actually mapped
//! (`/proc/self/exe`, symlinks resolved; the interpreter, for a script).
//! Neither is what `ps` or `argv[0]` shows, so a config entry that "obviously"
//! names a program can miss it: a symlink, a `#!` script, `env` starting
//! another program. This command derives both names the way the kernel will,
//! then asks `memproxy-config` (the library's own matcher) for the verdict.

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use memproxy_config::{Identity, Line, basename, classify_line, find_first_match, lines};
use serde::Serialize;

use crate::config_file::{self, Source, State};
use crate::report::{self, EXIT_OK, EXIT_PROBLEMS, Failure};
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

const HELP: &str = concat!(
    "\
PROGRAM holding a '/' is executed as given (AT_EXECFN is exactly that
string); a bare name is looked up on $PATH like execvp (AT_EXECFN is the
joined path, e.g. /usr/bin/ls). The exe name is the canonical path of the
binary the kernel maps: symlinks resolved, and for a #! script the
interpreter's. `#!/usr/bin/env NAME` scripts are followed into NAME, which
the library judges again when env executes it.

The config: --config FILE, else $MEMPROXY_CONF if set to an absolute path, else
",
    env!("MEMPROXY_DEFAULT_CONFIG"),
    ".

Exit status:
  0  explained (excluded or not: see the output, or .excluded in --json)
  1  the program cannot be executed as given (not found, not executable,
     missing interpreter); what is known is still shown
  2  usage error

Examples:
  memproxy explain top
  memproxy explain /opt/vendor/bin/daemon --config ./memproxy.conf
  memproxy explain ./build.py --json | jq .excluded"
);

/// Arguments of `memproxy explain`.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// A path (holding '/') or a name looked up on PATH
    pub program: OsString,
    /// The config to consult [default: $MEMPROXY_CONF, else the built-in path]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the explanation as JSON
    #[arg(long)]
    pub json: bool,
}

/// One process image: what `execve` was given and what the kernel mapped.
#[derive(Debug, Serialize)]
struct Image {
    /// How this image comes to run.
    started_by: String,
    execfn: String,
    execfn_name: String,
    exe: String,
    exe_name: String,
    /// `#!` interpreters followed, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interpreters: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    excluded: bool,
    /// The entry the library acts on: the first that matches.
    #[serde(rename = "match")]
    first_match: Option<Match>,
    /// Later entries that match too (they change nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also_matching: Vec<Match>,
    #[serde(skip)]
    raw: Names,
}

#[derive(Debug, Clone, Default)]
struct Names {
    execfn: Vec<u8>,
    exe: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
struct Match {
    line: u64,
    entry: String,
    /// "execfn name", "exe name", "execfn path" or "exe path".
    source: &'static str,
}

#[derive(Debug, Serialize)]
struct Explanation {
    program: String,
    /// "as-given" or "PATH".
    lookup: &'static str,
    config: String,
    config_source: Source,
    config_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_problem: Option<String>,
    images: Vec<Image>,
    /// Whether the program that finally runs (the last image) is excluded.
    excluded: bool,
    /// "glibc" when excluded, else "custom" (the allocator preloaded after
    /// libmemproxy.so; glibc if there is none); null when nothing runs.
    route: Option<&'static str>,
    runnable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What to list instead, when an entry matches only a passing image.
    #[serde(skip_serializing_if = "Option::is_none")]
    advice: Option<String>,
}

/// Runs `memproxy explain`.
pub fn run(args: &Args) -> Result<u8, Failure> {
    let program = args.program.as_bytes();
    if program.is_empty() {
        return Err(Failure("PROGRAM must not be empty".to_owned()));
    }
    let config = config_file::choose(args.config.as_deref());
    let state = config_file::load(&config.path);
    let (mut images, error) = trace(program);
    if let State::Read { contents, .. } = &state {
        for image in &mut images {
            judge(image, contents);
        }
    }
    let excluded = images.last().is_some_and(|image| image.excluded);
    let explanation = Explanation {
        program: shown(program),
        lookup: if program.contains(&b'/') {
            "as-given"
        } else {
            "PATH"
        },
        config: shown_os(&config.path),
        config_source: config.source,
        config_state: state.label(),
        config_problem: state.why_nothing_is_excluded(),
        excluded,
        route: match (images.is_empty(), excluded) {
            (true, _) => None,
            (false, true) => Some("glibc"),
            (false, false) => Some("custom"),
        },
        runnable: error.is_none(),
        error,
        advice: advise(&images),
        images,
    };
    if args.json {
        report::print_json(&explanation)?;
    } else {
        print_text(&explanation);
    }
    Ok(if explanation.runnable {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// The images that run when `program` is executed, and why execution would
/// stop early, if it would.
fn trace(program: &[u8]) -> (Vec<Image>, Option<String>) {
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
                Err(error) => return (images, Some(error)),
            }
        };
        let mapped = match follow_interpreters(&execfn) {
            Ok(mapped) => mapped,
            Err(error) => return (images, Some(error)),
        };
        let env_target = mapped.env_target.clone();
        images.push(image(started_by, execfn, mapped));
        match env_target {
            None => return (images, None),
            Some(EnvTarget::Program(program)) => next = program,
            Some(EnvTarget::Unparsed(reason)) => {
                if let Some(last) = images.last_mut() {
                    last.notes.push(reason);
                }
                return (images, None);
            }
        }
    }
    let error = "env starts env again too many times".to_owned();
    (images, Some(error))
}

fn image(started_by: String, execfn: Vec<u8>, mapped: Mapped) -> Image {
    let mut notes = mapped.notes;
    let mut exe = mapped.exe;
    if exe.len() >= LIBRARY_EXE_BUFFER {
        notes.push(format!(
            "the real path is {} bytes long; the library reads at most {} and sees no exe name",
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
    if basename(&execfn) != basename(&exe) && mapped.interpreters.is_empty() && !exe.is_empty() {
        notes.push(format!(
            "the execfn name '{}' and the exe name '{}' differ (a symlink on the way): a name entry for \
             either one matches",
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
        excluded: false,
        first_match: None,
        also_matching: Vec::new(),
        raw: Names { execfn, exe },
    }
}

/// An entry that matches `env` (or the script it reads) excludes only that
/// short-lived image; the program it then executes is judged afresh.
fn advise(images: &[Image]) -> Option<String> {
    let (last, passing) = images.split_last()?;
    let excluded_passing = passing.iter().find(|image| image.excluded)?;
    if last.excluded {
        return None;
    }
    Some(format!(
        "the match excludes only {} (exe '{}'), which then executes {}: list '{}' to exclude \
         it (and every other program of that name), or give the script a #! line naming its \
         interpreter directly",
        excluded_passing.execfn, excluded_passing.exe_name, last.execfn, last.execfn_name
    ))
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
struct Mapped {
    exe: Vec<u8>,
    interpreters: Vec<Vec<u8>>,
    notes: Vec<String>,
    env_target: Option<EnvTarget>,
}

/// What `env` in a `#!` line goes on to execute.
#[derive(Clone)]
enum EnvTarget {
    Program(Vec<u8>),
    /// env is given no program, or one this command cannot read off.
    Unparsed(String),
}

fn follow_interpreters(execfn: &[u8]) -> Result<Mapped, String> {
    let mut mapped = Mapped {
        exe: Vec::new(),
        interpreters: Vec::new(),
        notes: Vec::new(),
        env_target: None,
    };
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

/// Sets `image`'s verdict from `contents`, by the library's own scan.
fn judge(image: &mut Image, contents: &[u8]) {
    let identity = Identity {
        execfn: &image.raw.execfn,
        exe: &image.raw.exe,
    };
    // The library's buffer is larger than any name it can see; this one is
    // sized so that a scan never stops for want of room.
    let mut buffer = vec![0u8; identity.longest_name().max(16 * 1024) + 1];
    let first = find_first_match(&mut &contents[..], &mut buffer, &identity)
        .ok()
        .flatten();
    let entry_on = |line: u64| {
        lines(contents)
            .find(|(number, _)| *number == line)
            .and_then(|(_, raw)| match classify_line(raw) {
                Line::Entry(entry) => Some(shown(entry.bytes())),
                _ => None,
            })
            .unwrap_or_default()
    };
    image.first_match = first.map(|found| Match {
        line: found.line,
        entry: entry_on(found.line),
        source: found.source.label(),
    });
    image.excluded = first.is_some();
    image.also_matching = lines(contents)
        .filter(|(number, _)| Some(*number) != first.map(|found| found.line))
        .filter_map(|(number, raw)| match classify_line(raw) {
            Line::Entry(entry) => entry.matches(&identity).map(|source| Match {
                line: number,
                entry: shown(entry.bytes()),
                source: source.label(),
            }),
            _ => None,
        })
        .collect();
}

fn print_text(explanation: &Explanation) {
    println!(
        "program  {} ({})",
        explanation.program,
        if explanation.lookup == "PATH" {
            "a name: looked up on PATH like execvp"
        } else {
            "a path: executed as given"
        }
    );
    println!(
        "config   {} ({}){}",
        explanation.config,
        explanation.config_source.describe(),
        explanation
            .config_problem
            .as_ref()
            .map_or(String::new(), |problem| format!(
                ": {problem}; nothing is excluded"
            ))
    );
    let numbered = explanation.images.len() > 1;
    for (index, image) in explanation.images.iter().enumerate() {
        if numbered {
            println!("image {}: {}", index + 1, image.started_by);
        } else {
            println!("started  {}", image.started_by);
        }
        println!("  execfn {}   (name '{}')", image.execfn, image.execfn_name);
        println!(
            "  exe    {}   (name '{}'{})",
            image.exe,
            image.exe_name,
            if image.interpreters.is_empty() {
                ", symlinks resolved"
            } else {
                ", the interpreter"
            }
        );
        for note in &image.notes {
            println!("  note: {note}");
        }
        print_verdict(image, explanation.config_problem.is_some());
    }
    if let Some(error) = &explanation.error {
        println!("cannot execute: {error}");
    }
    if numbered {
        println!(
            "The program that finally runs is {}.",
            if explanation.excluded {
                "excluded: glibc's malloc"
            } else {
                "not excluded: the custom allocator"
            }
        );
    }
    if let Some(advice) = &explanation.advice {
        println!("advice: {advice}");
    }
}

fn print_verdict(image: &Image, config_unread: bool) {
    match &image.first_match {
        Some(found) => {
            println!(
                "  excluded: line {} '{}' equals the {} -> glibc's malloc",
                found.line, found.entry, found.source
            );
            for also in &image.also_matching {
                println!(
                    "  (line {} '{}' matches the {} too)",
                    also.line, also.entry, also.source
                );
            }
        }
        None if config_unread => {
            println!("  not excluded (no config read) -> the custom allocator");
        }
        None => {
            let mut names = vec![image.execfn_name.as_str(), image.exe_name.as_str()];
            names.dedup();
            let mut paths = vec![image.execfn.as_str(), image.exe.as_str()];
            paths.dedup();
            println!(
                "  not excluded: no entry is '{}' or '{}' -> the custom allocator",
                names.join("' or '"),
                paths.join("' or '")
            );
        }
    }
}
