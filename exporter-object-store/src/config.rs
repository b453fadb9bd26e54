//! [`ObjectStoreExporterConfig`]: the `object-store` exporter's configuration.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The smallest part size S3 accepts for every part but the last.
pub const MIN_PART_SIZE_MIB: usize = 5;

/// The largest part size S3 accepts.
pub const MAX_PART_SIZE_MIB: usize = 5 * 1024;

/// The most parts uploaded at once we allow (each holds a part in memory).
pub const MAX_PARTS_IN_FLIGHT: usize = 64;

fn default_part_size_mib() -> usize {
    8
}

fn default_parts_in_flight() -> usize {
    4
}

fn default_sidecar() -> bool {
    true
}

/// Configuration of the `object-store` exporter, as given to the registry:
/// `{"url": "s3://bucket/profiles/", "gzip": true, "options": {"aws_region": "eu-west-1"}}`.
///
/// Only `url` is required; unknown keys are refused. Credentials come from the standard
/// environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`, as object_store reads them) or from
/// `options`; never from the URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoreExporterConfig {
    /// Where profiles go: `s3://bucket/prefix/`, `az://container/prefix/` (also `abfs://`,
    /// `abfss://`, `azure://`), `gs://bucket/prefix/`, `file:///dir/` or `memory:///`.
    pub url: String,
    /// Compress each profile with gzip and add `.gz` to its name. Defaults to `false`.
    #[serde(default)]
    pub gzip: bool,
    /// Store options, as object_store's config keys: `aws_endpoint`, `aws_region`,
    /// `aws_allow_http`, `azure_storage_account_name`, `google_service_account`, ... They
    /// override the environment. Values may be secrets: they are never logged or shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Size of each uploaded part in MiB (5 to 5120). Defaults to 8.
    #[serde(default = "default_part_size_mib")]
    pub part_size_mib: usize,
    /// Parts uploaded at once (1 to 64). Defaults to 4. Memory held is about
    /// `(parts_in_flight + 1) × part_size_mib` MiB per profile.
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
    /// After each profile's object, write `<key>.json` next to it: the profile's whole final
    /// metadata (end time, duration, status, sizes), which the object's own user metadata,
    /// fixed when its upload begins, cannot hold. Defaults to `true`.
    #[serde(default = "default_sidecar")]
    pub sidecar: bool,
}

impl ObjectStoreExporterConfig {
    /// The defaults, for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            gzip: false,
            options: BTreeMap::new(),
            part_size_mib: default_part_size_mib(),
            parts_in_flight: default_parts_in_flight(),
            sidecar: default_sidecar(),
        }
    }

    /// Checks the part size and the parts in flight are within bounds.
    pub fn validate(&self) -> Result<()> {
        check_part_size_mib(self.part_size_mib)?;
        check_parts_in_flight(self.parts_in_flight)
    }
}

/// `mib` is an acceptable part size.
pub(crate) fn check_part_size_mib(mib: usize) -> Result<()> {
    if (MIN_PART_SIZE_MIB..=MAX_PART_SIZE_MIB).contains(&mib) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            reason: format!(
                "part_size_mib is {mib}; give {MIN_PART_SIZE_MIB} to {MAX_PART_SIZE_MIB} (S3 refuses parts under 5 MiB)"
            ),
        })
    }
}

/// `parts` is an acceptable number of parts in flight.
pub(crate) fn check_parts_in_flight(parts: usize) -> Result<()> {
    if (1..=MAX_PARTS_IN_FLIGHT).contains(&parts) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            reason: format!("parts_in_flight is {parts}; give 1 to {MAX_PARTS_IN_FLIGHT}"),
        })
    }
}

impl fmt::Debug for ObjectStoreExporterConfig {
    /// Shows option keys only: their values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreExporterConfig")
            .field("url", &crate::destination::redact(&self.url))
            .field("gzip", &self.gzip)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("part_size_mib", &self.part_size_mib)
            .field("parts_in_flight", &self.parts_in_flight)
            .field("sidecar", &self.sidecar)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn example_config_round_trips() {
        let mut config = ObjectStoreExporterConfig::new("s3://bucket/profiles/");
        config.gzip = true;
        config
            .options
            .insert("aws_region".into(), "eu-west-1".into());
        config.part_size_mib = 16;
        config.parts_in_flight = 2;
        config.sidecar = false;
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "url": "s3://bucket/profiles/",
                "gzip": true,
                "options": {"aws_region": "eu-west-1"},
                "part_size_mib": 16,
                "parts_in_flight": 2,
                "sidecar": false,
            })
        );
        let back: ObjectStoreExporterConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn only_the_url_is_required() {
        let config: ObjectStoreExporterConfig =
            serde_json::from_str(r#"{"url": "memory:///"}"#).unwrap();
        assert_eq!(config, ObjectStoreExporterConfig::new("memory:///"));
        assert!(!config.gzip);
        assert_eq!((config.part_size_mib, config.parts_in_flight), (8, 4));
        assert!(config.sidecar, "sidecars are on by default");
        config.validate().unwrap();

        let error = serde_json::from_str::<ObjectStoreExporterConfig>("{}").unwrap_err();
        assert!(error.to_string().contains("missing field `url`"), "{error}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_str::<ObjectStoreExporterConfig>(
            r#"{"url": "memory:///", "bucket": "b"}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `bucket`"),
            "{error}"
        );
    }

    #[test]
    fn parts_under_five_mib_are_refused() {
        let mut config = ObjectStoreExporterConfig::new("memory:///");
        config.part_size_mib = 4;
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("part_size_mib is 4; give 5 to 5120"),
            "{error}"
        );
        config.part_size_mib = 5;
        config.parts_in_flight = 0;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("parts_in_flight is 0"), "{error}");
    }

    #[test]
    fn debug_never_shows_option_values() {
        let mut config = ObjectStoreExporterConfig::new("s3://bucket/");
        config
            .options
            .insert("aws_secret_access_key".into(), "hunter2secret".into());
        let shown = format!("{config:?}");
        assert!(shown.contains("aws_secret_access_key"), "{shown}");
        assert!(!shown.contains("hunter2secret"), "{shown}");
    }
}
