//! The original project's second example, in Rust: two profilers over ONE inspector session.
//! Each SIGUSR1 to this agent takes a heap snapshot; SIGUSR2 starts a CPU profile, the next
//! SIGUSR2 stops it. Both go to a directory.
//!
//! ```text
//! node --inspect=127.0.0.1:9229 app.js &
//! cargo run -p openprofiling-examples --bin shared-session-agent -- --inspect 127.0.0.1:9229 --to ./profiles
//! kill -USR2 <the agent's pid>   # CPU profile starts
//! kill -USR1 <the agent's pid>   # heap snapshot, while the CPU profile runs
//! kill -USR2 <the agent's pid>   # CPU profile stops and is written
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
use openprofiling_inspector_cpu_profiler::InspectorCpuProfiler;
use openprofiling_inspector_heapsnapshot::InspectorHeapSnapshot;
use openprofiling_trigger_signal::{Signal, SignalTrigger};

/// SIGUSR1 → heap snapshot, SIGUSR2 → CPU profile start/stop, one session → files.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// The directory the profiles go to.
    #[arg(long, default_value = "./profiles")]
    to: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();

    // One session: both profilers get a clone of it, so they share one WebSocket.
    let target = Discovery::new().discover(&cli.target.spec()?).await?;
    let session = InspectorSession::connect(&target).await?;

    let snapshot = Arc::new(SignalTrigger::new(Signal::USR1));
    let cpu = Arc::new(SignalTrigger::new(Signal::USR2));
    let agent = ProfilingAgent::new()
        .register(
            snapshot.clone(),
            InspectorHeapSnapshot::new(session.clone()),
        )
        .register(cpu.clone(), InspectorCpuProfiler::new(session.clone()))
        .exporter(FileExporter::new(&cli.to))
        .start()?;

    if snapshot.ready().await && cpu.ready().await {
        let pid = std::process::id();
        println!(
            "ready: `kill -USR1 {pid}` takes a heap snapshot, `kill -USR2 {pid}` starts or stops a CPU profile of {} into {}",
            target.ws_url,
            cli.to.display()
        );
    }
    stop_requested_or_target_gone(&session).await?;
    agent.shutdown().await; // a running CPU profile is stopped and written
    Ok(())
}
