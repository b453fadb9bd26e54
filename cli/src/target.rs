//! Which program to profile: an inspector address, a WebSocket URL, a pid, or a command to run.

use clap::Args;
use openprofiling_core::{DiscoveredTarget, Discovery, TargetSpec};

use crate::spawn::SpawnedTarget;

/// Where the program to profile is: one of `--inspect`, `--ws`, `--pid`, or `-- COMMAND`.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The inspector's HOST:PORT, as given to `node --inspect=HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT", group = "target")]
    inspect: Option<String>,
    /// The inspector's WebSocket URL (`ws://127.0.0.1:9229/<id>`).
    #[arg(long, value_name = "URL", group = "target")]
    ws: Option<String>,
    /// The pid of a running Node process; its inspector is switched on with SIGUSR1.
    #[arg(long, value_name = "PID", group = "target")]
    pid: Option<u32>,
    /// Allow an inspector on a host other than loopback. The inspector gives remote code
    /// execution to whoever reaches it: only through a tunnel you trust.
    #[arg(long)]
    allow_remote: bool,
    /// A program to start with its inspector on (`--inspect=127.0.0.1:0`), profile, and stop.
    #[arg(last = true, value_name = "COMMAND", group = "target")]
    command: Vec<String>,
}

/// The target found, and the child process when we started it.
pub(crate) struct ResolvedTarget {
    pub(crate) target: DiscoveredTarget,
    pub(crate) spawned: Option<SpawnedTarget>,
}

impl TargetArgs {
    /// Finds the target's inspector, starting the command first if one was given.
    pub(crate) async fn resolve(&self) -> anyhow::Result<ResolvedTarget> {
        let discovery = Discovery::new().allow_remote(self.allow_remote);
        if !self.command.is_empty() {
            let spawned = SpawnedTarget::start(&self.command).await?;
            let target = discovery
                .discover(&TargetSpec::WebSocket(spawned.ws_url().to_owned()))
                .await?;
            let mut target = target;
            target.info.pid = spawned.pid();
            return Ok(ResolvedTarget {
                target,
                spawned: Some(spawned),
            });
        }
        let spec = match (&self.inspect, &self.ws, self.pid) {
            (Some(address), _, _) => TargetSpec::parse_inspect(address)?,
            (_, Some(url), _) => TargetSpec::WebSocket(url.clone()),
            (_, _, Some(pid)) => TargetSpec::Pid { pid, port: None },
            (None, None, None) => anyhow::bail!(
                "no target given: use --inspect HOST:PORT, --ws URL, --pid PID, or -- COMMAND ARGS… (e.g. `-- node app.js`)"
            ),
        };
        Ok(ResolvedTarget {
            target: discovery.discover(&spec).await?,
            spawned: None,
        })
    }
}
