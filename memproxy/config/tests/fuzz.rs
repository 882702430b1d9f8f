//! Fuzzing the config scanner and the entry matcher.
//!
//! This is the project's fuzz target. cargo-fuzz (libFuzzer) needs a nightly
//! toolchain and the project builds on stable only, so the harness is
//! proptest: random inputs from strategies, shrunk to a minimal failing case,
//! with failures saved under `tests/fuzz.proptest-regressions` and replayed
//! first on every later run.
//!
//! Every property compares [`find_first_match`] with the plain whole-file
//! model in `tests/model` (shared with `scan_vs_model.rs`), on any byte
//! values, lines far longer than the scan buffer, buffers of any size, and
//! reads split anywhere. It also checks that the scan never panics (a panic
//! fails the case), always terminates (the reader fails the case if the scan
//! keeps reading after end of file, or makes more reads than bytes exist),
//! and reports a failing reader instead of guessing.
//!
//! The number of cases per property comes from `PROPTEST_CASES` (proptest
//! reads it, and it overrides any count configured here; default 256, a few
//! seconds in all), so CI runs it briefly and a longer run is
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --release -p memproxy-config --test fuzz
//! ```

mod model;

use memproxy_config::{
    Identity, Line, NameSource, Names, ReadBytes, ScanError, classify_line, find_first_match,
    find_newline,
};
use proptest::prelude::*;

/// Hands out a file in the given read sizes, cycling; fails the case if the
/// scan reads again after end of file or makes more reads than could make
/// progress, and can fail on purpose at one read.
struct Reader<'a> {
    rest: &'a [u8],
    sizes: &'a [usize],
    calls: usize,
    max_calls: usize,
    eof_seen: bool,
    fail_at: Option<usize>,
    failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFailure {
    Injected,
    ReadAfterEof,
    TooManyReads,
}

impl<'a> Reader<'a> {
    fn new(file: &'a [u8], sizes: &'a [usize]) -> Reader<'a> {
        Reader {
            rest: file,
            sizes,
            calls: 0,
            // Every read but the last stores at least one byte.
            max_calls: file.len() + 1,
            eof_seen: false,
            fail_at: None,
            failed: false,
        }
    }
}

impl ReadBytes for Reader<'_> {
    type Error = ReadFailure;
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ReadFailure> {
        if self.eof_seen {
            return Err(ReadFailure::ReadAfterEof);
        }
        if self.fail_at == Some(self.calls) {
            self.failed = true;
            return Err(ReadFailure::Injected);
        }
        self.calls += 1;
        if self.calls > self.max_calls {
            return Err(ReadFailure::TooManyReads);
        }
        let size = self
            .sizes
            .get(self.calls % self.sizes.len().max(1))
            .copied()
            .unwrap_or(4096)
            .max(1);
        let count = size.min(buf.len()).min(self.rest.len());
        buf[..count].copy_from_slice(&self.rest[..count]);
        self.rest = &self.rest[count..];
        if count == 0 {
            self.eof_seen = true;
        }
        Ok(count)
    }
}

type Verdict = Result<Option<(u64, NameSource)>, ScanError<ReadFailure>>;

fn scan(file: &[u8], who: &Identity<'_>, buffer: usize, sizes: &[usize]) -> Verdict {
    let mut reader = Reader::new(file, sizes);
    let mut buf = vec![0u8; buffer];
    find_first_match(&mut reader, &mut buf, who).map(|found| found.map(|f| (f.line, f.source)))
}

/// What the scan must answer, per the crate docs: nothing for a program
/// without names, a refusal for a buffer that cannot hold the longest
/// name, the model's verdict otherwise.
fn expected(file: &[u8], who: &Identity<'_>, buffer: usize) -> Verdict {
    if who.longest_name() == 0 {
        Ok(None)
    } else if buffer <= who.longest_name() {
        Err(ScanError::BufferTooSmall)
    } else {
        Ok(model::first_match(file, who))
    }
}

fn any_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..16, 1usize..512, 1usize..70_000], 1..6)
}

/// Names made of bytes that matter to the format, and any others.
fn identity_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_bytes(40),
        prop::collection::vec(
            prop::sample::select(vec![b'/', b'a', b'b', b' ', b'\r', b'#', 0u8, 0xff]),
            0..16
        ),
    ]
}

