//! The `profile` member of a stop reply, kept in the frame it came in and written out as
//! slices of it: a profile of tens of MB is neither re-serialised nor copied.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use openprofiling_core::{Error, ProfileWriter, RawReply, Result};
use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The largest slice handed to the writer at once, so that exporters see bounded chunks.
pub(crate) const CHUNK_SIZE: usize = 1 << 20;

/// The JSON text of a profile, a slice of the reply's frame.
#[derive(Debug)]
pub(crate) struct RawProfile {
    bytes: Bytes,
}

/// Why a reply holds no readable profile.
#[derive(Debug)]
pub(crate) enum Missing {
    /// The result has no `profile` member.
    NoProfile,
    /// The profile is not of the expected shape (its summary did not parse).
    Shape(serde_json::Error),
}

/// The result of a stop call, borrowing the profile's raw text.
#[derive(serde::Deserialize)]
struct StopResult<'a> {
    #[serde(default, borrow)]
    profile: Option<&'a RawValue>,
}

impl RawProfile {
    /// Finds `result.profile` in `reply` (the answer to `method`) and reads a summary `S` of
    /// it. The outer error is the reply not being JSON; the inner one the profile missing or
    /// not matching `S`.
    pub(crate) fn from_reply<S: DeserializeOwned>(
        reply: RawReply,
        method: &str,
    ) -> Result<std::result::Result<(Self, S), Missing>> {
        let (frame, result) = reply.into_parts();
        let found = {
            let text: &str = &frame;
            let result_text = text.get(result).unwrap_or("{}");
            let result_text = if result_text.is_empty() {
                "{}"
            } else {
                result_text
            };
            let parsed: StopResult<'_> =
                serde_json::from_str(result_text).map_err(|source| Error::Decode {
                    what: format!("the reply to {method}"),
                    source,
                })?;
            match parsed.profile {
                None => Err(Missing::NoProfile),
                Some(profile) => match serde_json::from_str::<S>(profile.get()) {
                    Ok(summary) => Ok((offset_range(text, profile.get()), summary)),
                    Err(error) => Err(Missing::Shape(error)),
                },
            }
        };
        Ok(found.map(|(range, summary)| {
            (
                Self {
                    bytes: Bytes::from(frame).slice(range),
                },
                summary,
            )
        }))
    }

    /// The profile's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The profile as slices of at most `size` bytes, each sharing the frame's buffer.
    pub(crate) fn chunks(&self, size: usize) -> impl Iterator<Item = Bytes> + '_ {
        let size = size.max(1);
        (0..self.bytes.len()).step_by(size).map(move |start| {
            self.bytes
                .slice(start..(start + size).min(self.bytes.len()))
        })
    }

    /// Writes the profile to `writer`, slice by slice.
    pub(crate) async fn write_to(&self, writer: &mut ProfileWriter) -> Result<()> {
        for chunk in self.chunks(CHUNK_SIZE) {
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

/// The number of elements of a JSON array, counted without keeping them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut count = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(Count(count))
            }
        }
        deserializer.deserialize_seq(Counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Summary {
        samples: Count,
    }

    /// A reply as the session hands it over, built from the frame the mock would send.
    async fn reply(frame_result: serde_json::Value) -> RawReply {
        use openprofiling_core::InspectorSession;
        use openprofiling_core::mock::{MockInspector, Reply};
        let mock = MockInspector::start().await;
        mock.expect("HeapProfiler.stopSampling", Reply::ok(frame_result));
        let session = InspectorSession::builder(mock.ws_url())
            .connect()
            .await
            .expect("connects to the mock");
        session
            .call_raw(
                "HeapProfiler.stopSampling",
                serde_json::json!({}),
                std::time::Duration::from_secs(10),
            )
            .await
            .expect("a reply")
    }

    #[tokio::test]
    async fn the_profile_is_a_slice_of_the_frame_and_exact() {
        let profile = serde_json::json!({
            "nodes": [{"id": 1, "callFrame": {"functionName": "a \"quoted\" name"}}],
            "samples": [1, 1, 1],
            "startTime": 0,
            "endTime": 10,
        });
        let reply = reply(serde_json::json!({ "profile": profile.clone() })).await;
        let (frame, _) = reply.clone().into_parts();
        let frame = Bytes::from(frame);
        let (raw, summary) = RawProfile::from_reply::<Summary>(reply, "HeapProfiler.stopSampling")
            .expect("JSON")
            .expect("a profile");
        assert_eq!(summary.samples, Count(3));
        let text: Vec<u8> = raw.chunks(7).flat_map(|c| c.to_vec()).collect();
        let back: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        assert_eq!(back, profile);
        assert_eq!(text.len(), raw.len());
        // Every chunk points into the frame's buffer: no copy was made.
        let buffer = frame.as_ptr_range();
        for chunk in raw.chunks(7) {
            assert!(chunk.len() <= 7);
            let inside = chunk.as_ptr_range();
            assert!(
                buffer.start <= inside.start && inside.end <= buffer.end,
                "a chunk was copied out of the frame"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_or_misshapen_profile_is_told_apart() {
        let none = reply(serde_json::json!({})).await;
        assert!(matches!(
            RawProfile::from_reply::<Summary>(none, "HeapProfiler.stopSampling").expect("JSON"),
            Err(Missing::NoProfile)
        ));
        let wrong = reply(serde_json::json!({ "profile": { "samples": 3 } })).await;
        assert!(matches!(
            RawProfile::from_reply::<Summary>(wrong, "HeapProfiler.stopSampling").expect("JSON"),
            Err(Missing::Shape(_))
        ));
    }

    #[test]
    fn chunks_cover_everything_once() {
        let raw = RawProfile {
            bytes: Bytes::from_static(b"0123456789"),
        };
        let sizes: Vec<usize> = raw.chunks(4).map(|c| c.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(raw.chunks(100).count(), 1);
        let empty = RawProfile {
            bytes: Bytes::new(),
        };
        assert_eq!(empty.chunks(4).count(), 0);
    }
}
