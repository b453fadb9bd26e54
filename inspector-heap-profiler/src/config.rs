//! [`HeapProfileConfig`]: what the sampling heap profiler does, as the registry reads it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Settings of [`InspectorHeapProfiler`](crate::InspectorHeapProfiler), also its JSON
/// configuration in the registry (plugin `heap-profile`). Every field has a default, so `{}`
/// is a valid configuration; unknown keys are refused.
///
/// ```
/// use openprofiling_inspector_heap_profiler::HeapProfileConfig;
///
/// let config: HeapProfileConfig =
///     serde_json::from_str(r#"{ "sampling_interval_bytes": 4096 }"#).unwrap();
/// assert_eq!(config.sampling_interval_bytes, 4096);
/// assert!(!config.include_objects_collected_by_major_gc);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeapProfileConfig {
    /// Average bytes allocated between two samples (`samplingInterval` of
    /// `HeapProfiler.startSampling`; default 32768, V8's own default). Smaller intervals see
    /// smaller allocations and cost the target more.
    pub sampling_interval_bytes: u64,
    /// Keeps the samples of objects a major GC has freed since
    /// (`includeObjectsCollectedByMajorGC`; default `false`: the profile shows what is still
    /// alive, which is what a leak hunt wants).
    pub include_objects_collected_by_major_gc: bool,
    /// Keeps the samples of objects a minor GC has freed since
    /// (`includeObjectsCollectedByMinorGC`; default `false`).
    pub include_objects_collected_by_minor_gc: bool,
    /// Opens a second inspector connection to the same target, on first use, rather than
    /// sharing the session the profiler was given (default `false`).
    pub own_session: bool,
    /// How long `HeapProfiler.stopSampling` may take, the profile's transfer included, before
    /// the profile fails (default 120 s).
    pub timeout_secs: u64,
}

impl Default for HeapProfileConfig {
    fn default() -> Self {
        Self {
            sampling_interval_bytes: 32768,
            include_objects_collected_by_major_gc: false,
            include_objects_collected_by_minor_gc: false,
            own_session: false,
            timeout_secs: 120,
        }
    }
}

impl HeapProfileConfig {
    /// [`timeout_secs`](Self::timeout_secs) as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Checks the values serde cannot: a sampling interval of at least 1 byte.
    pub fn validate(&self) -> Result<(), Error> {
        if self.sampling_interval_bytes == 0 {
            return Err(Error::InvalidSamplingInterval);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_round_trips() {
        let text = r#"{
            "sampling_interval_bytes": 1024,
            "include_objects_collected_by_major_gc": true,
            "include_objects_collected_by_minor_gc": false,
            "own_session": true,
            "timeout_secs": 30
        }"#;
        let config: HeapProfileConfig = serde_json::from_str(text).expect("valid config");
        assert_eq!(
            config,
            HeapProfileConfig {
                sampling_interval_bytes: 1024,
                include_objects_collected_by_major_gc: true,
                include_objects_collected_by_minor_gc: false,
                own_session: true,
                timeout_secs: 30,
            }
        );
        let json = serde_json::to_value(&config).expect("serializes");
        let expected: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(json, expected);
        let back: HeapProfileConfig = serde_json::from_value(json).expect("parses back");
        assert_eq!(back, config);
    }

    #[test]
    fn empty_config_gives_the_defaults() {
        let config: HeapProfileConfig = serde_json::from_str("{}").expect("valid config");
        assert_eq!(config, HeapProfileConfig::default());
        assert_eq!(config.sampling_interval_bytes, 32768);
        assert_eq!(config.timeout(), Duration::from_secs(120));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_and_a_zero_interval_are_refused() {
        let error = serde_json::from_str::<HeapProfileConfig>(r#"{ "samplingInterval": 5 }"#)
            .expect_err("a misspelt key must be refused");
        assert!(error.to_string().contains("samplingInterval"), "{error}");
        let zero = HeapProfileConfig {
            sampling_interval_bytes: 0,
            ..HeapProfileConfig::default()
        };
        let error = zero.validate().expect_err("zero is refused");
        assert!(
            error.to_string().contains("sampling_interval_bytes"),
            "{error}"
        );
    }
}
