//! A deliberately plain restatement of the config rules from the crate docs,
//! written without any of the crate's code, for the property tests to compare
//! against.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

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

/// The deciding line (the last that matches, 1-based), what it matched,
/// and whether it excludes (false for a `!` line), with patterns longer
/// than `longest_pattern` never matching.
pub fn decide_within(
    file: &[u8],
    who: &Identity<'_>,
    longest_pattern: usize,
) -> Option<(u64, NameSource, bool)> {
    let mut decision = None;
    for (index, line) in file.split(|b| *b == b'\n').enumerate() {
        let trimmed = trim(line);
        if trimmed.is_empty() || trimmed[0] == b'#' || trimmed[0] == b';' {
            continue;
        }
        let (excludes, entry) = match trimmed.split_first() {
            Some((b'!', rest)) => (false, trim(rest)),
            _ => (true, trimmed),
        };
        let is_pattern = entry
            .iter()
            .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'));
        if is_pattern && entry.len() > longest_pattern {
            continue;
        }
        let equal = |name: &[u8]| {
            !name.is_empty()
                && if is_pattern {
                    glob(entry, name)
                } else {
                    entry == name
                }
        };
        let number = index as u64 + 1;
        let matched = if entry.first() == Some(&b'/') {
            if equal(who.execfn) {
                Some(NameSource::ExecfnPath)
            } else if equal(who.exe) {
                Some(NameSource::ExePath)
            } else {
                None
            }
        } else if equal(last_component(who.execfn)) {
            Some(NameSource::ExecfnName)
        } else if equal(last_component(who.exe)) {
            Some(NameSource::ExeName)
        } else {
            None
        };
        if let Some(source) = matched {
            decision = Some((number, source, excludes));
        }
    }
    decision
}

/// [`decide_within`] with the library's pattern limit.
pub fn decide(file: &[u8], who: &Identity<'_>) -> Option<(u64, NameSource, bool)> {
    decide_within(file, who, memproxy_config::LONGEST_PATTERN)
}

/// A deliberately naive pattern matcher: exponential, obviously right, for
/// short inputs only. No wildcard or bracket matches `/`; a malformed
/// pattern (unterminated bracket, trailing `\`) matches nothing, since no
/// path through it gets past the fault. It knows no `[:class:]` terms (the
/// generators make none for it).
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let one = |rest: &[u8], ok: &dyn Fn(u8) -> bool| matches!(text.split_first(), Some((&c, tail)) if ok(c) && glob(rest, tail));
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len())
            .take_while(|&taken| !text[..taken].contains(&b'/'))
            .any(|taken| glob(rest, &text[taken..])),
        Some((b'?', rest)) => one(rest, &|c| c != b'/'),
        Some((b'\\', rest)) => match rest.split_first() {
            None => false,
            Some((&escaped, rest)) => one(rest, &|c| c == escaped),
        },
        Some((b'[', rest)) => match bracket(rest) {
            Some((members, negated, after)) => {
                one(after, &|c| c != b'/' && members.contains(&c) != negated)
            }
            None => false,
        },
        Some((&literal, rest)) => one(rest, &|c| c == literal),
    }
}

/// The bytes a bracket (after its `[`) admits, whether it is negated, and
/// the pattern after its `]`; `None` when it never closes.
fn bracket(body: &[u8]) -> Option<(Vec<u8>, bool, &[u8])> {
    let (negated, mut rest) = match body.split_first() {
        Some((b'!' | b'^', rest)) => (true, rest),
        _ => (false, body),
    };
    let mut admitted: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let (&c, tail) = rest.split_first()?;
        if c == b']' && !first {
            return Some((admitted, negated, tail));
        }
        first = false;
        let (low, tail) = if c == b'\\' {
            let (&escaped, tail) = tail.split_first()?;
            (escaped, tail)
        } else {
            (c, tail)
        };
        match tail {
            [b'-', high, after @ ..] if *high != b']' => {
                let (high, after) = if *high == b'\\' {
                    let (&escaped, after) = after.split_first()?;
                    (escaped, after)
                } else {
                    (*high, after)
                };
                admitted.extend(low..=high);
                rest = after;
            }
            _ => {
                admitted.push(low);
                rest = tail;
            }
        }
    }
}
