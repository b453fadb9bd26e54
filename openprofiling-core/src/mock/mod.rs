//! A mock Node.js inspector, for tests and benchmarks of CDP clients (feature `test-util`),
//! and [`NodeProcess`], a real one for the tests that need it.
//!
//! [`MockInspector`] is a real WebSocket server on `127.0.0.1:0`. Like Node's inspector it
//! answers `GET /json/list` and `/json/version` on the same port and accepts WebSockets on
//! `ws://127.0.0.1:PORT/ID`. A test scripts the replies with [`MockInspector::expect`]
//! (a [`Reply`]: an answer, an error, no answer, or steps such as events, a heap snapshot
//! stream or a dropped connection), runs the client, then checks with
//! [`MockInspector::assert_finished`] that every expected call came and nothing else did.
//! Modelled on object_store's `MockServer` and tracing-mock's `assert_finished`.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use openprofiling_core::mock::{MockInspector, Reply};
//! use serde_json::json;
//! use tokio_tungstenite::tungstenite::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let inspector = MockInspector::start().await;
//! inspector.expect("Runtime.evaluate", Reply::ok(json!({ "result": { "type": "number", "value": 2 } })));
//!
//! let (mut ws, _) = tokio_tungstenite::connect_async(inspector.ws_url()).await.expect("connect");
//! let call = json!({ "id": 1, "method": "Runtime.evaluate", "params": { "expression": "1+1" } });
//! ws.send(Message::text(call.to_string())).await.expect("send");
//! let reply = ws.next().await.expect("a reply").expect("a frame");
//! let reply: serde_json::Value = serde_json::from_str(reply.to_text().expect("text")).expect("JSON");
//! assert_eq!(reply["result"]["result"]["value"], 2);
//!
//! inspector.assert_finished();
//! # }
//! ```

mod connection;
mod exporter;
mod node;
mod proxy;
mod script;
mod server;
mod snapshot;
mod state;

use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

pub use exporter::{MemoryExporter, Seen};
pub use node::NodeProcess;
pub use proxy::CountingProxy;
pub use script::{Reply, ReplyBuilder, event_frame};
pub use snapshot::{heap_snapshot_chunk_frames, heap_snapshot_text};
pub use state::{MalformedMessage, MockTarget, RecordedCall};

use connection::Outgoing;
use state::{Shared, TargetEntry};

/// A mock Node.js inspector: a WebSocket and HTTP server on `127.0.0.1:0` with scripted
/// replies, see the [module documentation](self).
///
/// The handle is cheap to clone; the server stops, closing every connection, when the last
/// clone is dropped. Nothing it receives from a client makes it panic: an unexpected call
/// gets V8's `-32601` error, a malformed message gets V8's error for it, and both are
/// reported by [`assert_finished`](Self::assert_finished). Its own methods panic on test
/// mistakes (a timeout in [`wait_for_call`](Self::wait_for_call), a failed assertion).
#[derive(Clone)]
pub struct MockInspector {
    shared: Arc<Shared>,
    _server: Arc<ServerTask>,
}

/// Aborts the server when the last handle goes.
struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for MockInspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockInspector")
            .field("address", &self.shared.address)
            .field("targets", &self.shared.targets)
            .finish_non_exhaustive()
    }
}

impl MockInspector {
    /// Starts a mock inspector with one target: type `"node"`, title `"mock.js"`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `127.0.0.1:0` cannot be bound.
    pub async fn start() -> Self {
        Self::with_targets(vec![MockTarget::default()]).await
    }

