//! CPU profiler for openprofiling: V8 `Profiler.start` / `Profiler.stop` over the inspector,
//! exported as `.cpuprofile` (the JSON Chrome DevTools and speedscope open).
//!
//! [`InspectorCpuProfiler`] is a ranged [`Profiler`](openprofiling_core::Profiler): a Start
//! of its trigger begins sampling, an End (the next signal, for a toggling trigger) stops it
//! and exports the profile. It registers itself as the `cpu-profile` profiler plugin,
//! configured by [`CpuProfileConfig`]. It shares the session it is given with the other
//! profilers of the agent, unless told to open its own.
//!
//! ```no_run
//! # use openprofiling_core::{ExportSink, Exporter, ProfileMetadata};
//! # #[derive(Debug)] struct Files;
//! # #[async_trait::async_trait] impl Exporter for Files {
//! #   fn name(&self) -> String { "files".into() }
//! #   async fn begin(&self, _: &ProfileMetadata) -> openprofiling_core::Result<Box<dyn ExportSink>> { unimplemented!() }
//! # }
//! # async fn demo() -> openprofiling_core::Result<()> {
//! use openprofiling_core::{Discovery, InspectorSession, ManualTrigger, ProfilingAgent, TargetSpec};
//! use openprofiling_inspector_cpu_profiler::{CpuProfileConfig, InspectorCpuProfiler};
//!
//! let target = Discovery::new().discover(&TargetSpec::parse_inspect("127.0.0.1:9229")?).await?;
//! let session = InspectorSession::connect(&target).await?;
//! let config = CpuProfileConfig { sampling_interval_us: 500, ..CpuProfileConfig::default() };
//! let profiler = InspectorCpuProfiler::with_config(session, config);
//!
//! let (trigger, handle) = ManualTrigger::new("now");
//! let agent = ProfilingAgent::new().register(trigger, profiler).exporter(Files).start()?;
//! handle.start().await?; // sampling…
//! let reaction = handle.end().await?; // …stopped, exported
//! let report = reaction.finished().await;
//! agent.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod error;
mod plugin;
mod profiler;

pub use config::CpuProfileConfig;
pub use error::{Error, Result};
pub use profiler::InspectorCpuProfiler;
