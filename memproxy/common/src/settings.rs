//! The environment variables the library reads, and the rules it reads them
//! by. Both are ignored in AT_SECURE processes (setuid, setgid, file
//! capabilities), where the caller's environment must not choose what a
//! privileged process reads or prints.

use crate::PATH_MAX;

/// Turns the decision line on.
pub const DEBUG_VAR: &str = "MEMPROXY_DEBUG";
/// Names the config instead of the path fixed at build time.
pub const CONFIG_VAR: &str = "MEMPROXY_CONF";

/// Whether a `MEMPROXY_DEBUG` value turns the line on: anything but empty
/// or `0`.
pub fn debug_enabled(value: &[u8]) -> bool {
    !value.is_empty() && value != b"0"
}

/// Which config a process reads, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigChoice {
    /// `MEMPROXY_CONF` is unset or empty: the path fixed at build time.
    BuiltIn,
    /// `MEMPROXY_CONF`, an absolute path.
    Environment,
    /// `MEMPROXY_CONF` is relative, so it would name a different file in
    /// each working directory: ignored for the built-in path.
    IgnoredRelative,
    /// `MEMPROXY_CONF` is longer than any path can be: ignored.
    IgnoredTooLong,
}

impl ConfigChoice {
    /// The `config-source` value of the decision line.
    pub fn label(self) -> &'static str {
        match self {
            ConfigChoice::BuiltIn => "built-in",
            ConfigChoice::Environment => "env",
            ConfigChoice::IgnoredRelative => "env-ignored-relative",
            ConfigChoice::IgnoredTooLong => "env-ignored-too-long",
        }
    }
}

/// The rule for a `MEMPROXY_CONF` value (`None` when unset) in a process
/// that is not AT_SECURE.
pub fn choose_config(value: Option<&[u8]>) -> ConfigChoice {
    match value {
        None | Some([]) => ConfigChoice::BuiltIn,
        Some(path) if path.first() != Some(&b'/') => ConfigChoice::IgnoredRelative,
        Some(path) if path.len() >= PATH_MAX => ConfigChoice::IgnoredTooLong,
        Some(_) => ConfigChoice::Environment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rule() {
        assert_eq!(choose_config(None), ConfigChoice::BuiltIn);
        assert_eq!(choose_config(Some(b"")), ConfigChoice::BuiltIn);
        assert_eq!(
            choose_config(Some(b"etc/m.conf")),
            ConfigChoice::IgnoredRelative
        );
        assert_eq!(
            choose_config(Some(b"/etc/m.conf")),
            ConfigChoice::Environment
        );
        let long = [b'/'; PATH_MAX];
        assert_eq!(choose_config(Some(&long)), ConfigChoice::IgnoredTooLong);
        assert_eq!(choose_config(Some(&long[1..])), ConfigChoice::Environment);
    }

    #[test]
    fn debug_rule() {
        assert!(debug_enabled(b"1"));
        assert!(debug_enabled(b"yes"));
        assert!(!debug_enabled(b""));
        assert!(!debug_enabled(b"0"));
    }
}
