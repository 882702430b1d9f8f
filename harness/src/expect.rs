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

/// Whether `config` excludes the program, per the user guide's rules: one
/// entry per `\n`-separated line; blanks (space, tab, CR) around it ignored;
/// empty lines and lines starting with `#` or `;` ignored; a line starting
/// with `!` re-includes what the rest of it (blanks trimmed) matches; an
/// entry starting with `/` is compared with a full name, any other entry
/// with a full name's last component; an entry holding `*`, `?`, `[` or `\`
/// is a shell pattern (see [`pattern_matches`]), any other is compared byte
/// for byte. The last line that matches decides; none means not excluded.
pub fn listed(config: &str, names: &KernelNames) -> bool {
    listed_bytes(config.as_bytes(), names)
}

/// [`listed`], for a config of any bytes.
pub fn listed_bytes(config: &[u8], names: &KernelNames) -> bool {
    let mut excluded = false;
    for line in config.split(|&byte| byte == b'\n') {
        let entry = trim_blanks(line);
        if entry.is_empty() || entry.starts_with(b"#") || entry.starts_with(b";") {
            continue;
        }
        let (excludes, entry) = match entry.split_first() {
            Some((b'!', rest)) => (false, trim_blanks(rest)),
            _ => (true, entry),
        };
        if entry_matches(entry, names) {
            excluded = excludes;
        }
    }
    excluded
}

/// Whether one entry (its `!` removed) matches either of the names.
fn entry_matches(entry: &[u8], names: &KernelNames) -> bool {
    let last_component = |path: &'_ str| path.rsplit('/').next().unwrap_or(path).to_owned();
    let is_pattern = entry.iter().any(|byte| b"*?[\\".contains(byte));
    let equals = |name: &str| {
        !name.is_empty()
            && if is_pattern {
                pattern_matches(entry, name.as_bytes())
            } else {
                entry == name.as_bytes()
            }
    };
    if entry.starts_with(b"/") {
        equals(&names.execfn) || equals(&names.exe)
    } else {
        equals(&last_component(&names.execfn)) || equals(&last_component(&names.exe))
    }
}

/// The longest pattern that can match (the user guide: longer ones never do).
const LONGEST_PATTERN: usize = 4096;

/// A shell pattern against a whole name, as the user guide defines it:
/// `fnmatch(3)` with `FNM_PATHNAME` in the C locale, byte-wise (no wildcard
/// or bracket matches `/`), and a malformed pattern (an unclosed `[`, a
/// trailing `\`, an unknown `[:class:]`, a `[=`/`[.` term that is not one
/// byte) or one longer than 4096 bytes matching nothing. Dynamic programming
/// over (pattern element, name byte), so any pattern is quick.
pub fn pattern_matches(pattern: &[u8], name: &[u8]) -> bool {
    if pattern.len() > LONGEST_PATTERN {
        return false;
    }
    let Some(elements) = pattern_elements(pattern) else {
        return false;
    };
    // matched[j]: the elements so far can match name[..j].
    let mut matched = vec![false; name.len() + 1];
    matched[0] = true;
    for element in &elements {
        let mut next = vec![false; name.len() + 1];
        match element {
            Element::Star => {
                for j in 0..=name.len() {
                    next[j] = matched[j] || (j > 0 && next[j - 1] && name[j - 1] != b'/');
                }
            }
            // Only a literal (or escaped) `/` admits a `/`.
            Element::One(admitted) => {
                for j in 1..=name.len() {
                    next[j] = matched[j - 1] && admitted[usize::from(name[j - 1])];
                }
            }
        }
        matched = next;
    }
    matched[name.len()]
}

enum Element {
    Star,
    /// One byte of this set.
    One(Box<[bool; 256]>),
}

impl Element {
    fn byte(byte: u8) -> Element {
        let mut set = Box::new([false; 256]);
        set[usize::from(byte)] = true;
        Element::One(set)
    }
}

/// The pattern's elements, or `None` when it is malformed.
fn pattern_elements(pattern: &[u8]) -> Option<Vec<Element>> {
    let mut elements = Vec::new();
    let mut at = 0;
    while at < pattern.len() {
        match pattern[at] {
            b'*' => {
                elements.push(Element::Star);
                at += 1;
            }
            b'?' => {
                let mut set = Box::new([true; 256]);
                set[usize::from(b'/')] = false;
                elements.push(Element::One(set));
                at += 1;
            }
            b'\\' => {
                elements.push(Element::byte(*pattern.get(at + 1)?));
                at += 2;
            }
            b'[' => {
                let (mut set, next) = bracket(pattern, at + 1)?;
                set[usize::from(b'/')] = false;
                elements.push(Element::One(set));
                at = next;
            }
            byte => {
                elements.push(Element::byte(byte));
                at += 1;
            }
        }
    }
    Some(elements)
}

