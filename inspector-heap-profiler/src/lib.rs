//! Sampling heap profiler for openprofiling: V8 `HeapProfiler.startSampling` /
//! `stopSampling` over the inspector, exported as `.heapprofile` (which Chrome DevTools opens:
//! Memory tab, Load).
//!
//! [`InspectorHeapProfiler`] is a ranged [`Profiler`](openprofiling_core::Profiler): a Start
//! of its trigger begins sampling allocations, an End stops it and exports the profile: the
//! call tree of the functions that allocated what is still alive. It registers itself as the
//! `heap-profile` profiler plugin, configured by [`HeapProfileConfig`].
//!
//! While it samples a target, heap snapshots of that target are refused (and it is refused
//! while a snapshot is taken): together they crashed some Node versions (nodejs/node#23877).
//! See [`openprofiling_core::TargetActivity`].
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
//! use openprofiling_inspector_heap_profiler::InspectorHeapProfiler;
//!
//! let target = Discovery::new().discover(&TargetSpec::parse_inspect("127.0.0.1:9229")?).await?;
//! let session = InspectorSession::connect(&target).await?;
//! let profiler = InspectorHeapProfiler::new(session);
//!
//! let (trigger, handle) = ManualTrigger::new("now");
//! let agent = ProfilingAgent::new().register(trigger, profiler).exporter(Files).start()?;
//! handle.start().await?; // sampling allocations…
//! let reaction = handle.end().await?; // …stopped, exported
//! let report = reaction.finished().await;
//! agent.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod error;
mod plugin;
mod profiler;

pub use config::HeapProfileConfig;
pub use error::{Error, Result};
pub use profiler::InspectorHeapProfiler;
