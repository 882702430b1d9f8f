//! Finding the line that decides, in a config of any size, with one fixed
//! buffer and no allocation.

use crate::line::{LONGEST_PATTERN, Line, Names, classify_line, is_blank, trim};
use crate::name::{Identity, NameSource};

/// A byte stream, such as a file descriptor, read into caller-owned memory.
pub trait ReadBytes {
    /// Why a read failed.
    type Error;
    /// Reads into `buf`, returning how many bytes were stored; 0 means end of
    /// file. Implementations retry interrupted reads themselves.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

impl ReadBytes for &[u8] {
    type Error = core::convert::Infallible;
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let count = buf.len().min(self.len());
        let (head, tail) = self.split_at(count);
        if let Some(dest) = buf.get_mut(..count) {
            dest.copy_from_slice(head);
        }
        *self = tail;
        Ok(count)
    }
}

/// The last entry that matches the program: it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// 1-based line number.
    pub line: u64,
    /// Which name it matched.
    pub source: NameSource,
    /// False when the line is a `!` line: the program is not excluded.
    pub excluded: bool,
}

/// Why a scan stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError<E> {
    /// The reader failed.
    Read(E),
    /// The buffer cannot hold the longest name or pattern, so a match could
    /// be missed.
    BufferTooSmall,
}

/// The current line, as far as it has been read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Partial {
    /// Everything read of this line is kept in the buffer.
    Whole,
    /// The line cannot match (a comment, or an entry longer than any name
    /// and any pattern): discard bytes up to the next `\n`.
    Skip,
    /// The first `kept` bytes of the buffer are the entry; blanks that
    /// followed were dropped to make room. Anything but more blanks before
    /// the `\n` makes the line too long to match.
    KeptEntry { kept: usize },
}

/// Scans `reader` line by line and returns the last entry that matches
/// `identity`, which decides; `None` when no entry matches.
///
/// `buf` is the only memory used. It must be longer than
/// [`longest_kept_line`] (the library's 8 KiB is); lines longer than that are skipped as they stream
/// past, so a file of any size and any line length is handled in one pass,
/// in time linear in its size (times the length of a name, for patterns).
/// The verdict is the same as classifying each line of the whole file with
/// [`classify_line`] and matching it with [`crate::Entry::matches`].
pub fn decide<R: ReadBytes>(
    reader: &mut R,
    buf: &mut [u8],
    identity: &Identity<'_>,
) -> Result<Option<Decision>, ScanError<R::Error>> {
    decide_within(reader, buf, identity, LONGEST_PATTERN)
}

/// [`decide`] with another pattern length limit than [`LONGEST_PATTERN`], so
/// that tests can stream lines longer than the limit through small buffers.
#[doc(hidden)]
pub fn decide_within<R: ReadBytes>(
    reader: &mut R,
    buf: &mut [u8],
    identity: &Identity<'_>,
    longest_pattern: usize,
) -> Result<Option<Decision>, ScanError<R::Error>> {
    let names = Names::of(identity);
    if identity.longest_name() == 0 {
        return Ok(None);
    }
    let keep = identity.longest_name().max(longest_pattern) + 1;
    if buf.len() <= keep {
        return Err(ScanError::BufferTooSmall);
    }
    let mut decision = None;
    let mut line_number = 1u64;
    let mut partial = Partial::Whole;
    let mut filled = 0usize;
    loop {
        let free = buf.get_mut(filled..).unwrap_or(&mut []);
        let read = reader.read(free).map_err(ScanError::Read)?.min(free.len());
        filled += read;
        let mut start = 0usize;
        while let Some(newline) = buf.get(start..filled).and_then(find_newline) {
            let line = buf.get(start..start + newline).unwrap_or(&[]);
            if let Some(found) = evaluate(line, partial, &names, line_number, longest_pattern) {
                decision = Some(found);
            }
            partial = Partial::Whole;
            line_number += 1;
            start += newline + 1;
        }
        if read == 0 {
            let last = buf.get(start..filled).unwrap_or(&[]);
            if let Some(found) = evaluate(last, partial, &names, line_number, longest_pattern) {
                decision = Some(found);
            }
            return Ok(decision);
        }
        filled = move_to_front(buf, start, filled);
        if partial == Partial::Skip {
            filled = 0;
        } else if filled == buf.len() {
            (partial, filled) = make_room(buf, partial, keep);
        }
    }
}

/// The longest trimmed line [`decide`] must hold whole: an exact entry
/// longer than every name, or a pattern longer than [`LONGEST_PATTERN`],
/// can never match, and one byte more allows for a leading `!`.
pub fn longest_kept_line(identity: &Identity<'_>) -> usize {
    identity.longest_name().max(LONGEST_PATTERN) + 1
}

/// Moves `buf[start..end]` to the front and returns its length.
fn move_to_front(buf: &mut [u8], start: usize, end: usize) -> usize {
    if start > end || end > buf.len() {
        return 0;
    }
    buf.copy_within(start..end, 0);
    end - start
}

/// The buffer holds nothing but the start of one line and is full. Drops what
/// cannot affect the verdict: leading blanks, a comment, an entry already too
/// long, or blanks trailing an entry that still fits.
fn make_room(buf: &mut [u8], partial: Partial, keep: usize) -> (Partial, usize) {
    let filled = buf.len();
    let leading = buf.iter().position(|&b| !is_blank(b)).unwrap_or(filled);
    if leading > 0 {
        return (partial, move_to_front(buf, leading, filled));
    }
    // Blanks between a leading `!` and its entry are not part of it either.
    if buf.first() == Some(&b'!') {
        let rest = buf.get(1..).unwrap_or(&[]);
        let gap = rest
            .iter()
            .position(|&b| !is_blank(b))
            .unwrap_or(rest.len());
        if gap > 0 {
            if let Some(tail) = buf.get_mut(1..) {
                tail.copy_within(gap.., 0);
            }
            return (partial, filled - gap);
        }
    }
    let content = trim(buf).len();
    let too_long = match partial {
        Partial::KeptEntry { kept } => content > kept,
        _ => content > keep || matches!(buf.first(), Some(b'#' | b';')),
    };
    if too_long {
        (Partial::Skip, 0)
    } else {
        (Partial::KeptEntry { kept: content }, content)
    }
}

fn evaluate(
    line: &[u8],
    partial: Partial,
    names: &Names<'_>,
    number: u64,
    longest_pattern: usize,
) -> Option<Decision> {
    let Line::Entry(entry) = classify_line(line) else {
        return None;
    };
    let source = match partial {
        Partial::Skip => None,
        Partial::KeptEntry { kept } if trim(line).len() != kept => None,
        _ => names.matched_within(entry, longest_pattern),
    }?;
    Some(Decision {
        line: number,
        source,
        excluded: !entry.is_negated(),
    })
}

/// Offset of the first `\n`, eight bytes at a time: a 100 MB config is read by
/// every process that starts, so this loop is the scan's whole cost.
pub fn find_newline(haystack: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0usize;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let diff = u64::from_le_bytes(bytes) ^ NEWLINES;
        // Classic "has a zero byte": the lowest flagged byte is exact.
        let zero_bytes = diff.wrapping_sub(ONES) & !diff & HIGHS;
        if zero_bytes != 0 {
            return Some(offset + (zero_bytes.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|index| offset + index)
}
