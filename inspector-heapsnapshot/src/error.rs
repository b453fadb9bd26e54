//! The errors of this crate.

/// The plugin name this crate's errors carry when they become an
/// [`openprofiling_core::Error`].
pub(crate) const PLUGIN_NAME: &str = "heapsnapshot";

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with a heap snapshot besides the inspector connection (whose errors,
/// such as [`openprofiling_core::Error::ConnectionClosed`], are passed on as they are).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This profiler is already taking a snapshot.
    #[error(
        "a heap snapshot is already being taken by this profiler; wait for it to finish before starting another"
    )]
    Busy,

    /// Another profiler of this process is taking a snapshot of the same target.
    #[error(
        "a heap snapshot of {url} is already being taken by another profiler; wait for it to finish (two at once would mix their chunks and multiply the target's memory)"
    )]
    TargetBusy {
        /// The target's inspector URL.
        url: String,
    },

    /// Another activity on the target rules a snapshot out now: heap sampling runs there
    /// (a snapshot during sampling crashes some Node versions, nodejs/node#23877).
    #[error(transparent)]
    Conflict(openprofiling_core::Conflict),

    /// The memory guard expects the snapshot to need more memory than the target may take.
    #[error(
        "refusing to take a heap snapshot: {verdict}, so the target could run out of memory and be killed mid-snapshot; free memory or raise its limit, or force the snapshot (`--force`, or \"memory_guard\": false)"
    )]
    NotEnoughMemory {
        /// The estimate and the headroom it was weighed against.
        verdict: crate::guard::Verdict,
    },

    /// The inspector answered without sending any part of the snapshot.
    #[error(
        "the inspector answered HeapProfiler.takeHeapSnapshot without sending any chunk, so the snapshot is empty (does this runtime support heap snapshots over the inspector?)"
    )]
    EmptySnapshot,
}

impl From<Error> for openprofiling_core::Error {
    fn from(error: Error) -> Self {
        openprofiling_core::Error::plugin(PLUGIN_NAME, error)
    }
}
