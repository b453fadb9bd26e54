//! One heap snapshot: the CDP exchange, with chunks unescaped as they arrive and streamed to the
//! writer in blocks.

use openprofiling_core::{
    ChunkBlocks, Event, InspectorSession, ProfileWriter, Result, Subscription,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::config::HeapSnapshotConfig;
use crate::error::Error;
use crate::progress::SnapshotProgress;

const CHUNK_EVENT: &str = "HeapProfiler.addHeapSnapshotChunk";
const PROGRESS_EVENT: &str = "HeapProfiler.reportHeapSnapshotProgress";
const COLLECT_GARBAGE: &str = "HeapProfiler.collectGarbage";
const TAKE_SNAPSHOT: &str = "HeapProfiler.takeHeapSnapshot";

/// What was streamed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Streamed {
    /// Chunks written (empty ones are not counted).
    pub(crate) chunks: u64,
    /// Bytes written.
    pub(crate) bytes: u64,
}

/// The parameters of `HeapProfiler.reportHeapSnapshotProgress`.
#[derive(Deserialize)]
struct ProgressParams {
    done: u64,
    total: u64,
    #[serde(default)]
    finished: bool,
}

/// Takes one snapshot over `session` (whose `HeapProfiler` domain is enabled) and writes it.
///
/// Chunks are unescaped into [`ChunkBlocks`] and reach the writer as 4 MiB blocks that a file
/// exporter writes with direct I/O as they are: about forty of V8's chunks a block.
pub(crate) async fn take_snapshot(
    session: &InspectorSession,
    config: &HeapSnapshotConfig,
    writer: &mut ProfileWriter,
    progress: &watch::Sender<SnapshotProgress>,
) -> Result<Streamed> {
    // Subscribed before the command, so that no event is missed.
    let mut chunks = session.subscribe(CHUNK_EVENT)?;
    let mut reports = session.subscribe(PROGRESS_EVENT)?;
    if config.gc_before {
        let _: Value = session.call(COLLECT_GARBAGE, json!({})).await?;
    }

    let params = json!({
        "reportProgress": config.report_progress,
        "exposeInternals": config.expose_internals,
        "captureNumericValue": config.capture_numeric_value,
    });
    let reply = session.call_with_timeout::<Value>(TAKE_SNAPSHOT, params, config.timeout());
    tokio::pin!(reply);
    let mut streamed = Streamed::default();
    let mut blocks = ChunkBlocks::new();
    loop {
        tokio::select! {
            // Chunks first: they are what holds the connection's reader back.
            biased;
            event = chunks.next() => {
                write_chunk(&event?, &mut blocks, writer, progress, &mut streamed).await?;
            }
            event = reports.next() => publish_progress(&event?, progress),
            result = &mut reply => {
                result?;
                break;
            }
        }
    }
    // V8 sends every chunk before its reply, and the session keeps wire order: what is left
    // is already in the subscriptions' buffers.
    drain(
        &mut chunks,
        &mut reports,
        &mut blocks,
        writer,
        progress,
        &mut streamed,
    )
    .await?;
    drop((chunks, reports));
    while let Some(block) = blocks.take_rest() {
        writer.write(block).await?;
    }

    debug!(
        chunks = streamed.chunks,
        bytes = streamed.bytes,
        "Heap snapshot chunk stream ended."
    );
    if streamed.chunks == 0 {
        return Err(Error::EmptySnapshot.into());
    }
    progress.send_modify(|progress| progress.finished = true);

    if config.gc_after {
        if let Err(error) = session.call::<Value>(COLLECT_GARBAGE, json!({})).await {
            warn!(%error, "Garbage collection after the heap snapshot failed; the snapshot is complete.");
        }
    }
    Ok(streamed)
}

async fn drain(
    chunks: &mut Subscription,
    reports: &mut Subscription,
    blocks: &mut ChunkBlocks,
    writer: &mut ProfileWriter,
    progress: &watch::Sender<SnapshotProgress>,
    streamed: &mut Streamed,
) -> Result<()> {
    while let Some(event) = reports.try_next() {
        publish_progress(&event, progress);
    }
    while let Some(event) = chunks.try_next() {
        write_chunk(&event, blocks, writer, progress, streamed).await?;
    }
    Ok(())
}

/// Unescapes a chunk into `blocks`, and writes the blocks it fills.
async fn write_chunk(
    event: &Event,
    blocks: &mut ChunkBlocks,
    writer: &mut ProfileWriter,
    progress: &watch::Sender<SnapshotProgress>,
    streamed: &mut Streamed,
) -> Result<()> {
    let len = blocks.append_string_param(event, "chunk")?;
    if len == 0 {
        return Ok(());
    }
    while let Some(block) = blocks.take_full() {
        writer.write(block).await?;
    }
    streamed.chunks += 1;
    streamed.bytes += len as u64;
    let bytes = streamed.bytes;
    progress.send_modify(|progress| progress.bytes = bytes);
    Ok(())
}

/// Publishes V8's progress; a report that cannot be read is skipped, it is only for show.
fn publish_progress(event: &Event, progress: &watch::Sender<SnapshotProgress>) {
    match event.params::<ProgressParams>() {
        Ok(report) => progress.send_modify(|progress| {
            progress.done = report.done;
            progress.total = report.total;
            progress.finished |= report.finished;
        }),
        Err(error) => debug!(%error, "Skipping an unreadable heap snapshot progress report."),
    }
}
