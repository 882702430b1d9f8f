//! The name cases, as data: how a program is named, laid out on disk and
//! started, and what the exclusion list says.
//!
//! Every case runs the probes under the names it gives, in a fresh
//! directory. Configs may say `{DIR}` for that directory's canonical path.

/// How the probe is put on disk under the case's `file` name.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// A copy of the probe named `file`.
    Copy,
    /// `file` is a symlink to a copy of the probe named `target`.
    Symlink { target: &'static str },
    /// `file` is a hardlink of a copy of the probe named `original`.
    Hardlink { original: &'static str },
    /// `file` is a script whose `#!` line names a copy of the probe called
    /// `interpreter`.
    Script { interpreter: &'static str },
}

/// How the probe is started.
#[derive(Clone, Copy, Debug)]
pub enum Launch {
    /// `execve` of the absolute path, straight from the harness: no shell.
    Absolute,
    /// `cd DIR && exec ./FILE` in `sh`: `AT_EXECFN` is relative.
    Relative,
    /// `exec FILE` in `sh` with the directory on `PATH`.
    PathLookup,
    /// bash's `exec -a NAME`: `argv[0]` says something else.
    SpoofedArgv0(&'static str),
    /// `env -i`, passing on only what the run needs (no `_`, no `PATH`).
    EmptyEnvironment,
    /// Python's `subprocess` as the parent.
    Python,
    /// `_` set to a misleading path, as a shell would leave it.
    Underscore(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct NameCase {
    pub id: &'static str,
    pub about: &'static str,
    pub file: &'static str,
    pub layout: Layout,
    pub launch: Launch,
    /// The exclusion list's exact bytes.
    pub config: &'static str,
}

const fn case(
    id: &'static str,
    about: &'static str,
    file: &'static str,
    layout: Layout,
    launch: Launch,
    config: &'static str,
) -> NameCase {
    NameCase {
        id,
        about,
        file,
        layout,
        launch,
        config,
    }
}

use Launch::*;
use Layout::*;

const LONG: &str = "probe-with-a-name-longer-than-sixteen-bytes";

pub const NAME_CASES: [NameCase; 34] = [
    case(
        "listed",
        "the name listed exactly",
        "probe-listed",
        Copy,
        Absolute,
        "probe-listed\n",
    ),
    case(
        "unlisted",
        "a name not listed",
        "probe-unlisted",
        Copy,
        Absolute,
        "probe-listed\n",
    ),
    case(
        "prefix",
        "a prefix of a listed name",
        "probe-list",
        Copy,
        Absolute,
        "probe-listed\n",
    ),
    case(
        "suffix",
        "a suffix of a listed name",
        "listed",
        Copy,
        Absolute,
        "probe-listed\n",
    ),
    case(
        "extended",
        "a listed name plus more",
        "probe-listed-too",
        Copy,
        Absolute,
        "probe-listed\n",
    ),
    case(
        "case",
        "a case difference",
        "Probe-Listed",
        Copy,
        Absolute,
        "probe-listed\n",
    ),
    case(
        "long-name",
        "a name over 16 bytes, listed in full",
        LONG,
        Copy,
        Absolute,
        concat!("probe-with-a-name-longer-than-sixteen-bytes", "\n"),
    ),
    case(
        "truncated-16",
        "regression: only the first 16 bytes listed (the original truncated names)",
        LONG,
        Copy,
        Absolute,
        "probe-with-a-nam\n",
    ),
    case(
        "spaces",
        "a name with spaces",
        "probe with spaces",
        Copy,
        Absolute,
        "probe with spaces\n",
    ),
    case(
        "utf8",
        "a UTF-8 name",
        "pröbe-ünïcødé",
        Copy,
        Absolute,
        "pröbe-ünïcødé\n",
    ),
    case(
        "comment-only",
        "a name that appears only in comments",
        "probe-commented",
        Copy,
        Absolute,
        "#probe-commented\n;probe-commented\n  # probe-commented\n",
    ),
    case(
        "crlf",
        "a name on a CRLF line",
        "probe-crlf",
        Copy,
        Absolute,
        "other\r\nprobe-crlf\r\n",
    ),
    case(
        "padded",
        "a name with blanks around it",
        "probe-padded",
        Copy,
        Absolute,
        " \tprobe-padded \t \n",
    ),
    case(
        "blank-lines",
        "regression: blank lines, started with no `_` (the original matched these)",
        "probe-unnamed",
        Copy,
        EmptyEnvironment,
        "\n\n   \n\t\nprobe-other\n\n",
    ),
    case(
        "no-final-newline",
        "the listed name on a last line without a newline",
        "probe-last",
        Copy,
        Absolute,
        "other\nprobe-last",
    ),
    case(
        "symlink-name",
        "started through a symlink whose name is listed",
        "probe-link",
        Symlink {
            target: "probe-target",
        },
        Absolute,
        "probe-link\n",
    ),
    case(
        "symlink-target",
        "started through a symlink whose target's name is listed",
        "probe-link",
        Symlink {
            target: "probe-target",
        },
        Absolute,
        "probe-target\n",
    ),
    case(
        "symlink-unlisted",
        "started through a symlink, neither name listed",
        "probe-link",
        Symlink {
            target: "probe-target",
        },
        Absolute,
        "probe-other\n",
    ),
    case(
        "hardlink",
        "started through a hardlink whose name is listed",
        "probe-hard",
        Hardlink {
            original: "probe-original",
        },
        Absolute,
        "probe-hard\n",
    ),
    case(
        "hardlink-original",
        "started through a hardlink; only the other link's name is listed",
        "probe-hard",
        Hardlink {
            original: "probe-original",
        },
        Absolute,
        "probe-original\n",
    ),
    case(
        "relative",
        "started by a relative path",
        "probe-rel",
        Copy,
        Relative,
        "probe-rel\n",
    ),
    case(
        "path-lookup",
        "found on PATH by a shell",
        "probe-onpath",
        Copy,
        PathLookup,
        "probe-onpath\n",
    ),
    case(
        "script",
        "a shebang script whose name is listed",
        "probe-script",
        Script {
            interpreter: "probe-interp",
        },
        Absolute,
        "probe-script\n",
    ),
    case(
        "script-interpreter",
        "a shebang script whose interpreter's name is listed",
        "probe-script",
        Script {
            interpreter: "probe-interp",
        },
        Absolute,
        "probe-interp\n",
    ),
    case(
        "argv0-spoofed-to-listed",
        "an unlisted program whose argv[0] is spoofed to a listed name (exec -a)",
        "probe-real-name",
        Copy,
        SpoofedArgv0("probe-listed"),
        "probe-listed\n",
    ),
    case(
        "argv0-spoofed-from-listed",
        "a listed program whose argv[0] is spoofed to another name (exec -a)",
        "probe-listed",
        Copy,
        SpoofedArgv0("innocent"),
        "probe-listed\n",
    ),
    case(
        "env-i",
        "started with env -i",
        "probe-envi",
        Copy,
        EmptyEnvironment,
        "probe-envi\n",
    ),
    case(
        "python-parent",
        "started by Python's subprocess",
        "probe-py",
        Copy,
        Python,
        "probe-py\n",
    ),
    case(
        "underscore-misleads",
        "regression: `_` names a listed program, the program is unlisted",
        "probe-unlisted",
        Copy,
        Underscore("/usr/bin/probe-listed"),
        "probe-listed\n",
    ),
    case(
        "underscore-hides",
        "regression: `_` names another program, the program is listed",
        "probe-listed",
        Copy,
        Underscore("/bin/bash"),
        "probe-listed\n",
    ),
    case(
        "full-path",
        "listed by its full path",
        "probe-fullpath",
        Copy,
        Absolute,
        "{DIR}/probe-fullpath\n",
    ),
    case(
        "full-path-elsewhere",
        "the same name listed by another directory's path",
        "probe-fullpath",
        Copy,
        Absolute,
        "/nonexistent/probe-fullpath\n",
    ),
    case(
        "full-path-of-target",
        "started through a symlink; the target's full path is listed",
        "probe-plink",
        Symlink {
            target: "probe-ptarget",
        },
        Absolute,
        "{DIR}/probe-ptarget\n",
    ),
    case(
        "relative-entry",
        "listed as ./name, which can never match",
        "probe-dotslash",
        Copy,
        Relative,
        "./probe-dotslash\n",
    ),
];

pub fn find(id: &str) -> Option<&'static NameCase> {
    NAME_CASES.iter().find(|case| case.id == id)
}
