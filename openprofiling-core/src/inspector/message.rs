//! Decoding of CDP messages: each frame is parsed once, events and replies keep the frame and
//! point into it, and string parameters (heap snapshot chunks) are unescaped once, straight into
//! the buffer that becomes the chunk.

use std::cell::RefCell;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::buffers::Buffers;
use super::unescape::{SLACK, unescape_json_string};
use crate::{Error, Result};

/// One message from the inspector, decoded.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A reply to the call with this id.
    Reply { id: u64, reply: Result<RawReply> },
    /// An event.
    Event(Event),
}

/// The error object of a CDP error reply.
#[derive(Debug, Deserialize)]
pub(crate) struct CdpErrorBody {
    #[serde(default)]
    pub(crate) code: i64,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) data: Option<serde_json::Value>,
}

/// The envelope of any CDP message, borrowing from the frame.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<CdpErrorBody>,
}

/// An event from the inspector: its method and its parameters, still in the frame they came in.
///
/// Cloning is cheap (a reference count), so one event can go to several subscribers.
#[derive(Clone)]
pub struct Event {
    /// The whole frame; only the method has been checked to be UTF-8 (the parameters are
    /// checked as they are read, so a chunk's text is read once).
    frame: Bytes,
    method: Utf8Bytes,
    params: Range<usize>,
    /// The ranges came from the fast path, which does not look inside the parameters: an
    /// object member after `params` would be taken for part of them. Whoever finds the
    /// parameters invalid re-reads the frame with the full parser before giving up.
    fast: bool,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the parameters: they may hold profile bytes or secrets.
        f.debug_struct("Event")
            .field("method", &self.method())
            .field("params_len", &self.params.len())
            .finish()
    }
}

impl Event {
    /// The event's method, e.g. `HeapProfiler.addHeapSnapshotChunk`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw JSON text of the parameters (`{}` when the event has none); an error when they
    /// are not UTF-8.
    pub fn params_json(&self) -> Result<&str> {
        if self.params.is_empty() {
            return Ok("{}");
        }
        std::str::from_utf8(&self.frame[self.params.clone()]).map_err(|_| self.not_utf8())
    }

    /// The error for parameters that are not UTF-8.
    fn not_utf8(&self) -> Error {
        Error::Decode {
            what: format!("the parameters of {}", self.method()),
            source: serde::de::Error::custom("the message is not UTF-8"),
        }
    }

    /// The parameters deserialized into `T` (which may borrow from the event).
    pub fn params<'a, T: Deserialize<'a>>(&'a self) -> Result<T> {
        match serde_json::from_str(self.params_json()?) {
            Ok(params) => Ok(params),
            Err(_) if self.fast => serde_json::from_str(self.fully_parsed_params()?),
            Err(source) => Err(source),
        }
        .map_err(|source| Error::Decode {
            what: format!("the parameters of {}", self.method()),
            source,
        })
    }

    /// The parameters as the full parser finds them (for the rare frame the fast path misread).
    fn fully_parsed_params(&self) -> Result<&str> {
        let text = std::str::from_utf8(&self.frame).map_err(|_| self.not_utf8())?;
        let envelope: Envelope<'_> =
            serde_json::from_str(text).map_err(|source| Error::Decode {
                what: format!("the parameters of {}", self.method()),
                source,
            })?;
        Ok(envelope.params.map_or("{}", RawValue::get))
    }

    /// The string parameter `key`, unescaped, as bytes: one scan of the frame, one copy.
    ///
    /// This is how a heap snapshot chunk leaves the frame. Parameters of any other shape than a
    /// single `{"key":"..."}` member fall back to a full parse.
    pub fn string_param(&self, key: &str) -> Result<Bytes> {
        CHUNK_BUFFERS.with_borrow_mut(|buffers| {
            let room = self.string_param_room();
            buffers.make_room_for(room);
            let out = buffers.current();
            out.resize(room, 0);
            let written = self.string_param_into(key, out);
            out.truncate(*written.as_ref().unwrap_or(&0));
            let param = out.split().freeze();
            written.map(|_| param)
        })
    }

