//! The [`Profiler`] role: decides *what* to profile and produces its bytes.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::agent::ProfileWriter;
use crate::{ProfileKind, ProfileMetadata, Result, TargetInfo};

/// Whether a profile is an instant or a range of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfilerMode {
    /// Captured at once on Start (a heap snapshot); End is a no-op.
    Instant,
    /// Started on Start, collected on End (a CPU profile, a heap sampling profile).
    Ranged,
}

/// Produces profiles of a target.
///
/// # Contract
/// - The agent never calls [`start`](Profiler::start) or [`collect`](Profiler::collect)
///   concurrently for one profiler: one profile at a time; a Start while busy is refused by the
///   agent before it reaches the profiler.
/// - Instant profilers: on Start the agent calls `collect`, which writes the whole profile
///   through the writer and returns. Ranged profilers: on Start the agent calls `start`; on End
///   (or shutdown) it calls `collect`, which stops the profile and writes it.
/// - `collect` writes chunks as they come, never the whole profile at once; an error from
///   `collect` marks the profile failed, and every exporter aborts it (nothing published).
///   [`ProfileWriter::write`] failing means every exporter has failed: stop and return its error.
/// - Every inspector call has a timeout; `collect` may be cancelled (dropped) at shutdown once
///   the agent's grace period is over.
/// - [`shutdown`](Profiler::shutdown) is called once when the agent stops, after the last
///   profile; it releases what the profiler holds (domain enables, its own session).
#[async_trait]
pub trait Profiler: Send + Sync + Debug + 'static {
    /// The kind of profile produced.
    fn kind(&self) -> ProfileKind;

    /// Instant or ranged; by default, heap snapshots are instant and the others ranged.
    fn mode(&self) -> ProfilerMode {
        match self.kind() {
            ProfileKind::HeapSnapshot => ProfilerMode::Instant,
            _ => ProfilerMode::Ranged,
        }
    }

    /// What is known of the target, copied into each profile's metadata.
    fn target(&self) -> TargetInfo {
        TargetInfo::default()
    }

    /// Begins a ranged profile. Instant profilers need not implement it.
    async fn start(&self, _profile: &ProfileMetadata) -> Result<()> {
        Ok(())
    }

    /// Writes the profile: all of an instant one, or stops a ranged one and writes it.
    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()>;

    /// Releases what the profiler holds; called once when the agent stops.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl<P: Profiler + ?Sized> Profiler for Box<P> {
    fn kind(&self) -> ProfileKind {
        (**self).kind()
    }
    fn mode(&self) -> ProfilerMode {
        (**self).mode()
    }
    fn target(&self) -> TargetInfo {
        (**self).target()
    }
    async fn start(&self, profile: &ProfileMetadata) -> Result<()> {
        (**self).start(profile).await
    }
    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        (**self).collect(writer).await
    }
    async fn shutdown(&self) -> Result<()> {
        (**self).shutdown().await
    }
}

#[async_trait]
impl<P: Profiler + ?Sized> Profiler for Arc<P> {
    fn kind(&self) -> ProfileKind {
        (**self).kind()
    }
    fn mode(&self) -> ProfilerMode {
        (**self).mode()
    }
    fn target(&self) -> TargetInfo {
        (**self).target()
    }
    async fn start(&self, profile: &ProfileMetadata) -> Result<()> {
        (**self).start(profile).await
    }
    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        (**self).collect(writer).await
    }
    async fn shutdown(&self) -> Result<()> {
        (**self).shutdown().await
    }
}
