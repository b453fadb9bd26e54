//! Skipping (and optionally capturing) one JSON value of any kind, across chunk boundaries: used
//! for the small `snapshot` header (captured, then parsed with serde_json) and for the arrays this
//! crate does not need (`trace_tree`, `samples`...).

use crate::error::{Error, Result};

/// The header is a few kilobytes; anything this large is not a V8 snapshot header.
const MAX_CAPTURE: usize = 16 << 20;

#[derive(Debug, Default)]
pub(crate) struct Skipper {
    started: bool,
    /// A string, number or literal rather than an object or array.
    scalar: bool,
    depth: u32,
    in_string: bool,
    escape: bool,
    capture: Option<Vec<u8>>,
}

impl Skipper {
    /// A skipper that also keeps the value's bytes.
    pub(crate) fn capturing() -> Skipper {
        Skipper {
            capture: Some(Vec::new()),
            ..Skipper::default()
        }
    }

    /// The captured bytes (empty when not capturing).
    pub(crate) fn into_captured(self) -> Vec<u8> {
        self.capture.unwrap_or_default()
    }

    /// Scans `bytes` at absolute offset `base`. `Some(n)`: the value ended after `bytes[..n]` (a
    /// scalar's terminator is not consumed).
    pub(crate) fn scan(
        &mut self,
        bytes: &[u8],
        base: u64,
        context: &'static str,
    ) -> Result<Option<usize>> {
        let mut i = 0;
        if !self.started {
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\n' | b'\r' | b'\t') {
                i += 1;
            }
            if i == bytes.len() {
                return Ok(None);
            }
            self.started = true;
            match bytes[i] {
                b'{' | b'[' => self.depth = 1,
                b'"' => {
                    self.scalar = true;
                    self.in_string = true;
                }
                b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.scalar = true,
                other => {
                    return Err(Error::syntax(
                        base + i as u64,
                        context,
                        format!("expected a JSON value, found {}", super::describe(other)),
                    ));
                }
            }
            self.keep(&bytes[i..=i], base + i as u64, context)?;
            i += 1;
        }
        let start = i;
        let mut end = None;
        while i < bytes.len() {
            let b = bytes[i];
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.scalar {
                        end = Some(i + 1);
                        break;
                    }
                }
            } else if self.scalar {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    end = Some(i);
                    break;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        let stop = end.unwrap_or(bytes.len());
        self.keep(&bytes[start..stop], base + start as u64, context)?;
        Ok(end)
    }

    fn keep(&mut self, bytes: &[u8], offset: u64, context: &'static str) -> Result<()> {
        if let Some(capture) = &mut self.capture {
            if capture.len() + bytes.len() > MAX_CAPTURE {
                return Err(Error::syntax(
                    offset,
                    context,
                    format!("value larger than {MAX_CAPTURE} bytes"),
                ));
            }
            capture.extend_from_slice(bytes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_an_object_with_nested_strings_split_anywhere() {
        let text = br#" {"a":["}",{"b":"\"]"}],"c":1},"next""#;
        let value_len = text.len() - r#","next""#.len();
        for split in 0..text.len() {
            let mut s = Skipper::capturing();
            let end = match s.scan(&text[..split], 0, "t").expect("scans") {
                Some(n) => n,
                None => {
                    split
                        + s.scan(&text[split..], split as u64, "t")
                            .expect("scans")
                            .expect("ends")
                }
            };
            assert_eq!(end, value_len, "split at {split}");
            assert_eq!(s.into_captured(), &text[1..value_len], "split at {split}");
        }
    }

    #[test]
    fn scalars_end_before_their_terminator() {
        let mut s = Skipper::default();
        assert_eq!(s.scan(b"123,", 0, "t").expect("scans"), Some(3));
        let mut s = Skipper::default();
        assert_eq!(s.scan(b"\"a,b\"}", 0, "t").expect("scans"), Some(5));
    }
}
