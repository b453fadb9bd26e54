//! Core of openprofiling (table of contents; see the README).

mod agent;
mod error;
mod exporter;
mod inspector;
mod manual;
mod profile;
mod profiler;
pub mod registry;
mod trigger;

#[doc(hidden)]
pub use inventory as __inventory;

#[cfg(feature = "test-util")]
pub mod mock;

pub use agent::{
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_SINK_BUFFER, ExportOutcome, ProfileReport, ProfileWriter,
    ProfilingAgent, RunningAgent, SINK_BYTE_BUDGET,
};
pub use error::{BoxError, Error, Result};
pub use exporter::{ExportReceipt, ExportSink, Exporter};
pub use inspector::*;
pub use manual::{ManualTrigger, ManualTriggerHandle};
pub use profile::{
    AttributeValue, Attributes, ProfileId, ProfileKind, ProfileMetadata, ProfileStatus, TargetInfo,
};
pub use profiler::{Profiler, ProfilerMode};
pub use registry::{PluginContext, Registry};
pub use trigger::{Reaction, ReactionOutcome, Trigger, TriggerAction, TriggerEvent, TriggerEvents};
