//! Reading a log one bounded line at a time.
//!
//! A log is untrusted input: a line may be gigabytes long or hold bytes that are not
//! UTF-8. [`read_bounded_line`] keeps at most `max` bytes of a line in memory; the rest
//! of an over-long line is read and dropped in buffer-sized pieces, so a huge line
//! costs its reading time, never its size in memory. Whether the bytes kept are UTF-8
//! is the caller's check (see [`utf8_problem`]), so a bad byte costs one line, not the
//! whole log.

use std::io::{self, BufRead};

/// The default longest log line, in bytes (1 MiB), without its line ending.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// What [`read_bounded_line`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineRead {
    /// The input is exhausted: no line was read.
    End,
    /// A whole line is in the buffer (without its `\n`).
    Line,
    /// The line was longer than the limit: the buffer is empty and the line consumed.
    TooLong {
        /// The line's length in bytes, without its `\n`.
        bytes: u64,
    },
}

/// Reads the next line of `input` into `buf` (cleared first, without the `\n`), keeping
/// at most `max` bytes in memory.
pub fn read_bounded_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut len: u64 = 0;
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (piece, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        len = len.saturating_add(piece.len() as u64);
        if !too_long {
            if len > max as u64 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(piece);
            }
        }
        input.consume(used);
        if done {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => LineRead::End,
        (true, false) => LineRead::Line,
        (true, true) => LineRead::TooLong { bytes: len },
    })
}

/// Why `line` is not UTF-8 (naming the 1-based byte column of the first bad byte), or
/// `None` when it is.
pub fn utf8_problem(line: &[u8]) -> Option<String> {
    let e = std::str::from_utf8(line).err()?;
    let at = e.valid_up_to();
    let byte = line.get(at).copied().unwrap_or_default();
    Some(format!(
        "not valid UTF-8: byte 0x{byte:02x} at column {} (a log is UTF-8 JSON, one conversation per line)",
        at + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(LineRead, Vec<u8>)> {
        // A tiny buffer, so lines span many reads.
        let mut r = io::BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let got = read_bounded_line(&mut r, &mut buf, max).unwrap();
            if got == LineRead::End {
                return out;
            }
            out.push((got, buf.clone()));
        }
    }

    #[test]
    fn splits_lines_and_drops_the_rest_of_an_over_long_one() {
        let got = lines(b"abc\n0123456789\nxy\n\nlast", 5);
        assert_eq!(
            got,
            vec![
                (LineRead::Line, b"abc".to_vec()),
                (LineRead::TooLong { bytes: 10 }, Vec::new()),
                (LineRead::Line, b"xy".to_vec()),
                (LineRead::Line, Vec::new()),
                (LineRead::Line, b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        assert_eq!(
            lines(b"12345\n123456", 5),
            vec![
                (LineRead::Line, b"12345".to_vec()),
                (LineRead::TooLong { bytes: 6 }, Vec::new()),
            ]
        );
    }

    #[test]
    fn an_over_long_line_never_grows_the_buffer_past_the_limit() {
        let big = vec![b'x'; 1 << 20];
        let mut r = io::BufReader::with_capacity(4096, big.as_slice());
        let mut buf = Vec::new();
        let got = read_bounded_line(&mut r, &mut buf, 100).unwrap();
        assert_eq!(got, LineRead::TooLong { bytes: 1 << 20 });
        assert!(buf.capacity() <= 4096 + 100, "capacity {}", buf.capacity());
    }

    #[test]
    fn names_the_column_of_the_first_bad_byte() {
        assert_eq!(utf8_problem("{\"id\": \"é\"}".as_bytes()), None);
        assert_eq!(
            utf8_problem(b"{\"id\": \"\xff\"}").as_deref(),
            Some("not valid UTF-8: byte 0xff at column 9 (a log is UTF-8 JSON, one conversation per line)")
        );
    }
}
