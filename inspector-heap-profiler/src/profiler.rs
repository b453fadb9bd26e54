//! [`InspectorHeapProfiler`]: the sampling heap profiler.

use async_trait::async_trait;
use openprofiling_core::{
    Activity, InspectorSession, JsonArrayLen, ProfileKind, ProfileMetadata, ProfileWriter,
    Profiler, ProfilerMode, ProfilerSession, RangedProfile, RangedStartError, Result, TargetInfo,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};
use tracing::debug;

use crate::config::HeapProfileConfig;
use crate::error::Error;

const DOMAIN: &str = "HeapProfiler";
const START: &str = "HeapProfiler.startSampling";
const STOP: &str = "HeapProfiler.stopSampling";

/// Records V8 sampling heap profiles (`HeapProfiler.startSampling` … `stopSampling`) over an
/// inspector session and exports each as a `.heapprofile`, the JSON Chrome DevTools opens
/// (Memory tab, Load): which functions allocated the memory still alive, by call tree.
///
/// A ranged profiler: Start begins sampling, End stops it and writes the profile, as slices
/// of the reply's frame, without parsing it into values or copying it. Sampling costs the
/// target little: it can run for hours.
///
/// - The `HeapProfiler` domain is enabled through a counted guard held while the profile runs,
///   so a heap snapshot on the same session does not disable it, nor it theirs (see
///   [`RangedProfile`]).
/// - Refused while a heap snapshot of the same target is being taken, and a snapshot is
///   refused while this runs ([`Error::Conflict`]): together they crashed some Node versions
///   (nodejs/node#23877). Refused, not queued: sampling may last hours, and a snapshot must
///   not wait on it. See [`TargetActivity`](openprofiling_core::TargetActivity).
/// - One profile at a time per profiler ([`Error::Busy`]) and per target in this process.
/// - A profile still running at [`shutdown`](Profiler::shutdown) (the agent collects running
///   profiles before that, so only one started outside an agent) is stopped and discarded.
#[derive(Debug)]
pub struct InspectorHeapProfiler {
    ranged: RangedProfile,
    config: HeapProfileConfig,
}

/// What the attributes need from a sampling heap profile; also checks it is one.
#[derive(Deserialize)]
struct Summary {
    #[allow(dead_code, reason = "required: a profile without a head is refused")]
    head: IgnoredAny,
    #[serde(default)]
    samples: JsonArrayLen,
}

impl InspectorHeapProfiler {
    /// A profiler over `session` with the default settings: V8's 32 KiB sampling interval,
    /// live objects only, the shared session, two minutes for the stop.
    pub fn new(session: InspectorSession) -> Self {
        Self::with_config(session, HeapProfileConfig::default())
    }

    /// A profiler over `session` with `config`. With
    /// [`own_session`](HeapProfileConfig::own_session), `session` only tells where to open a
    /// connection of its own. The configuration is checked at each Start.
    pub fn with_config(session: InspectorSession, config: HeapProfileConfig) -> Self {
        let sessions = ProfilerSession::new(session, config.own_session);
        Self {
            ranged: RangedProfile::new(sessions, Activity::HeapSampling, DOMAIN, STOP),
            config,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &HeapProfileConfig {
        &self.config
    }

    /// Whether a profile is running now.
    pub async fn is_running(&self) -> bool {
        self.ranged.is_running().await
    }

    /// The parameters of `HeapProfiler.startSampling`; the GC flags only when set, so that
    /// runtimes that predate them get the call they know.
    fn start_params(&self) -> Value {
        let mut params = Map::new();
        params.insert(
            "samplingInterval".to_owned(),
            json!(self.config.sampling_interval_bytes),
        );
        if self.config.include_objects_collected_by_major_gc {
            params.insert("includeObjectsCollectedByMajorGC".to_owned(), json!(true));
        }
        if self.config.include_objects_collected_by_minor_gc {
            params.insert("includeObjectsCollectedByMinorGC".to_owned(), json!(true));
        }
        Value::Object(params)
    }
}

#[async_trait]
impl Profiler for InspectorHeapProfiler {
    fn kind(&self) -> ProfileKind {
        ProfileKind::HeapProfile
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
        let started = starting
            .session()
            .call::<Value>(START, self.start_params())
            .await;
        if let Err(error) = started {
            starting.abandon().await;
            return Err(error);
        }
        starting.started();
        debug!(
            profile = %profile.id,
            sampling_interval_bytes = self.config.sampling_interval_bytes,
            "Heap sampling started."
        );
        Ok(())
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        // Sampling is over and the domain and the target are free again once this returns,
        // so a snapshot may follow at once.
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
            .map_err(|source| Error::NotAHeapProfile { source })?;
        profile.write_to(writer).await?;

        writer.set_attribute(
            "sampling_interval_bytes",
            i64::try_from(self.config.sampling_interval_bytes).unwrap_or(i64::MAX),
        );
        writer.set_attribute(
            "samples",
            i64::try_from(summary.samples.0).unwrap_or(i64::MAX),
        );
        writer.set_attribute(
            "include_objects_collected_by_major_gc",
            self.config.include_objects_collected_by_major_gc,
        );
        writer.set_attribute(
            "include_objects_collected_by_minor_gc",
            self.config.include_objects_collected_by_minor_gc,
        );
        debug!(
            bytes = profile.len(),
            samples = summary.samples.0,
            "Heap sampling profile collected."
        );
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        self.ranged.shutdown().await;
        Ok(())
    }
}
