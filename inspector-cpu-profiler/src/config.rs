//! [`CpuProfileConfig`]: what the CPU profiler does, as the registry reads it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Settings of [`InspectorCpuProfiler`](crate::InspectorCpuProfiler), also its JSON
/// configuration in the registry (plugin `cpu-profile`). Every field has a default, so `{}`
/// is a valid configuration; unknown keys are refused.
///
/// ```
/// use openprofiling_inspector_cpu_profiler::CpuProfileConfig;
///
/// let config: CpuProfileConfig =
///     serde_json::from_str(r#"{ "sampling_interval_us": 250 }"#).unwrap();
/// assert_eq!(config.sampling_interval_us, 250);
/// assert!(!config.own_session);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuProfileConfig {
    /// Microseconds between two samples (`Profiler.setSamplingInterval`; default 1000, V8's
    /// own default). Smaller intervals give finer profiles and cost the target more.
    pub sampling_interval_us: u64,
    /// Opens a second inspector connection to the same target, on first use, rather than
    /// sharing the session the profiler was given (default `false`).
    pub own_session: bool,
    /// How long `Profiler.stop` may take, the profile's transfer included, before the profile
    /// fails (default 120 s: a long profile is tens of MB).
    pub timeout_secs: u64,
}

impl Default for CpuProfileConfig {
    fn default() -> Self {
        Self {
            sampling_interval_us: 1000,
            own_session: false,
            timeout_secs: 120,
        }
    }
}

impl CpuProfileConfig {
    /// [`timeout_secs`](Self::timeout_secs) as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Checks the values serde cannot: a sampling interval of at least 1 µs.
    pub fn validate(&self) -> Result<(), Error> {
        if self.sampling_interval_us == 0 {
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
            "sampling_interval_us": 100,
            "own_session": true,
            "timeout_secs": 30
        }"#;
        let config: CpuProfileConfig = serde_json::from_str(text).expect("valid config");
        assert_eq!(
            config,
            CpuProfileConfig {
                sampling_interval_us: 100,
                own_session: true,
                timeout_secs: 30,
            }
        );
        let json = serde_json::to_value(&config).expect("serializes");
        let expected: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(json, expected);
        let back: CpuProfileConfig = serde_json::from_value(json).expect("parses back");
        assert_eq!(back, config);
    }

    #[test]
    fn empty_config_gives_the_defaults() {
        let config: CpuProfileConfig = serde_json::from_str("{}").expect("valid config");
        assert_eq!(config, CpuProfileConfig::default());
        assert_eq!(config.sampling_interval_us, 1000);
        assert_eq!(config.timeout(), Duration::from_secs(120));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_and_a_zero_interval_are_refused() {
        let error = serde_json::from_str::<CpuProfileConfig>(r#"{ "sampling_interval": 5 }"#)
            .expect_err("a misspelt key must be refused");
        assert!(error.to_string().contains("sampling_interval"), "{error}");
        let zero = CpuProfileConfig {
            sampling_interval_us: 0,
            ..CpuProfileConfig::default()
        };
        let error = zero.validate().expect_err("zero is refused");
        assert!(
            error.to_string().contains("sampling_interval_us"),
            "{error}"
        );
    }
}
