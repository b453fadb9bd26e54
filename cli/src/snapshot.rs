//! `openprofiling snapshot`: one heap snapshot now, to every destination.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use openprofiling_core::{
    DiscoveredTarget, Exporter, InspectorSession, ManualTrigger, ManualTriggerHandle,
    ProfileReport, ProfileStatus, ProfilingAgent, ReactionOutcome, RunningAgent,
};
use openprofiling_inspector_heapsnapshot::{
    HeapSnapshotConfig, InspectorHeapSnapshot, SnapshotProgress,
};
use tokio::sync::watch;

use crate::destination::{exporters, human_bytes};
use crate::progress::ProgressDisplay;
use crate::target::TargetArgs;

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
}

pub(crate) async fn run(args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    // Destinations are checked before anything touches the target.
    let exporters = exporters(&args.destinations, args.gzip)?;
    let resolved = args.target.resolve().await?;
    let config = HeapSnapshotConfig {
        gc_before: !args.no_gc,
        gc_after: !args.no_gc,
        ..HeapSnapshotConfig::default()
    };
    let result = async {
        let snapshotter = Snapshotter::start(&resolved.target, config, exporters).await?;
        let report = snapshotter.take().await;
        snapshotter.shutdown().await;
        report
    }
    .await;
    if let Some(spawned) = resolved.spawned {
        spawned.stop().await;
    }
    let report = result?;
    print_report(&report);
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One agent over one session that takes heap snapshots on demand.
pub(crate) struct Snapshotter {
    agent: RunningAgent,
    handle: ManualTriggerHandle,
    progress: watch::Receiver<SnapshotProgress>,
}

impl Snapshotter {
    pub(crate) async fn start(
        target: &DiscoveredTarget,
        config: HeapSnapshotConfig,
        exporters: Vec<Arc<dyn Exporter>>,
    ) -> anyhow::Result<Self> {
        let session = InspectorSession::connect(target).await?;
        let profiler = InspectorHeapSnapshot::with_config(session, config);
        let progress = profiler.progress();
        let (trigger, handle) = ManualTrigger::new("snapshot");
        let agent = exporters
            .into_iter()
            .fold(
                ProfilingAgent::new().register(trigger, profiler),
                |agent, exporter| agent.exporter_boxed(exporter),
            )
            .start()?;
        Ok(Self {
            agent,
            handle,
            progress,
        })
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

    pub(crate) async fn shutdown(self) {
        self.agent.shutdown().await;
    }
}

/// One line per destination on stdout; a failed profile's reason on stderr.
pub(crate) fn print_report(report: &ProfileReport) {
    if let ProfileStatus::Failed(reason) = &report.profile.status {
        eprintln!("error: the heap snapshot failed: {reason}");
    }
    for export in &report.exports {
        match &export.result {
            Ok(receipt) => println!(
                "saved heap snapshot ({}) to {}",
                human_bytes(receipt.stored_bytes),
                receipt.location
            ),
            Err(error) => println!("not saved to {}: {error}", export.exporter),
        }
    }
}