    /// Writes the string parameter `key`, unescaped, into the start of `out`, which must be
    /// [`string_param_room`](Self::string_param_room) bytes long at least; returns its length.
    pub(crate) fn string_param_into(&self, key: &str, out: &mut [u8]) -> Result<usize> {
        if let Some(body) = single_string_member(&self.frame[self.params.clone()], key) {
            if let Some(len) = unescape_json_string(body, out) {
                return Ok(len);
            }
            // Invalid: the full parse below says why.
        }
        let decode_error = |source| Error::Decode {
            what: format!("the parameter {key:?} of {}", self.method()),
            source,
        };
        let params = if self.fast {
            self.fully_parsed_params()?
        } else {
            self.params_json()?
        };
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(params).map_err(decode_error)?;
        let Some(serde_json::Value::String(text)) = map.get(key) else {
            return Err(decode_error(serde::de::Error::custom(format!(
                "no string member {key:?}"
            ))));
        };
        // The text is shorter than the frame it came in: it fits.
        let room = out
            .get_mut(..text.len())
            .ok_or_else(|| decode_error(serde::de::Error::custom("longer than its frame")))?;
        room.copy_from_slice(text.as_bytes());
        Ok(text.len())
    }

    /// How long a buffer [`string_param_into`](Self::string_param_into) needs: more than any
    /// parameter of this frame unescapes to.
    pub(crate) fn string_param_room(&self) -> usize {
        self.frame.len() + SLACK
    }

    /// Builds an event from its parts (for tests and decoders).
    #[cfg(test)]
    pub(crate) fn from_frame(frame: &str) -> Option<Self> {
        match decode(Bytes::from(frame.to_owned())).ok()? {
            Incoming::Event(event) => Some(event),
            Incoming::Reply { .. } => None,
        }
    }
}

/// The successful result of a call, still in the frame it came in.
#[derive(Clone)]
pub struct RawReply {
    frame: Utf8Bytes,
    result: Range<usize>,
}

impl std::fmt::Debug for RawReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawReply")
            .field("result_len", &self.result.len())
            .finish()
    }
}

impl RawReply {
    /// The raw JSON text of the result (`{}` when the reply had none).
    pub fn result_json(&self) -> &str {
        if self.result.is_empty() {
            "{}"
        } else {
            &self.frame[self.result.clone()]
        }
    }

    /// The frame the reply came in, and the byte range of the result within it: lets a caller
    /// stream a large result (a CPU profile) without copying it.
    pub fn into_parts(self) -> (Utf8Bytes, Range<usize>) {
        (self.frame, self.result)
    }

    /// The result deserialized into `T`.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self, method: &str) -> Result<T> {
        serde_json::from_str(self.result_json()).map_err(|source| Error::Decode {
            what: format!("the reply to {method}"),
            source,
        })
    }
}

/// Decodes one text frame. Events of the shape V8 writes (`{"method":"…","params":{…}}`) take a
/// fast path that does not scan the parameters at all: whoever reads them validates them (as
/// JSON and as UTF-8). Any other frame is checked whole.
pub(crate) fn decode(frame: Bytes) -> Result<Incoming> {
    if let Some((method, params)) = fast_event_ranges(&frame) {
        if let Ok(method) = Utf8Bytes::try_from(frame.slice(method)) {
            return Ok(Incoming::Event(Event {
                frame,
                method,
                params,
                fast: true,
            }));
        }
    }
    let frame = Utf8Bytes::try_from(frame).map_err(|_| Error::Decode {
        what: "a message".to_owned(),
        source: serde::de::Error::custom("a CDP message is UTF-8 text"),
    })?;
    let decoded = {
        let text: &str = &frame;
        if !text.trim_start().starts_with('{') {
            return Err(Error::Decode {
                what: "a message".to_owned(),
                source: serde::de::Error::custom("a CDP message is a JSON object"),
            });
        }
        let envelope: Envelope<'_> =
            serde_json::from_str(text).map_err(|source| Error::Decode {
                what: "a message".to_owned(),
                source,
            })?;
        let range_of = |raw: &RawValue| offset_range(text, raw.get());
        match (envelope.id, envelope.method) {
            (Some(id), _) => {
                let reply = match envelope.error {
                    Some(body) => Err(cdp_error(String::new(), body)),
                    None => Ok(envelope.result.map(range_of).unwrap_or(0..0)),
                };
                Decoded::Reply(id, reply)
            }
            (None, Some(method)) => {
                let method_range = range_of(method);
                // The method is a JSON string: strip its quotes; refuse escapes in it.
                let inner = method_range.start + 1..method_range.end.saturating_sub(1);
                if method_range.len() < 2 || text[inner.clone()].contains('\\') {
                    return Err(Error::Decode {
                        what: "a message".to_owned(),
                        source: serde::de::Error::custom("event method is not a plain string"),
                    });
                }
                Decoded::Event(inner, envelope.params.map(range_of).unwrap_or(0..0))
            }
            (None, None) => {
                return Err(Error::Decode {
                    what: "a message".to_owned(),
                    source: serde::de::Error::custom("neither an id nor a method"),
                });
            }
        }
    };
    Ok(match decoded {
        Decoded::Reply(id, reply) => Incoming::Reply {
            id,
            reply: reply.map(|result| RawReply { frame, result }),
        },
        Decoded::Event(method, params) => {
            let frame = Bytes::from(frame);
            Incoming::Event(Event {
                // The frame is UTF-8, and the method a part of it between two ASCII quotes.
                method: Utf8Bytes::try_from(frame.slice(method)).map_err(|_| Error::Decode {
                    what: "a message".to_owned(),
                    source: serde::de::Error::custom("event method is not UTF-8"),
                })?,
                frame,
                params,
                fast: false,
            })
        }
    })
}

