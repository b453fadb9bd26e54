//! The error type of `openprofiling-core`.

use std::time::Duration;

/// A boxed error from a plugin or another crate, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core: the inspector connection, target discovery,
/// the plugin registry, the agent and the plugins it runs.
///
/// Each message says what failed, on what, and, where there is one, what to do about it.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CDP call got no reply in time.
    #[error(
        "inspector call {method} got no reply within {after:?} (the target may be paused or overloaded; retry, or raise the timeout)"
    )]
    Timeout {
        /// The CDP method called.
        method: String,
        /// How long the call waited.
        after: Duration,
    },

    /// The WebSocket to the inspector closed, before or during the operation.
    #[error("the inspector connection to {url} closed: {reason}")]
    ConnectionClosed {
        /// The inspector's WebSocket URL.
        url: String,
        /// Why it closed, as far as known.
        reason: String,
    },

    /// The inspector answered a call with a CDP error reply.
    #[error("inspector call {method} failed: {message} (CDP error {code}{})", data.as_deref().map(|d| format!(", {d}")).unwrap_or_default())]
    Cdp {
        /// The CDP method called.
        method: String,
        /// The CDP error code (JSON-RPC style, e.g. -32601 for an unknown method).
        code: i64,
        /// The error message the inspector gave.
        message: String,
        /// Extra detail the inspector gave, if any.
        data: Option<String>,
    },

    /// A message from the inspector, or a reply's payload, could not be decoded.
    #[error("cannot decode {what} from the inspector: {source}")]
    Decode {
        /// What was being decoded (a method name, "message", ...).
        what: String,
        /// The JSON error.
        source: serde_json::Error,
    },

    /// The WebSocket connection could not be opened.
    #[error(
        "cannot connect to the inspector at {url}: {source} (is the process running with --inspect, or try --pid to activate it)"
    )]
    Connect {
        /// The URL tried.
        url: String,
        /// What failed: the TCP connection, or the WebSocket handshake.
        source: std::io::Error,
    },

    /// The inspector's HTTP endpoint (`/json/list`, `/json/version`) failed.
    #[error(
        "cannot query the inspector at {address}{path}: {reason} (is the process running with --inspect=HOST:PORT on that address?)"
    )]
    Http {
        /// `host:port` of the inspector.
        address: String,
        /// The path requested.
        path: String,
        /// What went wrong.
        reason: String,
    },

    /// A target (URL, `host:port`, pid) could not be understood.
    #[error("invalid target {target:?}: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// Why it was refused.
        reason: String,
    },

    /// A non-loopback inspector host was refused; no connection was attempted.
    #[error(
        "refusing to connect to the inspector on {host}: it is not a loopback address and the inspector gives remote code execution (allow remote hosts explicitly, e.g. --allow-remote, if you mean it)"
    )]
    RemoteRefused {
        /// The host refused.
        host: String,
    },

    /// The inspector lists no target matching the selection.
    #[error("no inspector target at {address} matches {selector}; it lists: {}", if available.is_empty() { "nothing".to_owned() } else { available.join("; ") })]
    NoMatchingTarget {
        /// `host:port` of the inspector.
        address: String,
        /// The selection, described.
        selector: String,
        /// The targets listed, described.
        available: Vec<String>,
    },

    /// The process does not exist, or is not ours to signal.
    #[error("no process with pid {pid} that we may signal: {reason}")]
    NoSuchProcess {
        /// The pid given.
        pid: u32,
        /// What the system said.
        reason: String,
    },

    /// The process is not a Node.js process; it was not signalled.
    #[error(
        "process {pid} ({executable}) is not a Node.js process; it was not signalled (SIGUSR1 would kill most programs). Give the pid of a node process, or its inspector with --inspect HOST:PORT"
    )]
    NotNode {
        /// The pid given.
        pid: u32,
        /// Its executable, as far as known.
        executable: String,
    },

    /// After SIGUSR1, the process's inspector did not come up in time.
    #[error(
        "process {pid} got SIGUSR1 but no inspector answered on {ports} within {after:?} (was it started with --disable-sigusr1, or is its inspector on another port? give it with --inspect)"
    )]
    InspectorNotReady {
        /// The pid signalled.
        pid: u32,
        /// The ports tried, described.
        ports: String,
        /// How long we waited.
        after: Duration,
    },

    /// A plugin name is not in the registry.
    #[error("unknown {kind} plugin {name:?}; known {kind} plugins: {} (is its crate linked into this binary?)", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownPlugin {
        /// `trigger`, `profiler` or `exporter`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names registered, sorted.
        known: Vec<String>,
    },

    /// Two plugins registered the same name.
    #[error("two {kind} plugins register the name {name:?}; plugin names must be unique")]
    DuplicatePlugin {
        /// `trigger`, `profiler` or `exporter`.
        kind: &'static str,
        /// The duplicated name.
        name: String,
    },

    /// A plugin's configuration was refused.
    #[error("invalid configuration for plugin {plugin:?}: {source}")]
    Config {
        /// The plugin's registered name.
        plugin: String,
        /// What was wrong with it.
        source: BoxError,
    },

    /// A plugin (trigger, profiler or exporter) failed.
    #[error("{plugin}: {source}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// Its error.
        source: BoxError,
    },

    /// The agent was asked to do something in the wrong state.
    #[error("{0}")]
    Agent(String),

    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps a plugin's own error, naming the plugin.
    pub fn plugin(plugin: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Plugin {
            plugin: plugin.into(),
            source: source.into(),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error means the inspector connection is gone.
    pub fn is_connection_closed(&self) -> bool {
        matches!(self, Self::ConnectionClosed { .. })
    }
}
