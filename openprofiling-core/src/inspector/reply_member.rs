//! One member of a reply's result (`result.profile` of `Profiler.stop`), kept in the frame the
//! reply came in and handed out as slices of it: a profile of tens of MB is neither parsed into
//! values, nor re-serialised, nor copied.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::message::RawReply;
use crate::{Error, ProfileWriter, Result};

/// The largest slice [`ReplyMember::write_to`] hands the writer at once, so that exporters see
/// bounded chunks.
pub const REPLY_CHUNK_SIZE: usize = 1 << 20;

/// One member of a reply's result, as its raw JSON text, still in the frame the reply came in.
///
/// Found with [`RawReply::member`]. Cloning is cheap (a reference count), and so is every
/// slice it hands out: they all share the frame's buffer.
#[derive(Clone)]
pub struct ReplyMember {
    frame: Utf8Bytes,
    range: Range<usize>,
}

impl fmt::Debug for ReplyMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the text: it may hold profile data.
        f.debug_struct("ReplyMember")
            .field("len", &self.len())
            .finish()
    }
}

impl RawReply {
    /// The member `key` of the result, found without building the result into values: the
    /// top level of the result is scanned, each member's JSON text checked, none kept.
    ///
    /// `Ok(None)` when the result has no such member. Fails with [`Error::Decode`] (naming
    /// `method`, the call this replies to) when the result is not a JSON object or names
    /// `key` twice.
    pub fn member(&self, key: &str, method: &str) -> Result<Option<ReplyMember>> {
        let (frame, result) = self.clone().into_parts();
        let range = {
            let text: &str = &frame;
            let Some(result_text) = text.get(result).filter(|text| !text.is_empty()) else {
                return Ok(None);
            };
            let mut deserializer = serde_json::Deserializer::from_str(result_text);
            let found = FindMember { key }
                .deserialize(&mut deserializer)
                .and_then(|found| deserializer.end().map(|()| found))
                .map_err(|source| Error::Decode {
                    what: format!("the reply to {method}"),
                    source,
                })?;
            found.map(|member| offset_range(text, member.get()))
        };
        Ok(range.map(|range| ReplyMember { frame, range }))
    }
}

impl ReplyMember {
    /// The member's JSON text, exactly as the inspector sent it.
    pub fn json(&self) -> &str {
        &self.frame[self.range.clone()]
    }

    /// The member's length in bytes.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether the member's text is empty (it never is for a member that was found).
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The member deserialized into `T`, typically a small summary of a large value (see
    /// [`JsonArrayLen`](crate::JsonArrayLen)). The error is the bare JSON one, for the caller
    /// to say what shape it expected.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> serde_json::Result<T> {
        serde_json::from_str(self.json())
    }

    /// The member's text as one slice of the frame's buffer (no copy).
    pub fn bytes(&self) -> Bytes {
        Bytes::from(self.frame.clone()).slice(self.range.clone())
    }

    /// The member's text as slices of at most `size` bytes (at least one), in order, each
    /// sharing the frame's buffer.
    pub fn chunks(&self, size: usize) -> impl Iterator<Item = Bytes> + use<> {
        let bytes = self.bytes();
        let size = size.max(1);
        (0..bytes.len())
            .step_by(size)
            .map(move |start| bytes.slice(start..(start + size).min(bytes.len())))
    }

    /// Writes the member's text to `writer` in slices of [`REPLY_CHUNK_SIZE`]; fails when
    /// the writer does (every exporter has failed).
    pub async fn write_to(&self, writer: &mut ProfileWriter) -> Result<()> {
        for chunk in self.chunks(REPLY_CHUNK_SIZE) {
            writer.write(chunk).await?;
        }
        Ok(())
    }
}

