//! Heap snapshot profiler for openprofiling: `HeapProfiler.takeHeapSnapshot` over the V8
//! inspector, each chunk unescaped as it arrives into 4 MiB blocks streamed to the exporters.
//!
//! [`InspectorHeapSnapshot`] is an instant [`Profiler`](openprofiling_core::Profiler): each
//! Start of its trigger captures one snapshot (`.heapsnapshot`, which Chrome DevTools opens).
//! It registers itself as the `heapsnapshot` profiler plugin, configured by
//! [`HeapSnapshotConfig`]; [`InspectorHeapSnapshot::progress`] follows each snapshot.
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
//! use openprofiling_inspector_heapsnapshot::InspectorHeapSnapshot;
//!
//! let target = Discovery::new().discover(&TargetSpec::parse_inspect("127.0.0.1:9229")?).await?;
//! let session = InspectorSession::connect(&target).await?;
//! let profiler = InspectorHeapSnapshot::new(session);
//! let progress = profiler.progress(); // progress.borrow().fraction() for a progress bar
//!
//! let (trigger, handle) = ManualTrigger::new("now");
//! let agent = ProfilingAgent::new().register(trigger, profiler).exporter(Files).start()?;
//! let reaction = handle.start().await?;
//! let report = reaction.finished().await;
//! agent.shutdown().await;
//! # Ok(()) }
//! ```

mod busy;
mod config;
mod error;
pub mod guard;
mod plugin;
mod profiler;
mod progress;
mod stream;

pub use config::HeapSnapshotConfig;
pub use error::{Error, Result};
pub use profiler::InspectorHeapSnapshot;
pub use progress::SnapshotProgress;
