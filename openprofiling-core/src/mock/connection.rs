//! One WebSocket connection: a reader that records calls and starts their scripts, and a
//! writer task that owns the sending half, so frames never interleave within a frame.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::script::run_steps;
use super::state::{MalformedMessage, RecordedCall, Shared, truncate};
use crate::inspector::target_end;

/// Capacity of a connection's script channel: enough to keep the socket busy, small enough
/// that a fast script waits for the socket instead of queueing hundreds of MB.
const SCRIPT_CHANNEL_CAPACITY: usize = 256;

/// How many queued frames the writer takes at once before it flushes.
const WRITE_BATCH: usize = 64;

/// How long a connection waits for the client's close frame after sending its own.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What a connection's writer is asked to do.
#[derive(Clone, Debug)]
pub(super) enum Outgoing {
    /// Send a frame.
    Frame(Message),
    /// Send a close frame, then stop writing; the connection ends when the client answers.
    Close,
    /// Drop the TCP connection at once, without a close frame.
    Drop,
}

/// Why the writer stopped.
#[derive(Debug)]
enum WriterEnd {
    /// It sent a close frame.
    Closed,
    /// It was told to drop the connection, the socket failed, or its channels closed.
    Gone,
}

/// Serves an accepted WebSocket connection until it closes.
pub(super) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    connection: usize,
    target: usize,
    control: mpsc::UnboundedReceiver<Outgoing>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, mut stream) = ws.split();
    let (script_tx, script_rx) = mpsc::channel(SCRIPT_CHANNEL_CAPACITY);
    let (end_tx, mut end_rx) = oneshot::channel();
    // Dropping the set (when the connection ends, or the server is dropped) aborts the
    // writer and every script still running.
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        let end = write_loop(sink, script_rx, control).await;
        let _ = end_tx.send(end);
    });

    let reader = Reader {
        shared: Arc::clone(&shared),
        connection,
        target,
        out: script_tx,
    };
    let mut close_deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(message)) => reader.on_message(message, &mut tasks).await,
                Some(Err(error)) => {
                    tracing::debug!(connection, %error, "Mock inspector connection failed.");
                    break;
                }
                None => break,
            },
            end = &mut end_rx, if close_deadline.is_none() => match end {
                Ok(WriterEnd::Closed) => close_deadline = Some(Instant::now() + CLOSE_GRACE),
                Ok(WriterEnd::Gone) | Err(_) => break,
            },
            () = sleep_until(close_deadline) => break,
            Some(_) = tasks.join_next() => {}
        }
    }
    shared.close_connection(connection);
    tracing::debug!(connection, "Mock inspector connection closed.");
}

/// Sleeps until `deadline`, or forever if there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Owns the sending half: takes frames from the scripts and the handle, in batches, and
/// flushes after each batch.
async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut scripts: mpsc::Receiver<Outgoing>,
    mut control: mpsc::UnboundedReceiver<Outgoing>,
) -> WriterEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        // The handle's control messages first, then the scripts' frames.
        let received =
            std::future::poll_fn(
                |cx| match control.poll_recv_many(cx, &mut batch, WRITE_BATCH) {
                    Poll::Ready(received) => Poll::Ready(received),
                    Poll::Pending => scripts.poll_recv_many(cx, &mut batch, WRITE_BATCH),
                },
            )
            .await;
        if received == 0 {
            // A channel closed: the connection is ending.
            let _ = sink.flush().await;
            return WriterEnd::Gone;
        }
        for outgoing in batch.drain(..) {
            match outgoing {
                Outgoing::Frame(message) => {
                    if sink.feed(message).await.is_err() {
                        return WriterEnd::Gone;
                    }
                }
                Outgoing::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    return WriterEnd::Closed;
                }
                Outgoing::Drop => {
                    // What the script sent before the drop still goes out.
                    let _ = sink.flush().await;
                    return WriterEnd::Gone;
                }
            }
        }
        if sink.flush().await.is_err() {
            return WriterEnd::Gone;
        }
    }
}

/// The reading side of a connection.
struct Reader {
    shared: Arc<Shared>,
    connection: usize,
    target: usize,
    out: mpsc::Sender<Outgoing>,
}

impl Reader {
    async fn on_message(&self, message: Message, tasks: &mut JoinSet<()>) {
        match message {
            Message::Text(text) => self.on_text(&text, tasks).await,
            Message::Binary(data) => {
                let text = String::from_utf8_lossy(&data).into_owned();
                self.malformed(text, None, -32700, "Message must be a valid JSON")
                    .await;
            }
            // Tungstenite answers pings and close frames itself; the stream ends after a close.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {}
        }
    }

    async fn on_text(&self, text: &Utf8Bytes, tasks: &mut JoinSet<()>) {
        tracing::trace!(connection = self.connection, frame = %truncate(text, 200), "Mock inspector received.");
        // The checks and messages are V8's (crdtp `Dispatchable`).
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return self
                .malformed(
                    text.to_string(),
                    None,
                    -32700,
                    "Message must be a valid JSON",
                )
                .await;
        };
        let Value::Object(mut object) = value else {
            return self
                .malformed(text.to_string(), None, -32600, "Message must be an object")
                .await;
        };
        let Some(id) = object.get("id").and_then(Value::as_u64) else {
            let problem = "Message must have integer 'id' property";
            return self
                .malformed(text.to_string(), None, -32600, problem)
                .await;
        };
        let Some(Value::String(method)) = object.remove("method") else {
            let problem = "Message must have string 'method' property";
            return self
                .malformed(text.to_string(), Some(id), -32600, problem)
                .await;
        };
        let params = object.remove("params").unwrap_or(Value::Null);
        let call = RecordedCall {
            connection: self.connection,
            target: self.target,
            id,
            method,
            params,
        };
        let method = call.method.clone();
        // The request every session makes on connecting, answered as Node answers it and not
        // recorded, unless a test scripts it.
        if method == target_end::NOTIFY_METHOD && !self.shared.is_scripted(&method) {
            return self.send(format!(r#"{{"id":{id},"result":{{}}}}"#)).await;
        }
        let Some(reply) = self.shared.on_call(call) else {
            let error = serde_json::json!({ "code": -32601, "message": format!("'{method}' wasn't found") });
            return self.send(error_frame(Some(id), &error)).await;
        };
        // Quick steps run here, so that replies keep the order of the calls; the rest of a
        // script runs in its own task, so that it does not hold up later calls.
        let script = Arc::clone(reply.script());
        if let Ok(Some(slow)) = run_steps(&script, id, &self.out, true).await {
            let out = self.out.clone();
            tasks.spawn(async move {
                let _ = run_steps(&script[slow..], id, &out, false).await;
            });
        }
    }

    async fn malformed(&self, text: String, id: Option<u64>, code: i64, problem: &str) {
        self.shared.on_malformed(MalformedMessage {
            connection: self.connection,
            text: truncate(&text, 1024),
            problem: problem.to_owned(),
        });
        // V8 answers a message it cannot address with an error that has no id.
        let error = serde_json::json!({ "code": code, "message": problem });
        self.send(error_frame(id, &error)).await;
    }

    async fn send(&self, frame: String) {
        // The writer is gone when the connection is closing; the reply has nowhere to go.
        let _ = self
            .out
            .send(Outgoing::Frame(Message::Text(frame.into())))
            .await;
    }
}

/// `{"id":id,"error":error}`, or `{"error":error}` without an id.
fn error_frame(id: Option<u64>, error: &Value) -> String {
    match id {
        Some(id) => format!(r#"{{"id":{id},"error":{error}}}"#),
        None => format!(r#"{{"error":{error}}}"#),
    }
}
