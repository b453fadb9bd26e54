//! [`Subscription`]: the events of one method, over a bounded channel.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::message::Event;
use super::shared::Shared;
use crate::Result;

/// The events of one CDP method, in the order the inspector sent them.
///
/// Dropping the subscription unsubscribes. Made by
/// [`InspectorSession::subscribe`](super::InspectorSession::subscribe).
#[derive(Debug)]
pub struct Subscription {
    method: String,
    id: u64,
    receiver: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
}

impl Subscription {
    pub(crate) fn new(
        method: String,
        id: u64,
        receiver: mpsc::Receiver<Event>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            method,
            id,
            receiver,
            shared,
        }
    }

    /// The method subscribed to.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The next event; [`Error::ConnectionClosed`](crate::Error::ConnectionClosed) once the
    /// connection has closed and every event received before that has been read.
    pub async fn next(&mut self) -> Result<Event> {
        match self.receiver.recv().await {
            Some(event) => Ok(event),
            None => Err(self.shared.closed_error(
                &self
                    .shared
                    .close_reason()
                    .unwrap_or_else(|| "the connection ended".to_owned()),
            )),
        }
    }

    /// An event already received, without waiting; `None` when there is none now.
    pub fn try_next(&mut self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.unsubscribe(&self.method, self.id);
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("url", &self.url).finish()
    }
}
