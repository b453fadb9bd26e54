//! `openprofiling`: take heap snapshots of live Node.js processes, onto disk, safely.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints its results and errors"
)]

mod demo;
mod destination;
mod progress;
mod snapshot;
mod spawn;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Plugin crates register with the registry only when named (see openprofiling-core's registry).
use openprofiling_exporter_file as _;
use openprofiling_exporter_object_store as _;
use openprofiling_inspector_heapsnapshot as _;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
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
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
