//! `openprofiling agent --config FILE`: the long-running agent, assembled from JSON through the
//! plugin registry, reattaching when its target goes away.

mod backoff;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use openprofiling_core::{
    Discovery, InspectorSession, PluginContext, ProfilingAgent, Registry, RunningAgent, TargetSpec,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error_text::one_line;
use crate::report::print_report;
use crate::stop::StopSignals;
use backoff::Backoff;
use config::AgentConfig;

/// How long triggers may take to start listening before the agent says it is ready anyway.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// `openprofiling agent --config FILE`
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// The agent's JSON configuration: `target`, `reactions` (a trigger and a profiler each)
    /// and `exporters`; see the README and `openprofiling plugins`.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(crate) async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let mut stop = StopSignals::install()?;
    let registry = Registry::global()?;
    let config = AgentConfig::load(&args.config, registry)?;
    let spec = config.target.spec()?;
    let discovery = Discovery::new().allow_remote(config.target.allow_remote);
    let mut backoff = Backoff::new();
    loop {
        let attached = tokio::select! {
            attached = attach(&discovery, &spec) => attached,
            signal = stop.recv() => {
                info!(signal = signal.name(), "Stopping before the target was reached.");
                return Ok(ExitCode::SUCCESS);
            }
        };
        let session = match attached {
            Ok(session) => session,
            Err(error) => {
                let (attempt, delay) = backoff.next_delay();
                if attempt == 1 {
                    warn!(
                        "Cannot reach the target: {}. Retrying until it answers (-v shows each attempt).",
                        one_line(&error)
                    );
                } else {
                    info!(attempt, "Cannot reach the target: {}", one_line(&error));
                }
                info!(?delay, "Next attempt to attach.");
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    signal = stop.recv() => {
                        info!(signal = signal.name(), "Stopping; the target was never reached.");
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
        };
        backoff.reset();
        let shutdown = CancellationToken::new();
        let agent = build_agent(registry, &config, &session, &shutdown)?;
        if tokio::time::timeout(READY_TIMEOUT, agent.ready()).await != Ok(true) {
            warn!("A trigger is not listening; see the errors above.");
        }
        println!(
            "ready: attached to {} (pid {}); {} reaction(s), {} exporter(s)",
            session.url(),
            session
                .target()
                .pid
                .map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
            config.reactions.len(),
            config.exporters.len(),
        );
        let stopped = serve(&agent, &session, &mut stop).await;
        shutdown.cancel();
        agent.shutdown().await;
        session.close();
        if stopped {
            return Ok(ExitCode::SUCCESS);
        }
        warn!(
            url = session.url(),
            reason = session.close_reason().unwrap_or_default(),
            "The target went away; reattaching when it is back."
        );
    }
}

/// Finds the target and opens one inspector session to it, shared by every profiler.
async fn attach(discovery: &Discovery, spec: &TargetSpec) -> anyhow::Result<InspectorSession> {
    info!(target = %spec, "Attaching.");
    let target = discovery.discover(spec).await?;
    let session = InspectorSession::connect(&target)
        .await
        .with_context(|| format!("cannot open an inspector session to {}", target.ws_url))?;
    info!(url = session.url(), "Attached.");
    Ok(session)
}

/// Builds every reaction and exporter from the configuration, the profilers sharing `session`.
fn build_agent(
    registry: &Registry,
    config: &AgentConfig,
    session: &InspectorSession,
    shutdown: &CancellationToken,
) -> anyhow::Result<RunningAgent> {
    let context = PluginContext::new()
        .with_session(session.clone())
        .with_shutdown(shutdown.clone());
    let mut agent = ProfilingAgent::new();
    for (index, reaction) in config.reactions.iter().enumerate() {
        let trigger = registry
            .build_trigger(&reaction.trigger.kind, &reaction.trigger.config, &context)
            .with_context(|| format!("reactions[{index}].trigger"))?;
        let profiler = registry
            .build_profiler(&reaction.profiler.kind, &reaction.profiler.config, &context)
            .with_context(|| format!("reactions[{index}].profiler"))?;
        info!(
            trigger = trigger.name(),
            profiler = reaction.profiler.kind,
            "Reaction registered."
        );
        agent = agent.register_boxed(trigger, profiler);
    }
    for (index, exporter) in config.exporters.iter().enumerate() {
        let exporter = registry
            .build_exporter(&exporter.kind, &exporter.config, &context)
            .with_context(|| format!("exporters[{index}]"))?;
        agent = agent.exporter_boxed(exporter);
    }
    Ok(agent.start()?)
}

/// Prints each profile's report until a stop signal (`true`) or the target goes away
/// (`false`).
async fn serve(agent: &RunningAgent, session: &InspectorSession, stop: &mut StopSignals) -> bool {
    let mut reports = agent.reports();
    loop {
        tokio::select! {
            signal = stop.recv() => {
                info!(signal = signal.name(), "Shutting down: profiles in flight are completed or aborted.");
                return true;
            }
            () = session.closed() => return false,
            report = reports.recv() => match report {
                Ok(report) => print_report(&report),
                Err(RecvError::Lagged(missed)) => warn!(missed, "Some profile reports were not printed."),
                Err(RecvError::Closed) => return false,
            },
        }
    }
}
