//! `openprofiling snapshot`: one heap snapshot now, to every destination.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use openprofiling_core::{
    DiscoveredTarget, Exporter, InspectorSession, ManualTrigger, ManualTriggerHandle,
    ProfileReport, ProfileStatus, ProfilingAgent, ReactionOutcome, RunningAgent,
};
use openprofiling_inspector_heapsnapshot::{
    HeapSnapshotConfig, InspectorHeapSnapshot, SnapshotProgress,
};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, watch};

use crate::analyze::summary_text;
use crate::destination::exporters;
use crate::live_analysis::{self, LiveAnalysis};
use crate::progress::ProgressDisplay;
use crate::report::print_report;
use crate::spawn::SpawnedTarget;
use crate::stop::{StopSignal, StopSignals};
use crate::target::{ResolvedTarget, TargetArgs};

/// Classes `--summary` prints.
const SUMMARY_CLASSES: usize = 20;

/// `openprofiling snapshot [TARGET] [--to DEST]…`
#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Where the snapshot goes: a directory (created if missing) or an object store URL
    /// (`s3://bucket/prefix/`, `az://container/prefix/`, `gs://bucket/prefix/`, `file:///dir/`,
    /// `memory:///`; credentials from the usual `AWS_*`, `AZURE_*`, `GOOGLE_*` variables).
    /// Repeat for several.
    #[arg(long = "to", value_name = "DEST", default_value = "./profiles")]
    destinations: Vec<String>,
    /// Gzip the files (`.heapsnapshot.gz`); raw by default, so Chrome DevTools opens them.
    #[arg(long)]
    gzip: bool,
    /// Do not force a garbage collection before and after the snapshot.
    #[arg(long)]
    no_gc: bool,
    /// Do not ask V8 for progress reports while it builds the snapshot: it then skips a pass
    /// over the heap (about 8 % of the snapshot's time); only the bytes received are shown.
    #[arg(long)]
    no_progress: bool,
    /// Take the snapshot even when the memory guard expects the target to run out of memory
    /// (a snapshot makes a Node process grow to about 11× its used heap for a while).
    #[arg(long)]
    force: bool,
    /// Print the top classes by retained size right after the capture, analysed from the
    /// chunks as they stream (no second read; works with a bucket as the only destination).
    /// Holds the snapshot's graph in memory meanwhile: about a third of the snapshot's size.
    #[arg(long)]
    summary: bool,
}

