//! `openprofiling`: take heap snapshots of live Node.js processes, onto disk, safely.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints its results and errors"
)]

mod agent;
mod analyze;
mod demo;
mod destination;
mod error_text;
mod live_analysis;
mod plugins;
mod progress;
mod report;
mod snapshot;
mod spawn;
mod stop;
mod target;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Plugin crates register with the registry only when named (see openprofiling-core's registry).
use openprofiling_exporter_file as _;
use openprofiling_exporter_object_store as _;
use openprofiling_inspector_cpu_profiler as _;
use openprofiling_inspector_heap_profiler as _;
use openprofiling_inspector_heapsnapshot as _;
use openprofiling_trigger_http as _;
use openprofiling_trigger_signal as _;

/// Profiles of live V8 programs (Node.js first), taken from beside them through their inspector.
#[derive(Debug, Parser)]
#[command(name = "openprofiling", version, about)]
struct Cli {
    /// Logs on stderr: errors only by default; -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Take one heap snapshot now and save it to each destination.
    Snapshot(snapshot::SnapshotArgs),
    /// Run a small leaking Node program, snapshot it twice a few seconds apart into ./profiles.
    Demo(demo::DemoArgs),
    /// Run the long-lived agent described by a JSON file: triggers, profilers, exporters.
    Agent(agent::AgentArgs),
    /// List the triggers, profilers and exporters this binary has, with their settings.
    Plugins,
    /// Analyse heap snapshot files: summary, diff, retainers (as DevTools' Memory panel).
    Analyze(analyze::AnalyzeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A long-running agent shows its warnings (a target gone, a refused trigger) by default;
    // one-shot commands only their errors, as their results are on stdout.
    let quiet_level = match cli.command {
        Command::Agent(_) => "warn",
        _ => "error",
    };
    init_logging(cli.verbose, quiet_level);
    // One thread: the agent waits on sockets and files (file writes go to Tokio's blocking
    // pool), and hopping between worker threads costs more CPU than it saves (see the README's
    // performance table).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Snapshot(args) => snapshot::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Agent(args) => agent::run(args).await,
            Command::Plugins => plugins::run(),
            Command::Analyze(args) => analyze::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error_text::one_line(&error));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, quiet_level: &str) {
    let level = match verbose {
        0 => quiet_level,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
