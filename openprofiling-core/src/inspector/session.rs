//! [`InspectorSession`]: a cheap, cloneable handle over one CDP WebSocket connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace};

use super::address::is_loopback_host;
use super::connection;
use super::domain::Domains;
use super::message::RawReply;
use super::shared::Shared;
use super::subscription::Subscription;
use super::target::DiscoveredTarget;
use super::target_end;
use super::websocket::{self, Outgoing};
use crate::{Error, Result, TargetInfo};

/// How long a call waits for its reply unless told otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Events buffered per subscription before the reader waits for the subscriber.
pub const DEFAULT_EVENT_CAPACITY: usize = 16;
/// The largest message accepted from the inspector. A CPU profile can be tens of MB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 << 20;
/// How long opening the WebSocket (TCP connect and handshake) may take unless told otherwise.
/// The inspector answers from a thread of its own, even while the program is busy.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the request that makes Node announce its program's end may go unanswered.
const TARGET_END_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A Chrome DevTools Protocol client over one WebSocket to a V8 inspector.
///
/// Cloning is cheap: every clone shares the connection, so several profilers can use one
/// session (the inspector of a Node process accepts only a few connections, and each costs it).
/// The connection closes when the last clone (and the last [`DomainGuard`](super::DomainGuard)
/// and [`Subscription`]) is dropped, or when the inspector goes away; then every pending call
/// and every subscription gets [`Error::ConnectionClosed`] at once.
///
/// It also closes when a Node.js target's program ends: Node would otherwise wait for its
/// inspector clients before exiting, and an agent beside a service would keep the service from
/// shutting down. On connecting, the session asks Node to announce that end (which takes the
/// call id 1), and delivers everything received before the announcement.
///
/// ```no_run
/// # async fn demo() -> openprofiling_core::Result<()> {
/// use openprofiling_core::{Discovery, InspectorSession, TargetSpec};
///
/// let target = Discovery::new().discover(&TargetSpec::parse_inspect("127.0.0.1:9229")?).await?;
/// let session = InspectorSession::connect(&target).await?;
/// let reply: serde_json::Value = session
///     .call("Runtime.evaluate", serde_json::json!({ "expression": "1 + 1" }))
///     .await?;
/// assert_eq!(reply["result"]["value"], 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct InspectorSession {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    next_id: AtomicU64,
    call_timeout: Duration,
    event_capacity: usize,
    target: TargetInfo,
    domains: Domains,
    closing: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closing.cancel();
    }
}

impl std::fmt::Debug for InspectorSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectorSession")
            .field("url", &self.inner.shared.url)
            .field("closed", &self.inner.shared.close_reason())
            .finish()
    }
}

#[derive(Serialize)]
struct Request<'a, P> {
    id: u64,
    method: &'a str,
    params: P,
}

impl InspectorSession {
    /// Connects to a discovered target with the default settings. [`Discovery`](super::Discovery)
    /// already applied its host policy, so the host is not checked again.
    pub async fn connect(target: &DiscoveredTarget) -> Result<Self> {
        Self::builder(&target.ws_url)
            .target_info(target.info.clone())
            .allow_remote(true)
            .connect()
            .await
    }

    /// Starts configuring a connection to an inspector's WebSocket URL.
    pub fn builder(ws_url: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            url: ws_url.into(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            allow_remote: false,
            target: None,
        }
    }

    /// The inspector's WebSocket URL.
    pub fn url(&self) -> &str {
        &self.inner.shared.url
    }

    /// What is known of the target (URL, pid, runtime version).
    pub fn target(&self) -> &TargetInfo {
        &self.inner.target
    }

    /// Why the connection closed, or `None` while it is open.
    pub fn close_reason(&self) -> Option<String> {
        self.inner.shared.close_reason()
    }

