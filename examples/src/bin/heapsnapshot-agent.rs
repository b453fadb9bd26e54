//! The original project's first example, in Rust: each SIGUSR2 to this agent takes a heap
//! snapshot of the target and writes it to a directory.
//!
//! ```text
//! node --inspect=127.0.0.1:9229 app.js &
//! cargo run -p openprofiling-examples --bin heapsnapshot-agent -- --inspect 127.0.0.1:9229 --to ./profiles
//! kill -USR2 <the agent's pid>
//! ```
#![allow(
    clippy::print_stdout,
    reason = "a command-line program prints its results"
)]

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use openprofiling_core::{Discovery, InspectorSession, ProfilingAgent};
use openprofiling_examples::{TargetArgs, init_logging, stop_requested_or_target_gone};
use openprofiling_exporter_file::FileExporter;
use openprofiling_inspector_heapsnapshot::InspectorHeapSnapshot;
use openprofiling_trigger_signal::{Signal, SignalTrigger};

/// SIGUSR2 → heap snapshot → files.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// The directory the snapshots go to.
    #[arg(long, default_value = "./profiles")]
    to: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();

    // Find the target's inspector and open one session to it.
    let target = Discovery::new().discover(&cli.target.spec()?).await?;
    let session = InspectorSession::connect(&target).await?;

    // SIGUSR2 → heap snapshot → files, as the original's README.
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    let agent = ProfilingAgent::new()
        .register(trigger.clone(), InspectorHeapSnapshot::new(session.clone()))
        .exporter(FileExporter::new(&cli.to))
        .start()?;

    if trigger.ready().await {
        println!(
            "ready: `kill -USR2 {}` takes a heap snapshot of {} into {}",
            std::process::id(),
            target.ws_url,
            cli.to.display()
        );
    }
    stop_requested_or_target_gone(&session).await?;
    agent.shutdown().await;
    Ok(())
}
