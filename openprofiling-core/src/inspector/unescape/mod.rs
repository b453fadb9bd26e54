//! The unescape of a JSON string's inside: how a heap snapshot chunk leaves its frame.
//!
//! V8 sends a snapshot as `HeapProfiler.addHeapSnapshotChunk` events of about 100 KB, each a
//! JSON string holding a piece of the snapshot's own JSON text. That text has an escape every
//! 11 to 20 bytes (`\n` after each node and edge, `\"` around each string), so the unescape is
//! the agent's largest cost per snapshot byte. Two block paths share the work:
//!
//! - [`shuffle`], where the CPU has a byte shuffle (SSSE3 on x86-64, which this workspace builds
//!   for; see `.cargo/config.toml`): each 16 bytes are decoded and compacted at once, without
//!   visiting their escapes one by one.
//! - [`escapes`], anywhere else: each 64-byte block's escapes are visited bit by bit.
//!
//! Both hand what they cannot take (a block with another escape, a control character, a byte
//! above 0x7F, or the last bytes of the text) to [`careful`], which checks every byte. The
//! result is the same either way; the tests run both.
//!
//! V8 writes heap snapshots in ASCII (it escapes everything else), so the text is not checked
//! for UTF-8 beforehand: the careful path notes any byte above 0x7F, and only then is the text
//! checked. Output is written straight into the caller's buffer, in fixed-size moves of which
//! only the decoded bytes are kept.

mod careful;
mod escapes;
mod shuffle;

/// How much longer than the escaped text the output buffer must be: the block paths write in
/// fixed sizes and then keep only what is decoded.
pub(crate) const SLACK: usize = 64;

/// Unescapes the inside of a JSON string literal (without its quotes) into the start of
/// `out`, which must be at least `body.len() + SLACK` bytes long (unescaped text is never
/// longer than its escaped form); returns how many bytes it wrote, or `None` when the text is
/// not exactly one valid JSON string body (an unescaped quote, a bad escape, a raw control
/// character, an unpaired surrogate, bytes that are not UTF-8). What `out` holds past the
/// decoded bytes, or after `None`, is unspecified.
pub(crate) fn unescape_json_string(body: &[u8], out: &mut [u8]) -> Option<usize> {
    debug_assert!(
        out.len() >= body.len() + SLACK,
        "the output buffer is too short"
    );
    let mut output = Output { bytes: out, len: 0 };
    if cfg!(target_feature = "ssse3") {
        shuffle::unescape(body, &mut output)?;
    } else {
        escapes::unescape(body, &mut output)?;
    }
    Some(output.len)
}

/// Where decoded bytes go: the caller's buffer, and how much of it is written.
struct Output<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl Output<'_> {
    /// Appends one byte.
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// Writes all of `fixed` (one fixed-size move) and keeps its first `keep` bytes.
    #[inline(always)]
    fn put<const N: usize>(&mut self, fixed: &[u8; N], keep: usize) {
        self.bytes[self.len..self.len + N].copy_from_slice(fixed);
        self.len += keep.min(N);
    }

    /// Appends `bytes`.
    #[inline(always)]
    fn extend(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// The next `N` bytes of the buffer, to write into before [`advance`](Self::advance).
    #[inline(always)]
    fn room<const N: usize>(&mut self) -> Option<&mut [u8; N]> {
        self.bytes.get_mut(self.len..self.len + N)?.try_into().ok()
    }

    /// Keeps `count` bytes written into [`room`](Self::room).
    #[inline(always)]
    fn advance(&mut self, count: usize) {
        self.len += count;
    }
}