    /// Calls `method` and deserializes its result, waiting at most the session's call timeout.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<T> {
        self.call_with_timeout(method, params, self.inner.call_timeout)
            .await
    }

    /// Calls `method` and deserializes its result, waiting at most `timeout`.
    pub async fn call_with_timeout<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
        timeout: Duration,
    ) -> Result<T> {
        self.call_raw(method, params, timeout).await?.parse(method)
    }

    /// Calls `method` and returns its result still in the frame it came in, so a large result
    /// (a CPU profile) can be streamed without copies. Waits at most `timeout`.
    pub async fn call_raw(
        &self,
        method: &str,
        params: impl Serialize,
        timeout: Duration,
    ) -> Result<RawReply> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request = serde_json::to_string(&Request { id, method, params }).map_err(|source| {
            Error::Decode {
                what: format!("the parameters of {method} (cannot serialize them)"),
                source,
            }
        })?;
        let reply = self.inner.shared.register_call(id, method)?;
        trace!(id, method, "CDP call.");
        let exchange = async {
            self.inner
                .outgoing
                .send(Outgoing::Text(request))
                .await
                .map_err(|_| self.closed_error())?;
            reply.await.map_err(|_| self.closed_error())?
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => {
                if result.is_err() {
                    self.inner.shared.forget_call(id);
                }
                result
            }
            Err(_) => {
                self.inner.shared.forget_call(id);
                debug!(id, method, ?timeout, "CDP call timed out.");
                Err(Error::Timeout {
                    method: method.to_owned(),
                    after: timeout,
                })
            }
        }
    }

    /// Subscribes to the events named `method` (e.g. `HeapProfiler.addHeapSnapshotChunk`).
    ///
    /// Subscribe *before* sending the command whose events you want. Events wait in a bounded
    /// buffer; when it is full, the connection stops reading until the subscriber catches up, so
    /// memory stays bounded and the inspector is slowed rather than data dropped. Keep reading
    /// a subscription, or drop it: a subscription left unread stalls the whole session.
    pub fn subscribe(&self, method: &str) -> Result<Subscription> {
        let (id, receiver) = self
            .inner
            .shared
            .subscribe(method, self.inner.event_capacity)?;
        Ok(Subscription::new(
            method.to_owned(),
            id,
            receiver,
            self.inner.shared.clone(),
        ))
    }

    /// Enables a CDP domain (e.g. `HeapProfiler`) for as long as the returned guard lives.
    ///
    /// Enables are counted: `Domain.enable` is sent for the first guard only, and
    /// `Domain.disable` when the last guard is released, so profilers sharing a session never
    /// disable each other's domains.
    pub async fn enable_domain(&self, domain: &str) -> Result<super::DomainGuard> {
        self.inner.domains.acquire(self, domain).await
    }

    /// The number of live guards for `domain` (0 when it is not enabled through this session).
    pub fn domain_enables(&self, domain: &str) -> usize {
        self.inner.domains.count(domain)
    }

    /// Closes the connection now, for every clone; pending calls and subscriptions end with
    /// [`Error::ConnectionClosed`].
    pub fn close(&self) {
        self.inner.shared.close("the session was closed".to_owned());
        self.inner.closing.cancel();
    }

    /// Asks Node to announce its program's end, on which the connection closes (see
    /// `target_end`). In the background, holding no handle: the session is usable at once, and
    /// closes as soon as its last handle is dropped.
    fn ask_to_be_told_of_the_end(&self) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request =
            json!({ "id": id, "method": target_end::NOTIFY_METHOD, "params": { "enabled": true } })
                .to_string();
        let Ok(reply) = self
            .inner
            .shared
            .register_call(id, target_end::NOTIFY_METHOD)
        else {
            return;
        };
        let outgoing = self.inner.outgoing.clone();
        let shared = Arc::clone(&self.inner.shared);
        tokio::spawn(async move {
            if outgoing.send(Outgoing::Text(request)).await.is_err() {
                shared.forget_call(id);
                return;
            }
            drop(outgoing);
            match tokio::time::timeout(TARGET_END_REQUEST_TIMEOUT, reply).await {
                Ok(Ok(Ok(_))) => debug!(url = %shared.url, "Node will announce its program's end."),
                Ok(Ok(Err(error))) => {
                    debug!(url = %shared.url, %error, "Not Node.js (no NodeRuntime domain): its end is not announced.");
                }
                Ok(Err(_)) => {} // The connection closed first.
                Err(_) => shared.forget_call(id),
            }
        });
    }

    /// Resolves when the connection has closed, for whatever reason.
    pub async fn closed(&self) {
        self.inner.closing.cancelled().await;
    }

    fn closed_error(&self) -> Error {
        let reason = self
            .inner
            .shared
            .close_reason()
            .unwrap_or_else(|| "the connection ended".to_owned());
        self.inner.shared.closed_error(&reason)
    }

    pub(crate) fn domains(&self) -> &Domains {
        &self.inner.domains
    }
}

/// Settings for a new [`InspectorSession`]; made by [`InspectorSession::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionBuilder {
    url: String,
    call_timeout: Duration,
    connect_timeout: Duration,
    event_capacity: usize,
    max_message_size: usize,
    allow_remote: bool,
    target: Option<TargetInfo>,
}

impl SessionBuilder {
    /// How long a call waits for its reply by default (30 s unless set).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long opening the WebSocket (TCP connect and handshake) may take (10 s unless set):
    /// something that accepts connections and never answers is not waited for forever.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Events buffered per subscription before the connection waits for the subscriber (16).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The largest message accepted from the inspector (256 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Allows a host that is not a loopback address. The inspector gives remote code
    /// execution: only for inspectors reached through a tunnel you trust.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// What is known of the target, for profile metadata.
    pub fn target_info(mut self, info: TargetInfo) -> Self {
        self.target = Some(info);
        self
    }

    /// Opens the WebSocket and starts the session.
    pub async fn connect(self) -> Result<InspectorSession> {
        let parsed = url::Url::parse(&self.url).map_err(|error| Error::InvalidTarget {
            target: self.url.clone(),
            reason: format!("not a URL ({error}); expected ws://HOST:PORT/ID"),
        })?;
        if parsed.scheme() != "ws" {
            return Err(Error::InvalidTarget {
                target: self.url.clone(),
                reason: "only ws:// inspector URLs are supported".to_owned(),
            });
        }
        let host = parsed.host_str().unwrap_or_default().to_owned();
        if !self.allow_remote && !is_loopback_host(&host) {
            return Err(Error::RemoteRefused { host });
        }
        let opening = websocket::connect(&parsed, self.max_message_size);
        let socket = tokio::time::timeout(self.connect_timeout, opening)
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no WebSocket handshake answer within {:?}",
                        self.connect_timeout
                    ),
                ))
            })
            .map_err(|source| Error::Connect {
                url: self.url.clone(),
                source,
            })?;
        debug!(url = %self.url, "Connected to the inspector.");
        let shared = Shared::new(self.url.clone());
        let closing = CancellationToken::new();
        let outgoing = connection::spawn(socket, shared.clone(), closing.clone(), 64);
        let target = self.target.unwrap_or_else(|| TargetInfo {
            url: Some(self.url.clone()),
            ..TargetInfo::default()
        });
        let session = InspectorSession {
            inner: Arc::new(Inner {
                shared,
                outgoing,
                next_id: AtomicU64::new(1),
                call_timeout: self.call_timeout,
                event_capacity: self.event_capacity,
                target,
                domains: Domains::default(),
                closing,
            }),
        };
        session.ask_to_be_told_of_the_end();
        Ok(session)
    }
}
