//! [`ProfileWriter`]: fans each chunk out to one sink per exporter, with bounded memory, and
//! isolates exporter failures.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::exporter::{ExportReceipt, ExportSink, Exporter};
use crate::{AttributeValue, Error, ProfileMetadata, ProfileStatus, Result};

/// Chunks buffered per exporter before the writer waits for it.
pub const DEFAULT_SINK_BUFFER: usize = 8;

/// Bytes buffered per exporter before the writer waits for it, whatever the chunks' count: a
/// heap snapshot's chunks reach the writer as 4 MiB blocks, one of which is then on its way to
/// each exporter at a time (eight, the chunk bound, would be 32 MiB).
pub const SINK_BYTE_BUDGET: usize = 4 << 20;

/// A profile's outcome: its final metadata and what each exporter did with it.
#[derive(Debug, Serialize)]
pub struct ProfileReport {
    /// The profile, with its end time, status and size.
    pub profile: ProfileMetadata,
    /// One entry per exporter, in the order the exporters were added.
    pub exports: Vec<ExportOutcome>,
}

impl ProfileReport {
    /// True when the profile is complete and every exporter published it.
    pub fn is_success(&self) -> bool {
        self.profile.status.is_success() && self.exports.iter().all(|e| e.result.is_ok())
    }
}

/// What one exporter did with one profile.
#[derive(Debug, Serialize)]
pub struct ExportOutcome {
    /// The exporter's name.
    pub exporter: String,
    /// Where the profile went, or why it did not.
    #[serde(serialize_with = "serialize_result")]
    pub result: Result<ExportReceipt>,
}

fn serialize_result<S: serde::Serializer>(
    result: &Result<ExportReceipt>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shown<'a> {
        Ok(&'a ExportReceipt),
        Error(String),
    }
    match result {
        Ok(receipt) => Shown::Ok(receipt).serialize(serializer),
        Err(error) => Shown::Error(error.to_string()).serialize(serializer),
    }
}

enum SinkMessage {
    /// A chunk, and its share of the lane's byte budget, given back once it is written.
    Chunk(Bytes, OwnedSemaphorePermit),
    Finish(Box<ProfileMetadata>),
    Abort(String),
}

struct SinkLane {
    exporter: String,
    sender: Option<mpsc::Sender<SinkMessage>>,
    /// [`SINK_BYTE_BUDGET`] permits, one per byte of the chunks on their way to the sink.
    budget: Arc<Semaphore>,
    task: Option<JoinHandle<Result<ExportReceipt>>>,
    /// Set when the sink could not even begin.
    begin_error: Option<Error>,
}

/// Where a profiler writes its profile. Each chunk goes to every exporter's sink; the writer
/// waits for the slowest one, so at most a few chunks per exporter are in memory at a time.
/// An exporter that fails is aborted and left out of later chunks; the others go on.
pub struct ProfileWriter {
    profile: ProfileMetadata,
    lanes: Vec<SinkLane>,
}

impl std::fmt::Debug for ProfileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileWriter")
            .field("profile", &self.profile.id)
            .field("bytes", &self.profile.size)
            .field("live_sinks", &self.live_sinks())
            .finish()
    }
}

impl ProfileWriter {
    /// Opens one sink per exporter for `profile`; `buffer` chunks may wait per sink.
    pub async fn begin(
        profile: ProfileMetadata,
        exporters: &[Arc<dyn Exporter>],
        buffer: usize,
    ) -> Self {
        let begun = join_all(exporters.iter().map(|exporter| {
            let profile = &profile;
            async move { (exporter.name(), exporter.begin(profile).await) }
        }))
        .await;
        let lanes = begun
            .into_iter()
            .map(|(exporter, sink)| match sink {
                Ok(sink) => {
                    let (sender, receiver) = mpsc::channel(buffer.max(1));
                    let task = tokio::spawn(drive_sink(exporter.clone(), sink, receiver));
                    SinkLane {
                        exporter,
                        sender: Some(sender),
                        budget: Arc::new(Semaphore::new(SINK_BYTE_BUDGET)),
                        task: Some(task),
                        begin_error: None,
                    }
                }
                Err(error) => {
                    warn!(exporter, %error, "Exporter could not begin the profile.");
                    SinkLane {
                        exporter,
                        sender: None,
                        budget: Arc::new(Semaphore::new(0)),
                        task: None,
                        begin_error: Some(error),
                    }
                }
            })
            .collect();
        Self { profile, lanes }
    }

