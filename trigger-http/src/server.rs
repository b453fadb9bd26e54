//! [`HttpTrigger`]: the server's lifecycle (bind, serve, shut down within a second).

use std::fmt;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use openprofiling_core::{Trigger, TriggerEvents};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::auth::Token;
use crate::config::{HttpTriggerConfig, is_loopback_host};
use crate::routes::{self, AppState};
use crate::{Error, Result};

/// How long requests in flight may take to finish once shutdown begins, before their
/// connections are closed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Whether [`Trigger::run`] is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listening {
    NotYet,
    On(SocketAddr),
    Ended,
}

/// A [`Trigger`] driven by HTTP requests, as the original's HTTP trigger.
///
/// | request | event | reply |
/// |---|---|---|
/// | `POST /start` | [`Start`](openprofiling_core::TriggerAction::Start) | `started` or `capturing` (200), `refused` when busy (409), `failed` (500) |
/// | `POST /stop` | [`End`](openprofiling_core::TriggerAction::End) | `stopped` (200), `ignored` when nothing runs (409) |
/// | `POST /toggle` | [`Toggle`](openprofiling_core::TriggerAction::Toggle) | as start or stop |
/// | `GET /`, `GET /status` | none | what this server is ([`StatusReply`](crate::StatusReply)) |
///
/// - Replies are JSON ([`ActionReply`](crate::ActionReply)). With `?wait=true`, a request that
///   captures or stops a profile waits until it is exported and the reply carries its
///   [`report`](crate::ReportReply): size, and per exporter the location or the error (500 if
///   any exporter failed). Without it, the reply comes at once.
/// - The body is optional JSON `{"name": "...", "attributes": {"key": "value"}}`, copied into
///   the profile's metadata, plus the attribute `trigger: "http"`. At most
///   [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES); a malformed body is a 400 and sends nothing.
/// - With a token, every request (404s included) needs `Authorization: Bearer <token>`,
///   compared in constant time; otherwise 401 with a `WWW-Authenticate` header. The token is
///   never logged. A host that is not loopback needs a token: see [`HttpTrigger::new`].
/// - Unknown paths are 404, wrong methods 405 (with `Allow`), all with a JSON
///   [`ErrorReply`](crate::ErrorReply).
/// - On shutdown the server stops accepting, waiting requests are answered 503, and
///   [`run`](Trigger::run) returns within a second.
pub struct HttpTrigger {
    host: String,
    port: u16,
    token: Option<Token>,
    listening: watch::Sender<Listening>,
}

impl HttpTrigger {
    /// A trigger for `config`. Fails when the host is invalid, the token unusable (or its
    /// variable unset), or the host is not loopback and there is no token: the inspector
    /// behind the agent gives remote code execution, and a profile holds every secret of the
    /// program.
    pub fn new(config: HttpTriggerConfig) -> Result<Self> {
        let host = config.checked_host()?;
        let token = config.resolve_token()?;
        if token.is_none() && !is_loopback_host(&host) {
            return Err(Error::RemoteWithoutToken { host });
        }
        Ok(Self {
            host,
            port: config.port,
            token,
            listening: watch::Sender::new(Listening::NotYet),
        })
    }

    /// A trigger on `127.0.0.1:port` (0: any free port) without a token.
    pub fn loopback(port: u16) -> Self {
        Self {
            host: crate::DEFAULT_HOST.to_owned(),
            port,
            token: None,
            listening: watch::Sender::new(Listening::NotYet),
        }
    }

    /// The address as configured, `host:port` (`[::1]:9999` for IPv6).
    pub fn configured_address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether requests need a bearer token.
    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    /// Waits until [`run`](Trigger::run) listens, and gives the bound address (the port
    /// chosen when configured with 0); `None` when `run` has already returned (it failed or
    /// shut down). Waits as long as `run` has not been called: bound it with a timeout.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        let mut listening = self.listening.subscribe();
        match listening
            .wait_for(|state| *state != Listening::NotYet)
            .await
        {
            Ok(state) => match *state {
                Listening::On(address) => Some(address),
                _ => None,
            },
            Err(_) => None,
        }
    }

    /// The bound address, if `run` is serving right now.
    pub fn listening_on(&self) -> Option<SocketAddr> {
        match *self.listening.borrow() {
            Listening::On(address) => Some(address),
            _ => None,
        }
    }

    fn fail(&self, error: Error) -> openprofiling_core::Error {
        self.listening.send_replace(Listening::Ended);
        openprofiling_core::Error::plugin(self.name(), error)
    }
}

/// Records that `run` ended, however it ends (returned or dropped).
struct Serving<'a>(&'a watch::Sender<Listening>);

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.send_replace(Listening::Ended);
    }
}

#[async_trait]
impl Trigger for HttpTrigger {
    fn name(&self) -> String {
        format!("http {}", self.configured_address())
    }

    async fn ready(&self) -> bool {
        self.local_addr().await.is_some()
    }

    async fn run(
        &self,
        events: TriggerEvents,
        shutdown: CancellationToken,
    ) -> openprofiling_core::Result<()> {
        let listener = match TcpListener::bind((self.host.as_str(), self.port)).await {
            Ok(listener) => listener,
            Err(source) => {
                return Err(self.fail(Error::Bind {
                    address: self.configured_address(),
                    source,
                }));
            }
        };
        let address = match listener.local_addr() {
            Ok(address) => address,
            Err(source) => {
                return Err(self.fail(Error::Bind {
                    address: self.configured_address(),
                    source,
                }));
            }
        };
        // `localhost` could resolve to anything: check what was bound.
        if self.token.is_none() && !address.ip().to_canonical().is_loopback() {
            return Err(self.fail(Error::RemoteWithoutToken {
                host: address.to_string(),
            }));
        }
        let _serving = Serving(&self.listening);
        self.listening.send_replace(Listening::On(address));
        info!(%address, token_required = self.token_required(), "HTTP trigger listening: POST /start, /stop, /toggle.");

        let state = AppState::new(
            events,
            shutdown.clone(),
            self.token.clone(),
            self.name(),
            address,
        );
        let app = routes::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future();
        let bounded = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let result = tokio::select! {
            result = serve => result,
            () = bounded => {
                debug!(%address, grace = ?SHUTDOWN_GRACE, "Closing the HTTP connections still open.");
                Ok(())
            }
        };
        info!(%address, "HTTP trigger stopped.");
        result.map_err(|source| {
            openprofiling_core::Error::plugin(
                self.name(),
                Error::Serve {
                    address: address.to_string(),
                    source,
                },
            )
        })
    }
}

impl fmt::Debug for HttpTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTrigger")
            .field("address", &self.configured_address())
            .field("token_required", &self.token_required())
            .field("listening_on", &self.listening_on())
            .finish()
    }
}
