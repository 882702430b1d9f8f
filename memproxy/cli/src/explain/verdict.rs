//! What the library decides for each image of a program, by its own matcher
//! (`memproxy-config`), and the [`Explanation`] that text and JSON are both
//! rendered from.
//!
//! Nothing here touches the file system: the names come from
//! [`super::names`], the config's bytes from the caller.

use memproxy_config::{Decision, Identity, Line, classify_line, decide, lines};
use serde::Serialize;

use super::names::{Image, RawNames, Trace};
use crate::config_file::{ConfigPath, Source, State};
use crate::shown::{shown, shown_os};

/// How `execve` is reached for the program named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) enum Lookup {
    /// It holds a '/', so it is executed as given.
    #[serde(rename = "as-given")]
    AsGiven,
    /// A bare name, searched for on `PATH` like `execvp`.
    #[serde(rename = "PATH")]
    Path,
}

/// Which `malloc` serves the program that finally runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Route {
    /// Excluded: glibc's.
    Glibc,
    /// The allocator preloaded after libmemproxy.so (glibc if there is none).
    Custom,
}

/// One config line that matches one of an image's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Match {
    /// 1-based config line.
    pub(super) line: u64,
    /// The entry, escaped for display, with its `!` if it has one.
    pub(super) entry: String,
    /// "execfn name", "exe name", "execfn path" or "exe path".
    pub(super) source: &'static str,
    /// True for a shell pattern, false for an exact name or path.
    pub(super) pattern: bool,
    /// False for a `!` line, which re-includes what it matches.
    pub(super) excludes: bool,
}

/// The library's decision for one image.
#[derive(Debug, Default, Serialize)]
pub(super) struct Verdict {
    /// Whether the deciding line excludes, so that the image gets glibc's
    /// `malloc`.
    pub(super) excluded: bool,
    /// The line the library acts on: the last that matches.
    #[serde(rename = "match")]
    pub(super) deciding: Option<Match>,
    /// Every line that matches, in file order, the deciding one last.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) matches: Vec<Match>,
}

/// An image with the library's decision for it.
#[derive(Debug, Serialize)]
pub(super) struct JudgedImage {
    /// What the library sees.
    #[serde(flatten)]
    pub(super) image: Image,
    /// What it decides.
    #[serde(flatten)]
    pub(super) verdict: Verdict,
}

/// Everything `memproxy explain` reports, in text or as JSON.
#[derive(Debug, Serialize)]
pub(super) struct Explanation {
    /// The program as given, escaped for display.
    pub(super) program: String,
    pub(super) lookup: Lookup,
    /// The config path, escaped for display.
    pub(super) config: String,
    pub(super) config_source: Source,
    /// "read", "missing", "not-regular" or "unreadable".
    pub(super) config_state: &'static str,
    /// Why the library excludes nothing with this config, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) config_problem: Option<String>,
    /// The images that run, in order.
    pub(super) images: Vec<JudgedImage>,
    /// Whether the program that finally runs (the last image) is excluded.
    pub(super) excluded: bool,
    /// `None` when nothing runs.
    pub(super) route: Option<Route>,
    /// Whether the program can be executed as given.
    pub(super) runnable: bool,
    /// Why it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
    /// What to list instead, when an entry matches only a passing image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) advice: Option<String>,
}

impl Explanation {
    /// Judges each image `trace` found for `program` by the config at
    /// `config`, as read into `state`.
    pub(super) fn new(
        program: &[u8],
        config: &ConfigPath,
        state: &State,
        trace: Trace,
    ) -> Explanation {
        let contents = match state {
            State::Read { contents, .. } => Some(contents.as_slice()),
            _ => None,
        };
        let images: Vec<JudgedImage> = trace
            .images
            .into_iter()
            .map(|image| JudgedImage {
                verdict: contents
                    .map_or_else(Verdict::default, |contents| judge(&image.raw, contents)),
                image,
            })
            .collect();
        let excluded = images.last().is_some_and(|image| image.verdict.excluded);
        Explanation {
            program: shown(program),
            lookup: if program.contains(&b'/') {
                Lookup::AsGiven
            } else {
                Lookup::Path
            },
            config: shown_os(&config.path),
            config_source: config.source,
            config_state: state.label(),
            config_problem: state.why_nothing_is_excluded(),
            excluded,
            route: match (images.is_empty(), excluded) {
                (true, _) => None,
                (false, true) => Some(Route::Glibc),
                (false, false) => Some(Route::Custom),
            },
            runnable: trace.error.is_none(),
            error: trace.error,
            advice: advise(&images),
            images,
        }
    }
}

