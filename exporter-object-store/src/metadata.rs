//! The object attributes of a profile and of its sidecar: content type and user metadata.
//!
//! The profile's object gets its user metadata when the upload begins: S3 and GCS take it when
//! the multipart upload is created, and object_store's `copy` cannot replace it afterwards.
//! So it holds what is known then: `kind`, `name`, `start_time`, `status`, `target_pid`,
//! `target_url`, `runtime_version` and the trigger's attributes.
//!
//! `status` is always `success`, and that is true of every object a reader can see: an object
//! becomes visible only when its multipart upload completes, and the sink completes it only in
//! [`ExportSink::finish`](openprofiling_core::ExportSink::finish) for a profile whose status is
//! [`ProfileStatus::Success`](openprofiling_core::ProfileStatus::Success); any other profile's
//! upload is aborted and never becomes an object.
//!
//! What is known only at the end (`end_time`, `duration_ms`, `size_bytes`, `stored_bytes`, and
//! attributes the profiler added while collecting) goes to the sidecar `<key>.json` written
//! after the profile's object (see `sidecar.rs`): in its JSON body and in its user metadata.
//!
//! Keys are in `[a-z0-9_]` (Azure refuses hyphens, S3 lower-cases keys); values are printable
//! ASCII (other bytes percent-encoded), each at most 256 bytes, 1800 bytes in all.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use object_store::{Attribute, Attributes};
use openprofiling_core::ProfileMetadata;
use tracing::debug;

/// Longest value kept, in bytes; longer ones are cut.
const MAX_VALUE_BYTES: usize = 256;

/// Total bytes of keys and values kept (S3 allows 2 KB of user metadata in all).
const MAX_TOTAL_BYTES: usize = 1800;

/// Every built-in key, on the object or the sidecar: an attribute of the same (sanitised)
/// name is left out everywhere, so a key always means the same thing.
const BUILTIN_KEYS: &[&str] = &[
    "kind",
    "name",
    "start_time",
    "status",
    "target_pid",
    "target_url",
    "runtime_version",
    "end_time",
    "duration_ms",
    "size_bytes",
    "stored_bytes",
];

/// The `status` of every visible profile object (see the module docs for why).
pub(crate) const STATUS_SUCCESS: &str = "success";

/// The `Content-Type` of `profile`'s object: `application/gzip` when gzipped, else the kind's
/// JSON type.
pub(crate) fn content_type(profile: &ProfileMetadata, gzip: bool) -> &'static str {
    if gzip {
        "application/gzip"
    } else {
        profile.kind.content_type()
    }
}

/// The attributes of `profile`'s object, given when its upload begins: `Content-Type` and the
/// user metadata known then, with `status = success`.
pub(crate) fn object_attributes(profile: &ProfileMetadata, gzip: bool) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, content_type(profile, gzip).into());
    insert_user_metadata(&mut attributes, known_at_begin(profile), profile);
    attributes
}

/// The attributes of `profile`'s sidecar, written once the profile's object is complete:
/// `Content-Type: application/json` and the object's user metadata plus `end_time`,
/// `duration_ms`, `size_bytes` (raw) and `stored_bytes` (in the object).
pub(crate) fn sidecar_attributes(profile: &ProfileMetadata, stored_bytes: u64) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/json".into());
    let mut known = known_at_begin(profile);
    if let Some(end_time) = profile.end_time {
        known.push(("end_time".into(), iso_millis(end_time)));
    }
    if let Some(duration) = profile.duration() {
        known.push(("duration_ms".into(), duration.as_millis().to_string()));
    }
    known.push(("size_bytes".into(), profile.size.to_string()));
    known.push(("stored_bytes".into(), stored_bytes.to_string()));
    insert_user_metadata(&mut attributes, known, profile);
    attributes
}

