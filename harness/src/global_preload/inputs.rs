//! The deterministic inputs the catalogue's programs read: text files and
//! a small tree, generated from a fixed seed with fixed modification times,
//! byte for byte the same on every run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use test_support::path_str;

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

    /// Keeps the inputs on disk (for reproduce lines) and returns where.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    pub fn file(&self, name: &str) -> String {
        path_str(&self.dir.path().join(name))
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
