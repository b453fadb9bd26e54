//! What the mock inspector expects and what it has seen, shared by the handle and the server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::connection::Outgoing;
use super::script::Reply;

/// An inspector target the mock lists on `/json/list` and accepts WebSockets for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockTarget {
    /// The target type: `"node"` for a Node.js process, `"page"`, `"worker"`...
    pub kind: String,
    /// The title, for Node.js the main script's name.
    pub title: String,
    /// The URL, for Node.js the main script's `file://` URL.
    pub url: String,
}

impl MockTarget {
    /// A target of type `kind` with `title` and `url`.
    pub fn new(kind: &str, title: &str, url: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            title: title.to_owned(),
            url: url.to_owned(),
        }
    }
}

impl Default for MockTarget {
    /// A Node.js process running `mock.js`: type `"node"`, title `"mock.js"`.
    fn default() -> Self {
        Self::new("node", "mock.js", "file:///mock.js")
    }
}

/// A call the mock inspector received: a text frame with an integer `id` and a string `method`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedCall {
    /// The WebSocket connection it came on, numbered from 0 in the order they were accepted.
    pub connection: usize,
    /// The target the connection is attached to: its index in the list the mock started with.
    pub target: usize,
    /// The call's `id`.
    pub id: u64,
    /// The call's `method`.
    pub method: String,
    /// The call's `params`, or `Value::Null` when it had none.
    pub params: Value,
}

/// A message from a client that is not a CDP call: not JSON, not an object, without an
/// integer `id` or string `method`, or a binary frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedMessage {
    /// The WebSocket connection it came on.
    pub connection: usize,
    /// The message text (binary frames are shown lossily as UTF-8), truncated to 1 KiB.
    pub text: String,
    /// What is wrong with it: the message of the CDP error the mock answered with.
    pub problem: String,
}

/// A target with the id the mock gave it.
#[derive(Debug)]
pub(super) struct TargetEntry {
    pub(super) id: String,
    pub(super) target: MockTarget,
}

/// State shared by the [`MockInspector`](super::MockInspector) handle and the server tasks.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) address: SocketAddr,
    pub(super) targets: Vec<TargetEntry>,
    state: Mutex<State>,
    /// Bumped whenever a call is recorded, for `wait_for_call`.
    calls_changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    /// Replies consumed once, FIFO per method.
    once: HashMap<String, VecDeque<Reply>>,
    /// Replies for every call of a method, used once `once` has none left for it.
    always: HashMap<String, Reply>,
    calls: Vec<RecordedCall>,
    /// Indexes into `calls` of the calls nothing was expected for.
    unexpected: Vec<usize>,
    malformed: Vec<MalformedMessage>,
    /// The open connections' control channels.
    open: BTreeMap<usize, mpsc::UnboundedSender<Outgoing>>,
    /// WebSocket connections accepted so far.
    accepted: usize,
    /// Per method, how many of its calls `wait_for_call` has handed out.
    waited: HashMap<String, usize>,
}

/// Frames a message for a panic: at most `max` bytes, cut on a char boundary.
pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

impl Shared {
    pub(super) fn new(address: SocketAddr, targets: Vec<TargetEntry>) -> Self {
        Self {
            address,
            targets,
            state: Mutex::new(State::default()),
            calls_changed: watch::Sender::new(0),
        }
    }

