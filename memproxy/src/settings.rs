//! What the environment asks of memproxy: `MEMPROXY_DEBUG` and
//! `MEMPROXY_CONF`, both ignored in AT_SECURE processes (setuid, setgid, file
//! capabilities), where the caller's environment must not choose what a
//! privileged process reads or prints.

use core::ffi::CStr;

use memproxy_common::settings::{self, CONFIG_VAR, DEBUG_VAR};

use crate::decision::ConfigSource;
use crate::sys::{self, EnvVar};

const DEFAULT_CONFIG_TEXT: &str = concat!(env!("MEMPROXY_DEFAULT_CONFIG"), "\0");

/// The config path fixed at build time, `$PREFIX/etc/memproxy.conf`, as a
/// NUL-terminated string under an exported name: `memproxy lib-dir` (and so
/// install.sh) reads it from a built library of any architecture, and
/// refuses one built for another prefix. The library reads its default from
/// this very static, so the two cannot disagree.
#[allow(unsafe_code)]
#[cfg_attr(not(test), unsafe(no_mangle))]
#[allow(non_upper_case_globals)]
pub static memproxy_default_config: [u8; DEFAULT_CONFIG_TEXT.len()] = {
    let mut bytes = [0u8; DEFAULT_CONFIG_TEXT.len()];
    let mut index = 0;
    while index < bytes.len() {
        bytes[index] = DEFAULT_CONFIG_TEXT.as_bytes()[index];
        index += 1;
    }
    bytes
};

/// [`memproxy_default_config`] as a C string.
const DEFAULT_CONFIG: &CStr = match CStr::from_bytes_with_nul(&memproxy_default_config) {
    Ok(path) => path,
    Err(_) => panic!("the default config path must not contain NUL"),
};

#[cfg(test)]
#[test]
fn the_exported_config_path_has_the_name_every_part_looks_for() {
    // The name is written once more here, as a Rust identifier; this keeps
    // it equal to the one the command looks up.
    assert_eq!(
        memproxy_common::CONFIG_SYMBOL,
        "memproxy_default_config",
        "rename the static in settings.rs too"
    );
    assert_eq!(
        DEFAULT_CONFIG.to_bytes(),
        env!("MEMPROXY_DEFAULT_CONFIG").as_bytes()
    );
}

pub struct Settings<'s> {
    /// `MEMPROXY_DEBUG`: print the decision.
    pub debug: bool,
    pub config_path: &'s CStr,
    pub config_source: ConfigSource,
}

/// Reads the settings, with `env_value` as scratch for a variable's value and
/// `config_path` to hold the chosen path.
pub fn read<'s>(env_value: &mut [u8], config_path: &'s mut [u8]) -> Settings<'s> {
    let secure = sys::aux_value(libc::AT_SECURE) != 0;
    let debug = !secure
        && sys::start_env(DEBUG_VAR.as_bytes(), env_value)
            .value()
            .is_some_and(settings::debug_enabled);
    let (config_path, config_source) = if secure {
        (DEFAULT_CONFIG, ConfigSource::BuiltIn)
    } else {
        choose_config(
            sys::start_env(CONFIG_VAR.as_bytes(), env_value),
            config_path,
        )
    };
    Settings {
        debug,
        config_path,
        config_source,
    }
}

/// `MEMPROXY_CONF` if the rule accepts it, copied NUL-terminated into
/// `out`; otherwise the path fixed at build time.
fn choose_config<'s>(variable: EnvVar<'_>, out: &'s mut [u8]) -> (&'s CStr, ConfigSource) {
    let value = match variable {
        EnvVar::Unset => None,
        EnvVar::Set(value) => Some(value),
        EnvVar::TooLong => return (DEFAULT_CONFIG, ConfigSource::IgnoredTooLong),
    };
    let choice = settings::choose_config(value);
    let chosen = match value {
        Some(path) if choice == ConfigSource::Environment => path,
        _ => return (DEFAULT_CONFIG, choice),
    };
    // `out` keeps one byte for the terminating NUL.
    let Some((path, rest)) = out.split_at_mut_checked(chosen.len()) else {
        return (DEFAULT_CONFIG, ConfigSource::IgnoredTooLong);
    };
    let Some(nul) = rest.first_mut() else {
        return (DEFAULT_CONFIG, ConfigSource::IgnoredTooLong);
    };
    path.copy_from_slice(chosen);
    *nul = 0;
    let with_nul = out.get(..chosen.len() + 1).unwrap_or(&[]);
    match CStr::from_bytes_with_nul(with_nul) {
        Ok(path) => (path, ConfigSource::Environment),
        Err(_) => (DEFAULT_CONFIG, ConfigSource::IgnoredTooLong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(variable: EnvVar<'_>, room: usize) -> (Vec<u8>, &'static str) {
        let mut out = vec![0xff; room];
        let (path, source) = choose_config(variable, &mut out);
        let source = match source {
            ConfigSource::BuiltIn => "built-in",
            ConfigSource::Environment => "env",
            ConfigSource::IgnoredRelative => "relative",
            ConfigSource::IgnoredTooLong => "too-long",
        };
        (path.to_bytes().to_vec(), source)
    }

    #[test]
    fn an_absolute_path_is_used() {
        let (path, source) = chosen(EnvVar::Set(b"/etc/other.conf"), 64);
        assert_eq!((path.as_slice(), source), (&b"/etc/other.conf"[..], "env"));
    }

    #[test]
    fn anything_else_falls_back_to_the_built_in_path() {
        let built_in = DEFAULT_CONFIG.to_bytes();
        for (variable, expected) in [
            (EnvVar::Unset, "built-in"),
            (EnvVar::Set(b""), "built-in"),
            (EnvVar::Set(b"memproxy.conf"), "relative"),
            (EnvVar::TooLong, "too-long"),
            // No room for the NUL.
            (EnvVar::Set(b"/etc/a.conf"), "too-long"),
            // An embedded NUL is not a path.
            (EnvVar::Set(b"/etc/a\0b"), "too-long"),
        ] {
            let (path, source) = chosen(variable, 11);
            assert_eq!((path.as_slice(), source), (built_in, expected));
        }
    }
}
