//! Reasoning about what config lines can match, for the findings that span
//! lines: whether two entries can name the same program, and whether a later
//! entry names every program an earlier one does.
//!
//! An entry is turned into a sequence of [`Token`]s, each the set of bytes
//! it takes (or a `*`); the sets come from the library's own matcher
//! (`memproxy_config::glob`), run on each byte, so the two cannot disagree on
//! what a bracket expression means.

use memproxy_config::{Entry, basename, glob};

/// One element of an entry.
#[derive(Clone)]
enum Token {
    /// Any run of bytes but `/`, the empty one included.
    Star,
    /// Exactly one byte of this set.
    One(Box<[bool; 256]>),
}

/// An entry, tokenised; `None` for one that never matches.
pub struct Shape {
    tokens: Vec<Token>,
    /// A path entry: matched against whole paths, not last components.
    path: bool,
}

impl Shape {
    pub fn of(entry: &Entry<'_>) -> Option<Shape> {
        if !entry.can_match() {
            return None;
        }
        let bytes = entry.bytes();
        let tokens = if entry.is_pattern() {
            tokenise(bytes)?
        } else {
            bytes.iter().map(|&byte| single(|c| c == byte)).collect()
        };
        Some(Shape {
            tokens,
            path: entry.is_path(),
        })
    }

    /// True for an entry of `*` alone (or a run of them): it names every
    /// program.
    pub fn is_everything(&self) -> bool {
        !self.path
            && !self.tokens.is_empty()
            && self.tokens.iter().all(|t| matches!(t, Token::Star))
    }

    /// The tokens that match a last path component: all of a name entry,
    /// the part of a path entry after its last `/`.
    fn last_component(&self) -> &[Token] {
        if !self.path {
            return &self.tokens;
        }
        let after_slash = self
            .tokens
            .iter()
            .rposition(|token| matches!(token, Token::One(set) if is_only(set, b'/')))
            .map_or(0, |slash| slash + 1);
        &self.tokens[after_slash..]
    }

    /// Whether some program could be matched by both entries through the
    /// same one of its names (a name entry through the last component of the
    /// path a path entry matches).
    pub fn can_share_a_name_with(&self, other: &Shape) -> bool {
        if self.path == other.path {
            intersect(&self.tokens, &other.tokens)
        } else {
            intersect(self.last_component(), other.last_component())
        }
    }

    /// Whether `self` (a later line) matches every program `earlier` does,
    /// through the same name: then `earlier` can never decide. Only the
    /// cases that can be shown cheaply are recognised; `false` means "not
    /// shown", not "no".
    pub fn covers(&self, earlier: &Entry<'_>) -> bool {
        if self.is_everything() {
            return true;
        }
        if earlier.is_pattern() || !earlier.can_match() {
            return false;
        }
        let literal = earlier.bytes();
        match (self.path, earlier.is_path()) {
            (false, false) => self.matches(literal),
            (false, true) => self.matches(basename(literal)),
            (true, true) => self.matches(literal),
            (true, false) => false,
        }
    }

    fn matches(&self, text: &[u8]) -> bool {
        let mut states = vec![0usize];
        for &c in text {
            states = step(&self.tokens, &closure(&self.tokens, states), c);
        }
        closure(&self.tokens, states).contains(&self.tokens.len())
    }
}

fn single(admits: impl Fn(u8) -> bool) -> Token {
    let mut set = Box::new([false; 256]);
    for byte in 0..=255u8 {
        set[usize::from(byte)] = admits(byte);
    }
    Token::One(set)
}

fn is_only(set: &[bool; 256], byte: u8) -> bool {
    set.iter()
        .enumerate()
        .all(|(index, &admitted)| admitted == (index == usize::from(byte)))
}

/// Splits a well-formed pattern into tokens; each byte set is what the
/// library's matcher admits for that element alone.
fn tokenise(pattern: &[u8]) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < pattern.len() {
        let (element, next) = match pattern[at] {
            b'*' => {
                tokens.push(Token::Star);
                at += 1;
                continue;
            }
            b'\\' => (pattern.get(at..at + 2)?, at + 2),
            // The shortest `[...]` that is a whole pattern by itself is the
            // bracket expression.
            b'[' => {
                let end = (at + 1..pattern.len()).find(|&close| {
                    pattern[close] == b']' && glob::problem(&pattern[at..=close]).is_none()
                })?;
                (&pattern[at..=end], end + 1)
            }
            _ => (&pattern[at..=at], at + 1),
        };
        tokens.push(single(|c| glob::matches(element, &[c])));
        at = next;
    }
    Some(tokens)
}

