//! Real programs under a global preload, and the helpers the set-up tests
//! share.
//!
//! [`global_preload`] starts every program of the [`catalogue`] (coreutils,
//! shells, Python, Perl, git, tar, ...) on deterministic inputs, first without
//! any preload (twice, to prove the output is deterministic), then inside a
//! private mount namespace whose `/etc/ld.so.preload` holds memproxy and one
//! allocator, with an exclusion list naming half of them. Each preloaded run
//! must give the baseline's stdout and exit status with nothing added on
//! stderr; a second run with `MEMPROXY_DEBUG=1` checks, for every process that
//! loaded memproxy (helpers a program starts included), that the route is the
//! one the exclusion list gives. [`Figures`] counts what was run.
//!
//! The rest ([`launch`], [`fixture`], [`DebugLine`]) serves
//! `tests/setups.rs`, which starts probes and fixtures under wrong and partial
//! set-ups.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::allocators::Allocator;
use crate::run::{self, NotRun};
use test_support::artifacts::Artifacts;

/// `PATH` of every run: system directories only, so a toolchain shim (pyenv,
/// a `/usr/local/bin` git) never stands in for the distribution's program.
pub const PATH: &str = "/usr/bin:/bin";

/// One finished process.
#[derive(Debug)]
pub struct Ran {
    /// A shell line that reproduces the run (while its directory and
    /// inputs exist).
    pub command: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|status| status.success())
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.and_then(|status| status.signal())
    }

    /// The raw wait status, to compare two runs' ends exactly.
    pub fn wait_status(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.map(|status| status.into_raw())
    }

    /// Stderr without memproxy's debug lines.
    pub fn stderr_without_debug(&self) -> String {
        self.stderr
            .lines()
            .filter(|line| DebugLine::parse(line).is_none())
            .map(|line| format!("{line}\n"))
            .collect()
    }

    /// memproxy's debug lines on stderr.
    pub fn debug_lines(&self) -> Vec<DebugLine> {
        self.stderr.lines().filter_map(DebugLine::parse).collect()
    }

    /// What went wrong with it, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "status {:?}{} after {:.2} s\n  stdout: {}\n  stderr: {}\n  reproduce: {}",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
            self.elapsed.as_secs_f64(),
            excerpt(&self.stdout),
            excerpt(&self.stderr),
            self.command
        )
    }
}

fn excerpt(text: &str) -> String {
    const LIMIT: usize = 600;
    if text.len() <= LIMIT {
        return format!("{text:?}");
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

/// Starts `argv` in `dir` with exactly `env` (nothing is inherited), stdin
/// empty and core files off, and waits for it (with [`run::execute`]'s
/// timeout).
pub fn launch(argv: &[String], env: &[(String, String)], dir: &Path) -> Ran {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(dir).env_clear();
    // Some runs crash on purpose (a platform limitation shown without
    // memproxy): never leave core files behind, whatever the host's limit.
    // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &none) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let shown = shell_line(dir, env, argv);
    let started = Instant::now();
    let result = run::execute(command);
    let elapsed = started.elapsed();
    match result {
        Ok((status, timed_out, stdout, stderr)) => Ran {
            command: shown,
            status,
            timed_out,
            stdout,
            stderr,
            elapsed,
        },
        Err(error) => Ran {
            command: shown,
            status: None,
            timed_out: false,
            stdout: String::new(),
            stderr: format!("cannot start {}: {error}", argv[0]),
            elapsed,
        },
    }
}

/// The environment every run starts from: no variable of the harness's own
/// leaks in.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), PATH.into()),
        ("LC_ALL".into(), "C".into()),
        ("TZ".into(), "UTC".into()),
        ("HOME".into(), path_string(home)),
    ]
}

/// A copy-pasteable shell line for a run.
pub fn shell_line(dir: &Path, env: &[(String, String)], argv: &[String]) -> String {
    let mut line = format!("cd {} && env -i", quote(&path_string(dir)));
    for (name, value) in env {
        let _ = write!(line, " {}", quote(&format!("{name}={value}")));
    }
    for arg in argv {
        let _ = write!(line, " {}", quote(arg));
    }
    line
}

fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn path_string(path: &Path) -> String {
    path.to_str()
        .expect("paths under test are UTF-8")
        .to_owned()
}

/// A fixture `fixtures/build.rs` builds next to `probe-c` (the set-up
/// fixtures of `fixtures/c/setups/`).
pub fn fixture(artifacts: &Artifacts, name: &str) -> Result<PathBuf, String> {
    let probe_c = artifacts
        .probes
        .iter()
        .find(|probe| probe.name == "probe-c")
        .ok_or("the artifacts have no probe-c")?;
    let path = probe_c
        .path
        .parent()
        .ok_or("probe-c has no directory")?
        .join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: fixtures/build.rs builds it next to probe-c \
             (prebuilt artifact directories do not carry the set-up fixtures)",
            path.display()
        ))
    }
}

/// One `MEMPROXY_DEBUG` line: `memproxy[PID]: key=value ...`, values bare or
/// quoted with `\"`, `\\` and `\xNN` escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugLine {
    pub pid: u32,
    pub fields: BTreeMap<String, String>,
    pub text: String,
}