/// Ends an unescape: text with a byte above 0x7F must be UTF-8 (the escapes cannot make it
/// invalid, as each decodes to whole characters).
fn check_utf8(body: &[u8], non_ascii: bool) -> Option<()> {
    (!non_ascii || std::str::from_utf8(body).is_ok()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unescapes `body` along both block paths, which must agree.
    fn unescape(body: &[u8]) -> Option<Vec<u8>> {
        let run = |path: fn(&[u8], &mut Output<'_>) -> Option<()>| {
            let mut buffer = vec![0xAA; body.len() + SLACK];
            let mut out = Output {
                bytes: &mut buffer,
                len: 0,
            };
            path(body, &mut out)?;
            let len = out.len;
            buffer.truncate(len);
            Some(buffer)
        };
        let by_shuffles = run(shuffle::unescape);
        assert_eq!(
            by_shuffles,
            run(escapes::unescape),
            "the block paths disagree on {:?}",
            String::from_utf8_lossy(body)
        );
        let mut buffer = vec![0; body.len() + SLACK];
        let dispatched = unescape_json_string(body, &mut buffer).map(|len| buffer[..len].to_vec());
        assert_eq!(dispatched, by_shuffles);
        by_shuffles
    }

    /// Escapes `text` as serde_json does and checks it unescapes back; returns the escaped
    /// string literal (quotes included).
    fn assert_round_trip(text: &str, context: &str) -> String {
        let escaped = serde_json::to_string(text).expect("serialize");
        let body = &escaped.as_bytes()[1..escaped.len() - 1];
        let unescaped = unescape(body).expect("valid");
        assert_eq!(
            String::from_utf8(unescaped).expect("utf-8"),
            text,
            "{context}"
        );
        escaped
    }

    #[test]
    fn escapes_are_decoded_at_every_place_in_and_across_blocks() {
        // Each escape at every offset of the first blocks, among snapshot-like text, so that
        // it starts, ends or straddles a 64-byte block (and a 16-byte lane) in every way.
        for escape in [
            r"\n",
            r#"\""#,
            r"\\",
            r"\/",
            r"\t",
            r"\u00e9",
            r"\ud83e\udd80",
        ] {
            for at in 0..140 {
                let mut body = ",1,23,456".repeat(30).into_bytes();
                body.truncate(at);
                body.extend_from_slice(escape.as_bytes());
                body.extend_from_slice(r#",7\n,8\"x\",9"#.repeat(12).as_bytes());
                let text = format!("\"{}\"", String::from_utf8(body.clone()).expect("ascii"));
                let expected: String = serde_json::from_str(&text).expect("valid JSON");
                assert_eq!(
                    unescape(&body),
                    Some(expected.into_bytes()),
                    "{escape} at {at}"
                );
            }
        }
    }

    #[test]
    fn a_block_that_ends_in_a_lone_backslash_is_refused() {
        for len in [63, 64, 65, 127, 128] {
            let mut body = r"1,2\n".repeat(40).into_bytes();
            body.truncate(len);
            if body.last() != Some(&b'\\') {
                body.push(b'\\');
            }
            assert_eq!(unescape(&body), None, "length {}", body.len());
        }
    }

    #[test]
    fn unescape_agrees_with_serde_on_every_byte_class_and_alignment() {
        // Every ASCII byte and some multi-byte characters, at every offset within a word.
        let alphabet: Vec<char> = (0_u8..0x80)
            .map(char::from)
            .chain("é日🦀".chars())
            .collect();
        for offset in 0..9 {
            let text: String = std::iter::repeat_n('a', offset)
                .chain(alphabet.iter().copied())
                .chain(alphabet.iter().rev().copied())
                .collect();
            assert_round_trip(&text, &format!("offset {offset}"));
        }
    }

    #[test]
    fn unescape_agrees_with_serde_on_random_text() {
        // Snapshot-like text: digits and commas with newlines, quoted strings, and every
        // other escape, in runs crossing the 64-byte blocks at every offset.
        let pieces = [
            "0",
            "1",
            "23",
            "456",
            ",",
            ",",
            ",",
            "\n",
            "\"",
            "\\",
            "/",
            "\t",
            "\u{1}",
            "é",
            "日本",
            "🦀",
            "\u{7f}",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            " ",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let len = (next() % 400) as usize;
            let mut text = String::new();
            while text.len() < len {
                let piece = pieces[(next() % pieces.len() as u64) as usize];
                // Bias towards the snapshot shape in two rounds of three: runs without quotes
                // (the escapes path's blocks), or with only `\n` and `\"` escapes (the
                // shuffle path's).
                let skip = match round % 3 {
                    0 => piece.contains('"') || piece.contains('\u{1}'),
                    1 => piece
                        .chars()
                        .any(|c| c != '\n' && c != '"' && !c.is_ascii_alphanumeric() && c != ','),
                    _ => false,
                };
                if !skip {
                    text.push_str(piece);
                }
            }
            let escaped = assert_round_trip(&text, &format!("round {round}"));
            let body = &escaped.as_bytes()[1..escaped.len() - 1];
            // Breaking it: a bare quote or a raw control character anywhere is refused.
            if !body.is_empty() {
                let at = (next() % body.len() as u64) as usize;
                for bad in [b'"', 0x01] {
                    let mut broken = body.to_vec();
                    broken[at] = bad;
                    let reference = serde_json::from_slice::<String>(
                        &[b"\"".as_slice(), &broken, b"\"".as_slice()].concat(),
                    );
                    let ours = unescape(&broken);
                    assert_eq!(ours.is_some(), reference.is_ok(), "round {round} at {at}");
                    if let (Some(ours), Ok(reference)) = (ours, reference) {
                        assert_eq!(ours, reference.into_bytes());
                    }
                }
            }
        }
    }
}
