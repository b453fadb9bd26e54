//! [`InspectorHeapSnapshot`]: the heap snapshot profiler.

use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use openprofiling_core::{
    InspectorSession, ProfileKind, ProfileWriter, Profiler, ProfilerMode, ProfilerSession, Result,
    TargetInfo,
};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::busy::SnapshotSlot;
use crate::config::HeapSnapshotConfig;
use crate::error::Error;
use crate::guard;
use crate::progress::SnapshotProgress;
use crate::stream::take_snapshot;

/// Takes V8 heap snapshots (`HeapProfiler.takeHeapSnapshot`) over an inspector session and
/// streams each to the exporters chunk by chunk as the inspector sends it, never holding the
/// whole snapshot (which can be several GB).
///
/// An instant profiler: every Start captures one snapshot, End does nothing. One snapshot at
/// a time: a second collect while one runs, on this profiler or on another profiler of the
/// same target, fails with [`Error::Busy`](crate::Error::Busy) or
/// [`Error::TargetBusy`](crate::Error::TargetBusy).
///
/// A snapshot pauses the target and can multiply its memory several times while it is taken;
/// it holds every string of the heap, secrets included.
#[derive(Debug)]
pub struct InspectorHeapSnapshot {
    /// The session given, or, with `own_session`, a connection of its own.
    sessions: ProfilerSession,
    config: HeapSnapshotConfig,
    busy: AtomicBool,
    progress: watch::Sender<SnapshotProgress>,
}

impl InspectorHeapSnapshot {
    /// A profiler over `session` with the default settings: garbage collection before and
    /// after, no internals, no numeric values, 15 minutes at most.
    pub fn new(session: InspectorSession) -> Self {
        Self::with_config(session, HeapSnapshotConfig::default())
    }

    /// A profiler over `session` with `config`. With
    /// [`own_session`](HeapSnapshotConfig::own_session), `session` only tells where to open
    /// a connection of its own.
    pub fn with_config(session: InspectorSession, config: HeapSnapshotConfig) -> Self {
        Self {
            sessions: ProfilerSession::new(session, config.own_session),
            config,
            busy: AtomicBool::new(false),
            progress: watch::Sender::new(SnapshotProgress::default()),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &HeapSnapshotConfig {
        &self.config
    }

    /// Follows the progress of the snapshots this profiler takes (for a progress bar). Take
    /// it before handing the profiler to the agent.
    pub fn progress(&self) -> watch::Receiver<SnapshotProgress> {
        self.progress.subscribe()
    }
}

impl InspectorHeapSnapshot {
    /// Refuses the snapshot when the target may not have the memory to survive it.
    async fn check_memory(&self, session: &InspectorSession) -> Result<()> {
        let verdict = guard::inspect(
            session,
            &guard::SystemRoot::default(),
            self.config.memory_margin_percent,
        )
        .await?;
        match verdict {
            Some(verdict) if !verdict.allows() => Err(Error::NotEnoughMemory { verdict }.into()),
            Some(verdict) => {
                debug!(%verdict, "Memory guard: enough headroom for the snapshot.");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Profiler for InspectorHeapSnapshot {
    fn kind(&self) -> ProfileKind {
        ProfileKind::HeapSnapshot
    }

    fn mode(&self) -> ProfilerMode {
        ProfilerMode::Instant
    }

    fn target(&self) -> TargetInfo {
        self.sessions.given().target().clone()
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        let _slot = SnapshotSlot::acquire(&self.busy, self.sessions.given().url())?;
        self.progress.send_replace(SnapshotProgress::default());
        let session = self.sessions.get().await?;
        if self.config.memory_guard {
            self.check_memory(&session).await?;
        }

        let domain = session.enable_domain("HeapProfiler").await?;
        let taken = take_snapshot(&session, &self.config, writer, &self.progress).await;
        let released = domain.release().await;

        let streamed = taken?;
        if let Err(error) = released {
            warn!(%error, "Disabling HeapProfiler after the snapshot failed; the snapshot is complete.");
        }
        writer.set_attribute("chunks", i64::try_from(streamed.chunks).unwrap_or(i64::MAX));
        writer.set_attribute("gc_before", self.config.gc_before);
        writer.set_attribute("expose_internals", self.config.expose_internals);
        writer.set_attribute("capture_numeric_value", self.config.capture_numeric_value);
        debug!(
            chunks = streamed.chunks,
            bytes = streamed.bytes,
            "Heap snapshot taken."
        );
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        self.sessions.close().await;
        Ok(())
    }
}
