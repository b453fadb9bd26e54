//! Registration as the `heapsnapshot` profiler plugin.

use std::sync::Arc;

use openprofiling_core::registry::parse_config;
use openprofiling_core::{PluginContext, Profiler, Result, register_profiler};
use serde_json::Value;

use crate::config::HeapSnapshotConfig;
use crate::error::PLUGIN_NAME;
use crate::profiler::InspectorHeapSnapshot;

register_profiler!(
    name: PLUGIN_NAME,
    description: "V8 heap snapshot (HeapProfiler.takeHeapSnapshot) over the inspector, streamed to the exporters as it arrives, in 4 MiB blocks",
    config_keys: [
        "gc_before",
        "gc_after",
        "expose_internals",
        "capture_numeric_value",
        "report_progress",
        "timeout_secs",
        "own_session",
        "memory_guard",
        "memory_margin_percent",
    ],
    build: build,
);

/// Builds the profiler from its JSON configuration and the context's shared session.
fn build(config: &Value, context: &PluginContext) -> Result<Arc<dyn Profiler>> {
    let config: HeapSnapshotConfig = parse_config(PLUGIN_NAME, config)?;
    let session = context.require_session(PLUGIN_NAME)?;
    Ok(Arc::new(InspectorHeapSnapshot::with_config(
        session, config,
    )))
}
