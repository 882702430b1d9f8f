//! Shell patterns (`*`, `?`, `[...]`, `\`), matched as `fnmatch(3)` matches
//! them with `FNM_PATHNAME` in the C locale: a wildcard or bracket never
//! matches `/`, so `*` stays within one path component. A name holds no `/`,
//! so for name entries this is also `fnmatch` without flags.
//!
//! Matching is byte-wise (`?` is one byte, not one UTF-8 character), as the
//! library runs before any locale is set. It allocates nothing and takes
//! time proportional to the pattern's length times the text's: a `*`
//! remembers only the latest place to resume from, which is enough because
//! a later `*` in the same component can absorb whatever an earlier one
//! could, and no `*` reaches across a `/`. There is no backtracking blow-up
//! on patterns such as `*a*a*a*a*b`.
//!
//! A malformed pattern never matches, and [`problem`] says why: a `[` with
//! no closing `]`, a trailing lone `\`, or an unknown `[:class:]`. glibc's
//! own answers for such patterns have changed between releases (bug 28792),
//! so a config that relied on them would mean different things on different
//! hosts; `memproxy check` reports them instead.

/// Whether `entry` is a pattern: it holds `*`, `?`, `[` or `\`. Any other
/// entry is compared byte for byte, exactly as before patterns existed.
///
/// Every line of every config is asked this in every process start, so it
/// looks at eight bytes at a time, as `find_newline` does.
pub fn is_pattern(entry: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Non-zero when some byte of `word` equals `byte` (exact for "some").
    let holds = |word: u64, byte: u8| {
        let diff = word ^ (ONES * u64::from(byte));
        diff.wrapping_sub(ONES) & !diff & HIGHS
    };
    let mut words = entry.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let word = u64::from_le_bytes(bytes);
        if holds(word, b'*') | holds(word, b'?') | holds(word, b'[') | holds(word, b'\\') != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&byte| matches!(byte, b'*' | b'?' | b'[' | b'\\'))
}

/// Why a pattern is malformed; such a pattern never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The `[` at this byte offset has no closing `]`.
    UnterminatedBracket(usize),
    /// The pattern ends in a `\` that escapes nothing.
    TrailingBackslash,
    /// The bracket expression at this byte offset names a character class
    /// the C locale does not have, or holds a `[=` or `[.` term that is not
    /// one byte.
    InvalidClass(usize),
}

/// The first [`Problem`] of `pattern`, if any.
pub fn problem(pattern: &[u8]) -> Option<Problem> {
    let mut at = 0;
    while let Some(&byte) = pattern.get(at) {
        at = match byte {
            b'\\' if at + 1 == pattern.len() => return Some(Problem::TrailingBackslash),
            b'\\' => at + 2,
            b'[' => match bracket(pattern, at) {
                Ok(bracket) => bracket.end,
                Err(problem) => return Some(problem),
            },
            _ => at + 1,
        };
    }
    None
}

/// Whether `pattern` matches all of `text`. A malformed pattern (see
/// [`problem`]) matches nothing.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    if problem(pattern).is_some() {
        return false;
    }
    let (mut p, mut t) = (0, 0);
    // Where to resume after a mismatch: the pattern just past the latest `*`
    // of this component, and the text one byte further than last time.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        let matched = match pattern.get(p) {
            None if t == text.len() => return true,
            None => None,
            Some(b'*') => {
                while pattern.get(p) == Some(&b'*') {
                    p += 1;
                }
                resume = Some((p, t));
                continue;
            }
            Some(_) => single(pattern, p, text.get(t).copied()),
        };
        if let Some(next) = matched {
            if text.get(t) == Some(&b'/') {
                // A `*` before this `/` can never extend past it.
                resume = None;
            }
            p = next;
            t += 1;
            continue;
        }
        // The latest `*` takes one more byte, unless that byte is a `/` or
        // the text is used up.
        match resume {
            Some((star_end, star_text)) if text.get(star_text).is_some_and(|&c| c != b'/') => {
                resume = Some((star_end, star_text + 1));
                p = star_end;
                t = star_text + 1;
            }
            _ => return false,
        }
    }
}

/// Matches the one-byte element at `pattern[at]` (anything but `*`) against
/// `text`: where the pattern goes on if it matched.
fn single(pattern: &[u8], at: usize, text: Option<u8>) -> Option<usize> {
    let c = text?;
    let (matched, next) = match pattern.get(at).copied()? {
        b'?' => (c != b'/', at + 1),
        b'\\' => (pattern.get(at + 1) == Some(&c), at + 2),
        b'[' => {
            let bracket = bracket(pattern, at).ok()?;
            (c != b'/' && bracket.admits(pattern, c), bracket.end)
        }
        literal => (c == literal, at + 1),
    };
    matched.then_some(next)
}

/// A well-formed bracket expression `[...]`.
struct Bracket {
    negated: bool,
    /// The first member's offset.
    members: usize,
    /// The closing `]`'s offset.
    close: usize,
    /// Just past the closing `]`.
    end: usize,
}

