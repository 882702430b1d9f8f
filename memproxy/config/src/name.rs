//! The names a running program is known by.

/// The two names memproxy trusts for the running program. Neither depends on
/// who started it: `argv[0]` and `$_` are set by the parent and are never
/// used. An empty slice means the name is unknown and matches nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The path given to `execve`, from the `AT_EXECFN` auxiliary vector entry:
    /// a symlink's own path, a script's path, possibly relative.
    pub execfn: &'a [u8],
    /// The target of `/proc/self/exe`: the canonical path of the binary the
    /// kernel mapped (the interpreter, for a script).
    pub exe: &'a [u8],
}

impl Identity<'_> {
    /// No entry longer than this can match; it bounds the scan buffer.
    pub fn longest_name(&self) -> usize {
        self.execfn.len().max(self.exe.len())
    }
}

/// Which name and form an entry matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// Last component of `AT_EXECFN`.
    ExecfnName,
    /// Last component of `/proc/self/exe`.
    ExeName,
    /// All of `AT_EXECFN`, for an entry starting with `/`.
    ExecfnPath,
    /// All of `/proc/self/exe`, for an entry starting with `/`.
    ExePath,
}

impl NameSource {
    /// A short stable label, used in diagnostics and JSON.
    pub fn label(self) -> &'static str {
        match self {
            NameSource::ExecfnName => "execfn name",
            NameSource::ExeName => "exe name",
            NameSource::ExecfnPath => "execfn path",
            NameSource::ExePath => "exe path",
        }
    }
}

/// The last component of a path: everything after the final `/`.
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => path.get(slash + 1..).unwrap_or(&[]),
        None => path,
    }
}