impl DebugLine {
    pub fn parse(line: &str) -> Option<DebugLine> {
        let rest = line.strip_prefix("memproxy[")?;
        let (pid, mut rest) = rest.split_once("]: ")?;
        let pid = pid.parse().ok()?;
        let mut fields = BTreeMap::new();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                unquote(quoted)?
            } else {
                let (value, after) = after.split_once(' ').unwrap_or((after, ""));
                (value.to_owned(), after)
            };
            fields.insert(key.to_owned(), value);
            rest = after.trim_start_matches(' ');
        }
        Some(DebugLine {
            pid,
            fields,
            text: line.to_owned(),
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    pub fn route(&self) -> &str {
        self.get("route").unwrap_or_default()
    }

    pub fn reason(&self) -> &str {
        self.get("reason").unwrap_or_default()
    }
}

/// The value of a quoted field (after its opening quote) and what follows
/// its closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[index + 1..])),
            '\\' => match chars.next()?.1 {
                'x' => {
                    let high = chars.next()?.1.to_digit(16)?;
                    let low = chars.next()?.1.to_digit(16)?;
                    value.push(char::from((high * 16 + low) as u8));
                }
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

// --- the deterministic inputs ---------------------------------------------

/// The modification time of every input: 2001-02-03 04:05:06 UTC.
pub const INPUT_MTIME: u64 = 981_173_106;

/// Lines of `big.txt` (about 4 MiB).
const BIG_LINES: usize = 130_000;

/// The inputs the programs read, generated from a fixed seed.
pub struct Inputs {
    dir: tempfile::TempDir,
    /// The regular files of `tree/`, in creation order.
    pub tree_files: Vec<PathBuf>,
}

/// A small deterministic generator (PCG's LCG step, high bits out).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

impl Inputs {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> String {
        path_string(&self.dir.path().join(name))
    }

    /// Writes every input, each time byte for byte the same.
    pub fn create() -> std::io::Result<Inputs> {
        let dir = tempfile::Builder::new()
            .prefix("memproxy-programs-in-")
            .tempdir()?;
        let root = dir.path().canonicalize()?;
        let mut random = Lcg(0x6d65_6d70_726f_7879);
        let vocabulary: Vec<String> = (0..500)
            .map(|_| {
                let length = 3 + random.below(8);
                (0..length)
                    .map(|_| char::from(b'a' + random.below(26) as u8))
                    .collect()
            })
            .collect();
        let word = |random: &mut Lcg| vocabulary[random.below(500) as usize].as_str();

        let mut big = String::with_capacity(BIG_LINES * 34);
        let mut firsts = Vec::with_capacity(BIG_LINES);
        for _ in 0..BIG_LINES {
            let (number, first, second) = (
                random.below(1_000_000),
                word(&mut random),
                word(&mut random),
            );
            let tag = random.next() & 0xffff_ffff;
            let _ = writeln!(big, "{number} {first} {second} {tag:08x}");
            firsts.push(first);
        }
        firsts.sort_unstable();
        let sorted: String = firsts.iter().map(|word| format!("{word}\n")).collect();

        let a: String = big
            .lines()
            .take(3000)
            .map(|line| format!("{line}\n"))
            .collect();
        // b.txt: a.txt with a few words uppercased, so the same length.
        let b: String = a
            .lines()
            .enumerate()
            .map(|(index, line)| {
                if index % 250 == 7 {
                    format!("{}\n", line.to_ascii_uppercase())
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let words: String = (0..2000)
            .map(|_| format!("{}\n", word(&mut random)))
            .collect();
        let unique_sorted = |range: std::ops::Range<usize>| {
            let mut set: Vec<&str> = vocabulary[range].iter().map(String::as_str).collect();
            set.sort_unstable();
            set.dedup();
            set.iter()
                .map(|word| format!("{word}\n"))
                .collect::<String>()
        };
        let keyed = |step: usize, tag: &str| {
            (0..3000)
                .step_by(step)
                .map(|key| format!("k{key:05} {tag}{}\n", key % 97))
                .collect::<String>()
        };
        let files: [(&str, &str); 10] = [
            ("big.txt", &big),
            ("sorted.txt", &sorted),
            ("a.txt", &a),
            ("b.txt", &b),
            ("words.txt", &words),
            ("set1.txt", &unique_sorted(0..300)),
            ("set2.txt", &unique_sorted(200..500)),
            ("keys1.txt", &keyed(2, "left")),
            ("keys2.txt", &keyed(3, "right")),
            ("first-mib.txt", &big[..1 << 20]),
        ];
        for (name, contents) in files {
            std::fs::write(root.join(name), contents)?;
        }

        let mut tree_files = Vec::new();
        let mut dirs = vec![root.join("tree")];
        for sub in ["alpha", "alpha/deep", "beta", "gamma"] {
            dirs.push(root.join("tree").join(sub));
        }
        for dir in &dirs {
            std::fs::create_dir_all(dir)?;
        }
        for (index, dir) in dirs.iter().enumerate() {
            for file in 0..4 {
                let length = random.below(40_000) as usize;
                let start = random.below((big.len() - length) as u64) as usize;
                let path = dir.join(format!("file-{index}-{file}.txt"));
                std::fs::write(&path, &big.as_bytes()[start..start + length])?;
                tree_files.push(path);
            }
        }
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(INPUT_MTIME);
        let set_mtime = |path: &Path| std::fs::File::open(path)?.set_modified(mtime);
        for (name, _) in files {
            set_mtime(&root.join(name))?;
        }
        for path in &tree_files {
            set_mtime(path)?;
        }
        for dir in dirs.iter().rev() {
            set_mtime(dir)?;
        }
        Ok(Inputs { dir, tree_files })
    }
}

// --- the programs -----------------------------------------------------------

/// One program of the catalogue.
#[derive(Clone, Debug)]
pub struct Program {
    /// The program under test: the binary whose route is checked.
    pub binary: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
    /// Run only if installed (reported when absent); the others are required.
    pub optional: bool,
    /// What is started: the binary itself, or a shell that runs it.
    pub argv: Vec<String>,
}

impl Program {
    pub fn name(&self) -> &'static str {
        basename(self.binary)
    }

    pub fn installed(&self) -> bool {
        Path::new(self.binary).is_file()
    }
}

const BASH_SCRIPT: &str = r#"set -e
declare -A seen
total=0
while read -r n first second tag; do
    seen[$first]=$(( ${seen[$first]:-0} + n % 7 ))
    total=$(( total + ${#second} ))
done < "$1"
s=""
for i in {1..3000}; do s+="$i,"; done
words=(${s//,/ })
printf '%s\n' "${#s}" "${#words[@]}" "$total" "${#seen[@]}"
for key in $(printf '%s\n' "${!seen[@]}" | sort | head -n 40); do
    printf '%s=%s\n' "$key" "${seen[$key]}"
done
"#;

const DASH_SCRIPT: &str = r#"set -e
i=0
acc=""
while [ $i -lt 3000 ]; do acc="$acc$i"; i=$((i + 1)); done
echo "${#acc}"
while read -r n first second tag; do
    case $first in a*|q*) echo "$n $second ${#tag}" ;; esac
done < "$1"
"#;

const PYTHON_SCRIPT: &str = r#"import collections, hashlib, json, sys
lines = open(sys.argv[1]).read().split("\n")
words = collections.Counter(w for line in lines for w in line.split()[1:3])
table = {i: [str(i)] * (i % 17) for i in range(50000)}
ordered = sorted(lines, key=lambda line: line[::-1])
print(len(table), sum(len(v) for v in table.values()))
print(hashlib.sha256("\n".join(ordered).encode()).hexdigest())
print(json.dumps(dict(words.most_common(25)), sort_keys=True))
"#;

const PERL_SCRIPT: &str = r#"use strict; use warnings;
my (%count, @reversed);
open(my $in, "<", $ARGV[0]) or die "$ARGV[0]: $!";
while (my $line = <$in>) {
    chomp $line;
    my @fields = split / /, $line;
    $count{$fields[1]}++;
    push @reversed, scalar reverse $line;
}
my @sorted = sort @reversed;
my %table = map { $_ => "x" x ($_ % 100) } 1 .. 30000;
print scalar(@sorted), " ", length(join("", @sorted)), " ", scalar(keys %table), "\n";
print "$_ $count{$_}\n" for (sort keys %count)[0 .. 19];
"#;

const GIT_SCRIPT: &str = r#"set -e
git init -q -b main repo
cd repo
cp "$1/a.txt" "$1/words.txt" .
git add .
git commit -q -m first
printf 'one more line\n' >> a.txt
git commit -q -a -m second
git log --format='%H %an <%ae> %ad %cd %s' --date=iso-strict
git cat-file -p 'HEAD^{tree}'
git diff --stat HEAD~1 HEAD
git rev-list --count HEAD
"#;

const TAR_SCRIPT: &str = r#"set -e
tar --sort=name --mtime=@981173106 --owner=0 --group=0 --numeric-owner -C "$1" -czf t.tgz tree
mkdir x
tar -C x -xzf t.tgz
diff -r "$1/tree" x/tree
tar -tvzf t.tgz
"#;

const GZIP_SCRIPT: &str = r#"set -e
gzip -9nc "$1" > z.gz
gzip -l z.gz
gzip -t z.gz
gzip -dc z.gz | cmp - "$1"
od -An -tx1 -N 32 z.gz
"#;

const AWK_SCRIPT: &str = r#"{ count[$2]++; sum += $1; chars += length($0) }
END { keys = 0; for (word in count) keys++; printf "%d %d %d %d\n", NR, sum, chars, keys }"#;

/// The argv that starts `binary` with `args`.
fn direct(binary: &str, args: &[&str]) -> Vec<String> {
    std::iter::once(binary)
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// The argv that runs `script` with `/bin/sh -c`, `args` as `$1`...
fn shell(script: &str, args: &[&str]) -> Vec<String> {
    ["/bin/sh", "-c", script, "sh"]
        .into_iter()
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// Every program, started on `inputs`. The binaries are absolute paths in
/// the system's own directories; a program that needs stdin or several
/// steps runs inside `sh -c`, whose own process is checked too.
pub fn catalogue(inputs: &Inputs) -> Vec<Program> {
    let big = inputs.file("big.txt");
    // The first MiB of big.txt: the slower compressors' input, and shuf's
    // source of randomness.
    let medium = inputs.file("first-mib.txt");
    let a = inputs.file("a.txt");
    let words = inputs.file("words.txt");
    let input = path_string(inputs.path());
    let tree = inputs.file("tree");
    let tree_files: Vec<String> = inputs.tree_files.iter().map(|p| path_string(p)).collect();
    let mut stat_args = vec!["-c", "%n|%s|%F|%a|%h|%Y"];
    stat_args.extend(tree_files.iter().map(String::as_str));
    let random_source = format!("--random-source={medium}");

    let required = [
        (
            "/usr/bin/ls",
            "coreutils",
            direct(
                "/usr/bin/ls",
                &["-lR", "--time-style=+%Y-%m-%dT%H:%M:%S", &tree],
            ),
        ),
        (
            "/usr/bin/cat",
            "coreutils",
            direct("/usr/bin/cat", &[&big, &words]),
        ),
        // A 1 MiB buffer makes sort spill to temporary files and merge them.
        (
            "/usr/bin/sort",
            "coreutils",
            direct(
                "/usr/bin/sort",
                &["-S", "1M", "-T", ".", "--parallel=2", &big],
            ),
        ),
        (
            "/usr/bin/wc",
            "coreutils",
            direct("/usr/bin/wc", &[&big, &words]),
        ),
        (
            "/usr/bin/sha256sum",
            "coreutils",
            direct("/usr/bin/sha256sum", &[&big, &a]),
        ),
        (
            "/usr/bin/md5sum",
            "coreutils",
            direct("/usr/bin/md5sum", &[&big]),
        ),
        (
            "/usr/bin/sha1sum",
            "coreutils",
            direct("/usr/bin/sha1sum", &[&big]),
        ),
        (
            "/usr/bin/b2sum",
            "coreutils",
            direct("/usr/bin/b2sum", &[&big]),
        ),
        (
            "/usr/bin/cksum",
            "coreutils",
            direct("/usr/bin/cksum", &[&big]),
        ),
        (
            "/usr/bin/cut",
            "coreutils",
            direct("/usr/bin/cut", &["-d", " ", "-f", "2,4", &big]),
        ),
        (
            "/usr/bin/tr",
            "coreutils",
            shell(r#"exec tr a-z A-Z < "$1""#, &[&big]),
        ),
        (
            "/usr/bin/uniq",
            "coreutils",
            direct("/usr/bin/uniq", &["-c", &inputs.file("sorted.txt")]),
        ),
        (
            "/usr/bin/head",
            "coreutils",
            direct("/usr/bin/head", &["-n", "5000", &big]),
        ),
        (
            "/usr/bin/tail",
            "coreutils",
            direct("/usr/bin/tail", &["-n", "5000", &big]),
        ),
        (
            "/usr/bin/date",
            "coreutils",
            direct(
                "/usr/bin/date",
                &["-u", "-d", "2001-02-03 04:05:06", "+%s %A %B %F %T %j %U"],
            ),
        ),
        (
            "/usr/bin/seq",
            "coreutils",
            direct("/usr/bin/seq", &["-w", "1", "3", "600000"]),
        ),
        (
            "/usr/bin/du",
            "coreutils",
            direct("/usr/bin/du", &["-ab", &tree]),
        ),
        (
            "/usr/bin/stat",
            "coreutils",
            direct("/usr/bin/stat", &stat_args),
        ),
        (
            "/usr/bin/base64",
            "coreutils",
            direct("/usr/bin/base64", &[&a]),
        ),
        ("/usr/bin/tac", "coreutils", direct("/usr/bin/tac", &[&big])),
        (
            "/usr/bin/nl",
            "coreutils",
            direct("/usr/bin/nl", &["-ba", &words]),
        ),
        (
            "/usr/bin/paste",
            "coreutils",
            direct("/usr/bin/paste", &["-d", ",", &words, &words]),
        ),
        (
            "/usr/bin/join",
            "coreutils",
            direct(
                "/usr/bin/join",
                &[&inputs.file("keys1.txt"), &inputs.file("keys2.txt")],
            ),
        ),
        (
            "/usr/bin/comm",
            "coreutils",
            direct(
                "/usr/bin/comm",
                &["-3", &inputs.file("set1.txt"), &inputs.file("set2.txt")],
            ),
        ),
        (
            "/usr/bin/fold",
            "coreutils",
            direct("/usr/bin/fold", &["-w", "17", &a]),
        ),
        (
            "/usr/bin/factor",
            "coreutils",
            direct(
                "/usr/bin/factor",
                &[
                    "1234567890123",
                    "9999999967",
                    "600851475143",
                    "18446744073709551557",
                ],
            ),
        ),
        (
            "/usr/bin/numfmt",
            "coreutils",
            direct(
                "/usr/bin/numfmt",
                &[
                    "--to=iec-i",
                    "--suffix=B",
                    "1024",
                    "1048576",
                    "123456789",
                    "98765432109",
                ],
            ),
        ),
        (
            "/usr/bin/shuf",
            "coreutils",
            direct("/usr/bin/shuf", &[&random_source, "-n", "300", &words]),
        ),
        (
            "/usr/bin/od",
            "coreutils",
            direct("/usr/bin/od", &["-A", "x", "-t", "x1z", "-N", "8192", &big]),
        ),
        (
            "/usr/bin/expr",
            "coreutils",
            direct("/usr/bin/expr", &["123456789", "*", "987654321"]),
        ),
        (
            "/usr/bin/printf",
            "coreutils",
            direct(
                "/usr/bin/printf",
                &[
                    "%s=%05d|%x|%.3f\\n",
                    "a",
                    "1",
                    "255",
                    "3.14159",
                    "b",
                    "2",
                    "4096",
                    "2.5",
                ],
            ),
        ),
        (
            "/usr/bin/env",
            "coreutils",
            direct(
                "/usr/bin/env",
                &[
                    "-u",
                    "HOME",
                    "GREETING=hello",
                    "/usr/bin/printenv",
                    "GREETING",
                    "PATH",
                    "LC_ALL",
                ],
            ),
        ),
        (
            "/usr/bin/bash",
            "bash",
            direct("/usr/bin/bash", &["-c", BASH_SCRIPT, "bash", &a]),
        ),
        (
            "/usr/bin/dash",
            "dash",
            direct("/usr/bin/dash", &["-c", DASH_SCRIPT, "dash", &a]),
        ),
        (
            "/usr/bin/python3",
            "python3",
            direct("/usr/bin/python3", &["-I", "-c", PYTHON_SCRIPT, &big]),
        ),
        (
            "/usr/bin/perl",
            "perl-base",
            direct("/usr/bin/perl", &["-e", PERL_SCRIPT, &big]),
        ),
        ("/usr/bin/git", "git", shell(GIT_SCRIPT, &[&input])),
        ("/usr/bin/tar", "tar", shell(TAR_SCRIPT, &[&input])),
        ("/usr/bin/gzip", "gzip", shell(GZIP_SCRIPT, &[&medium])),
        (
            "/usr/bin/sed",
            "sed",
            direct(
                "/usr/bin/sed",
                &["-n", "-e", r"s/\([a-z]*\)o\([a-z]*\)/\2<\1>/gp", &big],
            ),
        ),
        (
            "/usr/bin/awk",
            "mawk",
            direct("/usr/bin/awk", &[AWK_SCRIPT, &big]),
        ),
        (
            "/usr/bin/find",
            "findutils",
            direct(
                "/usr/bin/find",
                &[&tree, "-printf", "%P|%y|%s|%m|%TY-%Tm-%Td\\n"],
            ),
        ),
        (
            "/usr/bin/grep",
            "grep",
            direct("/usr/bin/grep", &["-n", "-E", "ab+c|x[yz]{2}", &big]),
        ),
        (
            "/usr/bin/xargs",
            "findutils",
            direct(
                "/usr/bin/xargs",
                &["-a", &words, "-n", "50", "/usr/bin/echo"],
            ),
        ),
        (
            "/usr/bin/diff",
            "diffutils",
            direct("/usr/bin/diff", &["-u", &a, &inputs.file("b.txt")]),
        ),
        (
            "/usr/bin/cmp",
            "diffutils",
            direct("/usr/bin/cmp", &["-l", &a, &inputs.file("b.txt")]),
        ),
        (
            "/usr/bin/xxd",
            "xxd",
            direct("/usr/bin/xxd", &["-l", "8192", &big]),
        ),
    ];
    // Present on most systems, but not installed by ci/setup: run when there.
    let optional = [
        (
            "/usr/bin/xz",
            "xz-utils",
            shell(
                r#"set -e; xz -1c "$1" > z.xz; xz -dc z.xz | cmp - "$1"; wc -c < z.xz"#,
                &[&medium],
            ),
        ),
        (
            "/usr/bin/bzip2",
            "bzip2",
            shell(
                r#"set -e; bzip2 -9c "$1" > z.bz2; bzip2 -dc z.bz2 | cmp - "$1"; wc -c < z.bz2"#,
                &[&medium],
            ),
        ),
        (
            "/usr/bin/bc",
            "bc",
            shell("echo 'scale=200; 4*a(1)' | exec bc -l", &[]),
        ),
        (
            "/usr/bin/jq",
            "jq",
            direct(
                "/usr/bin/jq",
                &[
                    "-n",
                    "-c",
                    "[range(0; 20000) | {k: (. % 97 | tostring), v: .}] | group_by(.k) | map({(.[0].k): (map(.v) | add)}) | add",
                ],
            ),
        ),
        (
            "/usr/bin/sqlite3",
            "sqlite3",
            direct(
                "/usr/bin/sqlite3",
                &[
                    ":memory:",
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
                     SELECT i % 13, count(*), sum(i), group_concat(i % 7, '') FROM n GROUP BY i % 13;",
                ],
            ),
        ),
    ];
    let tagged = |optional: bool| {
        move |(binary, package, argv): (&'static str, &'static str, Vec<String>)| Program {
            binary,
            package,
            optional,
            argv,
        }
    };
    required
        .into_iter()
        .map(tagged(false))
        .chain(optional.into_iter().map(tagged(true)))
        .collect()
}

/// Fails, naming the `apt-get` line, when a required program is missing.
pub fn check_installed(programs: &[Program]) -> Result<(), String> {
    let mut packages: Vec<&str> = programs
        .iter()
        .filter(|program| !program.optional && !program.installed())
        .map(|program| program.package)
        .collect();
    packages.sort_unstable();
    packages.dedup();
    if packages.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "programs of the global-preload test are missing. Install them with:\n    \
             apt-get install -y {}",
            packages.join(" ")
        ))
    }
}

// --- the exclusion list ------------------------------------------------------

/// An exclusion list naming every other program (odd positions): most by
/// name, every third one by its full path, with comments and a blank line.
pub fn exclusion_list(programs: &[&Program]) -> (String, Vec<&'static str>) {
    let mut text = String::from("# memproxy global-preload test: every other program\n\n");
    let mut excluded = Vec::new();
    for (index, program) in programs
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 2 == 1)
    {
        if index % 3 == 0 {
            let _ = writeln!(text, "{}", program.binary);
        } else {
            let _ = writeln!(text, "{}", program.name());
        }
        excluded.push(program.binary);
    }
    (text, excluded)
}

/// Whether the list excludes a process with these names, per the README: a
/// name entry matches the last component of either name, a path entry
/// (starting with `/`) either name whole. Restated here, not shared with
/// memproxy.
pub fn list_excludes(list: &str, execfn: &str, exe: &str) -> bool {
    list.lines().map(str::trim).any(|entry| {
        if entry.is_empty() || entry.starts_with('#') || entry.starts_with(';') {
            false
        } else if entry.starts_with('/') {
            entry == execfn || entry == exe
        } else {
            entry == basename(execfn) || entry == basename(exe)
        }
    })
}

// --- the global-preload run ------------------------------------------------

/// What [`global_preload`] ran.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Programs run (required plus optional ones found).
    pub programs: usize,
    /// Of them, listed in the exclusion list.
    pub excluded: usize,
    /// Optional programs that are not installed here.
    pub absent_optional: Vec<String>,
    /// The allocators, `glibc` meaning memproxy alone.
    pub allocators: Vec<String>,
    /// (program, allocator) pairs compared with the baseline.
    pub comparisons: usize,
    /// Preloaded runs: each pair plainly and with `MEMPROXY_DEBUG=1`.
    pub preloaded_runs: usize,
    /// Runs without any preload (each program twice).
    pub baseline_runs: usize,
    /// Processes that printed a debug line, helpers included, all checked.
    pub processes_checked: usize,
    pub glibc_routes: usize,
    pub custom_routes: usize,
    pub failures: usize,
    pub seconds: f64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "global preload: {} programs ({} excluded by the list) x {} allocators ({}) = {} \
             comparisons with the baseline; {} preloaded runs + {} baseline runs; {} preloaded \
             processes checked by their MEMPROXY_DEBUG line ({} glibc route, {} custom); \
             {} failures; {:.1} s",
            self.programs,
            self.excluded,
            self.allocators.len(),
            self.allocators.join(", "),
            self.comparisons,
            self.preloaded_runs,
            self.baseline_runs,
            self.processes_checked,
            self.glibc_routes,
            self.custom_routes,
            self.failures,
            self.seconds,
        )?;
        if !self.absent_optional.is_empty() {
            write!(
                f,
                "; optional programs not installed: {}",
                self.absent_optional.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The outcome of [`global_preload`]: the figures and every failure.
pub struct GlobalPreload {
    pub figures: Figures,
    pub failures: Vec<String>,
}

/// Variables every program run gets, besides [`base_env`]: the config
/// (harmless without memproxy) and git's fixed identity and dates.
fn program_env(home: &Path, config: &Path) -> Vec<(String, String)> {
    let mut env = base_env(home);
    env.push(("MEMPROXY_CONF".into(), path_string(config)));
    for (name, value) in [
        ("GIT_AUTHOR_NAME", "memproxy"),
        ("GIT_AUTHOR_EMAIL", "memproxy@example.org"),
        ("GIT_AUTHOR_DATE", "2001-02-03T04:05:06Z"),
        ("GIT_COMMITTER_NAME", "memproxy"),
        ("GIT_COMMITTER_EMAIL", "memproxy@example.org"),
        ("GIT_COMMITTER_DATE", "2001-02-03T04:05:07Z"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_PAGER", "cat"),
    ] {
        env.push((name.into(), value.into()));
    }
    env
}

/// Runs `jobs` on a few threads, calling `each` with every result.
fn in_parallel<T: Sync, R: Send>(jobs: &[T], each: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .clamp(4, 16);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    let result = each(job);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|result| result.expect("every job ran"))
        .collect()
}

/// What the debug lines of one run show.
#[derive(Default)]
struct RouteCheck {
    problems: Vec<String>,
    /// The program itself (not a helper) reported the glibc route.
    main_on_glibc: bool,
    glibc: usize,
    custom: usize,
}

/// Checks every `MEMPROXY_DEBUG` line of a run of `program` against the
/// route the exclusion `list` gives each process under `allocator`.
fn check_routes(
    lines: &[DebugLine],
    list: &str,
    allocator: &Allocator,
    program: &Program,
) -> RouteCheck {
    let mut check = RouteCheck::default();
    let mut saw_main = false;
    for line in lines {
        let execfn = line.get("execfn").unwrap_or_default();
        let exe = line.get("exe").unwrap_or_default();
        let listed = list_excludes(list, execfn, exe);
        let (route, reason, serving) = match (&allocator.path, listed) {
            (None, _) => ("glibc", "no-custom-allocator", Path::new(run::LIBC)),
            (Some(_), true) => ("glibc", "excluded", Path::new(run::LIBC)),
            (Some(path), false) => ("custom", "not-excluded", path.as_path()),
        };
        // The same file, whichever directory of a merged /usr the loader
        // found it in.
        let serves = line
            .get("allocator")
            .is_some_and(|named| same_file(Path::new(named), serving));
        if (line.route(), line.reason()) != (route, reason)
            || !serves
            || line.get("duplicate-of").is_some()
        {
            check.problems.push(format!(
                "expected route={route} reason={reason} allocator={} (listed: {listed}), memproxy says: {}",
                serving.display(),
                line.text
            ));
        }
        let is_main = basename(execfn) == program.name();
        saw_main |= is_main;
        if line.route() == "glibc" {
            check.glibc += 1;
            check.main_on_glibc |= is_main;
        } else {
            check.custom += 1;
        }
    }
    if !saw_main {
        check.problems.push(format!(
            "no MEMPROXY_DEBUG line from {} itself ({} lines)",
            program.name(),
            lines.len()
        ));
    }
    check
}

/// How a preloaded run differs from the baseline: exit status, stdout, and
/// stderr (less memproxy's lines when `debug` asked for them).
fn compare(ran: &Ran, baseline: &Ran, debug: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if ran.wait_status() != baseline.wait_status() || ran.timed_out {
        problems.push(format!(
            "exit status {:?}, baseline {:?}",
            ran.status, baseline.status
        ));
    }
    if ran.stdout != baseline.stdout {
        problems.push(format!(
            "stdout differs: {}",
            first_difference(&baseline.stdout, &ran.stdout)
        ));
    }
    let stderr = if debug {
        ran.stderr_without_debug()
    } else {
        ran.stderr.clone()
    };
    if stderr != baseline.stderr {
        problems.push(format!(
            "stderr differs from the baseline's {}: {}",
            excerpt(&baseline.stderr),
            excerpt(&stderr)
        ));
    }
    problems
}

/// Runs `argv` in a fresh directory under `runs`, with the programs'
/// environment.
fn run_in(
    runs: &Path,
    name: &str,
    argv: Vec<String>,
    config: &Path,
    debug: bool,
) -> (Ran, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(runs)
        .expect("a run directory");
    let mut env = program_env(dir.path(), config);
    if debug {
        env.push(("MEMPROXY_DEBUG".into(), "1".into()));
    }
    (launch(&argv, &env, dir.path()), dir)
}

/// Failures, each with its run directory (kept, with the inputs and the
/// config, when there is any failure).
#[derive(Default)]
struct Failures(Mutex<Vec<String>>);

impl Failures {
    fn add(&self, text: String, dir: tempfile::TempDir) {
        let kept = dir.keep();
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.push(format!("{text}\n  run directory: {}", kept.display()));
    }

    fn into_inner(self) -> Vec<String> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts every program of the catalogue without preload and under a global
/// preload of memproxy and each of `allocators`, and compares. See the
/// module documentation.
pub fn global_preload(
    artifacts: &Artifacts,
    allocators: &[Allocator],
) -> Result<GlobalPreload, NotRun> {
    let started = Instant::now();
    let setup = |what: &str, error: std::io::Error| NotRun::Setup(format!("{what}: {error}"));
    let inputs = Inputs::create().map_err(|e| setup("creating the inputs", e))?;
    let catalogue = catalogue(&inputs);
    check_installed(&catalogue).map_err(NotRun::Setup)?;
    let programs: Vec<&Program> = catalogue.iter().filter(|p| p.installed()).collect();
    let absent_optional = catalogue
        .iter()
        .filter(|p| !p.installed())
        .map(|p| p.name().to_owned())
        .collect();

    let work_dir = tempfile::Builder::new()
        .prefix("memproxy-programs-")
        .tempdir()
        .map_err(|e| setup("temporary directory", e))?;
    let work = work_dir
        .path()
        .canonicalize()
        .map_err(|e| setup("canonicalize", e))?;
    let config = work.join("memproxy.conf");
    let (list, excluded) = exclusion_list(&programs);
    std::fs::write(&config, &list).map_err(|e| setup("writing the config", e))?;
    let runs = work.join("runs");
    std::fs::create_dir(&runs).map_err(|e| setup("runs directory", e))?;

    // One /etc/ld.so.preload per allocator, written once and only read after.
    let mut prefixes = Vec::new();
    for allocator in allocators {
        let scratch = work.join(format!("etc-{}", allocator.name));
        std::fs::create_dir(&scratch).map_err(|e| setup("scratch directory", e))?;
        let mut contents = format!("{}\n", path_string(&artifacts.memproxy));
        if let Some(path) = &allocator.path {
            let _ = writeln!(contents, "{}", path_string(path));
        }
        prefixes.push(run::with_etc_preload(&contents, &scratch)?);
    }
    let failures = Failures::default();

    // The baseline, twice: a program whose output varies from run to run
    // does not belong in the catalogue.
    let baseline_jobs: Vec<usize> = (0..programs.len())
        .flat_map(|program| [program, program])
        .collect();
    let mut baselines = in_parallel(&baseline_jobs, |&program| {
        let program = programs[program];
        run_in(&runs, program.name(), program.argv.clone(), &config, false)
    })
    .into_iter();
    let mut reference = Vec::new();
    for program in &programs {
        let (first, dir) = baselines.next().expect("two baseline runs");
        let (second, _) = baselines.next().expect("two baseline runs");
        if first.timed_out || first.status.is_none() {
            let text = format!(
                "{}: the baseline run did not finish: {}",
                program.name(),
                first.describe()
            );
            failures.add(text, dir);
        } else if (&first.stdout, &first.stderr, first.wait_status())
            != (&second.stdout, &second.stderr, second.wait_status())
        {
            let text = format!(
                "{}: two runs without any preload differ, so the program does not belong in the \
                 catalogue:\n  first: {}\n  second: {}",
                program.name(),
                first.describe(),
                second.describe()
            );
            failures.add(text, dir);
        }
        reference.push(first);
    }

    // (allocator, program, debug)
    let jobs: Vec<(usize, usize, bool)> = (0..allocators.len())
        .flat_map(|allocator| {
            (0..programs.len())
                .flat_map(move |program| [false, true].map(|debug| (allocator, program, debug)))
        })
        .collect();
    let checks = in_parallel(&jobs, |&(allocator_index, program_index, debug)| {
        let (allocator, program) = (&allocators[allocator_index], programs[program_index]);
        let mut argv = prefixes[allocator_index].clone();
        argv.extend(program.argv.iter().cloned());
        let (ran, dir) = run_in(&runs, program.name(), argv, &config, debug);
        let mut problems = compare(&ran, &reference[program_index], debug);
        let check = if debug {
            check_routes(&ran.debug_lines(), &list, allocator, program)
        } else {
            RouteCheck::default()
        };
        problems.extend(check.problems.iter().cloned());
        if !problems.is_empty() {
            let text = format!(
                "{} under /etc/ld.so.preload = memproxy{}{}:\n  {}\n  reproduce: {}",
                program.name(),
                allocator
                    .path
                    .as_ref()
                    .map_or(" alone".to_owned(), |_| format!(" + {}", allocator.name)),
                if debug { ", MEMPROXY_DEBUG=1" } else { "" },
                problems.join("\n  "),
                ran.command
            );
            failures.add(text, dir);
        }
        check
    });
    let mut failures = failures.into_inner();

    // The programs themselves on the glibc route: exactly the listed half
    // (all of them with memproxy alone).
    for (allocator_index, allocator) in allocators.iter().enumerate() {
        let on_glibc: BTreeSet<&str> = jobs
            .iter()
            .zip(&checks)
            .filter(|((index, _, _), check)| *index == allocator_index && check.main_on_glibc)
            .map(|((_, program, _), _)| programs[*program].binary)
            .collect();
        let expected: BTreeSet<&str> = match allocator.path {
            Some(_) => excluded.iter().copied().collect(),
            None => programs.iter().map(|program| program.binary).collect(),
        };
        if on_glibc != expected {
            failures.push(format!(
                "{}: MEMPROXY_DEBUG shows {on_glibc:?} on the glibc route, the list gives {expected:?}",
                allocator.name
            ));
        }
    }
    let glibc_routes = checks.iter().map(|check| check.glibc).sum();
    let custom_routes = checks.iter().map(|check| check.custom).sum();
    let figures = Figures {
        programs: programs.len(),
        excluded: excluded.len(),
        absent_optional,
        allocators: allocators.iter().map(|a| a.name.clone()).collect(),
        comparisons: programs.len() * allocators.len(),
        preloaded_runs: jobs.len(),
        baseline_runs: baseline_jobs.len(),
        processes_checked: glibc_routes + custom_routes,
        glibc_routes,
        custom_routes,
        failures: failures.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if !failures.is_empty() {
        // What the reproduce lines refer to stays on disk.
        failures.push(format!(
            "kept for the reproduce lines: {} and {}",
            inputs.dir.keep().display(),
            work_dir.keep().display()
        ));
    }
    Ok(GlobalPreload { figures, failures })
}

/// Whether two paths name the same file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Where two outputs first differ, briefly.
fn first_difference(expected: &str, seen: &str) -> String {
    let mut line = 1;
    for (a, b) in expected.lines().zip(seen.lines()) {
        if a != b {
            return format!("line {line}: expected {a:?}, seen {b:?}");
        }
        line += 1;
    }
    format!(
        "after line {line}: expected {} lines, seen {}",
        expected.lines().count(),
        seen.lines().count()
    )
}
