//! The [`Exporter`] role: decides *where* profiles go.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{ProfileMetadata, Result};

/// Where an exporter put a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReceipt {
    /// A path or URL a person can use to find the profile.
    pub location: String,
    /// Bytes stored (after compression, if the exporter compresses).
    pub stored_bytes: u64,
}

/// Sends profiles somewhere: a directory, a bucket.
///
/// # Contract
/// - For each profile the agent calls [`begin`](Exporter::begin) once, then writes every chunk
///   to the returned sink, in order, then calls exactly one of
///   [`ExportSink::finish`] (the profile is complete: publish it under its final name) or
///   [`ExportSink::abort`] (it failed: publish nothing, remove what was written).
/// - `begin` may be called for several profiles at once (several reactions); each sink is used
///   by one task at a time.
/// - A sink error aborts that sink only; the other exporters of the profile go on. The error is
///   reported in the profile's [`ProfileReport`](crate::ProfileReport).
/// - Writes must apply backpressure rather than buffer without bound: the agent waits for them.
/// - [`shutdown`](Exporter::shutdown) is called once when the agent stops, after the last
///   sink finished or aborted.
#[async_trait]
pub trait Exporter: Send + Sync + Debug + 'static {
    /// The exporter's name for reports and logs, e.g. `file /var/profiles`.
    fn name(&self) -> String;

    /// Opens a sink for one profile.
    async fn begin(&self, profile: &ProfileMetadata) -> Result<Box<dyn ExportSink>>;

    /// Releases what the exporter holds; called once when the agent stops.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}

/// One profile on its way into an exporter. See [`Exporter`] for the contract.
#[async_trait]
pub trait ExportSink: Send + Debug {
    /// Writes the next chunk.
    async fn write(&mut self, chunk: Bytes) -> Result<()>;

    /// The profile is complete (its final metadata given): publish it, say where.
    async fn finish(self: Box<Self>, profile: &ProfileMetadata) -> Result<ExportReceipt>;

    /// The profile failed: remove everything written, publish nothing.
    async fn abort(self: Box<Self>, reason: &str) -> Result<()>;
}

#[async_trait]
impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn name(&self) -> String {
        (**self).name()
    }
    async fn begin(&self, profile: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
        (**self).begin(profile).await
    }
    async fn shutdown(&self) -> Result<()> {
        (**self).shutdown().await
    }
}

#[async_trait]
impl<E: Exporter + ?Sized> Exporter for Arc<E> {
    fn name(&self) -> String {
        (**self).name()
    }
    async fn begin(&self, profile: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
        (**self).begin(profile).await
    }
    async fn shutdown(&self) -> Result<()> {
        (**self).shutdown().await
    }
}
