//! Scripted replies: what the mock inspector sends when an expected call arrives.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::connection::Outgoing;
use super::snapshot::heap_snapshot_chunk_frames;

/// What the mock inspector does when an expected call arrives: a script of steps, run in
/// order on the connection the call came in on.
///
/// The simple replies are [`Reply::ok`], [`Reply::error`] and [`Reply::never`]; anything
/// longer (events before the answer, delays, a heap snapshot stream, a dropped connection)
/// starts with [`Reply::steps`]. A `Reply` is cheap to clone; frames are serialised when the
/// reply is built, not when it runs.
///
/// A call's script runs in its own task, so a [`Reply::never`] or a long script does not hold
/// up the replies to later calls on the same connection. Frames of one script keep their
/// order; frames of different scripts may interleave (whole frames, never within a frame).
#[derive(Clone, Debug)]
pub struct Reply {
    steps: Arc<[Step]>,
}

impl Reply {
    /// Answers `{"id":ID,"result":result}`.
    pub fn ok(result: Value) -> Self {
        Self::steps().ok(result)
    }

    /// Answers `{"id":ID,"error":{"code":code,"message":message}}`, a CDP error reply.
    pub fn error(code: i64, message: &str) -> Self {
        Self::steps().error(code, message)
    }

    /// Never answers: for tests of call timeouts.
    pub fn never() -> Self {
        Self::steps().never()
    }

    /// Starts a script of several steps; end it with [`ReplyBuilder::ok`],
    /// [`ReplyBuilder::error`], [`ReplyBuilder::never`], [`ReplyBuilder::close`] or
    /// [`ReplyBuilder::drop_connection`].
    pub fn steps() -> ReplyBuilder {
        ReplyBuilder { steps: Vec::new() }
    }

    /// The steps, for the connection that runs them.
    pub(super) fn script(&self) -> &Arc<[Step]> {
        &self.steps
    }
}

/// Builds a [`Reply`] of several steps; see [`Reply::steps`].
///
/// ```
/// # use openprofiling_core::mock::{heap_snapshot_text, Reply};
/// # use std::{sync::Arc, time::Duration};
/// let text: Arc<str> = heap_snapshot_text(300_000).into();
/// let reply = Reply::steps()
///     .event("HeapProfiler.resetProfiles", serde_json::json!({}))
///     .delay(Duration::from_millis(5))
///     .heap_snapshot(text, 100_000)
///     .ok(serde_json::json!({}));
/// # drop(reply);
/// ```
#[derive(Clone, Debug)]
#[must_use = "a ReplyBuilder does nothing until it is ended by ok, error, never, close or drop_connection"]
pub struct ReplyBuilder {
    steps: Vec<Step>,
}

impl ReplyBuilder {
    /// Sends the CDP event `{"method":method,"params":params}`.
    pub fn event(mut self, method: &str, params: Value) -> Self {
        self.steps.push(Step::Text(event_frame(method, &params)));
        self
    }

    /// Sends `message` as it is: a binary frame, malformed JSON, a reply with a wrong id, a
    /// ping... for tests of a client's defences.
    pub fn raw(mut self, message: Message) -> Self {
        self.steps.push(Step::Raw(message));
        self
    }

