//! The programs run under the global preload (coreutils, shells, Python,
//! Perl, git, tar, ...), each with its arguments on the [`Inputs`], the
//! Debian package that installs it, and the exclusion list that names half
//! of them.

use std::fmt::Write as _;
use std::path::Path;

use test_support::path_str;

use super::inputs::Inputs;

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
        self.binary.rsplit('/').next().unwrap_or(self.binary)
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
    let input = path_str(inputs.path());
    let tree = inputs.file("tree");
    let tree_files: Vec<String> = inputs.tree_files.iter().map(|p| path_str(p)).collect();
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
    // Outside a minimal base system; ci/setup installs them, so they are
    // required like the rest (a missing one fails with its apt-get line).
    let extra = [
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
        .chain(extra.into_iter().map(tagged(false)))
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
