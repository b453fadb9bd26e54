//! The object attributes of a profile: content type and user metadata.
//!
//! User metadata is sent when the upload begins (S3 and GCS take it when the multipart upload
//! is created), so it holds what is known then: kind, name, start time, target and the
//! trigger's attributes. The end time, duration, status and size are not known yet and are
//! not included; the receipt and the agent's report carry them.

use std::borrow::Cow;
use std::fmt::Write as _;

use object_store::{Attribute, Attributes};
use openprofiling_core::ProfileMetadata;
use tracing::debug;

/// Longest value kept, in bytes; longer ones are cut.
const MAX_VALUE_BYTES: usize = 256;

/// Total bytes of keys and values kept (S3 allows 2 KB of user metadata in all).
const MAX_TOTAL_BYTES: usize = 1800;

/// The attributes of `profile`'s object: `Content-Type` (`application/gzip` when gzipped,
/// else the kind's JSON type) and user metadata with keys in `[a-z0-9_]` (Azure refuses
/// hyphens, S3 lower-cases keys) and printable ASCII values (other bytes percent-encoded).
pub(crate) fn attributes(profile: &ProfileMetadata, gzip: bool) -> Attributes {
    let mut attributes = Attributes::new();
    let content_type = if gzip {
        "application/gzip"
    } else {
        profile.kind.content_type()
    };
    attributes.insert(Attribute::ContentType, content_type.into());

    let mut known: Vec<(String, String)> = vec![
        ("kind".into(), profile.kind.as_str().into()),
        ("name".into(), profile.name.clone()),
        ("start_time".into(), profile.start_time_iso()),
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
    let builtin: Vec<String> = known.iter().map(|(key, _)| key.clone()).collect();
    // Trigger attributes never replace the built-in keys.
    let triggered = profile
        .attributes
        .iter()
        .map(|(key, value)| (metadata_key(key), value.to_string()))
        .filter(|(key, _)| !builtin.contains(key));

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
    attributes
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
    use openprofiling_core::ProfileKind;

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

        let attributes = attributes(&profile, false);
        assert_eq!(
            attributes
                .get(&Attribute::ContentType)
                .map(|v| v.to_string()),
            Some("application/json".into())
        );
        assert_eq!(get(&attributes, "kind").as_deref(), Some("heap_snapshot"));
        assert_eq!(get(&attributes, "name").as_deref(), Some("leak hunt"));
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

        let gzipped = super::attributes(&profile, true);
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
        let attributes = attributes(&profile, false);
        let total: usize = attributes
            .iter()
            .filter_map(|(key, value)| match key {
                Attribute::Metadata(key) => Some(key.len() + value.len()),
                _ => None,
            })
            .sum();
        assert!(total <= MAX_TOTAL_BYTES, "{total}");
        assert!(get(&attributes, "kind").is_some());
    }
}