    /// Waits `delay` before the next step (tokio time, so a paused test clock applies).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.steps.push(Step::Delay(delay));
        self
    }

    /// Sends `frames` as text frames, cycling through them, until at least
    /// `repeat_until_bytes` bytes of frame text were sent (for streaming hundreds of MB
    /// without holding them in memory; build the frames with
    /// [`heap_snapshot_chunk_frames`](super::heap_snapshot_chunk_frames) or [`event_frame`]).
    /// Nothing is sent when `repeat_until_bytes` is 0.
    ///
    /// # Panics
    ///
    /// If `repeat_until_bytes` is above 0 and the frames hold no text (the loop would not end).
    pub fn frames(mut self, frames: Arc<Vec<Utf8Bytes>>, repeat_until_bytes: u64) -> Self {
        assert!(
            repeat_until_bytes == 0 || frames.iter().any(|frame| !frame.is_empty()),
            "mock inspector: Reply::frames needs at least one non-empty frame to send {repeat_until_bytes} bytes"
        );
        self.steps.push(Step::Repeat {
            frames,
            until_bytes: repeat_until_bytes,
        });
        self
    }

    /// Streams `text` as V8 streams a heap snapshot taken with `reportProgress`: a few
    /// `HeapProfiler.reportHeapSnapshotProgress` events (`{"done":N,"total":M}`, the last
    /// with `"finished":true`), then `text` as consecutive `HeapProfiler.addHeapSnapshotChunk`
    /// events of `chunk_size` bytes of unescaped text each (V8 uses about 100 KB). Follow it
    /// with `.ok(json!({}))`, as V8 answers `HeapProfiler.takeHeapSnapshot` after the chunks.
    ///
    /// # Panics
    ///
    /// If `chunk_size` is 0.
    pub fn heap_snapshot(self, text: Arc<str>, chunk_size: usize) -> Self {
        let frames = heap_snapshot_chunk_frames(&text, chunk_size);
        let count = frames.len();
        self.snapshot_frames(frames, count)
    }

    /// Like [`heap_snapshot`](Self::heap_snapshot), but sends only the first `chunks` chunks:
    /// follow it with [`close`](Self::close), [`drop_connection`](Self::drop_connection) or
    /// [`never`](Self::never) to test a stream that stops half way.
    ///
    /// # Panics
    ///
    /// If `chunk_size` is 0.
    pub fn heap_snapshot_partial(self, text: Arc<str>, chunk_size: usize, chunks: usize) -> Self {
        let frames = heap_snapshot_chunk_frames(&text, chunk_size);
        let count = chunks.min(frames.len());
        self.snapshot_frames(frames, count)
    }

    fn snapshot_frames(mut self, frames: Vec<Utf8Bytes>, count: usize) -> Self {
        let total = frames.len().max(1) as u64;
        for done in [0, total / 2, total] {
            let params = serde_json::json!({ "done": done, "total": total });
            self = self.event("HeapProfiler.reportHeapSnapshotProgress", params);
        }
        let params = serde_json::json!({ "done": total, "total": total, "finished": true });
        self = self.event("HeapProfiler.reportHeapSnapshotProgress", params);
        self.steps.push(Step::Once {
            frames: Arc::new(frames),
            count,
        });
        self
    }

    /// Ends the script with `{"id":ID,"result":result}`.
    pub fn ok(mut self, result: Value) -> Reply {
        let result = serde_json::to_string(&result).expect("a JSON value always serialises");
        self.steps.push(Step::Result(result.into()));
        self.build()
    }

    /// Ends the script with the CDP error reply
    /// `{"id":ID,"error":{"code":code,"message":message}}`.
    pub fn error(mut self, code: i64, message: &str) -> Reply {
        let error = serde_json::json!({ "code": code, "message": message });
        let error = serde_json::to_string(&error).expect("a JSON value always serialises");
        self.steps.push(Step::Error(error.into()));
        self.build()
    }

    /// Ends the script without answering the call.
    pub fn never(self) -> Reply {
        self.build()
    }

    /// Ends the script by closing the WebSocket: a close frame, then, once the client answers
    /// it (or after a second), the TCP connection. The call is never answered.
    pub fn close(mut self) -> Reply {
        self.steps.push(Step::Close);
        self.build()
    }

    /// Ends the script by dropping the TCP connection without a close frame, as when the
    /// inspected process dies. The call is never answered.
    pub fn drop_connection(mut self) -> Reply {
        self.steps.push(Step::Drop);
        self.build()
    }

    fn build(self) -> Reply {
        Reply {
            steps: self.steps.into(),
        }
    }
}

