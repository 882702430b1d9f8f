//! The preload file's contents before and after `enable` and `disable`, as
//! pure functions of the bytes.
//!
//! `enable` puts its entries first, on one line after a marker comment
//! (`# memproxy enable`), and keeps every other byte of the file as it was,
//! after them. ld.so always ignores the marker, the first comment of the
//! file; whether it still ignores the file's own comments after them is
//! checked (see [`crate::preload::strip_comments`]). `disable`
//! removes the marker lines and the line after each, and nothing else, so
//! enable then disable gives back the file byte for byte.

/// Every marker line starts with this. It is short on purpose: ld.so
/// ignores a later comment only if it starts far enough from the end of the
/// file, and how far depends on the length of every comment before it (see
/// [`crate::preload::strip_comments`]).
const MARKER: &[u8] = b"# memproxy enable";
/// The marker when `enable` found no file: `disable` then removes the file
/// too, if nothing else is left in it.
const MARKER_CREATED: &[u8] = b"# memproxy enable, file created";

/// The marker line `enable` writes above its entries.
fn marker_line(created: bool) -> Vec<u8> {
    let mut line = if created {
        MARKER_CREATED.to_vec()
    } else {
        MARKER.to_vec()
    };
    line.push(b'\n');
    line
}

/// A file's contents with the managed lines taken out.
#[derive(Debug, PartialEq, Eq)]
pub struct Removal {
    /// Everything else, byte for byte.
    pub rest: Vec<u8>,
    /// The entry lines removed (without their newline).
    pub removed: Vec<Vec<u8>>,
    /// Some marker said `enable` created the file.
    pub created: bool,
    /// Some marker was found.
    pub found: bool,
}

/// Takes out every marker line and the line after it.
pub fn without_managed(contents: &[u8]) -> Removal {
    let mut removal = Removal {
        rest: Vec::with_capacity(contents.len()),
        removed: Vec::new(),
        created: false,
        found: false,
    };
    let mut lines = contents.split_inclusive(|&byte| byte == b'\n');
    while let Some(line) = lines.next() {
        if !line.starts_with(MARKER) {
            removal.rest.extend_from_slice(line);
            continue;
        }
        removal.found = true;
        removal.created |= line.starts_with(MARKER_CREATED);
        if let Some(entries) = lines.next() {
            removal
                .removed
                .push(entries.strip_suffix(b"\n").unwrap_or(entries).to_vec());
        }
    }
    removal
}

/// The file name install.sh gives the library, under every prefix and
/// multiarch directory.
const LIBRARY_FILE_NAME: &[u8] = b"libmemproxy.so";

/// For a file no `enable` wrote (the README's `echo ... > /etc/ld.so.preload`
/// form): takes out every line with an entry whose file is named
/// `libmemproxy.so`, whole, since that line names the allocator memproxy
/// fronts too. Comments and every other line stay.
pub fn without_memproxy_lines(contents: &[u8]) -> Removal {
    let mut removal = Removal {
        rest: Vec::with_capacity(contents.len()),
        removed: Vec::new(),
        created: false,
        found: false,
    };
    for line in contents.split_inclusive(|&byte| byte == b'\n') {
        let names_memproxy = memproxy_common::preload_list::file_entries(line)
            .any(|entry| entry.rsplit(|&byte| byte == b'/').next() == Some(LIBRARY_FILE_NAME));
        if names_memproxy {
            removal.found = true;
            removal
                .removed
                .push(line.strip_suffix(b"\n").unwrap_or(line).to_vec());
        } else {
            removal.rest.extend_from_slice(line);
        }
    }
    removal
}

/// The file `enable` writes: the marker, `entries` on one line, then the
/// previous contents (`None`: there was no file) without any earlier
/// managed lines.
pub fn enabled(previous: Option<&[u8]>, entries: &[&[u8]]) -> Vec<u8> {
    let (rest, created) = match previous {
        None => (Vec::new(), true),
        Some(contents) => {
            let removal = without_managed(contents);
            (removal.rest, removal.created)
        }
    };
    let mut contents = marker_line(created);
    contents.extend_from_slice(&entries.join(&b' '));
    contents.push(b'\n');
    contents.extend_from_slice(&rest);
    contents
}

/// One line of a line diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(Vec<u8>),
    Removed(Vec<u8>),
    Added(Vec<u8>),
}

