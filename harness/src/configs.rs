//! The config dimension of the matrix: each name case's exclusion list, and
//! the same entries written as patterns and opt-in lists, so that the
//! routing of every form is checked against the allocators, not only the
//! exact-name list of the original project.
//!
//! A form rewrites a case's list; what the rewritten list must do is then
//! decided by `expect::listed`, like any other list.

use crate::names::NameCase;
use crate::orders::Order;

/// How a case's list is written.
#[derive(Clone, Copy, Debug)]
pub struct ConfigForm {
    pub id: &'static str,
    pub about: &'static str,
    rewrite: fn(&[&str]) -> String,
}

impl ConfigForm {
    /// The list for a case whose exact list is `exact` (its `{DIR}` already
    /// replaced).
    pub fn apply(&self, exact: &str) -> String {
        if self.id == EXACT.id {
            return exact.to_owned();
        }
        let entries: Vec<&str> = exact
            .split('\n')
            .map(|line| line.trim_matches([' ', '\t', '\r']))
            .filter(|entry| !entry.is_empty() && !entry.starts_with(['#', ';']))
            .collect();
        (self.rewrite)(&entries)
    }
}

/// The case's own list, as written (the original project's form).
pub const EXACT: ConfigForm = ConfigForm {
    id: "exact",
    about: "the case's list of exact names and paths",
    rewrite: |_| String::new(),
};

/// Every form; [`EXACT`] first.
pub const FORMS: [ConfigForm; 4] = [
    EXACT,
    ConfigForm {
        id: "opt-in",
        about: "`*`, then `!ENTRY` for each entry: only the listed programs keep the allocator",
        rewrite: |entries| {
            let mut list = String::from("*\n");
            for entry in entries {
                list.push_str(&format!("!{}\n", literal(entry)));
            }
            list
        },
    },
    ConfigForm {
        id: "glob",
        about: "each entry as a pattern: its last character replaced by `*`",
        rewrite: |entries| {
            entries
                .iter()
                .map(|entry| format!("{}\n", glob(entry)))
                .collect()
        },
    },
    ConfigForm {
        id: "opt-in-glob",
        about: "`*`, then `!PATTERN` for each entry's pattern: a negated glob re-includes",
        rewrite: |entries| {
            let mut list = String::from("*\n");
            for entry in entries {
                list.push_str(&format!("!{}\n", glob(entry)));
            }
            list
        },
    },
];

/// The name cases every form is crossed with: the ones whose names differ
/// in kind (symlinks, scripts, `exec -a`, long and UTF-8 names, full paths,
/// hardlinks, relative starts). The rest check the exact list's format.
pub const CROSSED_CASES: [&str; 15] = [
    "listed",
    "unlisted",
    "long-name",
    "utf8",
    "symlink-name",
    "symlink-target",
    "symlink-unlisted",
    "hardlink",
    "relative",
    "script",
    "script-interpreter",
    "argv0-spoofed-to-listed",
    "argv0-spoofed-from-listed",
    "full-path",
    "full-path-of-target",
];

/// The preload orders the other forms run under: one through `LD_PRELOAD`,
/// one through `/etc/ld.so.preload`, and the allocator loaded first (where
/// no list can apply).
pub const CROSSED_ORDERS: [&str; 3] = ["seed", "etc-preload", "allocator-first"];

/// The forms a group of `order` and `case` runs in: every form for the
/// crossed cases and orders, the exact list alone otherwise.
pub fn forms_for(order: &Order, case: &NameCase) -> &'static [ConfigForm] {
    if CROSSED_ORDERS.contains(&order.id) && CROSSED_CASES.contains(&case.id) {
        &FORMS
    } else {
        &FORMS[..1]
    }
}

/// `entry` with the pattern bytes escaped: it matches only itself.
fn literal(entry: &str) -> String {
    let mut out = String::new();
    for (index, character) in entry.chars().enumerate() {
        if matches!(character, '*' | '?' | '[' | '\\') || (index == 0 && character == '!') {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

/// A pattern for `entry`: all but its last character, literally, then `*`.
/// A one-character entry stays as it is (`*` alone would name every program).
fn glob(entry: &str) -> String {
    let mut characters: Vec<char> = entry.chars().collect();
    if characters.len() < 2 {
        return literal(entry);
    }
    characters.pop();
    let prefix: String = characters.into_iter().collect();
    format!("{}*", literal(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(id: &str) -> &'static ConfigForm {
        FORMS.iter().find(|form| form.id == id).unwrap()
    }

    #[test]
    fn forms_rewrite_the_entries() {
        let exact = "# comment\nprobe-listed\n/dir/probe-x\r\n";
        assert_eq!(form("exact").apply(exact), exact);
        assert_eq!(
            form("opt-in").apply(exact),
            "*\n!probe-listed\n!/dir/probe-x\n"
        );
        assert_eq!(form("glob").apply(exact), "probe-liste*\n/dir/probe-*\n");
        assert_eq!(
            form("opt-in-glob").apply(exact),
            "*\n!probe-liste*\n!/dir/probe-*\n"
        );
    }

    #[test]
    fn pattern_bytes_in_names_stay_literal() {
        assert_eq!(literal("a*b?[c]\\"), "a\\*b\\?\\[c]\\\\");
        assert_eq!(literal("!x"), "\\!x");
        assert_eq!(glob("café"), "caf*");
    }

    #[test]
    fn the_crossed_cases_and_orders_exist() {
        for id in CROSSED_CASES {
            assert!(crate::names::find(id).is_some(), "{id}");
        }
        for id in CROSSED_ORDERS {
            assert!(crate::orders::find(id).is_some(), "{id}");
        }
    }
}
