//! The errors of this crate.

/// The plugin name this crate's errors carry when they become an
/// [`openprofiling_core::Error`].
pub(crate) const PLUGIN_NAME: &str = "cpu-profile";

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with a CPU profile besides the inspector connection (whose errors, such
/// as [`openprofiling_core::Error::ConnectionClosed`], are passed on as they are).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This profiler already runs a CPU profile.
    #[error("a CPU profile is already running on this profiler; end it before starting another")]
    Busy,

    /// Collect was asked for while no profile runs.
    #[error(
        "no CPU profile is running on this profiler, so there is nothing to stop; start one first"
    )]
    NotRunning,

    /// Another activity on the target rules a CPU profile out now (another CPU profile of it
    /// runs in this process).
    #[error(transparent)]
    Conflict(openprofiling_core::Conflict),

    /// The sampling interval is zero.
    #[error(
        "sampling_interval_us must be at least 1 (microseconds between samples; V8's default is 1000)"
    )]
    InvalidSamplingInterval,

    /// The reply to `Profiler.stop` holds no profile.
    #[error(
        "the inspector answered Profiler.stop without a profile (does this runtime support the CPU profiler over the inspector?)"
    )]
    MissingProfile,

    /// The reply's profile is not a CPU profile (no `nodes`, or a member of the wrong type).
    #[error("the profile returned by Profiler.stop is not a V8 CPU profile: {source}")]
    NotACpuProfile {
        /// What is wrong with it.
        source: serde_json::Error,
    },
}

impl From<Error> for openprofiling_core::Error {
    fn from(error: Error) -> Self {
        openprofiling_core::Error::plugin(PLUGIN_NAME, error)
    }
}