/// The byte range of `part` within `whole`; `part` is a sub-slice of `whole`.
fn offset_range(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// Reads a JSON object and keeps the raw text of one member, skipping the others.
struct FindMember<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for FindMember<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FindMember<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        // Keys are short and few at the top level of a result: owning them costs nothing.
        while let Some(name) = map.next_key::<String>()? {
            if name != self.key {
                map.next_value::<IgnoredAny>()?;
            } else if found.is_some() {
                return Err(de::Error::custom(format_args!(
                    "duplicate member {:?}",
                    self.key
                )));
            } else {
                found = Some(map.next_value::<&'de RawValue>()?);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::inspector::message::{Incoming, decode};
    use crate::{
        ExportReceipt, ExportSink, Exporter, JsonArrayLen, ProfileKind, ProfileMetadata,
        ProfileStatus,
    };

    /// A reply as the session hands it over: the frame `{"id":1,"result":…}` through the
    /// session's decoder.
    fn reply_with(result: serde_json::Value) -> RawReply {
        let frame = json!({ "id": 1, "result": result }).to_string();
        match decode(bytes::Bytes::from(frame)).expect("a valid frame") {
            Incoming::Reply { reply, .. } => reply.expect("a successful reply"),
            Incoming::Event(event) => panic!("decoded as an event: {event:?}"),
        }
    }

    #[derive(Deserialize)]
    struct Summary {
        samples: JsonArrayLen,
    }

    #[test]
    fn the_member_is_a_slice_of_the_frame_and_exact() {
        let profile = json!({
            "nodes": [{"id": 1, "callFrame": {"functionName": "a \"quoted\" name"}}],
            "samples": [1, 1, 1],
            "startTime": 0,
            "endTime": 10,
        });
        let reply = reply_with(
            json!({ "before": [1, {"profile": 2}], "profile": profile.clone(), "after": "x" }),
        );
        let (frame, _) = reply.clone().into_parts();
        let frame = Bytes::from(frame);
        let member = reply
            .member("profile", "Profiler.stop")
            .expect("the result is an object")
            .expect("it has a profile");
        let summary: Summary = member.parse().expect("the summary reads");
        assert_eq!(summary.samples, JsonArrayLen(3));
        let text: Vec<u8> = member.chunks(7).flat_map(|chunk| chunk.to_vec()).collect();
        assert_eq!(text.len(), member.len());
        assert_eq!(text, member.json().as_bytes());
        let back: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        assert_eq!(back, profile);
        // Every chunk points into the frame's buffer: no copy was made.
        let buffer = frame.as_ptr_range();
        for chunk in member.chunks(7) {
            assert!(chunk.len() <= 7);
            let inside = chunk.as_ptr_range();
            assert!(
                buffer.start <= inside.start && inside.end <= buffer.end,
                "a chunk was copied out of the frame"
            );
        }
    }

    #[test]
    fn a_missing_member_is_none_and_a_misshapen_one_fails_to_parse() {
        let none = reply_with(json!({ "other": { "profile": {} } }));
        assert!(
            none.member("profile", "Profiler.stop")
                .expect("the result is an object")
                .is_none(),
            "only top-level members count"
        );
        let empty = reply_with(json!({}));
        assert!(
            empty
                .member("profile", "Profiler.stop")
                .expect("an empty result is an object")
                .is_none()
        );
        let wrong = reply_with(json!({ "profile": { "samples": 3 } }));
        let member = wrong
            .member("profile", "Profiler.stop")
            .expect("the result is an object")
            .expect("it has a profile");
        assert!(member.parse::<Summary>().is_err(), "3 is not an array");
    }

    #[test]
    fn a_result_that_is_not_an_object_is_a_decode_error_naming_the_call() {
        let array = reply_with(json!(["profile", {}]));
        let error = array
            .member("profile", "Profiler.stop")
            .expect_err("an array has no members");
        assert!(matches!(error, Error::Decode { .. }), "{error:?}");
        assert!(error.to_string().contains("Profiler.stop"), "{error}");
    }

    #[test]
    fn a_duplicate_member_is_refused() {
        let mut deserializer =
            serde_json::Deserializer::from_str(r#"{"profile": 1, "x": 2, "profile": 3}"#);
        let error = FindMember { key: "profile" }
            .deserialize(&mut deserializer)
            .expect_err("two profiles are ambiguous");
        assert!(error.to_string().contains("duplicate"), "{error}");
    }

    #[test]
    fn chunks_cover_everything_once() {
        let frame = Utf8Bytes::from_static("[\"0123456789\"]");
        let member = ReplyMember {
            frame,
            range: 2..12,
        };
        let sizes: Vec<usize> = member.chunks(4).map(|chunk| chunk.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let text: Vec<u8> = member.chunks(4).flat_map(|chunk| chunk.to_vec()).collect();
        assert_eq!(text, b"0123456789");
        assert_eq!(member.chunks(100).count(), 1);
        assert_eq!(member.chunks(0).count(), 10, "a size of 0 is taken as 1");
        let empty = ReplyMember {
            frame: Utf8Bytes::from_static("x"),
            range: 1..1,
        };
        assert!(empty.is_empty());
        assert_eq!(empty.chunks(4).count(), 0);
    }

    /// An exporter that keeps every chunk it is given.
    #[derive(Debug, Default, Clone)]
    struct Collect(Arc<Mutex<Vec<Bytes>>>);

    #[async_trait]
    impl Exporter for Collect {
        fn name(&self) -> String {
            "collect".to_owned()
        }
        async fn begin(&self, _: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
            Ok(Box::new(self.clone()))
        }
    }

    #[async_trait]
    impl ExportSink for Collect {
        async fn write(&mut self, chunk: Bytes) -> Result<()> {
            self.0.lock().expect("not poisoned").push(chunk);
            Ok(())
        }
        async fn finish(self: Box<Self>, profile: &ProfileMetadata) -> Result<ExportReceipt> {
            Ok(ExportReceipt {
                location: "memory".to_owned(),
                stored_bytes: profile.size,
            })
        }
        async fn abort(self: Box<Self>, _: &str) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn write_to_hands_the_writer_bounded_slices_of_the_whole_text() {
        let big = "x".repeat(REPLY_CHUNK_SIZE * 2 + 5);
        let reply = reply_with(json!({ "profile": { "text": big } }));
        let member = reply
            .member("profile", "Profiler.stop")
            .expect("the result is an object")
            .expect("it has a profile");
        let collect = Collect::default();
        let exporters: Vec<Arc<dyn Exporter>> = vec![Arc::new(collect.clone())];
        let profile = ProfileMetadata::new(ProfileKind::CpuProfile, "member");
        let mut writer = ProfileWriter::begin(profile, &exporters, 4).await;
        member.write_to(&mut writer).await.expect("written");
        assert_eq!(writer.bytes_written(), member.len() as u64);
        let report = writer.finish(ProfileStatus::Success).await;
        assert!(report.is_success(), "{report:?}");
        let chunks = collect.0.lock().expect("not poisoned").clone();
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|chunk| chunk.len() <= REPLY_CHUNK_SIZE));
        let text: Vec<u8> = chunks.iter().flat_map(|chunk| chunk.to_vec()).collect();
        assert_eq!(text, member.json().as_bytes());
    }
}