/// A line diff of two small files (a longest common subsequence).
pub fn diff(before: &[u8], after: &[u8]) -> Vec<DiffLine> {
    let split = |text: &[u8]| -> Vec<Vec<u8>> {
        text.split_inclusive(|&byte| byte == b'\n')
            .map(|line| line.strip_suffix(b"\n").unwrap_or(line).to_vec())
            .collect()
    };
    let (old, new) = (split(before), split(after));
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut lines = Vec::new();
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push(DiffLine::Same(old[i].clone()));
            (i, j) = (i + 1, j + 1);
        } else if j < new.len() && (i == old.len() || common[i][j + 1] >= common[i + 1][j]) {
            lines.push(DiffLine::Added(new[j].clone()));
            j += 1;
        } else {
            lines.push(DiffLine::Removed(old[i].clone()));
            i += 1;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &[u8] = b"/usr/local/lib/libmemproxy.so";
    const ALLOC: &[u8] = b"/lib/x86_64-linux-gnu/libjemalloc.so.2";

    #[test]
    fn only_lines_naming_libmemproxy_go_from_a_hand_written_file() {
        let contents = b"# libmemproxy.so in a comment stays\n/opt/libmemproxy.so.bak\n\
            /usr/local/$LIB/libmemproxy.so:/usr/$LIB/libjemalloc.so.2\n\
            other.so libmemproxy.so\n/usr/lib/x/libjemalloc.so.2";
        let removal = without_memproxy_lines(contents);
        assert!(removal.found);
        assert_eq!(
            removal.rest,
            b"# libmemproxy.so in a comment stays\n/opt/libmemproxy.so.bak\n/usr/lib/x/libjemalloc.so.2"
        );
        assert_eq!(
            removal.removed,
            [
                &b"/usr/local/$LIB/libmemproxy.so:/usr/$LIB/libjemalloc.so.2"[..],
                b"other.so libmemproxy.so"
            ]
        );
        assert!(!without_memproxy_lines(b"/lib/libjemalloc.so.2\n").found);
    }

    #[test]
    fn enable_puts_its_line_first_and_keeps_foreign_bytes() {
        let previous = b"/opt/audit/libaudit.so # keep me\n\n  other.so";
        let new = enabled(Some(previous), &[LIB, ALLOC]);
        let text = String::from_utf8(new.clone()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), "# memproxy enable");
        assert_eq!(
            lines.next().unwrap(),
            "/usr/local/lib/libmemproxy.so /lib/x86_64-linux-gnu/libjemalloc.so.2"
        );
        assert!(new.ends_with(previous));
        let names = crate::preload::split_file_intended(&new);
        assert_eq!(names[0], LIB);
        assert_eq!(names[1], ALLOC);
        assert_eq!(&names[2..], [&b"/opt/audit/libaudit.so"[..], b"other.so"]);
    }

    #[test]
    fn enable_then_disable_gives_the_file_back_byte_for_byte() {
        for previous in [&b""[..], b"a.so\n", b"a.so", b"# c\r\nb.so:c.so\n\n"] {
            let removal = without_managed(&enabled(Some(previous), &[LIB, ALLOC]));
            assert_eq!(removal.rest, previous);
            assert!(removal.found && !removal.created);
            assert_eq!(removal.removed, vec![[LIB, b" ", ALLOC].concat()]);
        }
    }

    #[test]
    fn enabling_again_replaces_the_managed_line() {
        let once = enabled(Some(b"x.so\n"), &[LIB, ALLOC]);
        let twice = enabled(Some(&once), &[LIB, b"/lib/libmimalloc.so.2"]);
        assert_eq!(without_managed(&twice).removed.len(), 1);
        assert!(twice.ends_with(b"\n/usr/local/lib/libmemproxy.so /lib/libmimalloc.so.2\nx.so\n"));
        assert_eq!(without_managed(&twice).rest, b"x.so\n");
    }

    #[test]
    fn a_created_file_is_remembered_across_enables() {
        let once = enabled(None, &[LIB, ALLOC]);
        let twice = enabled(Some(&once), &[LIB, ALLOC]);
        assert_eq!(once, twice);
        let removal = without_managed(&twice);
        assert!(removal.created);
        assert!(removal.rest.is_empty());
    }

    #[test]
    fn a_file_without_markers_is_left_alone() {
        let removal = without_managed(b"a.so\n# memproxy is great\n");
        assert!(!removal.found);
        assert_eq!(removal.rest, b"a.so\n# memproxy is great\n");
    }

    #[test]
    fn the_diff_shows_the_added_lines() {
        let lines = diff(b"a.so\n", b"# m\nlib.so\na.so\n");
        assert_eq!(
            lines,
            vec![
                DiffLine::Added(b"# m".to_vec()),
                DiffLine::Added(b"lib.so".to_vec()),
                DiffLine::Same(b"a.so".to_vec()),
            ]
        );
        assert_eq!(
            diff(b"x\ny\n", b"y\n"),
            vec![
                DiffLine::Removed(b"x".to_vec()),
                DiffLine::Same(b"y".to_vec())
            ]
        );
    }
}