/// The line of `contents` that decides for `identity` (the last that
/// matches), by the library's own scan.
pub fn decision(identity: &Identity<'_>, contents: &[u8]) -> Option<Decision> {
    let mut buffer = vec![0u8; memproxy_config::longest_kept_line(identity) + 1];
    decide(&mut &contents[..], &mut buffer, identity)
        .ok()
        .flatten()
}

/// The verdict for an image known by `names`: every line of `contents` that
/// matches, by the library's own matcher, the last of them deciding.
pub(super) fn judge(names: &RawNames, contents: &[u8]) -> Verdict {
    let identity = names.identity();
    let matches: Vec<Match> = lines(contents)
        .filter_map(|(number, raw)| match classify_line(raw) {
            Line::Entry(entry) => entry.matches(&identity).map(|source| Match {
                line: number,
                entry: shown_entry(&entry),
                source: source.label(),
                pattern: entry.is_pattern(),
                excludes: !entry.is_negated(),
            }),
            _ => None,
        })
        .collect();
    let deciding = matches.last().cloned();
    Verdict {
        excluded: deciding.as_ref().is_some_and(|found| found.excludes),
        deciding,
        matches,
    }
}

/// An entry as its line spells it, blanks trimmed: `!` and all.
fn shown_entry(entry: &memproxy_config::Entry<'_>) -> String {
    let bang = if entry.is_negated() { "!" } else { "" };
    format!("{bang}{}", shown(entry.bytes()))
}