/// The set a bracket expression admits (its body starts at `at`, after the
/// `[`) and where the pattern goes on after its `]`; `None` if malformed.
fn bracket(pattern: &[u8], mut at: usize) -> Option<(Box<[bool; 256]>, usize)> {
    let negated = matches!(pattern.get(at), Some(b'!' | b'^'));
    if negated {
        at += 1;
    }
    let mut set = Box::new([false; 256]);
    let mut first = true;
    loop {
        let byte = *pattern.get(at)?;
        if byte == b']' && !first {
            at += 1;
            break;
        }
        first = false;
        // One member: a class, an escaped byte, `[=c=]`, `[.c.]`, or a byte.
        let (low, after) = match (byte, pattern.get(at + 1).copied()) {
            (b'[', Some(b':')) => {
                let name_end = pattern[at + 2..]
                    .iter()
                    .position(|byte| !byte.is_ascii_lowercase())
                    .map(|length| at + 2 + length)?;
                if pattern.get(name_end..name_end + 2) == Some(b":]") {
                    let class = class_members(&pattern[at + 2..name_end])?;
                    for member in 0..=255u8 {
                        set[usize::from(member)] |= class(member);
                    }
                    at = name_end + 2;
                    continue;
                }
                (b'[', at + 1)
            }
            (b'[', Some(kind @ (b'=' | b'.'))) => {
                if pattern.get(at + 3) == Some(&kind) && pattern.get(at + 4) == Some(&b']') {
                    (*pattern.get(at + 2)?, at + 5)
                } else {
                    return None;
                }
            }
            (b'\\', Some(escaped)) => (escaped, at + 2),
            (b'\\', None) => return None,
            (byte, _) => (byte, at + 1),
        };
        // A range, unless the `-` is last before the `]`.
        if pattern.get(after) == Some(&b'-') && pattern.get(after + 1).is_some_and(|&b| b != b']') {
            let (high, next) = match (pattern[after + 1], pattern.get(after + 2).copied()) {
                (b'\\', Some(escaped)) => (escaped, after + 3),
                (b'\\', None) => return None,
                (b'[', Some(b':' | b'=' | b'.')) => {
                    // A class cannot end a range; this `-` is then a member.
                    set[usize::from(low)] = true;
                    at = after;
                    continue;
                }
                (high, _) => (high, after + 2),
            };
            for member in low..=high {
                set[usize::from(member)] = true;
            }
            at = next;
        } else {
            set[usize::from(low)] = true;
            at = after;
        }
    }
    if negated {
        for admitted in set.iter_mut() {
            *admitted = !*admitted;
        }
    }
    Some((set, at))
}

/// The C locale's character classes by name; `None` for an unknown one.
fn class_members(name: &[u8]) -> Option<fn(u8) -> bool> {
    Some(match name {
        b"alnum" => |c: u8| c.is_ascii_alphanumeric(),
        b"alpha" => |c: u8| c.is_ascii_alphabetic(),
        b"blank" => |c: u8| c == b' ' || c == b'\t',
        b"cntrl" => |c: u8| c.is_ascii_control(),
        b"digit" => |c: u8| c.is_ascii_digit(),
        b"graph" => |c: u8| c.is_ascii_graphic(),
        b"lower" => |c: u8| c.is_ascii_lowercase(),
        b"print" => |c: u8| c.is_ascii_graphic() || c == b' ',
        b"punct" => |c: u8| c.is_ascii_punctuation(),
        b"space" => |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b"upper" => |c: u8| c.is_ascii_uppercase(),
        b"xdigit" => |c: u8| c.is_ascii_hexdigit(),
        _ => return None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's verdict, for well-formed patterns: `FNM_PATHNAME`.
    fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
        let pattern = std::ffi::CString::new(pattern).unwrap();
        let name = std::ffi::CString::new(name).unwrap();
        // SAFETY: two NUL-terminated strings that outlive the call.
        unsafe { libc::fnmatch(pattern.as_ptr(), name.as_ptr(), libc::FNM_PATHNAME) == 0 }
    }

    /// Every string of up to `length` bytes from `alphabet`.
    fn strings(alphabet: &[u8], length: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..length {
            last = last
                .iter()
                .flat_map(|prefix: &Vec<u8>| {
                    alphabet
                        .iter()
                        .map(move |&byte| [prefix.as_slice(), &[byte]].concat())
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn well_formed_patterns_match_as_glibc_fnmatch_does() {
        let names = strings(b"ab/-]", 3);
        let mut compared = 0;
        for pattern in strings(b"a/*?[]!-\\", 4) {
            // glibc's fnmatch refuses an escaped `/` after a `*`; the user
            // guide makes it a plain `/`, so those are not compared.
            if pattern_elements(&pattern).is_none() || pattern.windows(2).any(|w| w == b"\\/") {
                continue;
            }
            for name in &names {
                assert_eq!(
                    pattern_matches(&pattern, name),
                    fnmatch(&pattern, name),
                    "pattern {:?} name {:?}",
                    String::from_utf8_lossy(&pattern),
                    String::from_utf8_lossy(name)
                );
                compared += 1;
            }
        }
        assert!(compared > 100_000, "{compared}");
    }

    #[test]
    fn malformed_patterns_match_nothing() {
        for pattern in [&b"[ab"[..], b"ab\\", b"[[:nope:]]", b"[[=ab=]]"] {
            assert!(!pattern_matches(pattern, pattern), "{pattern:?}");
        }
        assert!(!pattern_matches(&[b'*'; 4097], b"a"));
        assert!(pattern_matches(&[b'*'; 4096], b"a"));
    }

    #[test]
    fn the_last_matching_line_decides() {
        let names = KernelNames {
            execfn: "/usr/sbin/mysqld".to_owned(),
            exe: "/usr/sbin/mysqld".to_owned(),
        };
        assert!(!listed("*\n!mysqld\n", &names));
        assert!(listed("*\n!redis\n", &names));
        assert!(listed("!mysqld\n*\n", &names));
        assert!(!listed("mysql?\n! mysql*\n", &names));
        assert!(listed("/usr/sbin/*\n", &names));
        assert!(!listed("/usr/*\n", &names));
    }
}
