//! Shared bits of the example agents: the target flags and logging.

use clap::Args;
use openprofiling_core::{Error, InspectorSession, Result, TargetSpec};

/// Where the program to profile is: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// The inspector's HOST:PORT, as given to `node --inspect=HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    pub inspect: Option<String>,
    /// The inspector's WebSocket URL (`ws://127.0.0.1:9229/<id>`).
    #[arg(long, value_name = "URL")]
    pub ws: Option<String>,
    /// The pid of a running Node process: its inspector is switched on with SIGUSR1.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

impl TargetArgs {
    /// The target the flags name.
    pub fn spec(&self) -> Result<TargetSpec> {
        match (&self.inspect, &self.ws, self.pid) {
            (Some(address), _, _) => TargetSpec::parse_inspect(address),
            (_, Some(url), _) => Ok(TargetSpec::WebSocket(url.clone())),
            (_, _, Some(pid)) => Ok(TargetSpec::Pid { pid, port: None }),
            (None, None, None) => Err(Error::InvalidTarget {
                target: String::new(),
                reason: "give one of --inspect HOST:PORT, --ws URL or --pid PID".to_owned(),
            }),
        }
    }
}

/// Logs to stderr at `info` (or as `RUST_LOG` says).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves when the process gets Ctrl-C or SIGTERM, or when the target goes away (its program
/// ended, and the session let go of it so that it could exit; or the connection dropped): an
/// agent beside a program has nothing left to do then, and says why it stops.
pub async fn stop_requested_or_target_gone(session: &InspectorSession) -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
        () = session.closed() => {
            tracing::warn!(
                reason = session.close_reason().unwrap_or_default(),
                "The target went away; stopping."
            );
            Ok(())
        }
    }
}