    /// The profile being written.
    pub fn profile(&self) -> &ProfileMetadata {
        &self.profile
    }

    /// Adds an attribute to the profile's metadata (exporters see it at finish).
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        self.profile.attributes.insert(key.into(), value.into());
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.profile.size
    }

    /// How many exporters are still taking chunks.
    pub fn live_sinks(&self) -> usize {
        self.lanes
            .iter()
            .filter(|lane| lane.sender.is_some())
            .count()
    }

    /// Writes the next chunk to every exporter still working. Fails only when none is left.
    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.profile.size += chunk.len() as u64;
        let mut live = 0;
        for lane in &mut self.lanes {
            let Some(sender) = &lane.sender else { continue };
            // A chunk larger than the whole budget takes all of it.
            let share = chunk.len().clamp(1, SINK_BYTE_BUDGET) as u32;
            let sent = match Arc::clone(&lane.budget).acquire_many_owned(share).await {
                Ok(permit) => sender
                    .send(SinkMessage::Chunk(chunk.clone(), permit))
                    .await
                    .is_ok(),
                Err(_) => false,
            };
            if !sent {
                // The sink's task ended: it failed and aborted itself.
                debug!(
                    exporter = lane.exporter,
                    "Exporter dropped out of the profile."
                );
                lane.sender = None;
            } else {
                live += 1;
            }
        }
        if live == 0 {
            return Err(Error::Agent(format!(
                "every exporter failed while writing profile {}; stopping",
                self.profile.id
            )));
        }
        Ok(())
    }

    /// Ends the profile with `status`: complete sinks publish it, failed profiles are aborted
    /// everywhere. Waits for every sink and reports each one's outcome.
    pub async fn finish(mut self, status: ProfileStatus) -> ProfileReport {
        self.profile.end_time = Some(SystemTime::now());
        self.profile.status = status;
        let profile = self.profile;
        let outcomes = join_all(self.lanes.into_iter().map(|lane| {
            let profile = &profile;
            async move {
                let result = match (lane.begin_error, lane.task) {
                    (Some(error), _) => Err(error),
                    (None, Some(task)) => {
                        if let Some(sender) = lane.sender {
                            let last = match &profile.status {
                                ProfileStatus::Success => {
                                    SinkMessage::Finish(Box::new(profile.clone()))
                                }
                                ProfileStatus::Failed(reason) => SinkMessage::Abort(reason.clone()),
                                ProfileStatus::Running => {
                                    SinkMessage::Abort("the profile never ended".to_owned())
                                }
                            };
                            // A closed lane already ended on its own; its task says how.
                            let _ = sender.send(last).await;
                        }
                        task.await.unwrap_or_else(|join| {
                            Err(Error::plugin(
                                lane.exporter.clone(),
                                format!("the exporter's task failed: {join}"),
                            ))
                        })
                    }
                    (None, None) => Err(Error::Agent("exporter lane without a task".to_owned())),
                };
                ExportOutcome {
                    exporter: lane.exporter,
                    result,
                }
            }
        }))
        .await;
        ProfileReport {
            profile,
            exports: outcomes,
        }
    }
}

/// Runs one sink: writes chunks in order, then finishes or aborts it.
async fn drive_sink(
    exporter: String,
    mut sink: Box<dyn ExportSink>,
    mut messages: mpsc::Receiver<SinkMessage>,
) -> Result<ExportReceipt> {
    loop {
        match messages.recv().await {
            Some(SinkMessage::Chunk(chunk, budget_share)) => {
                let written = sink.write(chunk).await;
                drop(budget_share);
                if let Err(error) = written {
                    warn!(exporter, %error, "Exporter failed; aborting its copy of the profile.");
                    abort(&exporter, sink, &error.to_string()).await;
                    return Err(error);
                }
            }
            Some(SinkMessage::Finish(profile)) => return sink.finish(&profile).await,
            Some(SinkMessage::Abort(reason)) => {
                abort(&exporter, sink, &reason).await;
                return Err(Error::Agent(format!("profile failed: {reason}")));
            }
            None => {
                let reason = "the profile was abandoned before it ended";
                abort(&exporter, sink, reason).await;
                return Err(Error::Agent(reason.to_owned()));
            }
        }
    }
}

async fn abort(exporter: &str, sink: Box<dyn ExportSink>, reason: &str) {
    if let Err(error) = sink.abort(reason).await {
        warn!(exporter, %error, "Exporter could not abort cleanly.");
    }
}
