//! [`ObjectStoreExporter`]: the [`Exporter`] that uploads each profile to an object store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use object_store::path::Path;
use object_store::{ObjectStore, PutMultipartOptions};
use openprofiling_core::{ExportSink, Exporter, PluginContext, ProfileMetadata, registry};
use serde_json::Value;
use tracing::debug;

use crate::config::{ObjectStoreExporterConfig, check_part_size_mib, check_parts_in_flight};
use crate::destination::{Destination, redact};
use crate::error::{Error, Result};
use crate::metadata;
use crate::sidecar::{SidecarWriter, sidecar_key};
use crate::sink::ObjectStoreSink;

const MIB: usize = 1024 * 1024;

/// Uploads each profile to an object store (S3, Azure Blob, GCS, a local directory, memory)
/// as `<prefix>/heap_snapshot-<time>-pid<PID>-<ID>.heapsnapshot` (plus `.gz` when gzipping),
/// by a streaming multipart upload.
///
/// Nothing appears under the key until the profile is complete; a failed profile's upload is
/// aborted. The object gets a `Content-Type` and the profile's metadata known at its start as
/// user metadata, with `status = success`; then, unless turned off with
/// [`sidecar(false)`](Self::sidecar), a sidecar `<key>.json` gets the whole final metadata
/// (see the crate docs). Credentials come from the environment or the config's `options`,
/// never from the URL, and are never shown.
#[derive(Clone)]
pub struct ObjectStoreExporter {
    store: Arc<dyn ObjectStore>,
    /// The store root's URL, without a trailing `/`.
    root: String,
    prefix: Path,
    gzip: bool,
    part_size: usize,
    parts_in_flight: usize,
    /// Write the metadata sidecar `<key>.json` after each profile.
    sidecar: bool,
    /// Cleared when the store refuses attributes (a local directory): later uploads go without.
    attributes_supported: Arc<AtomicBool>,
}

impl std::fmt::Debug for ObjectStoreExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreExporter")
            .field("url", &self.url())
            .field("gzip", &self.gzip)
            .field("part_size", &self.part_size)
            .field("parts_in_flight", &self.parts_in_flight)
            .field("sidecar", &self.sidecar)
            .finish_non_exhaustive()
    }
}

impl ObjectStoreExporter {
    /// Uploads raw profiles to `url` (`s3://bucket/prefix/`, ...), with the default part size
    /// and credentials from the environment. Builds the client; makes no request.
    pub fn new(url: &str) -> Result<Self> {
        Self::from_config(ObjectStoreExporterConfig::new(url))
    }

