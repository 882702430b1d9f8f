//! Full runs, quick runs for CI, and listing.

use serde::{Deserialize, Serialize};

/// Set to anything but `0` or the empty string for a quick run without
/// criterion's `--test`.
pub const QUICK_VAR: &str = "MEMPROXY_BENCH_QUICK";

/// How much a benchmark binary measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Everything, with enough samples to compare: `cargo bench`.
    Full,
    /// Every part once, briefly, to show that it works:
    /// `cargo bench -- --test`, or [`QUICK_VAR`]. Its numbers mean little.
    Quick,
    /// `cargo bench -- --list`: criterion lists its benchmarks; nothing runs.
    List,
}

impl Mode {
    /// From the arguments cargo passes to the bench binary and the
    /// environment.
    pub fn detect() -> Mode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Mode::from_parts(&args, std::env::var(QUICK_VAR).ok().as_deref())
    }

    fn from_parts(args: &[String], quick_var: Option<&str>) -> Mode {
        if args.iter().any(|arg| arg == "--list") {
            Mode::List
        } else if args.iter().any(|arg| arg == "--test")
            || quick_var.is_some_and(|value| !value.is_empty() && value != "0")
        {
            Mode::Quick
        } else {
            Mode::Full
        }
    }

    /// Picks the full or the quick value of a knob.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        match self {
            Mode::Full => full,
            Mode::Quick | Mode::List => quick,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::List => "list",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn cargo_bench_is_a_full_run() {
        assert_eq!(Mode::from_parts(&args(&["--bench"]), None), Mode::Full);
        assert_eq!(Mode::from_parts(&args(&["--bench"]), Some("0")), Mode::Full);
    }

    #[test]
    fn test_flag_or_variable_make_a_quick_run() {
        assert_eq!(
            Mode::from_parts(&args(&["--bench", "--test"]), None),
            Mode::Quick
        );
        assert_eq!(
            Mode::from_parts(&args(&["--bench"]), Some("1")),
            Mode::Quick
        );
    }

    #[test]
    fn list_wins() {
        assert_eq!(
            Mode::from_parts(&args(&["--test", "--list"]), Some("1")),
            Mode::List
        );
    }
}
