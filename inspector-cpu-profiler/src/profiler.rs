//! [`InspectorCpuProfiler`]: the CPU profiler.

use async_trait::async_trait;
use openprofiling_core::{
    Activity, InspectorSession, JsonArrayLen, ProfileKind, ProfileMetadata, ProfileWriter,
    Profiler, ProfilerMode, ProfilerSession, RangedProfile, RangedStartError, Result, TargetInfo,
};
use serde::Deserialize;
use serde_json::json;
use tracing::debug;

use crate::config::CpuProfileConfig;
use crate::error::Error;

const DOMAIN: &str = "Profiler";
const STOP: &str = "Profiler.stop";

/// Records V8 CPU profiles (`Profiler.start` … `Profiler.stop`) over an inspector session and
/// exports each as a `.cpuprofile`, the JSON Chrome DevTools and speedscope open.
///
/// A ranged profiler: Start begins sampling, End stops it and writes the profile. The stop
/// reply (tens of MB for a long profile) is written as slices of the frame it came in,
/// without being parsed into values or copied.
///
/// - The `Profiler` domain is enabled through a counted guard held while the profile runs, so
///   other profilers sharing the session keep their domains (see [`RangedProfile`]).
/// - One profile at a time per profiler ([`Error::Busy`]) and per target in this process
///   ([`Error::Conflict`]); a CPU profile may run alongside a heap snapshot or heap sampling
///   (see [`TargetActivity`](openprofiling_core::TargetActivity)).
/// - A profile still running at [`shutdown`](Profiler::shutdown) (the agent collects running
///   profiles before that, so only one started outside an agent) is stopped and discarded.
#[derive(Debug)]
pub struct InspectorCpuProfiler {
    ranged: RangedProfile,
    config: CpuProfileConfig,
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
        let sessions = ProfilerSession::new(session, config.own_session);
        Self {
            ranged: RangedProfile::new(sessions, Activity::CpuProfile, DOMAIN, STOP),
            config,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &CpuProfileConfig {
        &self.config
    }

    /// Whether a profile is running now.
    pub async fn is_running(&self) -> bool {
        self.ranged.is_running().await
    }

    /// The start calls, over a session whose `Profiler` domain is enabled.
    async fn start_calls(&self, session: &InspectorSession) -> Result<()> {
        let interval = json!({ "interval": self.config.sampling_interval_us });
        let _: serde_json::Value = session
            .call("Profiler.setSamplingInterval", interval)
            .await?;
        let _: serde_json::Value = session.call("Profiler.start", json!({})).await?;
        Ok(())
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
        self.ranged.sessions().given().target().clone()
    }

    async fn start(&self, profile: &ProfileMetadata) -> Result<()> {
        self.config.validate()?;
        let starting = self.ranged.begin().await.map_err(|refused| match refused {
            RangedStartError::Busy => Error::Busy.into(),
            RangedStartError::Conflict(conflict) => Error::Conflict(conflict).into(),
            RangedStartError::Inspector(error) => error,
        })?;
        if let Err(error) = self.start_calls(starting.session()).await {
            starting.abandon().await;
            return Err(error);
        }
        starting.started();
        debug!(
            profile = %profile.id,
            sampling_interval_us = self.config.sampling_interval_us,
            "CPU profile started."
        );
        Ok(())
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        // The domain and the target are free again once this returns.
        let stopped = self
            .ranged
            .stop(self.config.timeout())
            .await
            .ok_or(Error::NotRunning)?;
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
        self.ranged.shutdown().await;
        Ok(())
    }
}
