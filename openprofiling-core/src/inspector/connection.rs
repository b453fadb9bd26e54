//! The two tasks that own one WebSocket: the reader decodes each frame once and routes it to the
//! call it answers or to the event's subscribers; the writer sends requests in order.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn};

use super::message::{Incoming, decode};
use super::shared::Shared;
use super::target_end;
use crate::Error;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How much of a frame a `trace!` line shows.
const TRACE_PREVIEW: usize = 200;

/// Starts the reader and writer tasks; returns the writer's queue.
pub(crate) fn spawn(
    socket: Socket,
    shared: Arc<Shared>,
    closing: CancellationToken,
    queue: usize,
) -> mpsc::Sender<Message> {
    let (sink, stream) = socket.split();
    let (outgoing, requests) = mpsc::channel(queue.max(1));
    tokio::spawn(write_loop(sink, requests, shared.clone(), closing.clone()));
    tokio::spawn(read_loop(stream, shared, closing));
    outgoing
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut requests: mpsc::Receiver<Message>,
    shared: Arc<Shared>,
    closing: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            biased;
            () = closing.cancelled() => break,
            request = requests.recv() => request,
        };
        let Some(request) = request else { break };
        if let Err(error) = sink.send(request).await {
            debug!(url = %shared.url, %error, "Inspector connection failed while sending.");
            shared.close(format!("sending failed: {error}"));
            closing.cancel();
            return;
        }
    }
    // Every handle is gone, or the reader saw the end: say goodbye politely, best effort.
    let _ = sink.close().await;
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<Socket>,
    shared: Arc<Shared>,
    closing: CancellationToken,
) {
    let reason = loop {
        let next = tokio::select! {
            biased;
            () = closing.cancelled() => break "the session was closed".to_owned(),
            next = stream.next() => next,
        };
        match next {
            None => break "the inspector closed the connection".to_owned(),
            Some(Err(error)) => break format!("the connection failed: {error}"),
            Some(Ok(Message::Text(frame))) => {
                if !route(frame, &shared, &closing).await {
                    break "the session was closed".to_owned();
                }
            }
            Some(Ok(Message::Close(frame))) => {
                break match frame {
                    Some(frame) if !frame.reason.is_empty() => format!(
                        "the inspector closed the connection ({}: {})",
                        frame.code, frame.reason
                    ),
                    _ => "the inspector closed the connection".to_owned(),
                };
            }
            Some(Ok(Message::Binary(data))) => {
                warn!(
                    url = %shared.url,
                    len = data.len(),
                    "Ignored a binary frame from the inspector (CDP uses text frames)."
                );
            }
            Some(Ok(_)) => {} // Ping, pong, raw frames: tungstenite answers pings itself.
        }
    };
    debug!(url = %shared.url, %reason, "Inspector connection ended.");
    shared.close(reason);
    closing.cancel();
}

/// Routes one frame; false when the session closed while an event waited for a subscriber.
async fn route(
    frame: tokio_tungstenite::tungstenite::Utf8Bytes,
    shared: &Shared,
    closing: &CancellationToken,
) -> bool {
    if tracing::enabled!(tracing::Level::TRACE) {
        let preview: String = frame.chars().take(TRACE_PREVIEW).collect();
        trace!(len = frame.len(), %preview, "CDP frame received.");
    }
    match decode(frame) {
        Ok(Incoming::Reply { id, mut reply }) => match shared.take_call(id) {
            Some(call) => {
                if let Err(Error::Cdp { method, .. }) = &mut reply {
                    method.clone_from(&call.method);
                }
                // The caller may have stopped waiting (timed out): nothing to do then.
                let _ = call.reply.send(reply);
            }
            None => debug!(
                id,
                "Reply to no pending call (timed out, or not ours) ignored."
            ),
        },
        Ok(Incoming::Event(event)) if event.method() == target_end::WAITING_EVENT => {
            // Every frame before this one has been routed: subscribers keep what they hold.
            info!(url = %shared.url, "The target's program has ended; letting go of it so that it can exit.");
            shared.close(target_end::CLOSE_REASON.to_owned());
            closing.cancel();
            return false;
        }
        Ok(Incoming::Event(event)) => {
            for (subscriber, sender) in shared.subscribers_of(event.method()) {
                // Backpressure: a slow subscriber slows the reader, and so the inspector.
                let sent = tokio::select! {
                    biased;
                    () = closing.cancelled() => return false,
                    sent = sender.send(event.clone()) => sent,
                };
                if sent.is_err() {
                    shared.unsubscribe(event.method(), subscriber);
                }
            }
        }
        Err(error) => {
            warn!(url = %shared.url, %error, "Ignored a malformed message from the inspector.")
        }
    }
    true
}
