//! [`FileExporter`]: the [`Exporter`] that writes each profile into a directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use openprofiling_core::{ExportSink, Exporter, PluginContext, ProfileMetadata, registry};
use serde_json::Value;

use crate::config::FileExporterConfig;
use crate::sink::FileSink;

/// Writes each profile into a directory, as `heap_snapshot-<time>-pid<PID>-<ID>.heapsnapshot`
/// (plus `.gz` when gzipping), mode 0600.
///
/// A profile is streamed into a hidden `.partial` file in that directory and renamed to its
/// final name only once it is complete and synced; a failed profile leaves nothing behind. An
/// existing file is never overwritten. The directory is created (mode 0700) if missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExporter {
    directory: PathBuf,
    gzip: bool,
    direct_io: bool,
}

impl FileExporter {
    /// Writes raw profiles into `directory`, with direct I/O where the file system allows it.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self {
            directory: directory.into(),
            gzip: false,
            direct_io: true,
        }
    }

    /// Compresses profiles with gzip (and adds `.gz` to their names) when `gzip` is true.
    #[must_use]
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Writes with direct I/O (`O_DIRECT`, bypassing the page cache) where the file system
    /// allows it when `direct_io` is true (the default); through the page cache otherwise.
    #[must_use]
    pub fn direct_io(mut self, direct_io: bool) -> Self {
        self.direct_io = direct_io;
        self
    }

    /// The exporter `config` describes.
    pub fn from_config(config: FileExporterConfig) -> Self {
        Self::new(config.directory())
            .gzip(config.gzip)
            .direct_io(config.direct_io)
    }

    /// The directory profiles go to, as given.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Whether profiles are gzipped.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Whether direct I/O is asked for (it is used where the file system allows it).
    pub fn is_direct_io(&self) -> bool {
        self.direct_io
    }

    /// The name `profile` gets in the directory.
    pub fn file_name(&self, profile: &ProfileMetadata) -> String {
        let name = profile.file_name();
        if self.gzip { name + ".gz" } else { name }
    }
}

impl Default for FileExporter {
    /// Raw profiles into the system temporary directory.
    fn default() -> Self {
        Self::from_config(FileExporterConfig::default())
    }
}

#[async_trait]
impl Exporter for FileExporter {
    fn name(&self) -> String {
        format!("{} {}", crate::PLUGIN_NAME, self.directory.display())
    }

    async fn begin(
        &self,
        profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<Box<dyn ExportSink>> {
        let sink = FileSink::open(
            &self.directory,
            self.file_name(profile),
            self.gzip,
            self.direct_io,
        )
        .await?;
        Ok(Box::new(sink))
    }
}

/// The registry's constructor: `{"path": "...", "gzip": false, "direct_io": true}`, all
/// optional.
pub(crate) fn build(
    config: &Value,
    _context: &PluginContext,
) -> openprofiling_core::Result<Arc<dyn Exporter>> {
    let config: FileExporterConfig = registry::parse_config(crate::PLUGIN_NAME, config)?;
    if config
        .path
        .as_ref()
        .is_some_and(|path| path.as_os_str().is_empty())
    {
        return Err(openprofiling_core::Error::Config {
            plugin: crate::PLUGIN_NAME.to_owned(),
            source: "path is empty; give a directory, or leave it out for the system temporary directory".into(),
        });
    }
    Ok(Arc::new(FileExporter::from_config(config)))
}