    /// The exporter `config` describes. Builds the client (and a `file://` directory if
    /// missing); makes no request.
    pub fn from_config(config: ObjectStoreExporterConfig) -> Result<Self> {
        config.validate()?;
        let destination = Destination::parse(&config.url)?;
        let store = destination.build_store(&config.options)?;
        Ok(Self {
            store,
            root: destination.root,
            prefix: destination.prefix,
            gzip: config.gzip,
            part_size: config.part_size_mib * MIB,
            parts_in_flight: config.parts_in_flight,
            sidecar: config.sidecar,
            attributes_supported: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Uploads to `store` under `prefix` (`""` for none), for tests and embedders that build
    /// their own store. `root_url` is the store root's URL as names and receipts show it
    /// (`s3://bucket`); credentials in it are removed.
    pub fn with_store(store: Arc<dyn ObjectStore>, prefix: &str, root_url: &str) -> Self {
        Self {
            store,
            root: root_of(root_url),
            prefix: Path::from(prefix),
            gzip: false,
            part_size: ObjectStoreExporterConfig::new("").part_size_mib * MIB,
            parts_in_flight: ObjectStoreExporterConfig::new("").parts_in_flight,
            sidecar: ObjectStoreExporterConfig::new("").sidecar,
            attributes_supported: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Compresses profiles with gzip (and adds `.gz` to their names) when `gzip` is true.
    #[must_use]
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Writes the metadata sidecar `<key>.json` after each profile when `sidecar` is true (the
    /// default).
    #[must_use]
    pub fn sidecar(mut self, sidecar: bool) -> Self {
        self.sidecar = sidecar;
        self
    }

    /// Uploads parts of `mib` MiB (5 to 5120).
    pub fn part_size_mib(mut self, mib: usize) -> Result<Self> {
        check_part_size_mib(mib)?;
        self.part_size = mib * MIB;
        Ok(self)
    }

    /// Uploads at most `parts` parts at once (1 to 64).
    pub fn parts_in_flight(mut self, parts: usize) -> Result<Self> {
        check_parts_in_flight(parts)?;
        self.parts_in_flight = parts;
        Ok(self)
    }

    /// The destination as shown: `s3://bucket/prefix/`, never with credentials.
    pub fn url(&self) -> String {
        if self.prefix.as_ref().is_empty() {
            format!("{}/", self.root)
        } else {
            format!("{}/{}/", self.root, self.prefix)
        }
    }

    /// Whether profiles are gzipped.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Whether a metadata sidecar is written after each profile.
    pub fn writes_sidecar(&self) -> bool {
        self.sidecar
    }

    /// The key `profile` is stored under.
    pub fn key(&self, profile: &ProfileMetadata) -> Path {
        let name = profile.file_name();
        let name = if self.gzip { name + ".gz" } else { name };
        self.prefix.clone().join(name)
    }

    /// The URL of `profile`'s object, as receipts give it.
    pub fn location(&self, profile: &ProfileMetadata) -> String {
        format!("{}/{}", self.root, self.key(profile))
    }

    /// The key of `profile`'s metadata sidecar: its object's key plus `.json`. Written only
    /// when [`writes_sidecar`](Self::writes_sidecar).
    pub fn sidecar_key(&self, profile: &ProfileMetadata) -> Path {
        sidecar_key(&self.key(profile))
    }
}

#[async_trait]
impl Exporter for ObjectStoreExporter {
    fn name(&self) -> String {
        format!("{} {}", crate::PLUGIN_NAME, self.url())
    }

    async fn begin(
        &self,
        profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<Box<dyn ExportSink>> {
        let key = self.key(profile);
        let url = format!("{}/{}", self.root, key);
        let attributes = if self.attributes_supported.load(Ordering::Relaxed) {
            metadata::object_attributes(profile, self.gzip)
        } else {
            object_store::Attributes::new()
        };
        let with_attributes = !attributes.is_empty();
        let options = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let upload = match self.store.put_multipart_opts(&key, options).await {
            Ok(upload) => upload,
            // A local directory keeps no attributes: upload without them.
            Err(object_store::Error::NotImplemented { .. }) if with_attributes => {
                debug!(
                    url,
                    "The store keeps no object attributes; uploading without them."
                );
                self.attributes_supported.store(false, Ordering::Relaxed);
                self.store
                    .put_multipart_opts(&key, PutMultipartOptions::default())
                    .await
                    .map_err(|error| Error::upload(&url, None, error))?
            }
            Err(error) => return Err(Error::upload(&url, None, error).into()),
        };
        debug!(
            profile = %profile.id,
            url,
            part_size = self.part_size,
            parts_in_flight = self.parts_in_flight,
            gzip = self.gzip,
            sidecar = self.sidecar,
            "Profile upload begun."
        );
        let sidecar = self.sidecar.then(|| {
            SidecarWriter::new(
                self.store.clone(),
                key,
                url.clone(),
                self.gzip,
                self.attributes_supported.clone(),
            )
        });
        Ok(Box::new(ObjectStoreSink::new(
            url,
            upload,
            self.part_size,
            self.parts_in_flight,
            self.gzip,
            sidecar,
        )))
    }
}

/// `root_url` without credentials and without one trailing `/` (`memory:///` gives
/// `memory://`, so keys follow as `memory:///key`).
fn root_of(root_url: &str) -> String {
    let root = redact(root_url);
    root.strip_suffix('/').map(str::to_owned).unwrap_or(root)
}

/// The registry's constructor: `{"url": "s3://...", "gzip": false, "options": {...},
/// "part_size_mib": 8, "parts_in_flight": 4, "sidecar": true}`, `url` required.
pub(crate) fn build(
    config: &Value,
    _context: &PluginContext,
) -> openprofiling_core::Result<Arc<dyn Exporter>> {
    let config: ObjectStoreExporterConfig = registry::parse_config(crate::PLUGIN_NAME, config)?;
    let exporter = ObjectStoreExporter::from_config(config).map_err(|error| {
        openprofiling_core::Error::Config {
            plugin: crate::PLUGIN_NAME.to_owned(),
            source: Box::new(error),
        }
    })?;
    Ok(Arc::new(exporter))
}
