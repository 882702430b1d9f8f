//! The specification, restated on its own: which names the kernel gives a
//! program started a given way, whether an exclusion list names it, and
//! which allocator must then serve it.
//!
//! This is the harness's one statement of these rules: the matrix, the
//! global-preload run and the hostile-config tests all take their
//! expectations from here. It is deliberately independent of memproxy's
//! code (neither the library nor `memproxy-config`, the parser it shares
//! with the CLI, is a dependency of the harness): an expectation derived
//! from the implementation would prove nothing. Keep it that way.

use std::path::Path;

use crate::allocators::{Allocator, Owner};
use crate::names::{Launch, Layout, NameCase};
use crate::orders::{Order, Standing};

/// The two names memproxy's specification trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelNames {
    /// `AT_EXECFN`: the path given to `execve`, exactly as given.
    pub execfn: String,
    /// `/proc/self/exe`: the path of the binary the kernel mapped, symlinks
    /// resolved (a hardlink keeps the name it was opened by; a script's is
    /// its interpreter's).
    pub exe: String,
}

/// The names a case's program gets when materialised in `dir` (canonical).
pub fn kernel_names(case: &NameCase, dir: &Path) -> KernelNames {
    let dir = dir.to_str().expect("case directories are UTF-8");
    let execfn = match case.launch {
        // The shell resolves a relative path against its working directory
        // only inside the kernel; execve receives "./FILE".
        Launch::Relative => format!("./{}", case.file),
        // A PATH search hands execve the joined path.
        Launch::PathLookup
        | Launch::Absolute
        | Launch::SpoofedArgv0(_)
        | Launch::EmptyEnvironment
        | Launch::Python
        | Launch::Underscore(_) => format!("{dir}/{}", case.file),
    };
    let exe = match case.layout {
        Layout::Copy | Layout::Hardlink { .. } => format!("{dir}/{}", case.file),
        Layout::Symlink { target } => format!("{dir}/{target}"),
        Layout::Script { interpreter } => format!("{dir}/{interpreter}"),
    };
    KernelNames { execfn, exe }
}

/// Whether `config` lists the program, per the README's rules: one entry
/// per `\n`-separated line; blanks (space, tab, CR) around it ignored; empty
/// lines and lines starting with `#` or `;` ignored; an entry starting with
/// `/` equals a full name, any other entry equals a full name's last
/// component.
pub fn listed(config: &str, names: &KernelNames) -> bool {
    listed_bytes(config.as_bytes(), names)
}

/// [`listed`], for a config of any bytes.
pub fn listed_bytes(config: &[u8], names: &KernelNames) -> bool {
    let last_component = |path: &str| path.rsplit('/').next().unwrap_or(path).to_owned();
    config.split(|&byte| byte == b'\n').any(|line| {
        let entry = trim_blanks(line);
        if entry.is_empty() || entry.starts_with(b"#") || entry.starts_with(b";") {
            false
        } else if entry.starts_with(b"/") {
            entry == names.execfn.as_bytes() || entry == names.exe.as_bytes()
        } else {
            entry == last_component(&names.execfn).as_bytes()
                || entry == last_component(&names.exe).as_bytes()
        }
    })
}

/// Whether the config file at `path` lists the program: a path that is not
/// a regular file (symlinks followed) is never read, and a missing or
/// unreadable file lists nothing; a regular file lists per [`listed_bytes`].
pub fn file_lists(path: &Path, names: &KernelNames) -> bool {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {
            std::fs::read(path).is_ok_and(|bytes| listed_bytes(&bytes, names))
        }
        _ => false,
    }
}

/// `line` without the blanks around it: space, tab, CR.
fn trim_blanks(line: &[u8]) -> &[u8] {
    let blank = |byte: &u8| matches!(byte, b' ' | b'\t' | b'\r');
    let start = line
        .iter()
        .position(|byte| !blank(byte))
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|byte| !blank(byte))
        .map_or(start, |end| end + 1);
    &line[start..end]
}

/// The config text of a case, for a case directory.
pub fn config_text(case: &NameCase, dir: &Path) -> String {
    case.config
        .replace("{DIR}", dir.to_str().expect("case directories are UTF-8"))
}

/// Whether the order preloads a custom allocator at all.
fn order_has_allocator(order: &Order) -> bool {
    order.env.contains("ALLOC") || order.etc.contains("ALLOC")
}

/// Whether memproxy cannot apply the list because the allocator's `malloc`
/// comes first.
pub fn allocator_comes_first(allocator: &Allocator, order: &Order) -> bool {
    allocator.path.is_some()
        && allocator.exports_malloc
        && order.standing == Standing::AfterAllocator
}

/// Who must serve every allocation, per the route rules: glibc for a
/// listed program or when no custom allocator is preloaded; otherwise the
/// custom allocator. When the allocator is preloaded before memproxy it
/// serves everything: memproxy routes what still reaches it to the same
/// allocator, so a process never mixes two heaps.
pub fn expected_owner(allocator: &Allocator, order: &Order, listed: bool) -> Owner {
    if allocator.path.is_none() || !order_has_allocator(order) {
        Owner::Glibc
    } else if allocator_comes_first(allocator, order) {
        allocator.owner
    } else if listed {
        Owner::Glibc
    } else {
        allocator.owner
    }
}
