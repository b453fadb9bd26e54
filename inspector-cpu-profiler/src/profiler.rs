//! [`InspectorCpuProfiler`]: the CPU profiler.

use std::time::Duration;

use async_trait::async_trait;
use openprofiling_core::{
    Activity, ActivityClaim, DomainGuard, InspectorSession, JsonArrayLen, ProfileKind,
    ProfileMetadata, ProfileWriter, Profiler, ProfilerMode, ProfilerSession, Result,
    TargetActivity, TargetInfo,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::config::CpuProfileConfig;
use crate::error::Error;

const DOMAIN: &str = "Profiler";
const STOP: &str = "Profiler.stop";
/// How long shutdown waits for `Profiler.stop` of a profile nobody collected.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Records V8 CPU profiles (`Profiler.start` … `Profiler.stop`) over an inspector session and
/// exports each as a `.cpuprofile`, the JSON Chrome DevTools and speedscope open.
///
/// A ranged profiler: Start begins sampling, End stops it and writes the profile. The stop
/// reply (tens of MB for a long profile) is written as slices of the frame it came in,
/// without being parsed into values or copied.
///
/// - The `Profiler` domain is enabled through a counted [`DomainGuard`] held while the profile
///   runs, so other profilers sharing the session keep their domains.
/// - One profile at a time per profiler ([`Error::Busy`]) and per target in this process
///   ([`Error::Conflict`]); a CPU profile may run alongside a heap snapshot or heap sampling
///   (see [`TargetActivity`]).
/// - A profile still running at [`shutdown`](Profiler::shutdown) (the agent collects running
///   profiles before that, so only one started outside an agent) is stopped and discarded.
#[derive(Debug)]
pub struct InspectorCpuProfiler {
    sessions: ProfilerSession,
    config: CpuProfileConfig,
    running: Mutex<Option<Running>>,
}

/// A profile in progress and what it holds on the target.
#[derive(Debug)]
struct Running {
    session: InspectorSession,
    domain: DomainGuard,
    _claim: ActivityClaim,
}

/// What the attributes need from a CPU profile; also checks it is one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    nodes: JsonArrayLen,
    #[serde(default)]
    samples: JsonArrayLen,
    #[serde(default)]
    start_time: f64,
    #[serde(default)]
    end_time: f64,
}

impl InspectorCpuProfiler {
    /// A profiler over `session` with the default settings: V8's 1 ms sampling interval, the
    /// shared session, two minutes for the stop.
    pub fn new(session: InspectorSession) -> Self {
        Self::with_config(session, CpuProfileConfig::default())
    }

    /// A profiler over `session` with `config`. With
    /// [`own_session`](CpuProfileConfig::own_session), `session` only tells where to open a
    /// connection of its own. The configuration is checked at each Start.
    pub fn with_config(session: InspectorSession, config: CpuProfileConfig) -> Self {
        Self {
            sessions: ProfilerSession::new(session, config.own_session),
            config,
            running: Mutex::new(None),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &CpuProfileConfig {
        &self.config
    }

    /// Whether a profile is running now.
    pub async fn is_running(&self) -> bool {
        self.running.lock().await.is_some()
    }

    /// Enables the domain and starts the profiler over `session`.
    async fn begin(&self, session: &InspectorSession) -> Result<DomainGuard> {
        let domain = session.enable_domain(DOMAIN).await?;
        let started = async {
            let interval = json!({ "interval": self.config.sampling_interval_us });
            let _: serde_json::Value = session
                .call("Profiler.setSamplingInterval", interval)
                .await?;
            let _: serde_json::Value = session.call("Profiler.start", json!({})).await?;
            Ok::<_, openprofiling_core::Error>(())
        };
        match started.await {
            Ok(()) => Ok(domain),
            Err(error) => {
                if let Err(release) = domain.release().await {
                    debug!(%release, "Disabling Profiler after a failed start failed too.");
                }
                Err(error)
            }
        }
    }
}

#[async_trait]
impl Profiler for InspectorCpuProfiler {
    fn kind(&self) -> ProfileKind {
        ProfileKind::CpuProfile
    }

    fn mode(&self) -> ProfilerMode {
        ProfilerMode::Ranged
    }

    fn target(&self) -> TargetInfo {
        self.sessions.given().target().clone()
    }

    async fn start(&self, profile: &ProfileMetadata) -> Result<()> {
        self.config.validate()?;
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Err(Error::Busy.into());
        }
        let claim = TargetActivity::claim(self.sessions.given().url(), Activity::CpuProfile)
            .map_err(Error::Conflict)?;
        let session = self.sessions.get().await?;
        let domain = self.begin(&session).await?;
        debug!(
            profile = %profile.id,
            sampling_interval_us = self.config.sampling_interval_us,
            "CPU profile started."
        );
        *running = Some(Running {
            session,
            domain,
            _claim: claim,
        });
        Ok(())
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        let running = self.running.lock().await.take().ok_or(Error::NotRunning)?;
        let stopped = running
            .session
            .call_raw(STOP, json!({}), self.config.timeout())
            .await;
        // The profiler is stopped (or, if the stop failed, stopped by the disable): free the
        // domain and the target before writing.
        if let Err(error) = running.domain.release().await {
            warn!(%error, "Disabling Profiler after the CPU profile failed; the profile is complete.");
        }
        drop(running._claim);

        let profile = stopped?
            .member("profile", STOP)?
            .ok_or(Error::MissingProfile)?;
        let summary: Summary = profile
            .parse()
            .map_err(|source| Error::NotACpuProfile { source })?;
        profile.write_to(writer).await?;

        writer.set_attribute(
            "sampling_interval_us",
            i64::try_from(self.config.sampling_interval_us).unwrap_or(i64::MAX),
        );
        writer.set_attribute(
            "samples",
            i64::try_from(summary.samples.0).unwrap_or(i64::MAX),
        );
        writer.set_attribute("nodes", i64::try_from(summary.nodes.0).unwrap_or(i64::MAX));
        let duration_us = (summary.end_time - summary.start_time).max(0.0);
        writer.set_attribute("duration_us", duration_us);
        debug!(
            bytes = profile.len(),
            samples = summary.samples.0,
            nodes = summary.nodes.0,
            "CPU profile collected."
        );
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        if let Some(running) = self.running.lock().await.take() {
            warn!("Shutting down with a CPU profile nobody collected: stopping and discarding it.");
            if let Err(error) = running
                .session
                .call_raw(STOP, json!({}), DISCARD_TIMEOUT)
                .await
            {
                debug!(%error, "Stopping the discarded CPU profile failed.");
            }
            if let Err(error) = running.domain.release().await {
                debug!(%error, "Disabling Profiler at shutdown failed.");
            }
        }
        self.sessions.close().await;
        Ok(())
    }
}