/// The text frame of the CDP event `{"method":method,"params":params}`, for
/// [`ReplyBuilder::frames`].
pub fn event_frame(method: &str, params: &Value) -> Utf8Bytes {
    let frame = serde_json::json!({ "method": method, "params": params });
    Utf8Bytes::from(serde_json::to_string(&frame).expect("a JSON value always serialises"))
}

/// One step of a [`Reply`].
#[derive(Clone, Debug)]
pub(super) enum Step {
    /// A pre-serialised text frame.
    Text(Utf8Bytes),
    /// A frame sent as it is.
    Raw(Message),
    /// A pause.
    Delay(Duration),
    /// Frames sent cyclically until `until_bytes` bytes were sent.
    Repeat {
        frames: Arc<Vec<Utf8Bytes>>,
        until_bytes: u64,
    },
    /// The first `count` frames, once each.
    Once {
        frames: Arc<Vec<Utf8Bytes>>,
        count: usize,
    },
    /// The answer `{"id":ID,"result":...}`, with the result pre-serialised.
    Result(Arc<str>),
    /// The answer `{"id":ID,"error":...}`, with the error object pre-serialised.
    Error(Arc<str>),
    /// Close the WebSocket.
    Close,
    /// Drop the TCP connection.
    Drop,
}

impl Step {
    /// Whether the step may take a while (so that it must not run on the connection's reader).
    fn is_slow(&self) -> bool {
        matches!(
            self,
            Self::Delay(_) | Self::Repeat { .. } | Self::Once { .. }
        )
    }
}

/// The connection's writer is gone; the script cannot send anything more.
#[derive(Debug)]
pub(super) struct Disconnected;

/// Runs `steps` for the call `id`, sending through `out`.
///
/// With `stop_at_slow`, stops before the first slow step and returns its index, so that the
/// caller can run the rest in a task of its own; returns `None` when every step ran.
pub(super) async fn run_steps(
    steps: &[Step],
    id: u64,
    out: &mpsc::Sender<Outgoing>,
    stop_at_slow: bool,
) -> Result<Option<usize>, Disconnected> {
    for (index, step) in steps.iter().enumerate() {
        if stop_at_slow && step.is_slow() {
            return Ok(Some(index));
        }
        match step {
            Step::Text(frame) => send_text(out, frame.clone()).await?,
            Step::Raw(message) => send(out, Outgoing::Frame(message.clone())).await?,
            Step::Delay(delay) => tokio::time::sleep(*delay).await,
            Step::Repeat {
                frames,
                until_bytes,
            } => {
                let mut sent = 0u64;
                'cycle: while sent < *until_bytes {
                    for frame in frames.iter() {
                        if sent >= *until_bytes {
                            break 'cycle;
                        }
                        sent += frame.len() as u64;
                        send_text(out, frame.clone()).await?;
                    }
                }
            }
            Step::Once { frames, count } => {
                for frame in frames.iter().take(*count) {
                    send_text(out, frame.clone()).await?;
                }
            }
            Step::Result(result) => {
                send_text(out, format!(r#"{{"id":{id},"result":{result}}}"#).into()).await?;
            }
            Step::Error(error) => {
                send_text(out, format!(r#"{{"id":{id},"error":{error}}}"#).into()).await?;
            }
            Step::Close => send(out, Outgoing::Close).await?,
            Step::Drop => send(out, Outgoing::Drop).await?,
        }
    }
    Ok(None)
}

async fn send_text(out: &mpsc::Sender<Outgoing>, frame: Utf8Bytes) -> Result<(), Disconnected> {
    send(out, Outgoing::Frame(Message::Text(frame))).await
}

async fn send(out: &mpsc::Sender<Outgoing>, outgoing: Outgoing) -> Result<(), Disconnected> {
    out.send(outgoing).await.map_err(|_| Disconnected)
}
