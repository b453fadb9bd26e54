//! Property-based fuzzing of CDP message decoding (the frame fast path, `Event::string_param`'s
//! unescaping, `Event::params`, `RawReply`), end to end: frames go from a mock inspector through
//! a real WebSocket into an [`InspectorSession`], and what comes out is compared with what
//! serde_json makes of the same frame. The decoders are crate-private; this is their public
//! surface. Bounded: a few thousand cases per property, a few seconds in all.
#![cfg(feature = "test-util")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openprofiling_core::mock::{MockInspector, Reply};
use openprofiling_core::{Event, InspectorSession, Subscription};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;

const CHUNK: &str = "HeapProfiler.addHeapSnapshotChunk";
const FUZZ: &str = "Fuzz.event";
const WAIT: Duration = Duration::from_secs(20);

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A mock inspector, a session connected to it and a subscription, driven from a runtime of
/// its own so that proptest's synchronous runner can block on it.
struct Rig {
    runtime: Runtime,
    mock: MockInspector,
    session: InspectorSession,
    events: tokio::sync::Mutex<Subscription>,
    sentinel: AtomicU64,
    next_id: AtomicU64,
}

impl Rig {
    fn new(method: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (mock, session, events, ping_id) = runtime.block_on(async {
            let mock = MockInspector::start().await;
            mock.expect_always("Fuzz.ping", Reply::ok(json!({})));
            let session = InspectorSession::builder(mock.ws_url())
                .call_timeout(WAIT)
                .connect()
                .await
                .expect("connect to the mock");
            let events = session.subscribe(method).expect("subscribe");
            // One round trip: the mock has registered the connection before any broadcast.
            let _: Value = session.call("Fuzz.ping", json!({})).await.expect("ping");
            let ping = mock.wait_for_call("Fuzz.ping", WAIT).await;
            (mock, session, events, ping.id)
        });
        Self {
            runtime,
            mock,
            session,
            events: tokio::sync::Mutex::new(events),
            sentinel: AtomicU64::new(0),
            // Ids are given in order: the next call takes the one after the ping's.
            next_id: AtomicU64::new(ping_id + 1),
        }
    }

    /// Sends `frames`, then a sentinel event of the subscribed method; returns the events
    /// that came before the sentinel. Fails if the session closed.
    fn exchange(&self, method: &str, frames: Vec<Message>) -> Result<Vec<Event>, TestCaseError> {
        let n = self.sentinel.fetch_add(1, Ordering::Relaxed);
        let sentinel = format!("sentinel-{n}");
        for frame in frames {
            self.mock.send_raw(frame);
        }
        self.mock.send_event(method, json!({ "chunk": sentinel }));
        self.runtime.block_on(async {
            let mut events = self.events.lock().await;
            let mut before = Vec::new();
            loop {
                let event = tokio::time::timeout(WAIT, events.next())
                    .await
                    .map_err(|_| TestCaseError::fail("the sentinel never came: session stuck"))?
                    .map_err(|e| TestCaseError::fail(format!("session closed: {e}")))?;
                let is_sentinel = event
                    .params::<Value>()
                    .is_ok_and(|params| params["chunk"] == sentinel.as_str());
                if is_sentinel {
                    return Ok(before);
                }
                before.push(event);
            }
        })
    }
}

/// A piece of chunk text, biased towards what breaks unescapers.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9,]{1,70}",
        2 => any::<char>().prop_map(String::from),
        1 => Just("\"".to_owned()),
        1 => Just("\\".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("/".to_owned()),
        1 => (0_u32..0x20).prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
        1 => prop::sample::select(vec!["é", "日本", "🦀", "\u{7f}", "\u{ffff}", "\u{10ffff}", "\u{2028}"])
            .prop_map(str::to_owned),
    ]
}

fn chunk_text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..40).prop_map(|pieces| pieces.concat())
}