/// A file built from pieces that stress the scanner: copies of the names
/// (whole, as a last component, padded, cut short, extended, split by a
/// long run of blanks), comments,
/// blanks, NULs, any bytes, and runs of one byte far longer than the
/// buffer, joined by newlines or not.
fn hostile_file(execfn: Vec<u8>, exe: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let names = [execfn.clone(), exe.clone()];
    let name_forms = move |which: usize, form: u8, pad: usize| -> Vec<u8> {
        let name = &names[which % 2];
        let last = model::last_component(name);
        let blanks = |n: usize| vec![b" \t\r"[n % 3]; n % 7];
        let mut out = Vec::new();
        match form % 7 {
            0 => out.extend_from_slice(name),
            1 => out.extend_from_slice(last),
            2 => {
                out.extend(blanks(pad));
                out.extend_from_slice(last);
                out.extend(blanks(pad / 3));
            }
            3 => out.extend_from_slice(&last[..last.len().saturating_sub(1)]),
            4 => {
                out.extend_from_slice(last);
                out.push(b'x');
            }
            5 => {
                // The name cut in two by blanks that overflow the buffer:
                // dropping them must not join the halves into the name.
                let cut = pad % (last.len() + 1);
                out.extend_from_slice(&last[..cut]);
                out.extend(vec![b" \t\r"[pad % 3]; pad % 3000 + 1]);
                out.extend_from_slice(&last[cut..]);
            }
            _ => {
                out.push(b'#');
                out.extend_from_slice(last);
            }
        }
        out
    };
    let piece = prop_oneof![
        (any::<usize>(), any::<u8>(), any::<usize>())
            .prop_map(move |(which, form, pad)| name_forms(which, form, pad)),
        any_bytes(64),
        (any::<u8>(), 1usize..100_000).prop_map(|(byte, count)| vec![byte; count]),
        (
            prop::sample::select(vec![b' ', b'\t', b'\r', b'#', b';', 0u8]),
            1usize..20_000
        )
            .prop_map(|(byte, count)| vec![byte; count]),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(vec![0u8]),
    ];
    prop::collection::vec((piece, any::<bool>()), 0..24).prop_map(|pieces| {
        let mut file = Vec::new();
        for (piece, newline) in pieces {
            file.extend_from_slice(&piece);
            if newline {
                file.push(b'\n');
            }
        }
        file
    })
}

