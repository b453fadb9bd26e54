//! The two tasks that own one WebSocket: the reader decodes each frame once and routes it to the
//! call it answers or to the event's subscribers; the writer sends requests in order.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn};

use super::message::{Incoming, decode};
use super::shared::Shared;
use super::target_end;
use super::websocket::{FrameReader, FrameWriter, Outgoing, ReadError, Received};
use crate::Error;

/// How long the goodbye (a close frame) may wait for a peer that does not read.
const GOODBYE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How much of a frame a `trace!` line shows.
const TRACE_PREVIEW: usize = 200;

/// Starts the reader and writer tasks; returns the writer's queue.
pub(crate) fn spawn(
    (reader, writer): (FrameReader, FrameWriter),
    shared: Arc<Shared>,
    closing: CancellationToken,
    queue: usize,
) -> mpsc::Sender<Outgoing> {
    let (outgoing, requests) = mpsc::channel(queue.max(1));
    tokio::spawn(write_loop(
        writer,
        requests,
        shared.clone(),
        closing.clone(),
    ));
    // Weak: the reader's pongs must not keep the writer alive once every handle is gone.
    tokio::spawn(read_loop(reader, outgoing.downgrade(), shared, closing));
    outgoing
}

async fn write_loop(
    mut writer: FrameWriter,
    mut requests: mpsc::Receiver<Outgoing>,
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
        // A peer that stopped reading keeps a send waiting; closing must not wait for it (a
        // frame cut short leaves nothing to say goodbye after).
        let sent = tokio::select! {
            biased;
            () = closing.cancelled() => return,
            sent = writer.send(request) => sent,
        };
        if let Err(error) = sent {
            debug!(url = %shared.url, %error, "Inspector connection failed while sending.");
            shared.close(format!("sending failed: {error}"));
            closing.cancel();
            return;
        }
    }
    // Every handle is gone, or the reader saw the end: say goodbye politely, best effort, and
    // not for long.
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, writer.close()).await;
}

async fn read_loop(
    mut reader: FrameReader,
    pongs: mpsc::WeakSender<Outgoing>,
    shared: Arc<Shared>,
    closing: CancellationToken,
) {
    let reason = loop {
        let next = tokio::select! {
            biased;
            () = closing.cancelled() => break "the session was closed".to_owned(),
            next = reader.next() => next,
        };
        match next {
            Ok(Received::Text(frame)) => {
                if !route(frame, &shared, &closing).await {
                    break "the session was closed".to_owned();
                }
            }
            Ok(Received::Close(frame)) => {
                break match frame {
                    Some((code, reason)) if !reason.is_empty() => {
                        format!("the inspector closed the connection ({code}: {reason})")
                    }
                    _ => "the inspector closed the connection".to_owned(),
                };
            }
            Ok(Received::Binary(len)) => {
                warn!(
                    url = %shared.url,
                    len,
                    "Ignored a binary frame from the inspector (CDP uses text frames)."
                );
            }
            Ok(Received::Ping(payload)) => {
                // Best effort: a full queue of requests means the pong can wait for the next ping.
                if let Some(pongs) = pongs.upgrade() {
                    let _ = pongs.try_send(Outgoing::Pong(payload));
                }
            }
            Ok(Received::Pong) => {}
            Err(ReadError::Closed { mid_message: false }) => {
                break "the inspector closed the connection".to_owned();
            }
            Err(error) => break error.to_string(),
        }
    };
    debug!(url = %shared.url, %reason, "Inspector connection ended.");
    shared.close(reason);
    closing.cancel();
}

/// Routes one frame; false when the session closed while an event waited for a subscriber.
async fn route(frame: Bytes, shared: &Shared, closing: &CancellationToken) -> bool {
    if tracing::enabled!(tracing::Level::TRACE) {
        let preview = String::from_utf8_lossy(&frame[..frame.len().min(TRACE_PREVIEW)]);
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
