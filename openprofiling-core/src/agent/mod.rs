//! The agent: reactions (a trigger and a profiler), exporters, start and shutdown.

mod reaction;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use writer::{
    DEFAULT_SINK_BUFFER, ExportOutcome, ProfileReport, ProfileWriter, SINK_BYTE_BUDGET,
};

use crate::exporter::Exporter;
use crate::profiler::Profiler;
use crate::trigger::{Trigger, TriggerEvents};
use crate::{Error, Result};

/// How long shutdown waits for a profile in flight before aborting it.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
/// How long shutdown waits for triggers to return before stopping them by force.
const TRIGGER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds an agent, as the original's `ProfilingAgent`: register reactions (a trigger and the
/// profiler it drives), add exporters, then [`start`](ProfilingAgent::start).
///
/// ```
/// # async fn demo() -> openprofiling_core::Result<()> {
/// use openprofiling_core::{ManualTrigger, ProfilingAgent};
/// # use openprofiling_core::{ProfileKind, Profiler, ProfileWriter, Exporter, ExportSink, ProfileMetadata};
/// # #[derive(Debug)] struct Snapshot;
/// # #[async_trait::async_trait] impl Profiler for Snapshot {
/// #   fn kind(&self) -> ProfileKind { ProfileKind::HeapSnapshot }
/// #   async fn collect(&self, w: &mut ProfileWriter) -> openprofiling_core::Result<()> { w.write("{}".into()).await }
/// # }
/// # #[derive(Debug)] struct Files;
/// # #[async_trait::async_trait] impl Exporter for Files {
/// #   fn name(&self) -> String { "files".into() }
/// #   async fn begin(&self, _: &ProfileMetadata) -> openprofiling_core::Result<Box<dyn ExportSink>> { unimplemented!() }
/// # }
/// let (trigger, handle) = ManualTrigger::new("now");
/// let agent = ProfilingAgent::new()
///     .register(trigger, Snapshot)
///     .exporter(Files)
///     .start()?;
/// let reaction = handle.start().await?;
/// let report = reaction.finished().await;
/// agent.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct ProfilingAgent {
    reactions: Vec<(Box<dyn Trigger>, Arc<dyn Profiler>)>,
    exporters: Vec<Arc<dyn Exporter>>,
    sink_buffer: Option<usize>,
    shutdown_grace: Option<Duration>,
}

impl ProfilingAgent {
    /// An agent with no reactions and no exporters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `trigger` drive `profiler`. Each registration is its own reaction, with its own
    /// state: several triggers in one agent each drive their own profiler.
    pub fn register(self, trigger: impl Trigger, profiler: impl Profiler) -> Self {
        self.register_boxed(Box::new(trigger), Arc::new(profiler))
    }

    /// [`register`](Self::register) for plugins from the registry.
    pub fn register_boxed(
        mut self,
        trigger: Box<dyn Trigger>,
        profiler: Arc<dyn Profiler>,
    ) -> Self {
        self.reactions.push((trigger, profiler));
        self
    }

    /// Adds an exporter; every profile goes to every exporter.
    pub fn exporter(self, exporter: impl Exporter) -> Self {
        self.exporter_boxed(Arc::new(exporter))
    }

    /// [`exporter`](Self::exporter) for plugins from the registry.
    pub fn exporter_boxed(mut self, exporter: Arc<dyn Exporter>) -> Self {
        self.exporters.push(exporter);
        self
    }

    /// Chunks buffered per exporter before the profiler waits (default
    /// [`DEFAULT_SINK_BUFFER`]). Memory in flight is about this many chunks per exporter, and
    /// at most [`SINK_BYTE_BUDGET`] bytes of them.
    pub fn sink_buffer(mut self, chunks: usize) -> Self {
        self.sink_buffer = Some(chunks.max(1));
        self
    }