pub(crate) async fn run(args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    // From here on, Ctrl-C and SIGTERM abort the snapshot cleanly rather than kill us mid-write.
    let mut stop = StopSignals::install()?;
    // Destinations are checked before anything touches the target.
    let mut exporters = exporters(&args.destinations, args.gzip)?;
    let analysis = args.summary.then(LiveAnalysis::default);
    if let Some(analysis) = &analysis {
        exporters.push(Arc::new(analysis.clone()));
    }
    let mut resolved = tokio::select! {
        resolved = args.target.resolve() => resolved?,
        signal = stop.recv() => return Ok(interrupted(signal, "before the target was reached")),
    };
    let config = HeapSnapshotConfig {
        gc_before: !args.no_gc,
        gc_after: !args.no_gc,
        memory_guard: !args.force,
        report_progress: !args.no_progress,
        ..HeapSnapshotConfig::default()
    };
    let captured = capture(&resolved, config, exporters, &mut stop).await;
    let ended_error = match (&captured, resolved.spawned.take()) {
        (Err(Cut::ProgramEnded), Some(spawned)) => Some(spawned.ended_error().await),
        (_, Some(spawned)) => {
            spawned.stop().await;
            None
        }
        (_, None) => None,
    };
    let report = match captured {
        Ok(report) => report,
        Err(Cut::Failed(error)) => return Err(error),
        Err(Cut::Signal(signal, last_report)) => {
            return Ok(interrupted_after(signal, last_report));
        }
        Err(Cut::ProgramEnded) => {
            return Err(ended_error
                .unwrap_or_else(|| anyhow::anyhow!("the program ended before its snapshot")));
        }
    };
    print_report(&report);
    if let Some(snapshot) = analysis.as_ref().and_then(LiveAnalysis::take) {
        print!("{}", summary_text(&snapshot.summary(), SUMMARY_CLASSES));
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Takes the snapshot: what it gave, or what cut it short. Watches a program we started for its
/// end, which leaves nothing to snapshot (see `SpawnedTarget::ended`).
async fn capture(
    resolved: &ResolvedTarget,
    config: HeapSnapshotConfig,
    exporters: Vec<Arc<dyn Exporter>>,
    stop: &mut StopSignals,
) -> Result<Arc<ProfileReport>, Cut> {
    let ended = program_ended(resolved.spawned.as_ref());
    tokio::pin!(ended);
    let snapshotter = tokio::select! {
        started = Snapshotter::start(&resolved.target, config, exporters) => match started {
            Ok(snapshotter) => snapshotter,
            // A program that ended before we attached refuses the connection.
            Err(_) if ended_within(resolved.spawned.as_ref(), ENDED_GRACE).await => {
                return Err(Cut::ProgramEnded);
            }
            Err(error) => return Err(Cut::Failed(error)),
        },
        () = &mut ended => return Err(Cut::ProgramEnded),
    };
    let mut program_ended_first = false;
    let taken = {
        // Once the program has ended, Node answers no more calls, but what it sent before
        // is still to be read: let go of it once nothing more comes.
        let let_go = async {
            (&mut ended).await;
            snapshotter.quiet_for(QUIET_BEFORE_LETTING_GO).await;
        };
        tokio::pin!(let_go);
        let take = snapshotter.take();
        tokio::pin!(take);
        loop {
            tokio::select! {
                report = &mut take => break Ok(report),
                signal = stop.recv() => break Err(Cut::Signal(signal, None)),
                // A snapshot whose chunks had all come then completes (only the GC after
                // it goes unanswered); one cut short fails, and nothing is saved.
                () = &mut let_go, if !program_ended_first => {
                    program_ended_first = true;
                    snapshotter.disconnect();
                }
            }
        }
    };
    // On a stop signal, this aborts the snapshot in flight: every destination drops what
    // it holds and publishes nothing. A snapshot already being published when the signal
    // came is let finish: its report says where it went.
    let last_report = snapshotter.shutdown().await;
    match taken {
        // The profile itself failed (not a destination) as the program ended (we let go
        // of it, or the session did on Node's word): the program's end cut it short.
        Ok(Ok(report))
            if resolved
                .spawned
                .as_ref()
                .is_some_and(SpawnedTarget::has_ended)
                && matches!(report.profile.status, ProfileStatus::Failed(_)) =>
        {
            Err(Cut::ProgramEnded)
        }
        Ok(report) => report.map_err(Cut::Failed),
        Err(Cut::Signal(signal, _)) => Err(Cut::Signal(signal, last_report)),
        Err(cut) => Err(cut),
    }
}

/// How long after a failed connection the news of the program's end may take to arrive.
const ENDED_GRACE: Duration = Duration::from_secs(1);
/// How long without a chunk, after the program's end, before the inspector is let go.
const QUIET_BEFORE_LETTING_GO: Duration = Duration::from_secs(1);

/// What cut a snapshot short.
enum Cut {
    /// An error: the target could not be reached, the agent stopped...
    Failed(anyhow::Error),
    /// A stop signal, and the last report the agent sent before it stopped.
    Signal(StopSignal, Option<Arc<ProfileReport>>),
    /// The spawned program ended before its snapshot was complete.
    ProgramEnded,
}

/// Completes when the spawned program (if any) has ended; never for a target we did not start.
async fn program_ended(spawned: Option<&SpawnedTarget>) {
    match spawned {
        Some(spawned) => spawned.ended().await,
        None => std::future::pending().await,
    }
}

/// Whether the spawned program (if any) has ended, allowing `grace` for the news.
async fn ended_within(spawned: Option<&SpawnedTarget>, grace: Duration) -> bool {
    match spawned {
        Some(spawned) => spawned.has_ended_within(grace).await,
        None => false,
    }
}

/// Says what a stop signal cut short; the exit code a shell expects (130, 143).
fn interrupted(signal: StopSignal, what: &str) -> ExitCode {
    eprintln!("interrupted by {}: {what}", signal.name());
    signal.exit_code()
}

/// Says what a stop signal during the snapshot left: nothing, or (when the signal came while
/// the snapshot was being published, which the shutdown lets finish) where it was saved.
fn interrupted_after(signal: StopSignal, last_report: Option<Arc<ProfileReport>>) -> ExitCode {
    match last_report.filter(|report| saved_somewhere(report)) {
        Some(report) => {
            print_report(&report);
            interrupted(
                signal,
                "the snapshot was already complete; it was saved as reported above",
            )
        }
        None => interrupted(signal, "the snapshot was aborted and nothing was saved"),
    }
}

/// Whether at least one destination (not the live analysis) saved the profile.
fn saved_somewhere(report: &ProfileReport) -> bool {
    report
        .exports
        .iter()
        .any(|export| export.exporter != live_analysis::NAME && export.result.is_ok())
}

/// One agent over one session that takes heap snapshots on demand.
pub(crate) struct Snapshotter {
    agent: RunningAgent,
    /// The agent's inspector session (a clone of the profiler's handle).
    session: InspectorSession,
    handle: ManualTriggerHandle,
    progress: watch::Receiver<SnapshotProgress>,
    /// Every report the agent sends, from its start: the one a stop let finish included.
    reports: broadcast::Receiver<Arc<ProfileReport>>,
}

impl Snapshotter {
    pub(crate) async fn start(
        target: &DiscoveredTarget,
        config: HeapSnapshotConfig,
        exporters: Vec<Arc<dyn Exporter>>,
    ) -> anyhow::Result<Self> {
        let session = InspectorSession::connect(target).await?;
        let profiler = InspectorHeapSnapshot::with_config(session.clone(), config);
        let progress = profiler.progress();
        let (trigger, handle) = ManualTrigger::new("snapshot");
        let agent = exporters
            .into_iter()
            .fold(
                ProfilingAgent::new()
                    .register(trigger, profiler)
                    // A snapshot still in flight at shutdown is one the operator interrupted:
                    // abort it at once rather than make them wait.
                    .shutdown_grace(Duration::ZERO),
                |agent, exporter| agent.exporter_boxed(exporter),
            )
            .start()?;
        let reports = agent.reports();
        Ok(Self {
            agent,
            session,
            handle,
            progress,
            reports,
        })
    }

    /// Completes once no chunk has come for `quiet` (at once if the profiler is gone).
    pub(crate) async fn quiet_for(&self, quiet: Duration) {
        let mut progress = self.progress.clone();
        while let Ok(Ok(())) = tokio::time::timeout(quiet, progress.changed()).await {}
    }

    /// Closes the inspector connection: calls in flight fail at once.
    pub(crate) fn disconnect(&self) {
        self.session.close();
    }

    /// Takes one snapshot and waits for every destination.
    pub(crate) async fn take(&self) -> anyhow::Result<Arc<ProfileReport>> {
        let _display = ProgressDisplay::start(self.progress.clone());
        let reaction = self.handle.start().await?;
        match &reaction.outcome {
            ReactionOutcome::Capturing { .. } => {}
            other => anyhow::bail!("the snapshot did not start: {other:?}"),
        }
        reaction
            .finished()
            .await
            .context("the agent stopped before the snapshot was complete")
    }

    /// Stops the agent: a snapshot still streaming is aborted everywhere, one already being
    /// published is let finish. Returns the last report the agent sent, if any.
    pub(crate) async fn shutdown(mut self) -> Option<Arc<ProfileReport>> {
        self.agent.shutdown().await;
        let mut last = None;
        loop {
            match self.reports.try_recv() {
                Ok(report) => last = Some(report),
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return last,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use openprofiling_core::mock::{MemoryExporter, MockInspector, Reply, heap_snapshot_text};
    use openprofiling_core::{
        Error, ExportOutcome, ExportReceipt, ProfileKind, ProfileMetadata, TargetInfo,
    };
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_snapshot_being_published_at_the_stop_is_let_finish_and_reported() {
        let mock = MockInspector::start().await;
        let text = heap_snapshot_text(64 * 1024);
        mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
        mock.expect(
            "HeapProfiler.takeHeapSnapshot",
            Reply::steps()
                .heap_snapshot(text.clone().into(), 4096)
                .ok(json!({})),
        );
        mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
        let target = DiscoveredTarget {
            ws_url: mock.ws_url(),
            info: TargetInfo::default(),
        };
        let config = HeapSnapshotConfig {
            gc_before: false,
            gc_after: false,
            report_progress: false,
            memory_guard: false,
            ..HeapSnapshotConfig::default()
        };
        let (exporter, finish_gate) = MemoryExporter::finish_gated();
        let snapshotter = Snapshotter::start(&target, config, vec![Arc::new(exporter.clone())])
            .await
            .unwrap();
        tokio::select! {
            taken = snapshotter.take() => panic!("the snapshot finished through the gate: {taken:?}"),
            () = exporter.finishing.notified() => {}
        }
        // The take was dropped, as the command drops it on a stop signal; the destination is
        // still publishing.
        let stopping = tokio::spawn(snapshotter.shutdown());
        finish_gate.add_permits(1);
        let report = stopping.await.unwrap().expect("the agent sent a report");
        assert!(report.is_success(), "{report:?}");
        assert!(saved_somewhere(&report));
        let receipt = report.exports[0].result.as_ref().unwrap();
        assert_eq!(receipt.stored_bytes, text.len() as u64);
        assert!(exporter.bytes() == text.as_bytes());
    }

    fn report(exports: Vec<(&str, bool)>) -> ProfileReport {
        ProfileReport {
            profile: ProfileMetadata::new(ProfileKind::HeapSnapshot, "snapshot"),
            exports: exports
                .into_iter()
                .map(|(exporter, saved)| ExportOutcome {
                    exporter: exporter.to_owned(),
                    result: if saved {
                        Ok(ExportReceipt {
                            location: "/profiles/x.heapsnapshot".to_owned(),
                            stored_bytes: 1,
                        })
                    } else {
                        Err(Error::Agent("aborted".to_owned()))
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn a_report_counts_as_saved_when_one_destination_saved_it() {
        assert!(saved_somewhere(&report(vec![("file /p", true)])));
        assert!(saved_somewhere(&report(vec![
            ("object-store s3://b", false),
            ("file /p", true),
        ])));
        assert!(!saved_somewhere(&report(vec![("file /p", false)])));
        assert!(!saved_somewhere(&report(vec![])));
    }

    #[test]
    fn the_live_analysis_is_not_a_destination() {
        assert!(!saved_somewhere(&report(vec![
            (live_analysis::NAME, true),
            ("file /p", false),
        ])));
    }
}