/// The states reachable from `states` without consuming a byte.
fn closure(tokens: &[Token], mut states: Vec<usize>) -> Vec<usize> {
    let mut index = 0;
    while index < states.len() {
        let state = states[index];
        if matches!(tokens.get(state), Some(Token::Star)) && !states.contains(&(state + 1)) {
            states.push(state + 1);
        }
        index += 1;
    }
    states
}

fn step(tokens: &[Token], states: &[usize], c: u8) -> Vec<usize> {
    let mut next = Vec::new();
    for &state in states {
        let target = match tokens.get(state) {
            Some(Token::Star) if c != b'/' => state,
            Some(Token::One(set)) if set[usize::from(c)] => state + 1,
            _ => continue,
        };
        if !next.contains(&target) {
            next.push(target);
        }
    }
    next
}

/// Whether some non-empty byte string matches both token sequences: a
/// search of the product of the two automata.
fn intersect(a: &[Token], b: &[Token]) -> bool {
    let admits = |token: &Token, c: usize| match token {
        Token::Star => c != usize::from(b'/'),
        Token::One(set) => set[c],
    };
    let advance = |token: &Token, state: usize| match token {
        Token::Star => state,
        Token::One(_) => state + 1,
    };
    // (state in a, state in b, a byte consumed yet)
    let mut seen = std::collections::HashSet::new();
    let mut queue = vec![(0usize, 0usize, false)];
    while let Some((i, j, consumed)) = queue.pop() {
        if !seen.insert((i, j, consumed)) {
            continue;
        }
        if i == a.len() && j == b.len() && consumed {
            return true;
        }
        if matches!(a.get(i), Some(Token::Star)) {
            queue.push((i + 1, j, consumed));
        }
        if matches!(b.get(j), Some(Token::Star)) {
            queue.push((i, j + 1, consumed));
        }
        if let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
            if (0..256).any(|c| admits(x, c) && admits(y, c)) {
                queue.push((advance(x, i), advance(y, j), true));
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use memproxy_config::{Line, classify_line};

    use super::*;

    fn entry(line: &str) -> Entry<'_> {
        match classify_line(line.as_bytes()) {
            Line::Entry(entry) => entry,
            other => panic!("{line:?} is {other:?}"),
        }
    }

    fn shape(line: &str) -> Shape {
        Shape::of(&entry(line)).expect("a well-formed entry")
    }

    #[test]
    fn entries_that_can_share_a_name() {
        for (a, b) in [
            ("python3.*", "python3.11"),
            ("python3.*", "!python3.1?"),
            ("*", "!mysqld"),
            ("[a-c]x", "bx"),
            ("/opt/vendor/*", "!daemon"),
            ("daemon", "/opt/*/daemon"),
            ("/opt/*/d", "/opt/vendor/?"),
        ] {
            assert!(shape(a).can_share_a_name_with(&shape(b)), "{a} ~ {b}");
            assert!(shape(b).can_share_a_name_with(&shape(a)), "{b} ~ {a}");
        }
    }

    #[test]
    fn entries_that_cannot() {
        for (a, b) in [
            ("python3.*", "ruby"),
            ("[a-c]x", "dx"),
            ("/opt/vendor/*", "/usr/bin/top"),
            ("/opt/*", "/opt/a/b"),
            ("a*b", "!c*"),
            ("?", "ab"),
        ] {
            assert!(!shape(a).can_share_a_name_with(&shape(b)), "{a} !~ {b}");
        }
    }

    #[test]
    fn later_entries_that_cover_earlier_ones() {
        assert!(shape("*").covers(&entry("mysqld")));
        assert!(shape("*").covers(&entry("/opt/x/y")));
        assert!(shape("*").covers(&entry("python3.*")));
        assert!(shape("mysql*").covers(&entry("mysqld")));
        assert!(shape("!mysql*").covers(&entry("mysqld")));
        assert!(shape("mysqld").covers(&entry("/usr/sbin/mysqld")));
        assert!(shape("/usr/sbin/*").covers(&entry("/usr/sbin/mysqld")));
        assert!(!shape("/usr/sbin/*").covers(&entry("mysqld")));
        assert!(!shape("mysql?").covers(&entry("mysql")));
        // Not shown (a pattern under a pattern), so not claimed.
        assert!(!shape("python*").covers(&entry("python3.*")));
    }

    #[test]
    fn brackets_tokenise_as_the_library_reads_them() {
        let tokens = tokenise(b"[]a]b[!x]").expect("well-formed");
        assert_eq!(tokens.len(), 3);
        assert!(shape("[]a]b[!x]").matches(b"]by"));
        assert!(!shape("[]a]b[!x]").matches(b"abx"));
        assert!(shape("[[:digit:]]").matches(b"7"));
    }
}
