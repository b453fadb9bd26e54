//! Profile metadata: what was profiled, when, how it ended, and how big it is.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// What kind of profile a profiler produces. Decides the file extension and content type.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// A V8 heap snapshot (`HeapProfiler.takeHeapSnapshot`).
    HeapSnapshot,
    /// A V8 CPU profile (`Profiler.start` / `Profiler.stop`).
    CpuProfile,
    /// A V8 sampling heap profile (`HeapProfiler.startSampling` / `stopSampling`).
    HeapProfile,
}

impl ProfileKind {
    /// The file extension Chrome DevTools and speedscope expect, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::HeapSnapshot => ".heapsnapshot",
            Self::CpuProfile => ".cpuprofile",
            Self::HeapProfile => ".heapprofile",
        }
    }

    /// The name used in file names, as the original (`heap_snapshot`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeapSnapshot => "heap_snapshot",
            Self::CpuProfile => "cpu_profile",
            Self::HeapProfile => "heap_profile",
        }
    }

    /// The MIME type of the raw profile (all three are JSON).
    pub fn content_type(self) -> &'static str {
        "application/json"
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value of a profile or trigger attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}
impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}
impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}
impl From<f64> for AttributeValue {
    fn from(value: f64) -> Self {
        Self::Number(value)
    }
}
impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        Self::Number(value as f64)
    }
}

/// Attributes of a profile: string keys, sorted, to string, number or boolean values.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// How a profile ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum ProfileStatus {
    /// Still being collected.
    Running,
    /// Complete.
    Success,
    /// Incomplete; must not be published under a final name.
    Failed(String),
}

impl ProfileStatus {
    /// True for [`ProfileStatus::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

/// The program a profile was taken of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The inspector's WebSocket URL.
    pub url: Option<String>,
    /// The process id, when known (given with `--pid`, or spawned).
    pub pid: Option<u32>,
    /// The runtime and its version, e.g. `node.js/v20.20.2`, from `/json/version`.
    pub runtime_version: Option<String>,
    /// The target's title, as the inspector lists it.
    pub title: Option<String>,
}

/// Identifies one profile within this process: unique and increasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProfileId(u64);

impl ProfileId {
    /// A new id, never given before in this process.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number, usable as a sequence in file names.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Everything known about one profile, as the original's `Profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileMetadata {
    /// Unique in this process.
    pub id: ProfileId,
    /// What kind of profile.
    pub kind: ProfileKind,
    /// A name, from the trigger event or the profiler.
    pub name: String,
    /// Attributes from the trigger event and the profiler.
    pub attributes: Attributes,
    /// When collection started.
    #[serde(with = "rfc3339")]
    pub start_time: SystemTime,
    /// When collection ended, once it has.
    #[serde(with = "rfc3339_opt")]
    pub end_time: Option<SystemTime>,
    /// How it ended.
    pub status: ProfileStatus,
    /// The program profiled.
    pub target: TargetInfo,
    /// Bytes of profile data produced (before any compression by an exporter).
    pub size: u64,
}

impl ProfileMetadata {
    /// A new running profile, started now.
    pub fn new(kind: ProfileKind, name: impl Into<String>) -> Self {
        Self {
            id: ProfileId::next(),
            kind,
            name: name.into(),
            attributes: Attributes::new(),
            start_time: SystemTime::now(),
            end_time: None,
            status: ProfileStatus::Running,
            target: TargetInfo::default(),
            size: 0,
        }
    }

    /// How long collection took, once it ended.
    pub fn duration(&self) -> Option<Duration> {
        self.end_time
            .and_then(|end| end.duration_since(self.start_time).ok())
    }

    /// The start time as ISO-8601 UTC with millisecond precision, e.g. `2026-11-25T16:05:21.123Z`.
    pub fn start_time_iso(&self) -> String {
        humantime::format_rfc3339_millis(self.start_time).to_string()
    }

    /// A file name after the original's (`heap_snapshot-<ISO time>.heapsnapshot`), with the colons
    /// of the time replaced by `-` so the name is portable, and the target pid (when known) and
    /// the profile id appended so two names never collide.
    pub fn file_name(&self) -> String {
        let time = self.start_time_iso().replace(':', "-");
        let pid = self
            .target
            .pid
            .map(|pid| format!("-pid{pid}"))
            .unwrap_or_default();
        format!(
            "{}-{time}{pid}-{}{}",
            self.kind.as_str(),
            self.id,
            self.kind.extension()
        )
    }
}

mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_nanos(*time))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

mod rfc3339_opt {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.collect_str(&humantime::format_rfc3339_nanos(*time)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_is_portable_and_unique() {
        let mut a = ProfileMetadata::new(ProfileKind::HeapSnapshot, "x");
        a.target.pid = Some(42);
        let b = ProfileMetadata::new(ProfileKind::HeapSnapshot, "x");
        let name = a.file_name();
        assert!(name.starts_with("heap_snapshot-"), "{name}");
        assert!(
            name.ends_with(&format!("-pid42-{}.heapsnapshot", a.id)),
            "{name}"
        );
        assert!(!name.contains(':'), "{name}");
        assert_ne!(a.file_name(), b.file_name());
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let mut profile = ProfileMetadata::new(ProfileKind::CpuProfile, "busy");
        profile.attributes.insert("route".into(), "/users".into());
        profile.attributes.insert("n".into(), 3_i64.into());
        profile.status = ProfileStatus::Failed("target died".into());
        profile.end_time = Some(profile.start_time + Duration::from_millis(1500));
        let json = serde_json::to_string(&profile).expect("serialize");
        let back: ProfileMetadata = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, profile);
        assert_eq!(back.duration(), Some(Duration::from_millis(1500)));
    }
}