/// Parses the bracket expression that opens at `pattern[open]`.
fn bracket(pattern: &[u8], open: usize) -> Result<Bracket, Problem> {
    let mut at = open + 1;
    let negated = matches!(pattern.get(at), Some(b'!' | b'^'));
    if negated {
        at += 1;
    }
    let members = at;
    loop {
        match pattern.get(at) {
            None => return Err(Problem::UnterminatedBracket(open)),
            // A `]` first in the list is a member, not the end.
            Some(b']') if at > members => {
                return Ok(Bracket {
                    negated,
                    members,
                    close: at,
                    end: at + 1,
                });
            }
            Some(_) => {
                at = member(pattern, at)
                    .map_err(|()| Problem::InvalidClass(open))?
                    .next()
            }
        }
    }
}

impl Bracket {
    fn admits(&self, pattern: &[u8], c: u8) -> bool {
        let mut at = self.members;
        let mut found = false;
        while at < self.close {
            let Ok(low) = member(pattern, at) else {
                return false;
            };
            at = low.next();
            let low = match low {
                Member::Byte(byte, _) => byte,
                Member::Class(class, _) => {
                    found |= class.admits(c);
                    continue;
                }
            };
            // A range `low-high`, unless the `-` is the last member.
            let high = if pattern.get(at) == Some(&b'-') && at + 1 < self.close {
                member(pattern, at + 1).ok()
            } else {
                None
            };
            if let Some(Member::Byte(high, next)) = high {
                found |= low <= c && c <= high;
                at = next;
                continue;
            }
            found |= c == low;
        }
        found != self.negated
    }
}

/// One member of a bracket expression, and where the next one starts.
enum Member {
    Byte(u8, usize),
    Class(Class, usize),
}

impl Member {
    fn next(&self) -> usize {
        match *self {
            Member::Byte(_, next) | Member::Class(_, next) => next,
        }
    }
}

/// The member at `pattern[at]`; `Err` for an invalid `[:`, `[=` or `[.`
/// term.
fn member(pattern: &[u8], at: usize) -> Result<Member, ()> {
    let byte = pattern.get(at).copied().ok_or(())?;
    match (byte, pattern.get(at + 1).copied()) {
        (b'\\', Some(escaped)) => Ok(Member::Byte(escaped, at + 2)),
        (b'[', Some(b':')) => {
            // A class name is lower-case letters closed by `:]`; anything
            // else makes this `[` an ordinary member, as in glibc.
            let name_start = at + 2;
            let name_length = pattern
                .get(name_start..)
                .unwrap_or(&[])
                .iter()
                .take_while(|byte| byte.is_ascii_lowercase())
                .count();
            let name_end = name_start + name_length;
            if pattern.get(name_end..name_end + 2) != Some(b":]") {
                return Ok(Member::Byte(b'[', at + 1));
            }
            let name = pattern.get(name_start..name_end).unwrap_or(&[]);
            Class::named(name)
                .map(|class| Member::Class(class, name_end + 2))
                .ok_or(())
        }
        (b'[', Some(kind @ (b'=' | b'.'))) => {
            // In the C locale an equivalence class or a collating symbol is
            // one byte: `[=c=]`, `[.c.]`.
            match (pattern.get(at + 2), pattern.get(at + 3..at + 5)) {
                (Some(&c), Some(close)) if close == [kind, b']'] => Ok(Member::Byte(c, at + 5)),
                _ => Err(()),
            }
        }
        _ => Ok(Member::Byte(byte, at + 1)),
    }
}

/// The C locale's character classes.
#[derive(Clone, Copy)]
enum Class {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl Class {
    fn named(name: &[u8]) -> Option<Class> {
        Some(match name {
            b"alnum" => Class::Alnum,
            b"alpha" => Class::Alpha,
            b"blank" => Class::Blank,
            b"cntrl" => Class::Cntrl,
            b"digit" => Class::Digit,
            b"graph" => Class::Graph,
            b"lower" => Class::Lower,
            b"print" => Class::Print,
            b"punct" => Class::Punct,
            b"space" => Class::Space,
            b"upper" => Class::Upper,
            b"xdigit" => Class::Xdigit,
            _ => return None,
        })
    }

    fn admits(self, c: u8) -> bool {
        match self {
            Class::Alnum => c.is_ascii_alphanumeric(),
            Class::Alpha => c.is_ascii_alphabetic(),
            Class::Blank => c == b' ' || c == b'\t',
            Class::Cntrl => c.is_ascii_control(),
            Class::Digit => c.is_ascii_digit(),
            Class::Graph => c.is_ascii_graphic(),
            Class::Lower => c.is_ascii_lowercase(),
            Class::Print => c.is_ascii_graphic() || c == b' ',
            Class::Punct => c.is_ascii_punctuation(),
            Class::Space => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
            Class::Upper => c.is_ascii_uppercase(),
            Class::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}
