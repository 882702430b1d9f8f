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

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::allocators::Allocator;
use crate::artifacts::Artifacts;
use crate::run::{self, NotRun};

/// `PATH` of every run: system directories only, so a toolchain shim (pyenv,
/// a `/usr/local/bin` git) never stands in for the distribution's program.
pub const PATH: &str = "/usr/bin:/bin";

/// One finished process.
#[derive(Debug)]
pub struct Ran {
    /// A shell line that reproduces the run (while `dir` exists).
    pub command: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
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
            "status {:?}{}\n  stdout: {}\n  stderr: {}\n  reproduce: {}",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
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
/// empty, and waits for it (with [`run::execute`]'s timeout).
pub fn launch(argv: &[String], env: &[(String, String)], dir: &Path) -> Ran {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(dir).env_clear();
    for (name, value) in env {
        command.env(name, value);
    }
    let shown = shell_line(dir, env, argv);
    match run::execute(command) {
        Ok((status, timed_out, stdout, stderr)) => Ran {
            command: shown,
            status,
            timed_out,
            stdout,
            stderr,
        },
        Err(error) => Ran {
            command: shown,
            status: None,
            timed_out: false,
            stdout: String::new(),
            stderr: format!("cannot start {}: {error}", argv[0]),
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
                after.split_once(' ').unwrap_or((after, ""))
            };
            fields.insert(key.to_owned(), value.to_owned());
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
            let (number, first, second) = (random.below(1_000_000), word(&mut random), word(&mut random));
            let tag = random.next() & 0xffff_ffff;
            let _ = writeln!(big, "{number} {first} {second} {tag:08x}");
            firsts.push(first);
        }
        firsts.sort_unstable();
        let sorted: String = firsts.iter().map(|word| format!("{word}\n")).collect();

        let a: String = big.lines().take(3000).map(|line| format!("{line}\n")).collect();
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
        let words: String = (0..2000).map(|_| format!("{}\n", word(&mut random))).collect();
        let unique_sorted = |range: std::ops::Range<usize>| {
            let mut set: Vec<&str> = vocabulary[range].iter().map(String::as_str).collect();
            set.sort_unstable();
            set.dedup();
            set.iter().map(|word| format!("{word}\n")).collect::<String>()
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
            ("random-source", &big[..1 << 20]),
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
table = {i: [str(i)] * (i % 17) for i in range(200000)}
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
my %table = map { $_ => "x" x ($_ % 100) } 1 .. 100000;
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
gzip -lv z.gz
gzip -dc z.gz | cmp - "$1"
od -An -tx1 -N 32 z.gz
"#;

const AWK_SCRIPT: &str = r#"{ count[$2]++; sum += $1; chars += length($0) }
END { keys = 0; for (word in count) keys++; printf "%d %d %d %d\n", NR, sum, chars, keys }"#;

/// Every program, started on `inputs`. The binaries are absolute paths in
/// the system's own directories.
pub fn catalogue(inputs: &Inputs) -> Vec<Program> {
    let big = inputs.file("big.txt");
    let input = path_string(inputs.path());
    let tree = inputs.file("tree");
    let mut list: Vec<(&'static str, &'static str, bool, Vec<String>)> = Vec::new();
    let mut add = |binary: &'static str, package: &'static str, args: &[&str]| {
        let mut argv = vec![binary.to_owned()];
        argv.extend(args.iter().map(|arg| (*arg).to_owned()));
        list.push((binary, package, false, argv));
    };
    let ls_time = "--time-style=+%Y-%m-%dT%H:%M:%S";
    add("/usr/bin/ls", "coreutils", &["-lR", ls_time, &tree]);
    add("/usr/bin/cat", "coreutils", &[&big, &inputs.file("words.txt")]);
    add("/usr/bin/sort", "coreutils", &["-S", "1M", "-T", ".", "--parallel=2", &big]);
    add("/usr/bin/wc", "coreutils", &[&big, &inputs.file("words.txt")]);
    add("/usr/bin/sha256sum", "coreutils", &[&big, &inputs.file("a.txt")]);
    add("/usr/bin/md5sum", "coreutils", &[&big]);
    add("/usr/bin/sha1sum", "coreutils", &[&big]);
    add("/usr/bin/b2sum", "coreutils", &[&big]);
    add("/usr/bin/cksum", "coreutils", &[&big]);
    add("/usr/bin/cut", "coreutils", &["-d", " ", "-f", "2,4", &big]);
    add("/usr/bin/uniq", "coreutils", &["-c", &inputs.file("sorted.txt")]);
    add("/usr/bin/head", "coreutils", &["-n", "5000", &big]);
    add("/usr/bin/tail", "coreutils", &["-n", "5000", &big]);
    add(
        "/usr/bin/date",
        "coreutils",
        &["-u", "-d", "2001-02-03 04:05:06", "+%s %A %B %F %T %j %U"],
    );
    add("/usr/bin/seq", "coreutils", &["-w", "1", "3", "600000"]);
    add("/usr/bin/du", "coreutils", &["-ab", &tree]);
    let mut stat_args = vec!["-c", "%n|%s|%F|%a|%h|%Y"];
    let tree_files: Vec<String> = inputs.tree_files.iter().map(|p| path_string(p)).collect();
    stat_args.extend(tree_files.iter().map(String::as_str));
    add("/usr/bin/stat", "coreutils", &stat_args);
    add("/usr/bin/base64", "coreutils", &[&inputs.file("a.txt")]);
    add("/usr/bin/tac", "coreutils", &[&big]);
    add("/usr/bin/nl", "coreutils", &["-ba", &inputs.file("words.txt")]);
    let words = inputs.file("words.txt");
    add("/usr/bin/paste", "coreutils", &["-d", ",", &words, &words]);
    add(
        "/usr/bin/join",
        "coreutils",
        &[&inputs.file("keys1.txt"), &inputs.file("keys2.txt")],
    );
    add(
        "/usr/bin/comm",
        "coreutils",
        &["-3", &inputs.file("set1.txt"), &inputs.file("set2.txt")],
    );
    add("/usr/bin/fold", "coreutils", &["-w", "17", &inputs.file("a.txt")]);
    add(
        "/usr/bin/factor",
        "coreutils",
        &["1234567890123", "9999999967", "600851475143", "18446744073709551557"],
    );
    add(
        "/usr/bin/numfmt",
        "coreutils",
        &["--to=iec-i", "--suffix=B", "1024", "1048576", "123456789", "98765432109"],
    );
    let random_source = format!("--random-source={}", inputs.file("random-source"));
    add("/usr/bin/shuf", "coreutils", &[&random_source, "-n", "300", &words]);
    add("/usr/bin/od", "coreutils", &["-A", "x", "-t", "x1z", "-N", "8192", &big]);
    add("/usr/bin/expr", "coreutils", &["123456789", "*", "987654321"]);
    add(
        "/usr/bin/printf",
        "coreutils",
        &["%s=%05d|%x|%.3f\\n", "a", "1", "255", "3.14159", "b", "2", "4096", "2.5"],
    );
    add(
        "/usr/bin/env",
        "coreutils",
        &["-u", "HOME", "GREETING=hello", "/usr/bin/printenv", "GREETING", "PATH", "LC_ALL"],
    );
    add("/usr/bin/tr", "coreutils", &[]);
    add("/usr/bin/bash", "bash", &["-c", BASH_SCRIPT, "bash", &inputs.file("a.txt")]);
    add("/usr/bin/dash", "dash", &["-c", DASH_SCRIPT, "dash", &inputs.file("a.txt")]);
    add("/usr/bin/python3", "python3", &["-I", "-c", PYTHON_SCRIPT, &big]);
    add("/usr/bin/perl", "perl-base", &["-e", PERL_SCRIPT, &big]);
    add("/usr/bin/git", "git", &[]);
    add("/usr/bin/tar", "tar", &[]);
    add("/usr/bin/gzip", "gzip", &[]);
    add("/usr/bin/sed", "sed", &["-n", "-e", r"s/\([a-z]*\)o\([a-z]*\)/\2<\1>/gp", &big]);
    add("/usr/bin/awk", "mawk", &[AWK_SCRIPT, &big]);
    add("/usr/bin/find", "findutils", &[&tree, "-printf", "%P|%y|%s|%m|%TY-%Tm-%Td\\n"]);
    add("/usr/bin/grep", "grep", &["-n", "-E", "ab+c|x[yz]{2}", &big]);
    add("/usr/bin/xargs", "findutils", &["-a", &words, "-n", "50", "/usr/bin/echo"]);
    add(
        "/usr/bin/diff",
        "diffutils",
        &["-u", &inputs.file("a.txt"), &inputs.file("b.txt")],
    );
    add(
        "/usr/bin/cmp",
        "diffutils",
        &["-l", &inputs.file("a.txt"), &inputs.file("b.txt")],
    );
    add("/usr/bin/xxd", "xxd", &["-l", "8192", &big]);

    // Programs that need a shell around them (stdin, or several steps).
    let shell = |script: &str, args: &[&str]| {
        let mut argv = vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned(), "sh".to_owned()];
        argv.extend(args.iter().map(|arg| (*arg).to_owned()));
        argv
    };
    for (binary, argv) in [
        ("/usr/bin/tr", shell(r#"exec tr a-z A-Z < "$1""#, &[&big])),
        ("/usr/bin/git", shell(GIT_SCRIPT, &[&input])),
        ("/usr/bin/tar", shell(TAR_SCRIPT, &[&input])),
        ("/usr/bin/gzip", shell(GZIP_SCRIPT, &[&big])),
    ] {
        if let Some(entry) = list.iter_mut().find(|entry| entry.0 == binary) {
            entry.3 = argv;
        }
    }

    // Present on most systems, but not installed by ci/setup: run when there.
    let mut optional = |binary: &'static str, package: &'static str, argv: Vec<String>| {
        list.push((binary, package, true, argv));
    };
    optional(
        "/usr/bin/xz",
        "xz-utils",
        shell(r#"set -e; xz -6c "$1" | xz -dc | cmp - "$1"; xz -6c "$1" | wc -c"#, &[&big]),
    );
    optional(
        "/usr/bin/bzip2",
        "bzip2",
        shell(r#"set -e; bzip2 -9c "$1" | bzip2 -dc | cmp - "$1"; bzip2 -9c "$1" | wc -c"#, &[&big]),
    );
    optional(
        "/usr/bin/bc",
        "bc",
        shell(r#"echo 'scale=200; 4*a(1)' | exec bc -l"#, &[]),
    );
    optional(
        "/usr/bin/jq",
        "jq",
        vec![
            "/usr/bin/jq".into(),
            "-n".into(),
            "-c".into(),
            "[range(0; 20000) | {k: (. % 97 | tostring), v: .}] | group_by(.k) | map({(.[0].k): (map(.v) | add)}) | add"
                .into(),
        ],
    );
    optional(
        "/usr/bin/sqlite3",
        "sqlite3",
        vec![
            "/usr/bin/sqlite3".into(),
            ":memory:".into(),
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
             SELECT i % 13, count(*), sum(i), group_concat(i % 7, '') FROM n GROUP BY i % 13;"
                .into(),
        ],
    );

    list.into_iter()
        .map(|(binary, package, optional, argv)| Program {
            binary,
            package,
            optional,
            argv,
        })
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
    for (index, program) in programs.iter().enumerate().filter(|(index, _)| index % 2 == 1) {
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

/// One run to make.
struct Job<'a> {
    program: usize,
    /// `None`: the baseline (`attempt` 0 or 1).
    allocator: Option<usize>,
    debug: bool,
    attempt: u8,
    _marker: std::marker::PhantomData<&'a ()>,
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

    let work = tempfile::Builder::new()
        .prefix("memproxy-programs-")
        .tempdir()
        .map_err(|e| setup("temporary directory", e))?;
    let work_path = work.path().canonicalize().map_err(|e| setup("canonicalize", e))?;
    let config = work_path.join("memproxy.conf");
    let (list, excluded) = exclusion_list(&programs);
    std::fs::write(&config, &list).map_err(|e| setup("writing the config", e))?;

    // One /etc/ld.so.preload per allocator, written once and only read after.
    let mut prefixes = Vec::new();
    for allocator in allocators {
        let scratch = work_path.join(format!("etc-{}", allocator.name));
        std::fs::create_dir(&scratch).map_err(|e| setup("scratch directory", e))?;
        let mut contents = format!("{}\n", path_string(&artifacts.memproxy));
        if let Some(path) = &allocator.path {
            let _ = writeln!(contents, "{}", path_string(path));
        }
        prefixes.push(run::with_etc_preload(&contents, &scratch)?);
    }

    let runs_dir = work_path.join("runs");
    std::fs::create_dir(&runs_dir).map_err(|e| setup("runs directory", e))?;
    let run_one = |job: &Job<'_>| -> (Ran, tempfile::TempDir) {
        let program = programs[job.program];
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", program.name()))
            .tempdir_in(&runs_dir)
            .expect("a run directory");
        let mut env = program_env(dir.path(), &config);
        let mut argv = Vec::new();
        if let Some(allocator) = job.allocator {
            argv.extend(prefixes[allocator].iter().cloned());
            if job.debug {
                env.push(("MEMPROXY_DEBUG".into(), "1".into()));
            }
        }
        argv.extend(program.argv.iter().cloned());
        (launch(&argv, &env, dir.path()), dir)
    };
    let failures = Mutex::new(Vec::new());
    let fail = |text: String, dir: tempfile::TempDir| {
        let kept = dir.keep();
        failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{text}\n  (run directory kept: {})", kept.display()));
    };

    // The baseline, twice: a program whose output varies run to run has no
    // place here.
    let baseline_jobs: Vec<Job<'_>> = (0..programs.len())
        .flat_map(|program| {
            (0..2).map(move |attempt| Job {
                program,
                allocator: None,
                debug: false,
                attempt,
                _marker: std::marker::PhantomData,
            })
        })
        .collect();
    let mut baselines = in_parallel(&baseline_jobs, run_one).into_iter();
    let mut reference = Vec::new();
    for program in &programs {
        let (first, first_dir) = baselines.next().expect("two baseline runs");
        let (second, _) = baselines.next().expect("two baseline runs");
        if first.timed_out || first.status.is_none() {
            fail(
                format!("{}: the baseline run did not finish: {}", program.name(), first.describe()),
                first_dir,
            );
        } else if (&first.stdout, &first.stderr, first.wait_status())
            != (&second.stdout, &second.stderr, second.wait_status())
        {
            fail(
                format!(
                    "{}: two runs without any preload differ; the program is not deterministic \
                     and does not belong in the catalogue:\n  first: {}\n  second: {}",
                    program.name(),
                    first.describe(),
                    second.describe()
                ),
                first_dir,
            );
        }
        reference.push(first);
    }

    let jobs: Vec<Job<'_>> = (0..allocators.len())
        .flat_map(|allocator| {
            (0..programs.len()).flat_map(move |program| {
                [false, true].map(|debug| Job {
                    program,
                    allocator: Some(allocator),
                    debug,
                    attempt: 0,
                    _marker: std::marker::PhantomData,
                })
            })
        })
        .collect();
    let routes = Mutex::new((0usize, 0usize));
    let main_excluded = Mutex::new(std::collections::BTreeSet::new());
    in_parallel(&jobs, |job| {
        let (ran, dir) = run_one(job);
        let program = programs[job.program];
        let allocator = &allocators[job.allocator.expect("a preloaded job")];
        let baseline = &reference[job.program];
        let what = format!(
            "{} under /etc/ld.so.preload = memproxy{}{}",
            program.name(),
            if allocator.path.is_some() { " + " } else { " alone (glibc)" },
            if allocator.path.is_some() { allocator.name.as_str() } else { "" },
        );
        let mut problems = Vec::new();
        if ran.wait_status() != baseline.wait_status() || ran.timed_out {
            problems.push(format!(
                "exit status {:?}, baseline {:?}",
                ran.status, baseline.status
            ));
        }
        if ran.stdout != baseline.stdout {
            problems.push(format!("stdout differs: {}", first_difference(&baseline.stdout, &ran.stdout)));
        }
        let stderr = if job.debug {
            ran.stderr_without_debug()
        } else {
            ran.stderr.clone()
        };
        if stderr != baseline.stderr {
            problems.push(format!(
                "stderr differs from the baseline's {:?}: {}",
                excerpt(&baseline.stderr),
                excerpt(&stderr)
            ));
        }
        if job.debug {
            let lines = ran.debug_lines();
            let mut saw_main = false;
            for line in &lines {
                let (execfn, exe) = (line.get("execfn").unwrap_or_default(), line.get("exe").unwrap_or_default());
                let is_main = basename(execfn) == program.name();
                saw_main |= is_main;
                let listed = list_excludes(&list, execfn, exe);
                let expected = match (&allocator.path, listed) {
                    (None, _) => ("glibc", "no-custom-allocator"),
                    (Some(_), true) => ("glibc", "excluded"),
                    (Some(_), false) => ("custom", "not-excluded"),
                };
                let allocator_ok = match &allocator.path {
                    Some(path) if !listed => line.get("allocator") == path.to_str(),
                    _ => line.get("allocator") == Some(run::LIBC),
                };
                if (line.route(), line.reason()) != expected || !allocator_ok || line.get("duplicate-of").is_some() {
                    problems.push(format!(
                        "expected route={} reason={} (listed: {listed}), memproxy says: {}",
                        expected.0, expected.1, line.text
                    ));
                }
                if is_main && line.route() == "glibc" && allocator.path.is_some() {
                    main_excluded.lock().unwrap_or_else(|e| e.into_inner()).insert(program.binary);
                }
                let mut routes = routes.lock().unwrap_or_else(|e| e.into_inner());
                if line.route() == "glibc" {
                    routes.0 += 1;
                } else {
                    routes.1 += 1;
                }
            }
            if !saw_main {
                problems.push(format!(
                    "no MEMPROXY_DEBUG line from {} itself (lines: {})",
                    program.name(),
                    lines.len()
                ));
            }
        }
        if !problems.is_empty() {
            fail(
                format!(
                    "{what}{}:\n  {}\n  reproduce: {}",
                    if job.debug { " with MEMPROXY_DEBUG=1" } else { "" },
                    problems.join("\n  "),
                    ran.command
                ),
                dir,
            );
        }
    });

    // The debug lines must show that the list excluded exactly its half.
    let main_excluded = main_excluded.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if allocators.iter().any(|allocator| allocator.path.is_some()) {
        let expected: std::collections::BTreeSet<&str> = excluded.iter().copied().collect();
        if main_excluded != expected {
            failures.push(format!(
                "the programs memproxy routed to glibc are {main_excluded:?}, the list excludes {expected:?}"
            ));
        }
    }
    let (glibc_routes, custom_routes) = routes.into_inner().unwrap_or_else(|e| e.into_inner());
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
    let _ = std::io::stdout().flush();
    Ok(GlobalPreload { figures, failures })
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
