//! What the library decides for each image of a program, by its own matcher
//! (`memproxy-config`), and the [`Explanation`] that text and JSON are both
//! rendered from.
//!
//! Nothing here touches the file system: the names come from
//! [`super::names`], the config's bytes from the caller.

use memproxy_config::{Found, Identity, Line, classify_line, find_first_match, lines};
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

/// One config entry that equals one of an image's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Match {
    /// 1-based config line.
    pub(super) line: u64,
    /// The entry, escaped for display.
    pub(super) entry: String,
    /// "execfn name", "exe name", "execfn path" or "exe path".
    pub(super) source: &'static str,
}

/// The library's decision for one image.
#[derive(Debug, Default, Serialize)]
pub(super) struct Verdict {
    /// Whether an entry matches, so that the image gets glibc's `malloc`.
    pub(super) excluded: bool,
    /// The entry the library acts on: the first that matches.
    #[serde(rename = "match")]
    pub(super) first_match: Option<Match>,
    /// Later entries that match too (they change nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) also_matching: Vec<Match>,
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

/// The first entry of `contents` that names `identity`, by the library's
/// own scan.
pub fn first_match(identity: &Identity<'_>, contents: &[u8]) -> Option<Found> {
    // The library's buffer is larger than any name it can see; this one is
    // sized so that a scan never stops for want of room.
    let mut buffer = vec![0u8; identity.longest_name().max(16 * 1024) + 1];
    find_first_match(&mut &contents[..], &mut buffer, identity)
        .ok()
        .flatten()
}

/// The verdict for an image known by `names`, by the library's own scan of
/// `contents`.
pub(super) fn judge(names: &RawNames, contents: &[u8]) -> Verdict {
    let identity = names.identity();
    let first = first_match(&identity, contents);
    let entry_on = |line: u64| {
        lines(contents)
            .find(|(number, _)| *number == line)
            .and_then(|(_, raw)| match classify_line(raw) {
                Line::Entry(entry) => Some(shown(entry.bytes())),
                _ => None,
            })
            .unwrap_or_default()
    };
    let also_matching = lines(contents)
        .filter(|(number, _)| Some(*number) != first.map(|found| found.line))
        .filter_map(|(number, raw)| match classify_line(raw) {
            Line::Entry(entry) => entry.matches(&identity).map(|source| Match {
                line: number,
                entry: shown(entry.bytes()),
                source: source.label(),
            }),
            _ => None,
        })
        .collect();
    Verdict {
        excluded: first.is_some(),
        first_match: first.map(|found| Match {
            line: found.line,
            entry: entry_on(found.line),
            source: found.source.label(),
        }),
        also_matching,
    }
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
    fn the_first_matching_entry_decides_and_later_ones_are_listed() {
        let verdict = verdict(
            "/usr/bin/ls",
            "/usr/bin/ls",
            "# ls\nvim\n/usr/bin/ls\n ls \n",
        );
        assert!(verdict.excluded);
        assert_eq!(
            verdict.first_match,
            Some(found(3, "/usr/bin/ls", "execfn path"))
        );
        assert_eq!(verdict.also_matching, [found(4, "ls", "execfn name")]);
    }

    #[test]
    fn a_name_entry_matches_either_name_execfn_first() {
        let by_exe = verdict("/tmp/myls", "/usr/bin/ls", "ls\n");
        assert_eq!(by_exe.first_match, Some(found(1, "ls", "exe name")));
        let by_execfn = verdict("/tmp/myls", "/usr/bin/ls", "myls\n");
        assert_eq!(by_execfn.first_match, Some(found(1, "myls", "execfn name")));
        let by_both = verdict("/usr/bin/ls", "/usr/bin/ls", "ls\r\n");
        assert_eq!(by_both.first_match, Some(found(1, "ls", "execfn name")));
        assert!(by_both.also_matching.is_empty());
    }

    #[test]
    fn comments_and_other_programs_exclude_nothing() {
        let verdict = verdict(
            "/usr/bin/ls",
            "/usr/bin/ls",
            "#ls\n;ls\nbin/ls\n/usr/bin/\nlsof\n",
        );
        assert!(!verdict.excluded);
        assert_eq!(verdict.first_match, None);
        assert!(verdict.also_matching.is_empty());
    }

    #[test]
    fn entries_are_shown_escaped() {
        let program = "/opt/tab\there";
        let verdict = verdict(program, program, "/opt/tab\there\n");
        assert_eq!(
            verdict.first_match.map(|found| found.entry).as_deref(),
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