/// `time` as ISO-8601 UTC with milliseconds, as [`ProfileMetadata::start_time_iso`].
fn iso_millis(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// The built-in metadata known when the upload begins.
fn known_at_begin(profile: &ProfileMetadata) -> Vec<(String, String)> {
    let mut known: Vec<(String, String)> = vec![
        ("kind".into(), profile.kind.as_str().into()),
        ("name".into(), profile.name.clone()),
        ("start_time".into(), profile.start_time_iso()),
        ("status".into(), STATUS_SUCCESS.into()),
    ];
    if let Some(pid) = profile.target.pid {
        known.push(("target_pid".into(), pid.to_string()));
    }
    if let Some(url) = &profile.target.url {
        known.push(("target_url".into(), url.clone()));
    }
    if let Some(version) = &profile.target.runtime_version {
        known.push(("runtime_version".into(), version.clone()));
    }
    known
}

/// Inserts `known` (the built-in keys) then `profile`'s attributes as user metadata, within
/// [`MAX_TOTAL_BYTES`]. An attribute named as a built-in key is left out.
fn insert_user_metadata(
    attributes: &mut Attributes,
    known: Vec<(String, String)>,
    profile: &ProfileMetadata,
) {
    let triggered = profile
        .attributes
        .iter()
        .map(|(key, value)| (metadata_key(key), value.to_string()))
        .filter(|(key, _)| !BUILTIN_KEYS.contains(&key.as_str()));

    let mut total = 0;
    for (key, value) in known.into_iter().chain(triggered) {
        let value = metadata_value(&value);
        total += key.len() + value.len();
        if total > MAX_TOTAL_BYTES {
            debug!(
                key,
                "Profile metadata too large for object metadata; the rest left out."
            );
            break;
        }
        attributes.insert(Attribute::Metadata(Cow::Owned(key)), value.into());
    }
}

/// `key` as a metadata key: lower case, `[a-z0-9_]` only, not starting with a digit (Azure
/// wants C# identifiers).
pub(crate) fn metadata_key(key: &str) -> String {
    let mut sanitised: String = key
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if sanitised.is_empty() || sanitised.starts_with(|c: char| c.is_ascii_digit()) {
        sanitised.insert(0, '_');
    }
    sanitised
}

/// `value` as a header-safe metadata value: printable ASCII kept, `%` and everything else
/// percent-encoded, cut at [`MAX_VALUE_BYTES`].
fn metadata_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len().min(MAX_VALUE_BYTES));
    for byte in value.bytes() {
        if encoded.len() + 3 > MAX_VALUE_BYTES {
            break;
        }
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openprofiling_core::{ProfileKind, ProfileStatus};

    use super::*;

    fn get(attributes: &Attributes, key: &str) -> Option<String> {
        attributes
            .get(&Attribute::Metadata(Cow::Owned(key.to_owned())))
            .map(|value| value.to_string())
    }

    #[test]
    fn keys_are_safe_for_azure_and_s3() {
        assert_eq!(metadata_key("Trigger-Name"), "trigger_name");
        assert_eq!(metadata_key("http.route"), "http_route");
        assert_eq!(metadata_key("9lives"), "_9lives");
        assert_eq!(metadata_key(""), "_");
    }

    #[test]
    fn profile_and_trigger_attributes_become_metadata() {
        let mut profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "leak hunt");
        profile.target.pid = Some(4242);
        profile.target.url = Some("ws://127.0.0.1:9229/abc".into());
        profile.target.runtime_version = Some("node.js/v20.20.2".into());
        profile
            .attributes
            .insert("Signal-Name".into(), "SIGUSR2".into());
        profile
            .attributes
            .insert("name".into(), "not the profile's".into());
        profile.attributes.insert("note".into(), "café 100%".into());

        let attributes = object_attributes(&profile, false);
        assert_eq!(
            attributes
                .get(&Attribute::ContentType)
                .map(|v| v.to_string()),
            Some("application/json".into())
        );
        assert_eq!(get(&attributes, "kind").as_deref(), Some("heap_snapshot"));
        assert_eq!(get(&attributes, "name").as_deref(), Some("leak hunt"));
        assert_eq!(get(&attributes, "status").as_deref(), Some("success"));
        assert_eq!(get(&attributes, "target_pid").as_deref(), Some("4242"));
        assert_eq!(
            get(&attributes, "runtime_version").as_deref(),
            Some("node.js/v20.20.2")
        );
        assert_eq!(get(&attributes, "signal_name").as_deref(), Some("SIGUSR2"));
        assert_eq!(
            get(&attributes, "note").as_deref(),
            Some("caf%C3%A9 100%25")
        );
        assert_eq!(
            get(&attributes, "start_time"),
            Some(profile.start_time_iso())
        );

        // Not known when the upload begins.
        for key in ["end_time", "duration_ms", "size_bytes", "stored_bytes"] {
            assert_eq!(get(&attributes, key), None, "{key}");
        }

        let gzipped = object_attributes(&profile, true);
        assert_eq!(
            gzipped.get(&Attribute::ContentType).map(|v| v.to_string()),
            Some("application/gzip".into())
        );
    }

    #[test]
    fn metadata_stays_within_s3_limits() {
        let mut profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "x");
        for i in 0..100 {
            profile
                .attributes
                .insert(format!("k{i}"), "v".repeat(1000).into());
        }
        let attributes = sidecar_attributes(&profile, 1);
        let total: usize = attributes
            .iter()
            .filter_map(|(key, value)| match key {
                Attribute::Metadata(key) => Some(key.len() + value.len()),
                _ => None,
            })
            .sum();
        assert!(total <= MAX_TOTAL_BYTES, "{total}");
        assert!(get(&attributes, "kind").is_some());
        assert!(get(&attributes, "stored_bytes").is_some());
    }

    #[test]
    fn the_sidecar_adds_what_is_known_at_the_end() {
        let mut profile = ProfileMetadata::new(ProfileKind::CpuProfile, "busy");
        profile.target.pid = Some(7);
        profile.end_time = Some(profile.start_time + Duration::from_millis(1500));
        profile.status = ProfileStatus::Success;
        profile.size = 123_456;
        profile
            .attributes
            .insert("Size-Bytes".into(), "not the size".into());
        profile.attributes.insert("status".into(), "forged".into());
        profile.attributes.insert("samples".into(), 99_i64.into());

        let attributes = sidecar_attributes(&profile, 4_321);
        assert_eq!(
            attributes
                .get(&Attribute::ContentType)
                .map(|v| v.to_string()),
            Some("application/json".into())
        );
        assert_eq!(get(&attributes, "kind").as_deref(), Some("cpu_profile"));
        assert_eq!(get(&attributes, "status").as_deref(), Some("success"));
        assert_eq!(get(&attributes, "target_pid").as_deref(), Some("7"));
        assert_eq!(get(&attributes, "duration_ms").as_deref(), Some("1500"));
        assert_eq!(get(&attributes, "size_bytes").as_deref(), Some("123456"));
        assert_eq!(get(&attributes, "stored_bytes").as_deref(), Some("4321"));
        assert_eq!(get(&attributes, "samples").as_deref(), Some("99"));
        let end_time = get(&attributes, "end_time").expect("end_time");
        assert!(
            end_time.ends_with('Z') && end_time.len() == 24,
            "{end_time}"
        );
        assert!(end_time > profile.start_time_iso(), "{end_time}");
    }
}