    /// How long [`RunningAgent::shutdown`] waits for a profile in flight before aborting it
    /// (default [`DEFAULT_SHUTDOWN_GRACE`]).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// Starts every trigger and reaction. Must be called within a Tokio runtime.
    pub fn start(self) -> Result<RunningAgent> {
        if self.reactions.is_empty() {
            return Err(Error::Agent(
                "the agent has no reactions: register a trigger and a profiler".to_owned(),
            ));
        }
        if self.exporters.is_empty() {
            return Err(Error::Agent(
                "the agent has no exporters: add one, or profiles would go nowhere".to_owned(),
            ));
        }
        let exporters: Arc<[Arc<dyn Exporter>]> = self.exporters.into();
        let (reports, _) = broadcast::channel(64);
        let shutdown = CancellationToken::new();
        let mut reactions = JoinSet::new();
        let mut triggers = JoinSet::new();
        let mut profilers = Vec::new();
        let mut listening = Vec::new();
        for (trigger, profiler) in self.reactions {
            let trigger: Arc<dyn Trigger> = trigger.into();
            listening.push(trigger.clone());
            let (sender, receiver) = mpsc::channel(8);
            let context = reaction::ReactionContext {
                exporters: exporters.clone(),
                sink_buffer: self.sink_buffer.unwrap_or(DEFAULT_SINK_BUFFER),
                grace: self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
                reports: reports.clone(),
            };
            reactions.spawn(reaction::run(
                profiler.clone(),
                receiver,
                context,
                shutdown.clone(),
            ));
            profilers.push(profiler);
            let events = TriggerEvents::new(sender);
            let stop = shutdown.clone();
            triggers.spawn(async move {
                let name = trigger.name();
                debug!(trigger = name, "Trigger running.");
                if let Err(error) = trigger.run(events, stop).await {
                    warn!(trigger = name, %error, "Trigger stopped with an error; its reaction stays idle.");
                }
            });
        }
        info!(
            reactions = profilers.len(),
            exporters = exporters.len(),
            "Profiling agent started."
        );
        Ok(RunningAgent {
            shutdown,
            triggers: listening,
            reports,
            running: Mutex::new(Some(Running {
                reactions,
                triggers,
                profilers,
                exporters,
            })),
        })
    }
}

struct Running {
    reactions: JoinSet<()>,
    triggers: JoinSet<()>,
    profilers: Vec<Arc<dyn Profiler>>,
    exporters: Arc<[Arc<dyn Exporter>]>,
}

/// A started agent. Dropping it without [`shutdown`](Self::shutdown) stops its tasks
/// abruptly; call `shutdown` to complete or abort what is in flight.
pub struct RunningAgent {
    shutdown: CancellationToken,
    /// Every trigger, to wait for them to listen.
    triggers: Vec<Arc<dyn Trigger>>,
    reports: broadcast::Sender<Arc<ProfileReport>>,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for RunningAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningAgent")
            .field("shutting_down", &self.shutdown.is_cancelled())
            .finish()
    }
}

impl RunningAgent {
    /// Every profile's report as it completes (a bounded broadcast: a receiver that falls more
    /// than 64 reports behind misses the oldest).
    pub fn reports(&self) -> broadcast::Receiver<Arc<ProfileReport>> {
        self.reports.subscribe()
    }

    /// Waits until every trigger listens (see [`Trigger::ready`]): `true` then, `false` as
    /// soon as one never will. Bound it with a timeout.
    pub async fn ready(&self) -> bool {
        for trigger in &self.triggers {
            if !trigger.ready().await {
                return false;
            }
        }
        true
    }

    /// A token cancelled when shutdown begins.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the triggers, completes (or, past the grace period, aborts) every profile in
    /// flight, then shuts the profilers and exporters down. Idempotent: later calls wait for
    /// the first to finish and return.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        let Some(mut run) = running.take() else {
            return;
        };
        info!("Profiling agent shutting down.");
        self.shutdown.cancel();
        let triggers_stopped = tokio::time::timeout(TRIGGER_STOP_TIMEOUT, async {
            while run.triggers.join_next().await.is_some() {}
        })
        .await;
        if triggers_stopped.is_err() {
            warn!(after = ?TRIGGER_STOP_TIMEOUT, "A trigger ignored shutdown; stopping it by force.");
            run.triggers.shutdown().await;
        }
        while run.reactions.join_next().await.is_some() {}
        for profiler in &run.profilers {
            if let Err(error) = profiler.shutdown().await {
                warn!(profiler = %profiler.kind(), %error, "Profiler shutdown failed.");
            }
        }
        for exporter in run.exporters.iter() {
            if let Err(error) = exporter.shutdown().await {
                warn!(exporter = exporter.name(), %error, "Exporter shutdown failed.");
            }
        }
        info!("Profiling agent stopped.");
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
