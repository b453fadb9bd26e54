//! [`MemoryExporter`]: an exporter that keeps profiles in memory, for tests of profilers.

use std::sync::{Arc, Mutex};

use crate::{Error, ExportReceipt, ExportSink, Exporter, ProfileMetadata, Result};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};

/// What a [`MemoryExporter`] saw, over every profile.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every chunk written, in order.
    pub chunks: Vec<Bytes>,
    /// The final metadata of each finished profile.
    pub finished: Vec<ProfileMetadata>,
    /// The reason of each aborted profile.
    pub aborted: Vec<String>,
}

/// Keeps chunks in memory. Fails its `fail_at`-th write if set; with a `gate`, each write
/// waits for a permit of it (a semaphore with no permits holds every write until opened), and
/// with a `finish_gate` each `finish` does.
#[derive(Debug, Clone, Default)]
pub struct MemoryExporter {
    /// What it saw.
    pub seen: Arc<Mutex<Seen>>,
    /// Fails the write with this number (from 1) of each profile, as a full disk would.
    pub fail_at: Option<usize>,
    /// Each write waits for a permit of it.
    pub gate: Option<Arc<Semaphore>>,
    /// Each `finish` waits for a permit of it.
    pub finish_gate: Option<Arc<Semaphore>>,
    /// Notified each time a `finish` begins (before its gate): a test learns that a profile is
    /// being published.
    pub finishing: Arc<Notify>,
}

impl MemoryExporter {
    /// An exporter that keeps everything and never fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// An exporter whose writes wait until the returned semaphore gets permits.
    pub fn gated() -> (Self, Arc<Semaphore>) {
        let gate = closed_gate();
        let exporter = Self {
            gate: Some(gate.clone()),
            ..Self::default()
        };
        (exporter, gate)
    }

    /// An exporter whose `finish` waits until the returned semaphore gets permits.
    pub fn finish_gated() -> (Self, Arc<Semaphore>) {
        let gate = closed_gate();
        let exporter = Self {
            finish_gate: Some(gate.clone()),
            ..Self::default()
        };
        (exporter, gate)
    }

    /// Every chunk received, concatenated.
    pub fn bytes(&self) -> Vec<u8> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    /// Chunks received.
    pub fn chunk_count(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .chunks
            .len()
    }

    /// The final metadata of each finished profile.
    pub fn finished(&self) -> Vec<ProfileMetadata> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished
            .clone()
    }

    /// The reason of each aborted profile.
    pub fn aborted(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .aborted
            .clone()
    }
}

/// A gate that holds everyone until it is given permits.
fn closed_gate() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(0))
}

/// Waits for a permit of `gate`, if there is one; `what` names the gate in the error when
/// it is closed.
async fn pass(gate: Option<&Semaphore>, what: &str) -> Result<()> {
    if let Some(gate) = gate {
        let _permit = gate
            .acquire()
            .await
            .map_err(|_| Error::plugin("memory", format!("{what} closed")))?;
    }
    Ok(())
}

#[derive(Debug)]
struct MemorySink {
    exporter: MemoryExporter,
    writes: usize,
}

#[async_trait]
impl Exporter for MemoryExporter {
    fn name(&self) -> String {
        "memory".to_owned()
    }

    async fn begin(&self, _profile: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
        Ok(Box::new(MemorySink {
            exporter: self.clone(),
            writes: 0,
        }))
    }
}

#[async_trait]
impl ExportSink for MemorySink {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.writes += 1;
        if Some(self.writes) == self.exporter.fail_at {
            return Err(Error::plugin("memory", "disk full"));
        }
        pass(self.exporter.gate.as_deref(), "gate").await?;
        let mut seen = self.exporter.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.chunks.push(chunk);
        Ok(())
    }

    async fn finish(self: Box<Self>, profile: &ProfileMetadata) -> Result<ExportReceipt> {
        self.exporter.finishing.notify_one();
        pass(self.exporter.finish_gate.as_deref(), "finish gate").await?;
        let mut seen = self.exporter.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.finished.push(profile.clone());
        Ok(ExportReceipt {
            location: format!("memory://{}", profile.file_name()),
            stored_bytes: profile.size,
        })
    }

    async fn abort(self: Box<Self>, reason: &str) -> Result<()> {
        let mut seen = self.exporter.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.aborted.push(reason.to_owned());
        Ok(())
    }
}
