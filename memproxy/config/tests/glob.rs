//! The pattern matcher against glibc's own `fnmatch(3)` and against a plain
//! recursive model, on generated patterns and names.

use std::ffi::CString;

mod model;

use memproxy_config::glob;
use proptest::prelude::*;

/// glibc's verdict: `FNM_PATHNAME` where the text holds a `/`, no flags
/// otherwise (the two agree on texts without `/`, which is the point of
/// checking both).
fn fnmatch(pattern: &[u8], text: &[u8]) -> Option<bool> {
    let (pattern, text) = (CString::new(pattern).ok()?, CString::new(text).ok()?);
    let flags = if text.as_bytes().contains(&b'/') {
        libc::FNM_PATHNAME
    } else {
        0
    };
    // SAFETY: both are NUL-terminated strings that outlive the call.
    let result = unsafe { libc::fnmatch(pattern.as_ptr(), text.as_ptr(), flags) };
    Some(result == 0)
}

fn pattern_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"ab/*?[]!^-\\".to_vec()), 0..10)
}

/// Well-formed patterns: literals, wildcards, escapes and bracket
/// expressions with negation, ranges and a leading `]`.
fn well_formed_pattern() -> impl Strategy<Value = Vec<u8>> {
    let member = prop_oneof![
        prop::sample::select(b"ab-/[".to_vec()).prop_map(|c| vec![c]),
        prop::sample::select(b"ab]-\\".to_vec()).prop_map(|c| vec![b'\\', c]),
        (
            prop::sample::select(b"a-".to_vec()),
            prop::sample::select(b"bz".to_vec())
        )
            .prop_map(|(low, high)| vec![low, b'-', high]),
    ];
    let bracket = (
        prop::sample::select(vec![&b""[..], b"!", b"^"]),
        any::<bool>(),
        prop::collection::vec(member, 1..4),
    )
        .prop_map(|(negation, leading_close, members)| {
            let mut bracket = vec![b'['];
            bracket.extend_from_slice(negation);
            if leading_close {
                bracket.push(b']');
            }
            bracket.extend(members.into_iter().flatten());
            bracket.push(b']');
            bracket
        });
    let token = prop_oneof![
        prop::sample::select(b"ab/-]!".to_vec()).prop_map(|c| vec![c]),
        Just(b"*".to_vec()),
        Just(b"?".to_vec()),
        prop::sample::select(b"ab*?[\\".to_vec()).prop_map(|c| vec![b'\\', c]),
        bracket,
    ];
    prop::collection::vec(token, 0..6).prop_map(|tokens| tokens.concat())
}

fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"ab/-[]\\!".to_vec()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn agrees_with_glibc_fnmatch(pattern in well_formed_pattern(), text in text_bytes()) {
        // glibc's answers for malformed patterns differ between releases;
        // ours is "never", checked against the model below.
        prop_assert_eq!(glob::problem(&pattern), None);
        let expected = fnmatch(&pattern, &text).expect("no NUL bytes are generated");
        prop_assert_eq!(
            glob::matches(&pattern, &text),
            expected,
            "pattern {:?} text {:?}",
            String::from_utf8_lossy(&pattern),
            String::from_utf8_lossy(&text)
        );
    }

    #[test]
    fn agrees_with_the_recursive_model(pattern in pattern_bytes(), text in text_bytes()) {
        prop_assert_eq!(
            glob::matches(&pattern, &text),
            model::glob(&pattern, &text),
            "pattern {:?} text {:?}",
            String::from_utf8_lossy(&pattern),
            String::from_utf8_lossy(&text)
        );
    }
}

#[test]
fn character_classes_agree_with_glibc() {
    let texts: Vec<Vec<u8>> = (0u8..=127).filter(|&c| c != 0).map(|c| vec![c]).collect();
    for class in [
        "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
        "upper", "xdigit",
    ] {
        for pattern in [format!("[[:{class}:]]"), format!("[![:{class}:]]")] {
            for text in &texts {
                assert_eq!(
                    glob::matches(pattern.as_bytes(), text),
                    fnmatch(pattern.as_bytes(), text).unwrap(),
                    "{pattern} on byte {:#x}",
                    text[0]
                );
            }
        }
    }
}

#[test]
fn wildcards_stay_within_one_path_component() {
    assert!(glob::matches(b"/opt/vendor/*", b"/opt/vendor/daemon"));
    assert!(!glob::matches(b"/opt/vendor/*", b"/opt/vendor/bin/daemon"));
    assert!(!glob::matches(b"/opt/*", b"/opt/vendor/bin"));
    assert!(glob::matches(b"/opt/*/*/daemon", b"/opt/vendor/bin/daemon"));
    assert!(!glob::matches(b"/opt?vendor", b"/opt/vendor"));
    assert!(!glob::matches(b"/opt[/]vendor", b"/opt/vendor"));
}

#[test]
fn no_backtracking_blow_up() {
    let pattern = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".repeat(50);
    let text = vec![b'a'; 4096];
    let started = std::time::Instant::now();
    assert!(!glob::matches(&pattern, &text));
    // Linear in pattern x text: a few million steps. Exponential backtracking
    // would not finish at all; this bound is generous for a noisy machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn problems_are_named() {
    assert_eq!(glob::problem(b"python3.*"), None);
    assert_eq!(
        glob::problem(b"a[bc"),
        Some(glob::Problem::UnterminatedBracket(1))
    );
    assert_eq!(
        glob::problem(b"abc\\"),
        Some(glob::Problem::TrailingBackslash)
    );
    assert_eq!(glob::problem(b"a\\["), None);
    assert!(!glob::matches(b"abc\\", b"abc\\"));
    assert!(!glob::matches(b"abc\\", b"abc"));
    assert_eq!(
        glob::problem(b"[[:nonsense:]]"),
        Some(glob::Problem::InvalidClass(0))
    );
    assert_eq!(
        glob::problem(b"x[[=ab=]]"),
        Some(glob::Problem::InvalidClass(1))
    );
    assert_eq!(
        glob::problem(b"[*-"),
        Some(glob::Problem::UnterminatedBracket(0))
    );
    // A malformed pattern matches nothing, not even itself.
    for malformed in ["a[bc", "[[:nonsense:]]", "[*-"] {
        assert!(!glob::matches(malformed.as_bytes(), malformed.as_bytes()));
    }
    // An unclosed `[:` inside a bracket is an ordinary `[`, as in glibc.
    assert!(glob::matches(b"[[:alpha]", b":"));
}

#[test]
fn what_is_a_pattern() {
    for entry in ["python3.*", "a?c", "[ab]", "a\\*"] {
        assert!(glob::is_pattern(entry.as_bytes()), "{entry}");
    }
    for entry in ["top", "/usr/bin/top", "a.b-c", "!x"] {
        assert!(!glob::is_pattern(entry.as_bytes()), "{entry}");
    }
}

proptest! {
    #[test]
    fn is_pattern_looks_at_every_byte(entry in prop::collection::vec(any::<u8>(), 0..40)) {
        let slow = entry.iter().any(|&byte| matches!(byte, b'*' | b'?' | b'[' | b'\\'));
        prop_assert_eq!(glob::is_pattern(&entry), slow);
    }
}