    /// The state; a panic elsewhere while it was locked does not make it unusable.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn expect(&self, method: &str, reply: Reply) {
        self.state()
            .once
            .entry(method.to_owned())
            .or_default()
            .push_back(reply);
    }

    pub(super) fn expect_always(&self, method: &str, reply: Reply) {
        self.state().always.insert(method.to_owned(), reply);
    }

    /// Whether a test scripted a reply to `method`.
    pub(super) fn is_scripted(&self, method: &str) -> bool {
        let state = self.state();
        state.always.contains_key(method)
            || state
                .once
                .get(method)
                .is_some_and(|replies| !replies.is_empty())
    }

    /// Records `call` and returns the reply expected for it, or `None` if it was unexpected.
    pub(super) fn on_call(&self, call: RecordedCall) -> Option<Reply> {
        let reply = {
            let mut state = self.state();
            let reply = match state
                .once
                .get_mut(&call.method)
                .and_then(VecDeque::pop_front)
            {
                Some(reply) => Some(reply),
                None => state.always.get(&call.method).cloned(),
            };
            if reply.is_none() {
                let index = state.calls.len();
                state.unexpected.push(index);
            }
            state.calls.push(call);
            reply
        };
        self.calls_changed.send_modify(|version| *version += 1);
        reply
    }

    pub(super) fn on_malformed(&self, message: MalformedMessage) {
        self.state().malformed.push(message);
    }

    /// Registers a newly accepted connection and returns its number.
    pub(super) fn open_connection(&self, control: mpsc::UnboundedSender<Outgoing>) -> usize {
        let mut state = self.state();
        let connection = state.accepted;
        state.accepted += 1;
        state.open.insert(connection, control);
        connection
    }

    pub(super) fn close_connection(&self, connection: usize) {
        self.state().open.remove(&connection);
    }

    /// Sends `outgoing` to every open connection.
    pub(super) fn broadcast(&self, outgoing: &Outgoing) {
        for control in self.state().open.values() {
            // A connection that is going away has dropped its receiver; nothing to do.
            let _ = control.send(outgoing.clone());
        }
    }

    pub(super) fn calls(&self) -> Vec<RecordedCall> {
        self.state().calls.clone()
    }

    pub(super) fn malformed(&self) -> Vec<MalformedMessage> {
        self.state().malformed.clone()
    }

    pub(super) fn connection_count(&self) -> usize {
        self.state().accepted
    }

    pub(super) fn subscribe_calls(&self) -> watch::Receiver<u64> {
        self.calls_changed.subscribe()
    }

    /// The next call of `method` not yet handed out by `wait_for_call`, if it came.
    pub(super) fn take_waited(&self, method: &str) -> Option<RecordedCall> {
        let mut state = self.state();
        let skip = state.waited.get(method).copied().unwrap_or(0);
        let call = state
            .calls
            .iter()
            .filter(|call| call.method == method)
            .nth(skip)
            .cloned()?;
        state.waited.insert(method.to_owned(), skip + 1);
        Some(call)
    }

    /// What `assert_finished` complains about, or `None` if all is well.
    pub(super) fn unfinished_report(&self) -> Option<String> {
        let state = self.state();
        let mut missing: Vec<(&String, usize)> = state
            .once
            .iter()
            .filter(|(_, replies)| !replies.is_empty())
            .map(|(method, replies)| (method, replies.len()))
            .collect();
        missing.sort();
        if missing.is_empty() && state.unexpected.is_empty() && state.malformed.is_empty() {
            return None;
        }
        let mut report = String::from("mock inspector: not finished\n");
        if !missing.is_empty() {
            report.push_str("expected calls that never came:\n");
            for (method, count) in missing {
                let _ = writeln!(
                    report,
                    "  - {method} ({count} expected reply/replies unused)"
                );
            }
        }
        if !state.unexpected.is_empty() {
            report.push_str("calls nobody expected (answered with -32601):\n");
            for &index in &state.unexpected {
                let call = &state.calls[index];
                let params = truncate(&call.params.to_string(), 200);
                let _ = writeln!(
                    report,
                    "  - connection {} id {} {} {params}",
                    call.connection, call.id, call.method
                );
            }
        }
        if !state.malformed.is_empty() {
            report.push_str("malformed messages:\n");
            for message in &state.malformed {
                let _ = writeln!(
                    report,
                    "  - connection {}: {} ({:?})",
                    message.connection,
                    message.problem,
                    truncate(&message.text, 200)
                );
            }
        }
        let _ = write!(report, "{} call(s) received in all", state.calls.len());
        Some(report)
    }

    /// A one-line-per-call summary of the calls received, for panic messages.
    pub(super) fn calls_summary(&self) -> String {
        let state = self.state();
        if state.calls.is_empty() {
            return "no calls received".to_owned();
        }
        let mut summary = String::from("calls received:");
        for call in &state.calls {
            let _ = write!(
                summary,
                "\n  - connection {} id {} {}",
                call.connection, call.id, call.method
            );
        }
        summary
    }
}
