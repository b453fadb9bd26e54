//! Analysis of a snapshot while it streams: an exporter whose sink feeds the chunks to the
//! heap snapshot parser on a thread of its own, so `snapshot --summary` needs no second read
//! of the file, and works when the only destination is a bucket.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use openprofiling_core::{ExportReceipt, ExportSink, Exporter, ProfileMetadata};
use openprofiling_heapsnapshot::{HeapSnapshot, SnapshotParser};
use tokio::sync::{mpsc, oneshot};

/// The exporter's name in reports; its outcome is not a destination and is not printed as one.
pub(crate) const NAME: &str = "analysis";

/// Chunks waiting for the parser: the agent waits when it falls behind (backpressure).
const QUEUE: usize = 8;

/// Analyses every profile it is given and keeps the last one's result.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveAnalysis {
    last: Arc<Mutex<Option<Arc<HeapSnapshot>>>>,
}

impl LiveAnalysis {
    /// The last snapshot analysed, taken out.
    pub(crate) fn take(&self) -> Option<Arc<HeapSnapshot>> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[async_trait]
impl Exporter for LiveAnalysis {
    fn name(&self) -> String {
        NAME.to_owned()
    }

    async fn begin(
        &self,
        _profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<Box<dyn ExportSink>> {
        let (chunks, mut queue) = mpsc::channel::<Bytes>(QUEUE);
        let (done, result) = oneshot::channel();
        std::thread::Builder::new()
            .name("snapshot-analysis".to_owned())
            .spawn(move || {
                let mut parser = SnapshotParser::new();
                let mut fed = Ok(());
                while let Some(chunk) = queue.blocking_recv() {
                    fed = parser.feed(&chunk);
                    if fed.is_err() {
                        break;
                    }
                }
                let _ = done.send(fed.and_then(|()| parser.finish()));
            })
            .map_err(|error| failure(format!("cannot start the analysis thread: {error}")))?;
        Ok(Box::new(AnalysisSink {
            chunks: Some(chunks),
            result,
            last: self.last.clone(),
        }))
    }
}

/// One snapshot on its way into the parser.
#[derive(Debug)]
struct AnalysisSink {
    chunks: Option<mpsc::Sender<Bytes>>,
    result: oneshot::Receiver<openprofiling_heapsnapshot::Result<HeapSnapshot>>,
    last: Arc<Mutex<Option<Arc<HeapSnapshot>>>>,
}

impl AnalysisSink {
    /// Ends the input and waits for the parser's verdict.
    async fn outcome(mut self) -> openprofiling_core::Result<HeapSnapshot> {
        drop(self.chunks.take());
        match self.result.await {
            Ok(Ok(snapshot)) => Ok(snapshot),
            Ok(Err(error)) => Err(failure(format!("the snapshot cannot be analysed: {error}"))),
            Err(_) => Err(failure(
                "the analysis thread stopped unexpectedly".to_owned(),
            )),
        }
    }
}

#[async_trait]
impl ExportSink for AnalysisSink {
    async fn write(&mut self, chunk: Bytes) -> openprofiling_core::Result<()> {
        let Some(chunks) = &self.chunks else {
            return Err(failure("the analysis input is closed".to_owned()));
        };
        if chunks.send(chunk).await.is_ok() {
            return Ok(());
        }
        // The parser stopped: it says why.
        let sink = std::mem::replace(
            self,
            AnalysisSink {
                chunks: None,
                result: oneshot::channel().1,
                last: self.last.clone(),
            },
        );
        Err(sink
            .outcome()
            .await
            .err()
            .unwrap_or_else(|| failure("the analysis ended before the snapshot did".to_owned())))
    }

    async fn finish(
        self: Box<Self>,
        _profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<ExportReceipt> {
        let last = self.last.clone();
        let snapshot = self.outcome().await?;
        *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(snapshot));
        Ok(ExportReceipt {
            location: "analysed in memory".to_owned(),
            stored_bytes: 0,
        })
    }

    async fn abort(self: Box<Self>, _reason: &str) -> openprofiling_core::Result<()> {
        // Dropping the input ends the thread; its partial parse is discarded.
        Ok(())
    }
}

fn failure(message: String) -> openprofiling_core::Error {
    openprofiling_core::Error::plugin(NAME, message)
}
