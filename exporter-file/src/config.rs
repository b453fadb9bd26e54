//! [`FileExporterConfig`]: the `file` exporter's configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Configuration of the `file` exporter, as given to the registry:
/// `{"path": "/var/profiles", "gzip": true, "direct_io": true}`.
///
/// Every key is optional; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileExporterConfig {
    /// The directory profiles are written to. Created (mode 0700) if missing. Defaults to the
    /// system temporary directory (`std::env::temp_dir()`, usually `/tmp`), as the original
    /// `@openprofiling/exporter-file` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Compress each profile with gzip and add `.gz` to its name. Defaults to `false`: raw
    /// files, which Chrome DevTools opens directly. Heap snapshots shrink several times.
    pub gzip: bool,
    /// Write with direct I/O (`O_DIRECT`) where the file system allows it, bypassing the page
    /// cache: a snapshot of gigabytes then costs the agent no copy into kernel memory and
    /// leaves the pod's page cache to the service. Where the file system refuses it (tmpfs,
    /// some FUSE and network file systems), or the device writes slower than 100 MB/s, files
    /// are written as usual. Defaults to `true`.
    pub direct_io: bool,
}

impl Default for FileExporterConfig {
    fn default() -> Self {
        Self {
            path: None,
            gzip: false,
            direct_io: true,
        }
    }
}

impl FileExporterConfig {
    /// The directory profiles go to: `path`, or the system temporary directory.
    pub fn directory(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(std::env::temp_dir)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn example_config_round_trips() {
        let config = FileExporterConfig {
            path: Some("/var/profiles".into()),
            gzip: true,
            direct_io: false,
        };
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"path": "/var/profiles", "gzip": true, "direct_io": false})
        );
        let back: FileExporterConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn an_empty_config_means_raw_files_in_the_temp_dir() {
        let config: FileExporterConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, FileExporterConfig::default());
        assert!(!config.gzip);
        assert!(config.direct_io);
        assert_eq!(config.directory(), std::env::temp_dir());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_str::<FileExporterConfig>(r#"{"dir": "/tmp"}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field `dir`"), "{error}");
    }
}
