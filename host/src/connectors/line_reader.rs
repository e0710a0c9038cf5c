//! Lines of chat from a byte stream that nobody vouches for: a line longer
//! than the connector's limit is cut there (the rest of it is read and
//! dropped, never buffered), bytes that are not UTF-8 become U+FFFD, and
//! neither ends the stream. Only the end of input (or an I/O error) does.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line as read, with what had to be done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Without its line break (`\n` or `\r\n`).
    pub text: String,
    /// Bytes dropped past the limit.
    pub cut: usize,
    /// Invalid UTF-8 was replaced.
    pub replaced: bool,
}

pub struct LineReader<R> {
    input: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Lines of at most `max` bytes (a longer one is cut at a character
    /// boundary at or below `max`).
    pub fn new(input: R, max: usize) -> Self {
        LineReader {
            input,
            max: max.max(1),
        }
    }

    /// The next line; `None` at the end of input. A last line without a
    /// line break is still a line.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut kept: Vec<u8> = Vec::new();
        let mut cut = 0usize;
        let mut saw_any = false;
        loop {
            let buf = self.input.fill_buf().await?;
            if buf.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (chunk, found_end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            let room = self.max.saturating_sub(kept.len());
            let take = chunk.len().min(room);
            kept.extend_from_slice(&chunk[..take]);
            cut += chunk.len() - take;
            let consumed = found_end.unwrap_or(buf.len());
            self.input.consume(consumed);
            if found_end.is_some() {
                break;
            }
        }
        if kept.last() == Some(&b'\r') && cut == 0 {
            kept.pop();
        }
        if cut > 0 {
            cut += trim_partial_char(&mut kept);
        }
        let (text, replaced) = match String::from_utf8(kept) {
            Ok(text) => (text, false),
            Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
        };
        Ok(Some(Line {
            text,
            cut,
            replaced,
        }))
    }
}

/// A cut can split a character: drops the start of a UTF-8 sequence left
/// incomplete at the end, so the cut lands on a boundary. Returns the bytes
/// dropped.
fn trim_partial_char(bytes: &mut Vec<u8>) -> usize {
    let n = bytes.len();
    for back in 1..=3.min(n) {
        let b = bytes[n - back];
        if b & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let len = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        if len > back {
            bytes.truncate(n - back);
            return back;
        }
        return 0;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            out.push(line);
        }
        out
    }

    fn line(text: &str, cut: usize, replaced: bool) -> Line {
        Line {
            text: text.into(),
            cut,
            replaced,
        }
    }

    #[tokio::test]
    async fn bad_bytes_and_long_lines_do_not_end_the_stream() {
        let got = lines(b"hello\nbad \xff\xfe byte\r\n0123456789abc\nlast", 12).await;
        assert_eq!(
            got,
            vec![
                line("hello", 0, false),
                line("bad \u{fffd}\u{fffd} byte", 0, true),
                line("0123456789ab", 1, false),
                line("last", 0, false),
            ]
        );
    }

    #[tokio::test]
    async fn a_cut_never_splits_a_character() {
        let got = lines("ééé\n".as_bytes(), 5).await;
        assert_eq!(got[0], line("éé", 2, false));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Whatever the bytes: as many lines as line breaks (plus a last
        /// unterminated one), each within the limit and valid UTF-8, and
        /// every byte of the input accounted for as kept or cut.
        #[test]
        fn any_bytes_make_bounded_lines(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), max in 1usize..64) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(lines(&input, max));
            let breaks = input.iter().filter(|&&b| b == b'\n').count();
            let expected = breaks + usize::from(!input.is_empty() && input.last() != Some(&b'\n'));
            proptest::prop_assert_eq!(got.len(), expected);
            for l in &got {
                proptest::prop_assert!(l.text.len() <= max.max(3) * 3, "{} > {}", l.text.len(), max);
                proptest::prop_assert!(!l.text.contains('\n'));
            }
            if !input.contains(&0xff) && std::str::from_utf8(&input).is_ok() {
                for l in &got {
                    proptest::prop_assert!(l.text.len() <= max);
                }
            }
        }
    }
}
