//! What `/proc` says about a process: its mapped files, its program, its
//! start time and its `LD_PRELOAD`.
//!
//! `/proc/PID/stat` is readable by everyone; `maps`, `exe`, `environ` and
//! `map_files` need ptrace read access (the same user, or root), and `mem`
//! needs ptrace attach access. What cannot be read is reported with its
//! reason, never guessed.

use std::io::{self, Read};
use std::path::PathBuf;

/// The kernel reports times in /proc in clock ticks of `USER_HZ`, which is
/// 100 on every Linux ABI memproxy runs on.
const USER_HZ: u64 = 100;

/// One file-backed mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    /// `major:minor` as in maps, and the inode: the mapped file's identity.
    pub device: String,
    pub inode: u64,
    pub path: PathBuf,
}

/// The file-backed mappings of `pid`, in address order.
pub fn maps(pid: u32) -> io::Result<Vec<Mapping>> {
    let text = read_to_string(&format!("/proc/{pid}/maps"))?;
    Ok(text.lines().filter_map(parse_map_line).collect())
}

fn parse_map_line(line: &str) -> Option<Mapping> {
    // "start-end perms offset major:minor inode   path"
    let mut fields = line.splitn(6, ' ');
    let range = fields.next()?;
    let _perms = fields.next()?;
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let device = fields.next()?.to_owned();
    let inode: u64 = fields.next()?.parse().ok()?;
    let path = fields.next()?.trim_start();
    if inode == 0 || !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset,
        device,
        inode,
        path: PathBuf::from(path.strip_suffix(" (deleted)").unwrap_or(path)),
    })
}

/// `/proc/PID/maps` can be larger than one read and is not seekable in a
/// useful way; read it whole.
fn read_to_string(path: &str) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// What `/proc/PID/stat` says: the command name and when it started.
#[derive(Debug, Clone)]
pub struct Stat {
    pub command: String,
    /// Seconds since the epoch.
    pub started: Option<u64>,
}

pub fn stat(pid: u32, boot_time: Option<u64>) -> io::Result<Stat> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat"))?;
    let text = String::from_utf8_lossy(&bytes);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let open = text.find('(').unwrap_or(0);
    let close = text.rfind(')').unwrap_or(text.len());
    let command = text.get(open + 1..close).unwrap_or_default().to_owned();
    // Field 22 overall is starttime; after the ')' come fields 3, 4, ...
    let start_ticks = text
        .get(close + 1..)
        .unwrap_or_default()
        .split_whitespace()
        .nth(19)
        .and_then(|ticks| ticks.parse::<u64>().ok());
    Ok(Stat {
        command,
        started: boot_time
            .zip(start_ticks)
            .map(|(boot, ticks)| boot + ticks / USER_HZ),
    })
}

/// When the machine booted, from `btime` in `/proc/stat`.
pub fn boot_time() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|seconds| seconds.trim().parse().ok())
}

/// The target of `/proc/PID/exe`.
pub fn exe(pid: u32) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
}

/// Whether the program `pid` runs has an ELF interpreter (`PT_INTERP`):
/// `Some(false)` for a statically linked program, `None` when unknown.
pub fn has_interpreter(pid: u32) -> Option<bool> {
    let mut file = std::fs::File::open(format!("/proc/{pid}/exe")).ok()?;
    let mut head = vec![0u8; 64 * 1024];
    let filled = crate::elf::read_up_to(&mut file, &mut head).ok()?;
    let head = &head[..filled];
    // ELF64, little-endian: e_phoff at 32, e_phentsize at 54, e_phnum at 56.
    if !head.starts_with(b"\x7fELF\x02\x01") {
        return None;
    }
    let number = |at: usize, size: usize| -> Option<u64> {
        let bytes = head.get(at..at + size)?;
        let mut value = [0u8; 8];
        value[..size].copy_from_slice(bytes);
        Some(u64::from_le_bytes(value))
    };
    let (offset, entry_size, count) = (number(32, 8)?, number(54, 2)?, number(56, 2)?);
    Some((0..count).any(|index| {
        let at = (offset + index * entry_size) as usize;
        number(at, 4) == Some(3) // PT_INTERP
    }))
}

/// `LD_PRELOAD` from the process's initial environment; `Ok(None)` when
/// unset.
pub fn ld_preload(pid: u32) -> io::Result<Option<Vec<u8>>> {
    let environ = std::fs::read(format!("/proc/{pid}/environ"))?;
    Ok(environ
        .split(|&byte| byte == 0)
        .find_map(|entry| entry.strip_prefix(b"LD_PRELOAD="))
        .map(<[u8]>::to_vec))
}

/// Every process id in `/proc`.
pub fn all_pids() -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn map_lines_keep_file_mappings_only() {
        let line = "7f1c2a000000-7f1c2a002000 r--p 00000000 fe:00 1234   /usr/lib/libmemproxy.so";
        let mapping = parse_map_line(line).expect("a file mapping");
        assert_eq!(
            (mapping.start, mapping.end, mapping.offset),
            (0x7f1c2a000000, 0x7f1c2a002000, 0)
        );
        assert_eq!((mapping.device.as_str(), mapping.inode), ("fe:00", 1234));
        assert_eq!(mapping.path, Path::new("/usr/lib/libmemproxy.so"));
        let deleted = "1000-2000 r-xp 00001000 fe:00 99 /opt/lib/a b.so (deleted)";
        assert_eq!(
            parse_map_line(deleted).unwrap().path,
            Path::new("/opt/lib/a b.so")
        );
        assert!(parse_map_line("7ffd0000-7ffd1000 rw-p 00000000 00:00 0   [stack]").is_none());
        assert!(parse_map_line("7ffd0000-7ffd1000 rw-p 00000000 00:00 0").is_none());
    }
}