proptest! {
    /// Any bytes at all, any buffer size (too small included), any reads.
    #[test]
    fn any_bytes_scan_like_the_model(
        file in any_bytes(4096),
        execfn in identity_bytes(),
        exe in identity_bytes(),
        buffer in 0usize..128,
        sizes in read_sizes(),
    ) {
        let who = Identity { execfn: &execfn, exe: &exe };
        prop_assert_eq!(scan(&file, &who, buffer, &sizes), expected(&file, &who, buffer));
    }

    /// Files made to hit the hard cases: long lines around the names,
    /// entries that almost match, blanks and NULs, with small buffers.
    #[test]
    fn hostile_files_scan_like_the_model(
        (execfn, exe, file) in (identity_bytes(), identity_bytes())
            .prop_flat_map(|(execfn, exe)| {
                let file = hostile_file(execfn.clone(), exe.clone());
                (Just(execfn), Just(exe), file)
            }),
        slack in 1usize..24,
        sizes in read_sizes(),
    ) {
        let who = Identity { execfn: &execfn, exe: &exe };
        let buffer = who.longest_name() + slack;
        prop_assert_eq!(scan(&file, &who, buffer, &sizes), expected(&file, &who, buffer));
    }

    /// A reader that fails is reported, never taken for end of file: the
    /// scan either fails with the reader's error or found a match before
    /// the failure, and then it is the model's first match.
    #[test]
    fn a_failing_read_is_reported(
        (execfn, exe, file) in (identity_bytes(), identity_bytes())
            .prop_flat_map(|(execfn, exe)| {
                let file = hostile_file(execfn.clone(), exe.clone());
                (Just(execfn), Just(exe), file)
            }),
        slack in 1usize..24,
        sizes in read_sizes(),
        fail_at in 0usize..64,
    ) {
        let who = Identity { execfn: &execfn, exe: &exe };
        prop_assume!(who.longest_name() > 0);
        let mut reader = Reader::new(&file, &sizes);
        reader.fail_at = Some(fail_at);
        let mut buf = vec![0u8; who.longest_name() + slack];
        let verdict = find_first_match(&mut reader, &mut buf, &who)
            .map(|found| found.map(|f| (f.line, f.source)));
        if !reader.failed {
            // The scan finished before the failing read.
            prop_assert_eq!(verdict, Ok(model::first_match(&file, &who)));
        } else {
            match verdict {
                Err(error) => prop_assert_eq!(error, ScanError::Read(ReadFailure::Injected)),
                Ok(found) => {
                    prop_assert!(found.is_some(), "no match claimed from a partial read");
                    prop_assert_eq!(found, model::first_match(&file, &who));
                }
            }
        }
    }

    /// One line against arbitrary identities: classifying it and matching
    /// the entry (directly, and through the per-file `Names`) means what
    /// the model says the same line means.
    #[test]
    fn entry_matching_equals_the_model(
        line in prop_oneof![any_bytes(48), identity_bytes()],
        execfn in identity_bytes(),
        exe in identity_bytes(),
    ) {
        let line: Vec<u8> = line.into_iter().filter(|&b| b != b'\n').collect();
        let who = Identity { execfn: &execfn, exe: &exe };
        let expected = model::first_match(&line, &who).map(|(_, source)| source);
        let seen = match classify_line(&line) {
            Line::Entry(entry) => {
                let through_names = Names::of(&who).matched_by(entry);
                prop_assert_eq!(entry.matches(&who), through_names);
                through_names
            }
            Line::Blank | Line::Comment => None,
        };
        prop_assert_eq!(seen, expected);
    }

    /// A program whose name is in the list, after any noise, is found on
    /// the right line.
    #[test]
    fn a_listed_name_after_any_noise_is_found(
        noise in any_bytes(20_000),
        name in prop::collection::vec(1u8..=255, 1..32),
        sizes in read_sizes(),
        slack in 1usize..8,
    ) {
        let name: Vec<u8> = name
            .into_iter()
            .filter(|b| !b" \t\r\n/#;".contains(b))
            .collect();
        prop_assume!(!name.is_empty());
        let execfn = [b"/opt/".as_slice(), &name].concat();
        let who = Identity { execfn: &execfn, exe: b"/usr/bin/other" };
        let mut file = noise;
        file.push(b'\n');
        let line = file.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        file.extend_from_slice(&name);
        let buffer = who.longest_name() + slack;
        let verdict = scan(&file, &who, buffer, &sizes);
        let model = model::first_match(&file, &who);
        prop_assert_eq!(verdict, Ok(model));
        let (found_line, _) = model.expect("the name is listed");
        prop_assert!(found_line <= line);
    }

    #[test]
    fn find_newline_equals_position(haystack in any_bytes(300)) {
        prop_assert_eq!(find_newline(&haystack), haystack.iter().position(|&b| b == b'\n'));
    }

    /// In the same block, so configured like every property above, and
    /// does nothing but count its cases (into [`CASE_LOG`]).
    #[test]
    fn counted_property(_byte in any::<u8>()) {
        if let Some(log) = std::env::var_os(CASE_LOG) {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
                .expect("the case log");
            file.write_all(b"case\n").expect("write the case log");
        }
    }
}

/// Where [`counted_property`] writes one line per case it runs, when set:
/// only [`the_number_of_cases_comes_from_the_environment`] sets it, in a
/// child run of this test binary.
const CASE_LOG: &str = "MEMPROXY_FUZZ_CASE_LOG";

/// `PROPTEST_CASES` sets the depth of every property, as the README says:
/// this test binary is run again on [`counted_property`] alone with known
/// settings, and the cases it really ran are counted against the literal
/// numbers (an unparsable value is ignored, with proptest's warning).
#[test]
fn the_number_of_cases_comes_from_the_environment() {
    let dir = tempfile_dir();
    for (setting, expected) in [
        (Some("37"), 37),
        (Some("3"), 3),
        (None, 256),
        // proptest's own rule: 0 is taken literally.
        (Some("0"), 0),
        (Some("many"), 256),
    ] {
        let log = dir.join(format!("cases-{}", setting.unwrap_or("unset")));
        let mut command = std::process::Command::new(std::env::current_exe().expect("this test"));
        command
            .args(["--exact", "counted_property", "--test-threads=1"])
            .env(CASE_LOG, &log)
            .env_remove("PROPTEST_CASES");
        if let Some(setting) = setting {
            command.env("PROPTEST_CASES", setting);
        }
        let output = command.output().expect("the test binary runs");
        let shown = format!("PROPTEST_CASES={setting:?} {command:?}");
        assert!(
            output.status.success(),
            "{shown}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ran = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        assert_eq!(ran, expected, "cases run with {shown}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for the case logs (this crate has no tempfile).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("memproxy-fuzz-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory for the case logs");
    dir
}