enum Decoded {
    Reply(u64, Result<Range<usize>>),
    Event(Range<usize>, Range<usize>),
}

/// Turns a CDP error body into the crate's error, naming the method called.
pub(crate) fn cdp_error(method: String, body: CdpErrorBody) -> Error {
    Error::Cdp {
        method,
        code: body.code,
        message: body.message,
        data: body.data.map(|data| match data {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        }),
    }
}

/// The byte range of `part` within `whole`; `part` must be a sub-slice of `whole`.
fn offset_range(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// Recognises `{"method":"NAME","params":{…}}` exactly, without looking inside the parameters.
fn fast_event_ranges(frame: &[u8]) -> Option<(Range<usize>, Range<usize>)> {
    const HEAD: &[u8] = br#"{"method":""#;
    const MIDDLE: &[u8] = br#"","params":"#;
    let rest = frame.strip_prefix(HEAD)?;
    let name_len = memchr::memchr(b'"', rest)?;
    let name = &rest[..name_len];
    if name.is_empty() || name.contains(&b'\\') {
        return None;
    }
    let after_name = &rest[name_len..];
    if !after_name.starts_with(MIDDLE) || !frame.ends_with(b"}}") {
        return None;
    }
    let params_start = HEAD.len() + name_len + MIDDLE.len();
    let params_end = frame.len() - 1;
    if !frame[params_start..].starts_with(b"{") {
        return None;
    }
    Some((HEAD.len()..HEAD.len() + name_len, params_start..params_end))
}

/// Reads `{"KEY":"…"}` exactly (no whitespace, one member): the string's inside, still escaped.
/// Returns `None` for any other shape, so that the caller falls back to serde.
fn single_string_member<'a>(params: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let rest = params.strip_prefix(b"{\"")?;
    let rest = rest.strip_prefix(key.as_bytes())?;
    let body = rest.strip_prefix(b"\":\"")?;
    body.strip_suffix(b"\"}")
}

/// How many earlier buffers each thread keeps for unescaped chunks (see [`Buffers`]).
const CHUNK_SPARES: usize = 2;