/// Writes `c` as `\uXXXX` (a surrogate pair above the BMP), in upper or lower case hex.
fn unicode_escape(out: &mut String, c: char, upper: bool) {
    let mut units = [0_u16; 2];
    for unit in c.encode_utf16(&mut units) {
        if upper {
            out.push_str(&format!("\\u{unit:04X}"));
        } else {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
}

/// JSON string body of `text`, each character escaped in the way `styles` picks: as serde_json
/// does, as `\uXXXX` (how V8 writes non-ASCII), or `\/`; all valid JSON for the same text.
fn escape_with_styles(text: &str, styles: &[u8]) -> String {
    let mut out = String::new();
    for (index, c) in text.chars().enumerate() {
        let style = styles
            .get(index % styles.len().max(1))
            .copied()
            .unwrap_or(0);
        let upper = style & 4 != 0;
        match (c, style % 4) {
            (_, 1) => unicode_escape(&mut out, c, upper),
            ('"', _) => out.push_str("\\\""),
            ('\\', _) => out.push_str("\\\\"),
            ('/', 2) => out.push_str("\\/"),
            ('\n', _) => out.push_str("\\n"),
            ('\r', _) => out.push_str("\\r"),
            ('\t', _) => out.push_str("\\t"),
            ('\u{8}', _) => out.push_str("\\b"),
            ('\u{c}', _) => out.push_str("\\f"),
            (c, _) if (c as u32) < 0x20 => unicode_escape(&mut out, c, upper),
            (c, _) => out.push(c),
        }
    }
    out
}

/// Splits `text` into `parts` pieces at char boundaries picked by `cuts`.
fn split_at_chars(text: &str, cuts: &[usize]) -> Vec<String> {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(at, _)| at)
        .chain([text.len()])
        .collect();
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|cut| boundaries[cut % boundaries.len()])
        .collect();
    points.push(0);
    points.push(text.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|pair| text[pair[0]..pair[1]].to_owned())
        .collect()
}

#[test]
fn any_chunk_text_comes_out_byte_exact_however_it_is_escaped_and_split() {
    let rig = Rig::new(CHUNK);
    let strategy = (
        chunk_text(),
        prop::collection::vec(any::<u8>(), 1..16),
        prop::collection::vec(any::<usize>(), 0..5),
    );
    let mut runner = TestRunner::new(config(2000));
    let result = runner.run(&strategy, |(text, styles, cuts)| {
        let parts = split_at_chars(&text, &cuts);
        let mut frames = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            // Half the parts as serde_json writes them, half with the chosen escapes.
            let frame = if index % 2 == 0 {
                json!({ "method": CHUNK, "params": { "chunk": part } }).to_string()
            } else {
                let body = escape_with_styles(part, &styles);
                format!(r#"{{"method":"{CHUNK}","params":{{"chunk":"{body}"}}}}"#)
            };
            // The reference: serde_json reads the frame back as the part.
            let reference: Value = serde_json::from_str(&frame)
                .map_err(|e| TestCaseError::fail(format!("bad test frame {frame}: {e}")))?;
            prop_assert_eq!(reference["params"]["chunk"].as_str(), Some(part.as_str()));
            frames.push(Message::text(frame));
        }
        let events = rig.exchange(CHUNK, frames)?;
        prop_assert_eq!(events.len(), parts.len(), "one event per frame");
        let mut joined = Vec::new();
        for (event, part) in events.iter().zip(&parts) {
            prop_assert_eq!(event.method(), CHUNK);
            let bytes = event
                .string_param("chunk")
                .map_err(|e| TestCaseError::fail(format!("{part:?} refused: {e}")))?;
            prop_assert_eq!(&bytes[..], part.as_bytes());
            joined.extend_from_slice(&bytes);
        }
        prop_assert_eq!(joined, text.as_bytes().to_vec());
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    assert!(rig.session.close_reason().is_none());
}

/// A JSON value of bounded size.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Normal numbers only: serde_json prints subnormals (4e-309) it then refuses to read
        // ("number out of range"), which would fail the reference, not the session.
        any::<f64>()
            .prop_filter("finite and normal", |f| f.is_normal() || *f == 0.0)
            .prop_map(Value::from),
        chunk_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}|chunk", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Up to three byte edits (insert, delete, overwrite) of `text`, then made valid UTF-8.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(at, op, byte) in edits {
        let at = at % (bytes.len() + 1);
        match op % 3 {
            0 => bytes.insert(at, byte),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ if at < bytes.len() => bytes[at] = byte,
            _ => bytes.push(byte),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Bytes picked to matter in JSON: structure, quotes, escapes, digits, and anything.
fn edit_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"{}[]\",:\\nu0aF \t".to_vec()),
        1 => any::<u8>(),
    ]
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), edit_byte()), 0..4)
}

/// Whether `text` may name a member twice (serde's derived envelope refuses that, `Value`
/// keeps the last one: a known, harmless difference). Conservative: counts the names anywhere.
fn may_repeat_a_member(text: &str) -> bool {
    [
        "\"method\"",
        "\"params\"",
        "\"id\"",
        "\"result\"",
        "\"error\"",
    ]
    .iter()
    .any(|name| text.matches(name).count() > 1)
}

