//! Registration as the `heap-profile` profiler plugin.

use std::sync::Arc;

use openprofiling_core::registry::parse_config;
use openprofiling_core::{Error, PluginContext, Profiler, Result, register_profiler};
use serde_json::Value;

use crate::config::HeapProfileConfig;
use crate::error::PLUGIN_NAME;
use crate::profiler::InspectorHeapProfiler;

register_profiler!(
    name: PLUGIN_NAME,
    description: "V8 sampling heap profile (HeapProfiler.startSampling / stopSampling) over the inspector, exported as .heapprofile",
    config_keys: [
        "sampling_interval_bytes",
        "include_objects_collected_by_major_gc",
        "include_objects_collected_by_minor_gc",
        "own_session",
        "timeout_secs",
    ],
    build: build,
);

/// Builds the profiler from its JSON configuration and the context's shared session.
fn build(config: &Value, context: &PluginContext) -> Result<Arc<dyn Profiler>> {
    let config: HeapProfileConfig = parse_config(PLUGIN_NAME, config)?;
    config.validate().map_err(|error| Error::Config {
        plugin: PLUGIN_NAME.to_owned(),
        source: error.into(),
    })?;
    let session = context.require_session(PLUGIN_NAME)?;
    Ok(Arc::new(InspectorHeapProfiler::with_config(
        session, config,
    )))
}