    /// Starts a mock inspector listing `targets`, in that order, each with its own id.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `127.0.0.1:0` cannot be bound.
    pub async fn with_targets(targets: Vec<MockTarget>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("mock inspector: cannot bind 127.0.0.1:0");
        let address = listener
            .local_addr()
            .expect("mock inspector: no local address");
        let targets = targets
            .into_iter()
            .map(|target| TargetEntry {
                id: target_id(),
                target,
            })
            .collect();
        let shared = Arc::new(Shared::new(address, targets));
        let server = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%address, "Mock inspector listening.");
        Self {
            shared,
            _server: Arc::new(ServerTask(server)),
        }
    }

    /// The address it listens on, `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.shared.address
    }

    /// `"127.0.0.1:PORT"`, as given to `node --inspect=`.
    pub fn host_port(&self) -> String {
        self.shared.address.to_string()
    }

    /// The `webSocketDebuggerUrl` of the first target, `ws://127.0.0.1:PORT/ID`.
    ///
    /// # Panics
    ///
    /// If the mock was started with no targets.
    pub fn ws_url(&self) -> String {
        self.ws_urls()
            .into_iter()
            .next()
            .expect("mock inspector: started with no targets")
    }

    /// The `webSocketDebuggerUrl` of every target, in the order they were given.
    pub fn ws_urls(&self) -> Vec<String> {
        let address = self.shared.address;
        self.shared
            .targets
            .iter()
            .map(|entry| format!("ws://{address}/{}", entry.id))
            .collect()
    }

    /// Expects one call of `method` and answers it with `reply`. Expectations of one method
    /// are consumed in the order they were added; [`assert_finished`](Self::assert_finished)
    /// reports those never consumed.
    pub fn expect(&self, method: &str, reply: Reply) {
        self.shared.expect(method, reply);
    }

    /// Answers every call of `method` with `reply` (after any [`expect`](Self::expect)ed
    /// replies for it are used up). Never reported as missing; replaces an earlier
    /// `expect_always` for the same method.
    pub fn expect_always(&self, method: &str, reply: Reply) {
        self.shared.expect_always(method, reply);
    }

    /// Sends the CDP event `{"method":method,"params":params}` to every open connection.
    /// Connections opened later do not get it.
    pub fn send_event(&self, method: &str, params: serde_json::Value) {
        let frame = event_frame(method, &params);
        self.shared
            .broadcast(&Outgoing::Frame(Message::Text(frame)));
    }

    /// Sends `frame` as it is to every open connection: binary frames, malformed JSON, a
    /// reply to a call nobody made...
    pub fn send_raw(&self, frame: Message) {
        self.shared.broadcast(&Outgoing::Frame(frame));
    }

    /// Closes every open WebSocket from the server side: a close frame, then the TCP
    /// connection once the client answers (or after a second).
    pub fn close_connections(&self) {
        self.shared.broadcast(&Outgoing::Close);
    }

    /// Every call received so far, in the order received (unexpected ones included).
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.calls()
    }

    /// Every malformed message received so far, in the order received.
    pub fn malformed_messages(&self) -> Vec<MalformedMessage> {
        self.shared.malformed()
    }

    /// How many WebSocket connections it has accepted so far.
    pub fn connection_count(&self) -> usize {
        self.shared.connection_count()
    }

    /// Waits for a call of `method` and returns it: the first such call the first time, the
    /// second the next time, and so on (calls that came before the wait count too).
    ///
    /// # Panics
    ///
    /// If no such call comes within `timeout`; the message lists the calls received.
    pub async fn wait_for_call(&self, method: &str, timeout: Duration) -> RecordedCall {
        let mut changed = self.shared.subscribe_calls();
        let wait = async {
            loop {
                changed.borrow_and_update();
                if let Some(call) = self.shared.take_waited(method) {
                    return call;
                }
                if changed.changed().await.is_err() {
                    // The sender lives in `shared`, which this handle holds.
                    std::future::pending::<()>().await;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(call) => call,
            Err(_) => panic!(
                "mock inspector: no call of {method} within {timeout:?}; {}",
                self.shared.calls_summary()
            ),
        }
    }

    /// Panics, listing them, if an [`expect`](Self::expect)ed call never came, a call came
    /// that nothing was expected for, or a client sent a malformed message.
    #[track_caller]
    pub fn assert_finished(&self) {
        if let Some(report) = self.shared.unfinished_report() {
            panic!("{report}");
        }
    }
}

/// A fresh uuid-like target id (`8-4-4-4-12` hex digits, version 4 layout), as Node uses.
fn target_id() -> String {
    // Each `RandomState` is seeded differently, which is all the randomness needed here.
    let high = std::collections::hash_map::RandomState::new().hash_one(0u8);
    let low = std::collections::hash_map::RandomState::new().hash_one(1u8);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}