/// An entry that matches `env` (or the script it reads) excludes only that
/// short-lived image; the program it then executes is judged afresh.
fn advise(images: &[JudgedImage]) -> Option<String> {
    let (last, passing) = images.split_last()?;
    let excluded_passing = passing.iter().find(|judged| judged.verdict.excluded)?;
    if last.verdict.excluded {
        return None;
    }
    let (passing, last) = (&excluded_passing.image, &last.image);
    Some(format!(
        "the match excludes only {} (exe '{}'), which then executes {}: list '{}' to exclude \
         it (and every other program of that name), or give the script a #! line naming its \
         interpreter directly",
        passing.execfn, passing.exe_name, last.execfn, last.execfn_name
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// An image as `names` would report it, for a binary (no interpreter).
    fn image(execfn: &str, exe: &str) -> Image {
        let name = |path: &str| path.rsplit('/').next().unwrap_or(path).to_owned();
        Image {
            started_by: format!("execve(\"{execfn}\")"),
            execfn: execfn.to_owned(),
            execfn_name: name(execfn),
            exe: exe.to_owned(),
            exe_name: name(exe),
            interpreters: Vec::new(),
            notes: Vec::new(),
            raw: RawNames {
                execfn: execfn.as_bytes().to_vec(),
                exe: exe.as_bytes().to_vec(),
            },
        }
    }

    fn verdict(execfn: &str, exe: &str, contents: &str) -> Verdict {
        judge(&image(execfn, exe).raw, contents.as_bytes())
    }

    fn found(line: u64, entry: &str, source: &'static str) -> Match {
        Match {
            line,
            entry: entry.to_owned(),
            source,
            pattern: memproxy_config::glob::is_pattern(entry.trim_start_matches('!').as_bytes()),
            excludes: !entry.starts_with('!'),
        }
    }

    fn explain(
        program: &str,
        state: &State,
        images: Vec<Image>,
        error: Option<&str>,
    ) -> Explanation {
        let config = ConfigPath {
            path: PathBuf::from("/etc/memproxy.conf"),
            source: Source::Argument,
        };
        let trace = Trace {
            images,
            error: error.map(str::to_owned),
        };
        Explanation::new(program.as_bytes(), &config, state, trace)
    }

    fn read(contents: &str) -> State {
        State::Read {
            contents: contents.as_bytes().to_vec(),
            mode: 0o644,
        }
    }

    #[test]
    fn the_last_matching_line_decides_and_every_match_is_listed() {
        let verdict = verdict(
            "/usr/bin/ls",
            "/usr/bin/ls",
            "# ls\nvim\n/usr/bin/ls\n ls \n",
        );
        assert!(verdict.excluded);
        assert_eq!(verdict.deciding, Some(found(4, "ls", "execfn name")));
        assert_eq!(
            verdict.matches,
            [
                found(3, "/usr/bin/ls", "execfn path"),
                found(4, "ls", "execfn name")
            ]
        );
    }

    #[test]
    fn a_bang_line_after_a_pattern_re_includes() {
        let opt_in = verdict(
            "/usr/sbin/mysqld",
            "/usr/sbin/mysqld",
            "*\n!mysqld\n!redis\n",
        );
        assert!(!opt_in.excluded);
        assert_eq!(opt_in.deciding, Some(found(2, "!mysqld", "execfn name")));
        assert_eq!(opt_in.matches[0], found(1, "*", "execfn name"));
        let other = verdict("/usr/bin/ls", "/usr/bin/ls", "*\n!mysqld\n");
        assert!(other.excluded);
        assert_eq!(other.deciding, Some(found(1, "*", "execfn name")));
    }

    #[test]
    fn a_name_entry_matches_either_name_execfn_first() {
        let by_exe = verdict("/tmp/myls", "/usr/bin/ls", "ls\n");
        assert_eq!(by_exe.deciding, Some(found(1, "ls", "exe name")));
        let by_execfn = verdict("/tmp/myls", "/usr/bin/ls", "myls\n");
        assert_eq!(by_execfn.deciding, Some(found(1, "myls", "execfn name")));
        let by_both = verdict("/usr/bin/ls", "/usr/bin/ls", "ls\r\n");
        assert_eq!(by_both.deciding, Some(found(1, "ls", "execfn name")));
        assert_eq!(by_both.matches.len(), 1);
    }

    #[test]
    fn comments_and_other_programs_exclude_nothing() {
        let verdict = verdict(
            "/usr/bin/ls",
            "/usr/bin/ls",
            "#ls\n;ls\nbin/ls\n/usr/bin/\nlsof\n",
        );
        assert!(!verdict.excluded);
        assert_eq!(verdict.deciding, None);
        assert!(verdict.matches.is_empty());
    }

    #[test]
    fn entries_are_shown_escaped() {
        let program = "/opt/tab\there";
        let verdict = verdict(program, program, "/opt/tab\there\n");
        assert_eq!(
            verdict.deciding.map(|found| found.entry).as_deref(),
            Some("/opt/tab\\x09here")
        );
    }

    #[test]
    fn a_config_that_is_not_read_excludes_nothing() {
        let explanation = explain(
            "ls",
            &State::Missing,
            vec![image("/usr/bin/ls", "/usr/bin/ls")],
            None,
        );
        assert_eq!(explanation.config_state, "missing");
        assert_eq!(explanation.config_problem.as_deref(), Some("no such file"));
        assert!(!explanation.images[0].verdict.excluded);
        assert_eq!(explanation.route, Some(Route::Custom));
        assert_eq!(explanation.lookup, Lookup::Path);
        assert!(explanation.runnable);
    }

    #[test]
    fn nothing_runs_means_no_route() {
        let explanation = explain(
            "./gone",
            &read("gone\n"),
            Vec::new(),
            Some("./gone: not found"),
        );
        assert_eq!(explanation.lookup, Lookup::AsGiven);
        assert_eq!(explanation.route, None);
        assert!(!explanation.excluded);
        assert!(!explanation.runnable);
        assert_eq!(explanation.error.as_deref(), Some("./gone: not found"));
    }

    #[test]
    fn the_last_image_decides_and_a_passing_match_gets_advice() {
        let images = || {
            let mut script = image("/opt/tool", "/usr/bin/env");
            script.interpreters.push("/usr/bin/env".to_owned());
            vec![script, image("/usr/bin/sh", "/usr/bin/dash")]
        };
        let passing = explain("/opt/tool", &read("tool\n"), images(), None);
        assert!(passing.images[0].verdict.excluded);
        assert!(!passing.excluded);
        assert_eq!(passing.route, Some(Route::Custom));
        assert_eq!(
            passing.advice.as_deref(),
            Some(
                "the match excludes only /opt/tool (exe 'env'), which then executes \
                 /usr/bin/sh: list 'sh' to exclude it (and every other program of that name), \
                 or give the script a #! line naming its interpreter directly"
            )
        );

        let both = explain("/opt/tool", &read("tool\nsh\n"), images(), None);
        assert!(both.excluded);
        assert_eq!(both.route, Some(Route::Glibc));
        assert_eq!(both.advice, None);

        let last_only = explain("/opt/tool", &read("dash\n"), images(), None);
        assert!(last_only.excluded);
        assert_eq!(last_only.advice, None);
    }
}
