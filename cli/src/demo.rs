//! `openprofiling demo`: a leaking Node program, snapshotted twice a few seconds apart.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use openprofiling_core::{Discovery, Exporter, TargetSpec};
use openprofiling_exporter_file::FileExporter;
use openprofiling_heapsnapshot::diff;
use openprofiling_inspector_heapsnapshot::HeapSnapshotConfig;

use crate::analyze::diff_text;
use crate::live_analysis::LiveAnalysis;
use crate::report::print_report;
use crate::snapshot::Snapshotter;
use crate::spawn::SpawnedTarget;

/// Classes the demo's diff shows.
const DIFF_CLASSES: usize = 5;

/// The program the demo profiles, shipped inside the binary.
const LEAKY_APP: &str = include_str!("../demo/leaky-app.js");

/// `openprofiling demo [--to DIR] [--interval SECONDS]`
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the two snapshots go.
    #[arg(long, default_value = "./profiles")]
    to: PathBuf,
    /// Seconds between the two snapshots, while the program leaks.
    #[arg(long, default_value_t = 3)]
    interval: u64,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let script = scratch.path().join("leaky-app.js");
    std::fs::write(&script, LEAKY_APP)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let command = ["node".to_owned(), script.display().to_string()];
    let app = SpawnedTarget::start(&command)
        .await
        .context("the demo needs Node.js: is `node` on the PATH?")?;
    let result = snapshot_twice(&app, &args).await;
    app.stop().await;
    let succeeded = result?;
    Ok(if succeeded {
        println!(
            "LeakyRequestContext grows: `openprofiling analyze retainers --class LeakyRequestContext FILE` shows what holds it; Chrome DevTools (Memory tab, Load) opens the files too"
        );
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn snapshot_twice(app: &SpawnedTarget, args: &DemoArgs) -> anyhow::Result<bool> {
    let mut target = Discovery::new()
        .discover(&TargetSpec::WebSocket(app.ws_url().to_owned()))
        .await?;
    target.info.pid = app.pid();
    let exporter: Arc<dyn Exporter> = Arc::new(FileExporter::new(&args.to));
    // Each snapshot is also analysed as it streams, for the diff at the end.
    let analysis = LiveAnalysis::default();
    let exporters = vec![exporter, Arc::new(analysis.clone())];
    let snapshotter = Snapshotter::start(&target, HeapSnapshotConfig::default(), exporters).await?;
    // Let the program start and leak a little before the first snapshot.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = snapshotter.take().await?;
    print_report(&first);
    let before = analysis.take();
    tokio::time::sleep(Duration::from_secs(args.interval)).await;
    let second = snapshotter.take().await?;
    print_report(&second);
    let after = analysis.take();
    snapshotter.shutdown().await;
    if let (Some(before), Some(after)) = (before, after) {
        println!("what grew between them (objects matched by id, as DevTools' Comparison view):");
        print!("{}", diff_text(&diff(&before, &after), DIFF_CLASSES));
    }
    Ok(first.is_success() && second.is_success())
}
