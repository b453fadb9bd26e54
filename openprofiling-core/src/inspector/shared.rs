//! State shared by session handles, subscriptions and the connection task: the calls waiting
//! for a reply, the event subscribers, and whether the connection is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};

use super::message::{Event, RawReply};
use crate::{Error, Result};

/// The sending side of one subscription.
pub(crate) struct Subscriber {
    pub(crate) id: u64,
    pub(crate) sender: mpsc::Sender<Event>,
}

/// A call waiting for its reply.
pub(crate) struct PendingCall {
    pub(crate) method: String,
    pub(crate) reply: oneshot::Sender<Result<RawReply>>,
}

#[derive(Default)]
struct State {
    /// `Some(reason)` once the connection is closed; nothing is registered after that.
    closed: Option<String>,
    pending: HashMap<u64, PendingCall>,
    subscribers: HashMap<String, Vec<Subscriber>>,
    next_subscriber: u64,
}

/// The shared state of one connection.
pub(crate) struct Shared {
    pub(crate) url: String,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(url: String) -> Arc<Self> {
        Arc::new(Self {
            url,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps inconsistent; go on.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn closed_error(&self, reason: &str) -> Error {
        Error::ConnectionClosed {
            url: self.url.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Registers a call before its request is sent.
    pub(crate) fn register_call(
        &self,
        id: u64,
        method: &str,
    ) -> Result<oneshot::Receiver<Result<RawReply>>> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(self.closed_error(reason));
        }
        let (reply, receiver) = oneshot::channel();
        state.pending.insert(
            id,
            PendingCall {
                method: method.to_owned(),
                reply,
            },
        );
        Ok(receiver)
    }

    /// Forgets a call (timed out, or its request could not be sent).
    pub(crate) fn forget_call(&self, id: u64) {
        self.lock().pending.remove(&id);
    }

    /// Takes the call a reply answers.
    pub(crate) fn take_call(&self, id: u64) -> Option<PendingCall> {
        self.lock().pending.remove(&id)
    }

    /// Adds a subscriber for `method`; returns its id and receiver.
    pub(crate) fn subscribe(
        &self,
        method: &str,
        capacity: usize,
    ) -> Result<(u64, mpsc::Receiver<Event>)> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(self.closed_error(reason));
        }
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        state.next_subscriber += 1;
        let id = state.next_subscriber;
        state
            .subscribers
            .entry(method.to_owned())
            .or_default()
            .push(Subscriber { id, sender });
        Ok((id, receiver))
    }

    /// Removes a subscriber.
    pub(crate) fn unsubscribe(&self, method: &str, id: u64) {
        let mut state = self.lock();
        if let Some(list) = state.subscribers.get_mut(method) {
            list.retain(|subscriber| subscriber.id != id);
            if list.is_empty() {
                state.subscribers.remove(method);
            }
        }
    }

    /// The senders of everyone subscribed to `method`, cloned so no lock is held while sending.
    pub(crate) fn subscribers_of(&self, method: &str) -> Vec<(u64, mpsc::Sender<Event>)> {
        self.lock()
            .subscribers
            .get(method)
            .map(|list| {
                list.iter()
                    .map(|subscriber| (subscriber.id, subscriber.sender.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The reason the connection closed, if it has.
    pub(crate) fn close_reason(&self) -> Option<String> {
        self.lock().closed.clone()
    }

    /// Marks the connection closed and tells every pending call and every subscriber at once.
    pub(crate) fn close(&self, reason: String) {
        let (pending, subscribers) = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason.clone());
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.subscribers),
            )
        };
        for (_, call) in pending {
            let _ = call.reply.send(Err(self.closed_error(&reason)));
        }
        // Dropping the senders ends every subscription; it then reads the reason from here.
        drop(subscribers);
    }
}
