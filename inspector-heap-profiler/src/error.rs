//! The errors of this crate.

/// The plugin name this crate's errors carry when they become an
/// [`openprofiling_core::Error`].
pub(crate) const PLUGIN_NAME: &str = "heap-profile";

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with a sampling heap profile besides the inspector connection (whose
/// errors, such as [`openprofiling_core::Error::ConnectionClosed`], are passed on as they are).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This profiler already runs a sampling heap profile.
    #[error(
        "a heap sampling profile is already running on this profiler; end it before starting another"
    )]
    Busy,

    /// Collect was asked for while no profile runs.
    #[error(
        "no heap sampling profile is running on this profiler, so there is nothing to stop; start one first"
    )]
    NotRunning,

    /// Another activity on the target rules heap sampling out now: a heap snapshot is being
    /// taken (sampling and snapshots together crash some Node versions, nodejs/node#23877), or
    /// another heap sampling profile of it runs in this process.
    #[error(transparent)]
    Conflict(openprofiling_core::Conflict),

    /// The sampling interval is zero.
    #[error(
        "sampling_interval_bytes must be at least 1 (average bytes allocated between samples; V8's default is 32768)"
    )]
    InvalidSamplingInterval,

    /// The reply to `HeapProfiler.stopSampling` holds no profile.
    #[error(
        "the inspector answered HeapProfiler.stopSampling without a profile (does this runtime support the sampling heap profiler over the inspector?)"
    )]
    MissingProfile,

    /// The reply's profile is not a sampling heap profile (no `head`, or a member of the
    /// wrong type).
    #[error(
        "the profile returned by HeapProfiler.stopSampling is not a V8 sampling heap profile: {source}"
    )]
    NotAHeapProfile {
        /// What is wrong with it.
        source: serde_json::Error,
    },
}

impl From<Error> for openprofiling_core::Error {
    fn from(error: Error) -> Self {
        openprofiling_core::Error::plugin(PLUGIN_NAME, error)
    }
}