thread_local! {
    /// The buffers each thread unescapes chunks into: a chunk is split out of a 1 MiB buffer
    /// rather than allocated alone, so that its pages are not faulted in afresh every time.
    static CHUNK_BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::new(CHUNK_SPARES));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(frame: &str) -> Event {
        Event::from_frame(frame).expect("an event")
    }

    #[test]
    fn fast_path_event_keeps_method_and_params() {
        let e = event(
            r#"{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"{\"a\":1}\n"}}"#,
        );
        assert_eq!(e.method(), "HeapProfiler.addHeapSnapshotChunk");
        assert_eq!(
            e.params_json().expect("utf-8"),
            r#"{"chunk":"{\"a\":1}\n"}"#
        );
        assert_eq!(&e.string_param("chunk").expect("chunk")[..], b"{\"a\":1}\n");
    }

    #[test]
    fn string_param_unescapes_exactly_like_serde() {
        let samples = [
            "plain",
            "quote \" backslash \\ slash / newline \n tab \t cr \r",
            "control \u{1} \u{1f} del \u{7f}",
            "non-ascii é 日本 emoji 🦀",
            "",
        ];
        for sample in samples {
            let frame =
                serde_json::json!({"method": "X.y", "params": {"chunk": sample}}).to_string();
            let e = event(&frame);
            assert_eq!(
                &e.string_param("chunk").expect("chunk")[..],
                sample.as_bytes(),
                "{frame}"
            );
        }
        // Escapes serde_json does not produce but V8 or others may.
        let e = event(r#"{"method":"X.y","params":{"chunk":"\u00e9\ud83e\udd80\/\b\f"}}"#);
        assert_eq!(
            &e.string_param("chunk").expect("chunk")[..],
            "é🦀/\u{8}\u{c}".as_bytes()
        );
    }

    #[test]
    fn invalid_strings_are_refused_not_mangled() {
        for bad in [
            r#"{"method":"X.y","params":{"chunk":"a"b"}}"#,
            r#"{"method":"X.y","params":{"chunk":"\x"}}"#,
            r#"{"method":"X.y","params":{"chunk":"\ud800"}}"#,
            r#"{"method":"X.y","params":{"chunk":"\udc00"}}"#,
            r#"{"method":"X.y","params":{"chunk":"\u12"}}"#,
            "{\"method\":\"X.y\",\"params\":{\"chunk\":\"raw\u{1}control\"}}",
            r#"{"method":"X.y","params":{"chunk":"trailing\"}}"#,
        ] {
            let Some(e) = Event::from_frame(bad) else {
                continue;
            };
            assert!(e.string_param("chunk").is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn slow_path_handles_other_layouts() {
        let e = event(r#"{ "params": {"chunk": "x\"y", "other": 1}, "method": "A.b" }"#);
        assert_eq!(e.method(), "A.b");
        assert_eq!(&e.string_param("chunk").expect("chunk")[..], b"x\"y");
        let e = event(r#"{"method":"A.b"}"#);
        assert_eq!(e.params_json().expect("utf-8"), "{}");
    }

    #[test]
    fn trailing_members_after_params_are_not_mistaken_for_params() {
        let e = event(r#"{"method":"A.b","params":{"chunk":"x"},"sessionId":"s"}"#);
        assert_eq!(e.method(), "A.b");
        assert_eq!(e.params_json().expect("utf-8"), r#"{"chunk":"x"}"#);
        // Ends like the fast path's shape: the parameters are re-read in full when invalid.
        let e = event(r#"{"method":"A.b","params":{"chunk":"x"},"extra":{"y":"z"}}"#);
        assert_eq!(&e.string_param("chunk").expect("chunk")[..], b"x");
        let value: serde_json::Value = e.params().expect("params");
        assert_eq!(value, serde_json::json!({"chunk": "x"}));
    }

    #[test]
    fn replies_and_errors() {
        match decode(Bytes::from(
            r#"{"id":7,"result":{"result":{"type":"number","value":2}}}"#,
        )) {
            Ok(Incoming::Reply {
                id: 7,
                reply: Ok(reply),
            }) => {
                let value: serde_json::Value = reply.parse("Runtime.evaluate").expect("json");
                assert_eq!(value["result"]["value"], 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        match decode(Bytes::from(
            r#"{"id":8,"error":{"code":-32601,"message":"'Foo.bar' wasn't found"}}"#,
        )) {
            Ok(Incoming::Reply {
                id: 8,
                reply:
                    Err(Error::Cdp {
                        code: -32601,
                        message,
                        ..
                    }),
            }) => {
                assert!(message.contains("wasn't found"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_where_it_is_read() {
        // The fast path leaves the parameters unchecked until they are read.
        let mut frame = br#"{"method":"A.b","params":{"chunk":"ok "#.to_vec();
        frame.extend_from_slice(&[0xC3, 0x28]); // A lead byte with no continuation.
        frame.extend_from_slice(br#""}}"#);
        let Ok(Incoming::Event(event)) = decode(Bytes::from(frame.clone())) else {
            panic!("the fast path takes the frame")
        };
        assert!(event.string_param("chunk").is_err());
        assert!(event.params_json().is_err());
        assert!(event.params::<serde_json::Value>().is_err());
        // Valid multi-byte text goes through the careful path unchanged.
        let event = Event::from_frame(r#"{"method":"A.b","params":{"chunk":"é\n日本 🦀"}}"#)
            .expect("an event");
        assert_eq!(
            &event.string_param("chunk").expect("chunk")[..],
            "é\n日本 🦀".as_bytes()
        );
        // Any other frame is checked whole.
        frame[1..9].copy_from_slice(br#""id":1, "#);
        assert!(decode(Bytes::from(frame)).is_err());
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            "",
            "not json",
            "[1,2]",
            "{}",
            r#"{"id":"x"}"#,
            r#"{"method":3}"#,
            "{\"method\":\"a\\\"b\"}",
        ] {
            assert!(decode(Bytes::from(bad)).is_err(), "accepted {bad:?}");
        }
    }
}
