//! [`HeapSnapshotConfig`]: what the heap snapshot profiler does, as the registry reads it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of [`InspectorHeapSnapshot`](crate::InspectorHeapSnapshot), also its JSON
/// configuration in the registry (plugin `heapsnapshot`). Every field has a default, so `{}`
/// is a valid configuration; unknown keys are refused.
///
/// ```
/// use openprofiling_inspector_heapsnapshot::HeapSnapshotConfig;
///
/// let config: HeapSnapshotConfig =
///     serde_json::from_str(r#"{ "gc_before": false, "timeout_secs": 60 }"#).unwrap();
/// assert!(!config.gc_before);
/// assert!(config.gc_after);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeapSnapshotConfig {
    /// Runs `HeapProfiler.collectGarbage` before the snapshot, so it shows live objects only
    /// (default `true`, as the original agent did).
    pub gc_before: bool,
    /// Runs `HeapProfiler.collectGarbage` after the snapshot, to give back at once the memory
    /// the snapshot made the target allocate (default `true`). Its failure is logged, not a
    /// failure of the profile.
    pub gc_after: bool,
    /// Includes V8's internal objects in the snapshot (`exposeInternals`; default `false`).
    pub expose_internals: bool,
    /// Records the values of numbers, not just their presence (`captureNumericValue`; default
    /// `false`). Numbers may be sensitive data, as strings are.
    pub capture_numeric_value: bool,
    /// Asks V8 to report its progress while it builds the snapshot (`reportProgress`; default
    /// `true`, as the original agent did), for progress bars and logs. V8 counts the heap's
    /// objects first to do so: turning it off saved about 8 % of the snapshot's time on a
    /// 135 MB Node heap (0.7–0.9 s of 10 s).
    pub report_progress: bool,
    /// How long `HeapProfiler.takeHeapSnapshot` may take, chunks streamed included, before
    /// the profile fails (default 900 s: a snapshot of several GB takes minutes).
    pub timeout_secs: u64,
    /// Opens a second inspector connection to the same target, on first use, rather than
    /// sharing the session the profiler was given (default `false`). Useful when other
    /// profilers keep the shared session busy.
    pub own_session: bool,
    /// Before each snapshot, estimates the memory it will make the target allocate (about
    /// 11× its used heap at the peak, measured on Node 20) and refuses the snapshot when the
    /// target's cgroup, or the machine without a limit, has not that much free (default
    /// `true`). Turn off to force a snapshot (the CLI's `--force`).
    pub memory_guard: bool,
    /// How much more than the estimate must be free, in percent of it (default 25).
    pub memory_margin_percent: u32,
}

impl Default for HeapSnapshotConfig {
    fn default() -> Self {
        Self {
            gc_before: true,
            gc_after: true,
            expose_internals: false,
            capture_numeric_value: false,
            report_progress: true,
            timeout_secs: 900,
            own_session: false,
            memory_guard: true,
            memory_margin_percent: 25,
        }
    }
}

impl HeapSnapshotConfig {
    /// [`timeout_secs`](Self::timeout_secs) as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_round_trips() {
        let text = r#"{
            "gc_before": false,
            "gc_after": true,
            "expose_internals": true,
            "capture_numeric_value": true,
            "report_progress": false,
            "timeout_secs": 120,
            "own_session": true,
            "memory_guard": false,
            "memory_margin_percent": 50
        }"#;
        let config: HeapSnapshotConfig = serde_json::from_str(text).expect("valid config");
        assert_eq!(
            config,
            HeapSnapshotConfig {
                gc_before: false,
                gc_after: true,
                expose_internals: true,
                capture_numeric_value: true,
                report_progress: false,
                timeout_secs: 120,
                own_session: true,
                memory_guard: false,
                memory_margin_percent: 50,
            }
        );
        let json = serde_json::to_value(&config).expect("serializes");
        let expected: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(json, expected);
        let back: HeapSnapshotConfig = serde_json::from_value(json).expect("parses back");
        assert_eq!(back, config);
    }

    #[test]
    fn empty_config_gives_the_defaults() {
        let config: HeapSnapshotConfig = serde_json::from_str("{}").expect("valid config");
        assert_eq!(config, HeapSnapshotConfig::default());
        assert!(config.gc_before && config.gc_after);
        assert!(!config.expose_internals && !config.capture_numeric_value);
        assert_eq!(config.timeout(), Duration::from_secs(900));
        assert!(!config.own_session);
        assert!(config.memory_guard);
        assert_eq!(config.memory_margin_percent, 25);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let error = serde_json::from_str::<HeapSnapshotConfig>(r#"{ "gc_befor": false }"#)
            .expect_err("a misspelt key must be refused");
        assert!(error.to_string().contains("gc_befor"), "{error}");
    }
}
