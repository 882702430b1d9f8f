//! A deliberately plain restatement of the config rules from the crate docs,
//! written without any of the crate's code, for the property tests to compare
//! against.

use memproxy_config::{Identity, NameSource};

pub fn trim(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t' || *b == b'\r';
    let mut start = 0;
    while start < line.len() && blank(&line[start]) {
        start += 1;
    }
    let mut end = line.len();
    while end > start && blank(&line[end - 1]) {
        end -= 1;
    }
    &line[start..end]
}

pub fn last_component(path: &[u8]) -> &[u8] {
    let mut start = 0;
    for (index, byte) in path.iter().enumerate() {
        if *byte == b'/' {
            start = index + 1;
        }
    }
    &path[start..]
}

/// First matching line (1-based) and what it matched.
pub fn first_match(file: &[u8], who: &Identity<'_>) -> Option<(u64, NameSource)> {
    for (index, line) in file.split(|b| *b == b'\n').enumerate() {
        let entry = trim(line);
        if entry.is_empty() || entry[0] == b'#' || entry[0] == b';' {
            continue;
        }
        let number = index as u64 + 1;
        if entry[0] == b'/' {
            if entry == who.execfn {
                return Some((number, NameSource::ExecfnPath));
            }
            if entry == who.exe {
                return Some((number, NameSource::ExePath));
            }
        } else {
            if !who.execfn.is_empty() && entry == last_component(who.execfn) {
                return Some((number, NameSource::ExecfnName));
            }
            if !who.exe.is_empty() && entry == last_component(who.exe) {
                return Some((number, NameSource::ExeName));
            }
        }
    }
    None
}
