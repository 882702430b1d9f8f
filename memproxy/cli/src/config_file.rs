//! Which exclusion list the library reads, and reading it the way the library
//! does.
//!
//! The library takes `MEMPROXY_CONF` when set to an absolute path (except in
//! setuid/setgid programs), else the path fixed at build time; `build.rs`
//! fixes that path by the library's own rule. It `stat`s the file before
//! opening it and never reads a FIFO, directory or device: a process must not
//! block at start-up because someone made the config a FIFO. This module
//! keeps both promises so that `check` judges the file the library will read,
//! and cannot hang on it either.

use memproxy_common::settings::{self, ConfigChoice};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// `$MEMPROXY_PREFIX/etc/memproxy.conf` of this build.
pub const BUILT_IN_CONFIG: &str = env!("MEMPROXY_DEFAULT_CONFIG");

/// Where the config path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Named on the command line.
    Argument,
    /// The `MEMPROXY_CONF` environment variable, as the library would take it.
    MemproxyConf,
    /// The path fixed at build time.
    BuiltIn,
    /// The path fixed at build time, because `MEMPROXY_CONF` is relative or
    /// too long and the library ignores it.
    BuiltInMemproxyConfIgnored,
}

impl Source {
    /// How text output names the source.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Argument => "given on the command line",
            Source::MemproxyConf => "from MEMPROXY_CONF",
            Source::BuiltIn => "the built-in default",
            Source::BuiltInMemproxyConfIgnored => {
                "the built-in default: the library ignores MEMPROXY_CONF unless it is an absolute path"
            }
        }
    }
}

/// A config path and why it was chosen.
#[derive(Debug, Clone)]
pub struct ConfigPath {
    /// The file the library would read.
    pub path: PathBuf,
    /// Why this one.
    pub source: Source,
}

/// The config the library would read in this environment, unless `argument`
/// names one.
pub fn choose(argument: Option<&Path>) -> ConfigPath {
    if let Some(path) = argument {
        return ConfigPath {
            path: path.to_owned(),
            source: Source::Argument,
        };
    }
    // The library's own rule (memproxy_common::settings).
    let built_in = |source| ConfigPath {
        path: PathBuf::from(BUILT_IN_CONFIG),
        source,
    };
    let value = std::env::var_os(settings::CONFIG_VAR);
    match settings::choose_config(value.as_deref().map(std::os::unix::ffi::OsStrExt::as_bytes)) {
        ConfigChoice::Environment => ConfigPath {
            path: PathBuf::from(value.unwrap_or_default()),
            source: Source::MemproxyConf,
        },
        ConfigChoice::BuiltIn => built_in(Source::BuiltIn),
        ConfigChoice::IgnoredRelative | ConfigChoice::IgnoredTooLong => {
            built_in(Source::BuiltInMemproxyConfIgnored)
        }
    }
}

/// What reading the config gave, in the library's terms.
#[derive(Debug)]
pub enum State {
    /// A regular file, read whole. `mode` is its permission bits.
    Read { contents: Vec<u8>, mode: u32 },
    /// No such file (or a path component is not a directory).
    Missing,
    /// A FIFO, directory, device or socket, named by its kind.
    NotRegular(&'static str),
    /// `stat`, `open` or `read` failed.
    Unreadable(io::Error),
}

impl State {
    /// A stable label for JSON.
    pub fn label(&self) -> &'static str {
        match self {
            State::Read { .. } => "read",
            State::Missing => "missing",
            State::NotRegular(_) => "not-regular",
            State::Unreadable(_) => "unreadable",
        }
    }

    /// Why the library excludes nothing with this config, if it does.
    pub fn why_nothing_is_excluded(&self) -> Option<String> {
        match self {
            State::Read { .. } => None,
            State::Missing => Some("no such file".to_owned()),
            State::NotRegular(kind) => Some(format!(
                "it is a {kind}, not a regular file, so the library never opens it"
            )),
            State::Unreadable(error) => Some(format!("it cannot be read: {error}")),
        }
    }
}

/// Reads the config at `path` without ever opening a FIFO or device.
pub fn load(path: &Path) -> State {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if is_missing(&error) => return State::Missing,
        Err(error) => return State::Unreadable(error),
    };
    if !metadata.is_file() {
        return State::NotRegular(kind_of(&metadata.file_type()));
    }
    // O_NONBLOCK: a FIFO swapped in after the stat must not block the open.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(error) if is_missing(&error) => return State::Missing,
        Err(error) => return State::Unreadable(error),
    };
    match read_regular(&mut file) {
        Ok((contents, mode)) => State::Read { contents, mode },
        Err(Rejected::NotRegular(kind)) => State::NotRegular(kind),
        Err(Rejected::Io(error)) => State::Unreadable(error),
    }
}

enum Rejected {
    NotRegular(&'static str),
    Io(io::Error),
}

fn read_regular(file: &mut File) -> Result<(Vec<u8>, u32), Rejected> {
    let metadata = file.metadata().map_err(Rejected::Io)?;
    if !metadata.is_file() {
        return Err(Rejected::NotRegular(kind_of(&metadata.file_type())));
    }
    let mut contents = Vec::new();
    file.read_to_end(&mut contents).map_err(Rejected::Io)?;
    Ok((contents, metadata.permissions().mode()))
}

fn is_missing(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// The library's names for file kinds (see its `FileKind::label`).
fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}
