//! The `strings` array: JSON strings unescaped into one byte arena plus end offsets, across chunk
//! boundaries. `\uXXXX` escapes, surrogate pairs included, become UTF-8; a lone surrogate becomes
//! U+FFFD (Rust strings cannot hold one; JavaScript keeps it).

use crate::error::{Error, Result};

const CONTEXT: &str = "strings";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After `[` or `,`: a string or (only first) `]`.
    BeforeValue,
    /// Inside a string.
    InString,
    /// After a backslash.
    Escape,
    /// Inside `\u`, with this many hex digits read.
    Unicode(u8),
    /// After a string: `,` or `]`.
    AfterValue,
}

/// Parses the `strings` array (opening `[` already consumed) into [`StringTable`] form.
#[derive(Debug)]
pub(crate) struct StringsParser {
    state: State,
    first: bool,
    unicode: u32,
    /// A high surrogate waiting for its low half.
    pending_high: Option<u32>,
    pub(crate) bytes: Vec<u8>,
    /// `ends[i]` is the end of string `i` in `bytes`.
    pub(crate) ends: Offsets,
}

impl StringsParser {
    pub(crate) fn new() -> StringsParser {
        StringsParser {
            state: State::BeforeValue,
            first: true,
            unicode: 0,
            pending_high: None,
            bytes: Vec::new(),
            ends: Offsets::default(),
        }
    }

    fn push_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.bytes
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    fn flush_high(&mut self) {
        if self.pending_high.take().is_some() {
            self.push_char(char::REPLACEMENT_CHARACTER);
        }
    }