/// A reply as serde's derived decoding reads the CDP envelope, the reference the session is
/// held to: members it does not know are skipped whatever they hold (even a number beyond
/// f64, which `Value` refuses), `result` is kept as its raw text, the error object is
/// decoded, and a member named twice (even as `"\u0069d"`) refuses the whole frame.
#[derive(Debug, serde::Deserialize)]
struct ReferenceReply<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ReferenceError>,
    #[serde(default, borrow, rename = "method")]
    _method: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "params")]
    _params: Option<&'a RawValue>,
}

/// The error object of a CDP error reply.
#[derive(Debug, serde::Deserialize)]
struct ReferenceError {
    #[serde(default, rename = "code")]
    _code: i64,
    #[serde(default, rename = "message")]
    _message: String,
    #[serde(default, rename = "data")]
    _data: Option<Value>,
}

/// The reference on the frames that fooled a `Value`-based one.
#[test]
fn reference_reply_reads_members_where_the_envelope_does() {
    let read = |text| serde_json::from_str::<ReferenceReply<'_>>(text).ok();
    let reply = read(r#"{"id":175,"result":{"id":null}}"#).expect("a reply");
    assert_eq!(reply.result.map(RawValue::get), Some(r#"{"id":null}"#));
    let reply = read(r#"{"id":998,"resulF":[-2396323620673436e+296,false]}"#).expect("a reply");
    assert_eq!((reply.id, reply.result.is_none()), (Some(998), true));
    assert!(read(r#"{"id":1,"error":{"data":{"code":2,"code":3}}}"#).is_some());
    assert!(read(r#"{"id":1,"x":0,"x":1}"#).is_some());
    assert!(read(r#"{"id":1,"result":{},"result":{}}"#).is_none());
    assert!(read(r#"{"id":1,"\u0069d":1}"#).is_none());
    assert!(read(r#"{"id":1,"error":{"code":1,"code":2}}"#).is_none());
    assert!(read(r#"{"id":1,"error":{"data":1e400}}"#).is_none());
    assert!(read("not json").is_none());
}

#[test]
fn mangled_event_frames_never_panic_stall_or_decode_differently_from_serde() {
    let rig = Rig::new(FUZZ);
    let strategy = (
        prop::collection::btree_map("[a-z]{1,6}|chunk", json_value(), 0..4),
        chunk_text(),
        edits(),
        any::<bool>(),
    );
    // How many cases decoded to a valid chunk, and how many invalid frames got through the
    // fast path to be refused by the readers: both sides of the differential must be reached.
    let (valid_chunks, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut runner = TestRunner::new(config(2000));
    let result = runner.run(&strategy, |(extra, chunk, edits, binary)| {
        let mut params: serde_json::Map<String, Value> = extra.into_iter().collect();
        params.insert("chunk".to_owned(), Value::String(chunk));
        let valid = json!({ "method": FUZZ, "params": params }).to_string();
        let text = mutate(&valid, &edits);
        let frame = if binary {
            Message::binary(text.clone().into_bytes())
        } else {
            Message::text(text.clone())
        };
        let events = rig.exchange(FUZZ, vec![frame])?;
        prop_assert!(events.len() <= 1, "one frame gave {} events", events.len());

        // Valid JSON that `Value` cannot hold (a number beyond f64) has no reference here; the
        // session must only survive it, which `exchange` checked.
        if serde_json::from_str::<Value>(&text).is_err()
            && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok()
        {
            return Ok(());
        }
        // What serde_json makes of the frame: an event of FUZZ, and its parameters.
        let reference = serde_json::from_str::<Value>(&text)
            .ok()
            .filter(|value| value.get("id").is_none() && value.get("method") == Some(&json!(FUZZ)));
        let expected_params = reference.as_ref().map(|value| match value.get("params") {
            None | Some(Value::Null) => json!({}),
            Some(params) => params.clone(),
        });
        let expected_chunk = expected_params
            .as_ref()
            .and_then(|params| params.get("chunk"))
            .and_then(Value::as_str)
            .map(str::to_owned);

        match (events.first(), binary) {
            (Some(_), true) => prop_assert!(false, "a binary frame was decoded"),
            (None, false)
                if reference.is_some()
                    && !text.contains("\"method\":\"Fuzz\\")
                    && !may_repeat_a_member(&text) =>
            {
                prop_assert!(
                    false,
                    "serde reads an event in {text:?}, the session dropped it"
                );
            }
            (Some(event), false) => {
                prop_assert_eq!(event.method(), FUZZ);
                match (&expected_params, event.params::<Value>()) {
                    (Some(expected), Ok(ours)) => prop_assert_eq!(&ours, expected),
                    (None, Ok(ours)) => {
                        prop_assert!(false, "invalid frame {text:?} gave params {ours}")
                    }
                    (Some(expected), Err(e)) => {
                        prop_assert!(false, "{text:?}: params {expected} refused: {e}")
                    }
                    (None, Err(_)) => {}
                }
                match (&expected_chunk, event.string_param("chunk")) {
                    (Some(expected), Ok(ours)) => {
                        valid_chunks.fetch_add(1, Ordering::Relaxed);
                        prop_assert_eq!(&ours[..], expected.as_bytes());
                    }
                    (None, Ok(ours)) => {
                        prop_assert!(false, "{text:?} gave a chunk of {} bytes", ours.len())
                    }
                    (Some(expected), Err(e)) => {
                        prop_assert!(false, "{text:?}: chunk {expected:?} refused: {e}")
                    }
                    (None, Err(_)) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (valid_chunks, refused) = (valid_chunks.into_inner(), refused.into_inner());
    assert!(
        valid_chunks > 200 && refused > 20,
        "too few cases reached the decoders: {valid_chunks} valid chunks, {refused} refused"
    );
    assert!(rig.session.close_reason().is_none());
}

#[test]
fn mangled_replies_are_matched_by_id_and_decoded_like_serde() {
    let rig = Rig::new(FUZZ);
    let strategy = (json_value(), edits());
    let mut runner = TestRunner::new(config(1000));
    let result = runner.run(&strategy, |(value, edits)| {
        let id = rig.next_id.fetch_add(1, Ordering::Relaxed);
        let valid = json!({ "id": id, "result": value }).to_string();
        let text = mutate(&valid, &edits);
        // The mangled reply first, then a proper one; whichever the session takes answers.
        rig.mock.expect(
            "Fuzz.call",
            Reply::steps()
                .raw(Message::text(text.clone()))
                .ok(json!({ "sentinel": id })),
        );
        let reply = rig
            .runtime
            .block_on(rig.session.call_raw("Fuzz.call", json!({}), WAIT));
        let reference = serde_json::from_str::<ReferenceReply<'_>>(&text)
            .ok()
            .filter(|reference| reference.id == Some(id));
        let sentinel = json!({ "sentinel": id });
        match (&reference, reply) {
            // A CDP error reply to our call.
            (
                Some(ReferenceReply { error: Some(_), .. }),
                Err(openprofiling_core::Error::Cdp { method, .. }),
            ) => {
                prop_assert_eq!(method, "Fuzz.call");
            }
            // A result reply to our call: the session hands its result over as it came.
            (
                Some(ReferenceReply {
                    error: None,
                    result,
                    ..
                }),
                Ok(reply),
            ) => {
                prop_assert_eq!(
                    reply.result_json(),
                    result.map_or("{}", |raw| raw.get()),
                    "{:?}",
                    text
                );
            }
            // Not a reply to our call: ignored, and the proper reply answers.
            (None, Ok(reply)) => {
                let ours: Value = serde_json::from_str(reply.result_json())
                    .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
                prop_assert_eq!(ours, sentinel, "{:?}", text);
            }
            (_, reply) => {
                prop_assert!(
                    false,
                    "{text:?}: serde reads {reference:?}, the session gave {reply:?}"
                );
            }
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    assert!(rig.session.close_reason().is_none());
}

#[test]
fn arbitrary_bytes_never_panic_or_stall_the_session() {
    let rig = Rig::new(FUZZ);
    let strategy = (prop::collection::vec(any::<u8>(), 0..600), any::<bool>());
    let mut runner = TestRunner::new(config(2000));
    let result = runner.run(&strategy, |(bytes, binary)| {
        let frame = if binary {
            Message::binary(bytes)
        } else {
            Message::text(String::from_utf8_lossy(&bytes).into_owned())
        };
        let events = rig.exchange(FUZZ, vec![frame])?;
        // Random bytes are no event of ours, in practice: anything decoded must still be sane.
        for event in events {
            let _ = event.string_param("chunk");
            let _ = event.params::<Value>();
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let reply: Value = rig
        .runtime
        .block_on(rig.session.call("Fuzz.ping", json!({})))
        .expect("the session still answers");
    assert_eq!(reply, json!({}));
}
