//! The error type of the `http` trigger.

use std::io;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong configuring or serving the HTTP trigger. Each message says what to change.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A non-loopback address without a token: anyone who reaches it could take profiles, which
    /// hold every string of the program, secrets included.
    #[error(
        "refusing to serve the HTTP trigger on {host} without a token: it is not a loopback address, and a profile holds every secret of the program; set `token` or `token_env` (clients then send `Authorization: Bearer <token>`), or bind 127.0.0.1"
    )]
    RemoteWithoutToken {
        /// The host (or bound address) refused.
        host: String,
    },

    /// The host is not an IP address or a host name.
    #[error(
        "invalid host {host:?} for the HTTP trigger: {reason} (use an IP address such as 127.0.0.1, or localhost)"
    )]
    InvalidHost {
        /// The host as given.
        host: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// Both `token` and `token_env` were set.
    #[error("set either `token` or `token_env` for the HTTP trigger, not both")]
    TokenConflict,

    /// The variable `token_env` names is unset or unusable.
    #[error(
        "environment variable {var} (named by `token_env`) {reason}; set it to the bearer token, or remove `token_env`"
    )]
    TokenEnv {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The token cannot be sent in an `Authorization` header, or guessed too easily.
    #[error("invalid token for the HTTP trigger: {reason}")]
    InvalidToken {
        /// What is wrong with it (never the token itself).
        reason: &'static str,
    },

    /// The listening socket could not be opened.
    #[error(
        "cannot listen on {address}: {source} (is the port in use? choose another `port`, or 0 for any free one)"
    )]
    Bind {
        /// `host:port` as configured.
        address: String,
        /// What the system said.
        source: io::Error,
    },

    /// The server stopped with an error.
    #[error("the HTTP trigger on {address} stopped serving: {source}")]
    Serve {
        /// The bound address.
        address: String,
        /// What the system said.
        source: io::Error,
    },
}