    fn code_unit(&mut self, unit: u32) {
        if (0xDC00..0xE000).contains(&unit) {
            if let Some(high) = self.pending_high.take() {
                let c = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                self.push_char(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            } else {
                self.push_char(char::REPLACEMENT_CHARACTER);
            }
            return;
        }
        self.flush_high();
        if (0xD800..0xDC00).contains(&unit) {
            self.pending_high = Some(unit);
        } else {
            self.push_char(char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }

    /// Scans `bytes` (at absolute offset `base`); `Some(n)` when `]` ended the array at `bytes[n-1]`.
    pub(crate) fn scan(&mut self, bytes: &[u8], base: u64) -> Result<Option<usize>> {
        let mut i = 0;
        let err = |i: usize, message: String| Error::syntax(base + i as u64, CONTEXT, message);
        while i < bytes.len() {
            match self.state {
                State::InString => {
                    let rest = &bytes[i..];
                    match memchr::memchr2(b'"', b'\\', rest) {
                        None => {
                            if !rest.is_empty() {
                                self.flush_high();
                            }
                            self.bytes.extend_from_slice(rest);
                            return Ok(None);
                        }
                        Some(at) => {
                            if at > 0 {
                                self.flush_high();
                                self.bytes.extend_from_slice(&rest[..at]);
                            }
                            i += at;
                            if bytes[i] == b'"' {
                                self.flush_high();
                                self.ends.push(self.bytes.len() as u64);
                                self.state = State::AfterValue;
                            } else {
                                self.state = State::Escape;
                            }
                            i += 1;
                        }
                    }
                }
                State::Escape => {
                    let b = bytes[i];
                    let c = match b {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        other => {
                            return Err(err(
                                i,
                                format!("invalid escape `\\{}` in a string", char::from(other)),
                            ));
                        }
                    };
                    match c {
                        Some(c) => {
                            self.flush_high();
                            self.push_char(c);
                            self.state = State::InString;
                        }
                        None => {
                            self.unicode = 0;
                            self.state = State::Unicode(0);
                        }
                    }
                    i += 1;
                }
                State::Unicode(n) => {
                    let b = bytes[i];
                    let digit = match b {
                        b'0'..=b'9' => b - b'0',
                        b'a'..=b'f' => b - b'a' + 10,
                        b'A'..=b'F' => b - b'A' + 10,
                        other => {
                            return Err(err(
                                i,
                                format!(
                                    "expected a hex digit in a \\u escape, found {}",
                                    super::describe(other)
                                ),
                            ));
                        }
                    };
                    self.unicode = (self.unicode << 4) | u32::from(digit);
                    if n == 3 {
                        let unit = self.unicode;
                        self.code_unit(unit);
                        self.state = State::InString;
                    } else {
                        self.state = State::Unicode(n + 1);
                    }
                    i += 1;
                }
                State::BeforeValue | State::AfterValue => {
                    let b = bytes[i];
                    match (self.state, b) {
                        (_, b' ' | b'\n' | b'\r' | b'\t') => {}
                        (State::BeforeValue, b'"') => {
                            self.state = State::InString;
                            self.first = false;
                        }
                        (State::BeforeValue, b']') if self.first => {
                            return Ok(Some(i + 1));
                        }
                        (State::AfterValue, b',') => self.state = State::BeforeValue,
                        (State::AfterValue, b']') => return Ok(Some(i + 1)),
                        (state, other) => {
                            let expected = if state == State::AfterValue {
                                "`,` or `]` after a string"
                            } else {
                                "a string"
                            };
                            return Err(err(
                                i,
                                format!("expected {expected}, found {}", super::describe(other)),
                            ));
                        }
                    }
                    i += 1;
                }
            }
        }
        Ok(None)
    }
}

/// Non-decreasing `u64` offsets in 4 bytes each: the low 32 bits, plus where the high bits step up.
#[derive(Debug, Clone, Default)]
pub(crate) struct Offsets {
    low: Vec<u32>,
    /// `steps[k]`: the first index whose offset is at least `(k + 1) << 32`.
    steps: Vec<u32>,
}

impl Offsets {
    pub(crate) fn len(&self) -> usize {
        self.low.len()
    }

    /// Appends an offset, at least the last one.
    pub(crate) fn push(&mut self, offset: u64) {
        while (self.steps.len() as u64) < offset >> 32 {
            self.steps.push(self.low.len() as u32);
        }
        self.low.push(offset as u32);
    }

    pub(crate) fn get(&self, i: usize) -> Option<u64> {
        let low = *self.low.get(i)?;
        let high = self.steps.partition_point(|&step| step as usize <= i) as u64;
        Some((high << 32) | u64::from(low))
    }

    fn shrink_to_fit(&mut self) {
        self.low.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        4 * (self.low.capacity() + self.steps.capacity())
    }
}

/// All strings of a snapshot (plus the few the analysis adds), in one arena.
#[derive(Debug, Clone, Default)]
pub(crate) struct StringTable {
    text: String,
    /// String `i` ends at `ends[i]` and starts at `ends[i - 1]` (or 0).
    ends: Offsets,
}

impl StringTable {
    pub(crate) fn from_parts(bytes: Vec<u8>, mut ends: Offsets) -> StringTable {
        let mut text = match String::from_utf8(bytes) {
            Ok(text) => text,
            // As TextDecoder does when DevTools reads the file: U+FFFD for invalid bytes. This can
            // move string boundaries, so rebuild them string by string.
            Err(e) => {
                let bytes = e.into_bytes();
                let mut text = String::with_capacity(bytes.len());
                let mut new_ends = Offsets::default();
                let mut start = 0usize;
                for i in 0..ends.len() {
                    let end = ends.get(i).unwrap_or(0) as usize;
                    text.push_str(&String::from_utf8_lossy(&bytes[start..end]));
                    new_ends.push(text.len() as u64);
                    start = end;
                }
                ends = new_ends;
                text
            }
        };
        text.shrink_to_fit();
        ends.shrink_to_fit();
        StringTable { text, ends }
    }

    /// Number of strings.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// String `index`, or `""` when out of range (callers validate indices after parsing).
    pub(crate) fn get(&self, index: u32) -> &str {
        let i = index as usize;
        let Some(end) = self.ends.get(i) else {
            return "";
        };
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).unwrap_or(0)
        };
        self.text.get(start as usize..end as usize).unwrap_or("")
    }

    /// Appends a string, returning its index (DevTools' `addString`: no deduplication).
    pub(crate) fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u64);
        (self.ends.len() - 1) as u32
    }

    /// The string at `i`, or past the table's end `extra[i - len]` (`""` beyond both): the
    /// strings an analysis adds (class and interface names) without changing the table.
    pub(crate) fn get_or_extra<'a>(&'a self, extra: &'a [String], i: u32) -> &'a str {
        match (i as usize).checked_sub(self.len()) {
            None => self.get(i),
            Some(beyond) => extra.get(beyond).map_or("", String::as_str),
        }
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_split(text: &[u8], split: usize) -> Result<StringTable> {
        let mut p = StringsParser::new();
        let end = match p.scan(&text[..split], 0)? {
            Some(n) => n,
            None => split + p.scan(&text[split..], split as u64)?.expect("array ends"),
        };
        assert_eq!(end, text.len());
        Ok(StringTable::from_parts(p.bytes, p.ends))
    }

    #[test]
    fn escapes_and_surrogates_unescape_at_any_split() {
        let text = br#""a\"b","\u00e9\n","\ud83d\ude00x","\ud800","\udc00y","\ud800\u0041",""]"#;
        for split in 0..text.len() {
            let t = parse_split(text, split).expect("parses");
            let got: Vec<&str> = (0..t.len() as u32).map(|i| t.get(i)).collect();
            assert_eq!(
                got,
                vec![
                    "a\"b",
                    "é\n",
                    "😀x",
                    "\u{FFFD}",
                    "\u{FFFD}y",
                    "\u{FFFD}A",
                    ""
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn offsets_beyond_4_gib_keep_their_high_bits() {
        let values = [
            0,
            5,
            u64::from(u32::MAX),
            1 << 32,
            (1 << 32) + 7,
            3 << 32,
            (3 << 32) + 1,
        ];
        let mut offsets = Offsets::default();
        for &v in &values {
            offsets.push(v);
        }
        let got: Vec<u64> = (0..values.len()).filter_map(|i| offsets.get(i)).collect();
        assert_eq!(got, values);
        assert_eq!(offsets.get(values.len()), None);
    }

    #[test]
    fn empty_array_and_bad_escape() {
        assert_eq!(parse_split(b" ]", 1).expect("empty list").len(), 0);
        let err = parse_split(br#""\q"]"#, 2).expect_err("bad escape");
        assert!(matches!(err, Error::Syntax { offset: 2, .. }), "{err}");
    }
}
