//! The error type of the `signal` trigger.

use std::io;

use crate::Signal;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong choosing or catching a signal. Each message names the signal and says what
/// to use instead.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name is not a signal this system knows.
    #[error(
        "unknown signal {given:?}; usable signals: {} (any case, with or without the SIG prefix), or a signal number",
        usable.join(", ")
    )]
    UnknownSignal {
        /// The name as given.
        given: String,
        /// The names that would be accepted, the usual choices first.
        usable: Vec<&'static str>,
    },

    /// The signal cannot, or must not, be caught.
    #[error("{signal} cannot be used as a trigger: {reason}; use SIGUSR2 (the default) or SIGUSR1")]
    Uncatchable {
        /// The signal's name (or number).
        signal: String,
        /// Why, in a few words.
        reason: &'static str,
    },

    /// A signal number outside the range signals are numbered in.
    #[error(
        "signal number {number} is out of range: signals are numbered 1 to {max} (see `kill -l`)"
    )]
    OutOfRange {
        /// The number given.
        number: i64,
        /// The highest number accepted.
        max: i32,
    },

    /// The handler could not be installed (an unsupported signal number, the process out of
    /// file descriptors).
    #[error(
        "cannot install a handler for {signal}: {source} (is it a signal this system has? see `kill -l`)"
    )]
    Register {
        /// The signal.
        signal: Signal,
        /// What the system said.
        source: io::Error,
    },
}
