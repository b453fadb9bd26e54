//! The metadata sidecar: `<key>.json` next to a profile's object, written once the object is
//! complete, with everything known about the profile at its end.
//!
//! The profile's own user metadata is fixed when its upload begins (S3 and GCS take it at
//! CreateMultipartUpload), so the end time, duration and size cannot be on it. The sidecar
//! carries them: its body is the profile's whole [`ProfileMetadata`] as JSON (it deserializes
//! back into one), plus `duration_ms` and an `object` section naming the profile's object;
//! its user metadata is the object's plus `end_time`, `duration_ms`, `size_bytes` and
//! `stored_bytes`.
//!
//! It is written with a single `put` after the profile's object completed, so it appears
//! shortly after the profile, never before. Failing to write it does not fail the export: the
//! profile's object is whole and already visible, and reporting it as not exported would be
//! false. The failure is logged at `warn` with the sidecar's URL and the error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::path::Path;
use object_store::{Attributes, ObjectStore, PutOptions, PutPayload};
use openprofiling_core::ProfileMetadata;
use serde::Serialize;
use tracing::debug;

use crate::error::{Error, Result};
use crate::metadata;

/// What a sidecar's name adds to its profile's key.
pub(crate) const SIDECAR_SUFFIX: &str = ".json";

/// The version of the sidecar's JSON layout, as its `sidecar_version`.
const SIDECAR_VERSION: u32 = 1;

/// The sidecar's JSON body.
#[derive(Serialize)]
struct SidecarDocument<'a> {
    /// The layout's version; a reader refuses one it does not know.
    sidecar_version: u32,
    /// The profile's metadata, its fields at the top level.
    #[serde(flatten)]
    profile: &'a ProfileMetadata,
    /// The collection's duration in milliseconds, when the clock did not go back.
    duration_ms: Option<u64>,
    /// The profile's object.
    object: ObjectDescription<'a>,
}

/// Where and how the profile is stored.
#[derive(Serialize)]
struct ObjectDescription<'a> {
    /// Its key in the store (with the prefix).
    key: &'a str,
    /// Its URL, as the export receipt gives it.
    url: &'a str,
    /// Its `Content-Type`.
    content_type: &'a str,
    /// `gzip` when its bytes are the profile gzipped, else `null`.
    compression: Option<&'static str>,
    /// Its size in bytes (the profile's `size` is before compression).
    stored_bytes: u64,
}

/// Writes the sidecar of one profile's object.
#[derive(Debug)]
pub(crate) struct SidecarWriter {
    store: Arc<dyn ObjectStore>,
    /// The profile object's key.
    object_key: Path,
    /// The profile object's URL.
    object_url: String,
    /// The sidecar's key.
    key: Path,
    /// The sidecar's URL, for logs and errors.
    url: String,
    gzip: bool,
    /// Shared with the exporter: cleared when the store refuses attributes.
    attributes_supported: Arc<AtomicBool>,
}

impl SidecarWriter {
    /// The writer of the sidecar of the object `object_key` (at `object_url`).
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        object_key: Path,
        object_url: String,
        gzip: bool,
        attributes_supported: Arc<AtomicBool>,
    ) -> Self {
        let key = sidecar_key(&object_key);
        let url = format!("{object_url}{SIDECAR_SUFFIX}");
        Self {
            store,
            object_key,
            object_url,
            key,
            url,
            gzip,
            attributes_supported,
        }
    }

    /// The sidecar's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The sidecar's JSON body for `profile`, whose object holds `stored_bytes`.
    fn document(&self, profile: &ProfileMetadata, stored_bytes: u64) -> Result<Vec<u8>> {
        let document = SidecarDocument {
            sidecar_version: SIDECAR_VERSION,
            profile,
            duration_ms: profile
                .duration()
                .map(|duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            object: ObjectDescription {
                key: self.object_key.as_ref(),
                url: &self.object_url,
                content_type: metadata::content_type(profile, self.gzip),
                compression: self.gzip.then_some("gzip"),
                stored_bytes,
            },
        };
        let mut body =
            serde_json::to_vec_pretty(&document).map_err(|source| Error::EncodeSidecar {
                url: self.url.clone(),
                source,
            })?;
        body.push(b'\n');
        Ok(body)
    }

    /// Writes the sidecar of `profile` (final: end time, status, size), whose object is
    /// complete and holds `stored_bytes`, with one `put`.
    pub(crate) async fn write(&self, profile: &ProfileMetadata, stored_bytes: u64) -> Result<()> {
        let body = PutPayload::from(self.document(profile, stored_bytes)?);
        let attributes = if self.attributes_supported.load(Ordering::Relaxed) {
            metadata::sidecar_attributes(profile, stored_bytes)
        } else {
            Attributes::new()
        };
        let with_attributes = !attributes.is_empty();
        let options = PutOptions {
            attributes,
            ..Default::default()
        };
        match self.store.put_opts(&self.key, body.clone(), options).await {
            Ok(_) => {}
            // A local directory keeps no attributes: write without them.
            Err(object_store::Error::NotImplemented { .. }) if with_attributes => {
                debug!(
                    url = self.url,
                    "The store keeps no object attributes; writing the sidecar without them."
                );
                self.attributes_supported.store(false, Ordering::Relaxed);
                self.store
                    .put_opts(&self.key, body, PutOptions::default())
                    .await
                    .map_err(|error| Error::upload(&self.url, None, error))?;
            }
            Err(error) => return Err(Error::upload(&self.url, None, error)),
        }
        debug!(profile = %profile.id, url = self.url, "Profile metadata sidecar written.");
        Ok(())
    }
}

/// The sidecar key of the object `object_key`: `<object_key>.json`.
pub(crate) fn sidecar_key(object_key: &Path) -> Path {
    Path::from(format!("{object_key}{SIDECAR_SUFFIX}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use object_store::memory::InMemory;
    use openprofiling_core::{ProfileKind, ProfileStatus};
    use serde_json::{Value, json};

    use super::*;

    fn finished_profile() -> ProfileMetadata {
        let mut profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "leak hunt");
        profile.target.pid = Some(42);
        profile.end_time = Some(profile.start_time + Duration::from_millis(2500));
        profile.status = ProfileStatus::Success;
        profile.size = 1000;
        profile.attributes.insert("reason".into(), "rss".into());
        profile
    }

    fn writer(gzip: bool) -> SidecarWriter {
        let key = Path::from("p/heap_snapshot-x-pid42-1.heapsnapshot.gz");
        SidecarWriter::new(
            Arc::new(InMemory::new()),
            key.clone(),
            format!("s3://bucket/{key}"),
            gzip,
            Arc::new(AtomicBool::new(true)),
        )
    }

    #[test]
    fn the_sidecar_sits_next_to_its_object() {
        let writer = writer(true);
        assert_eq!(
            writer.key.as_ref(),
            "p/heap_snapshot-x-pid42-1.heapsnapshot.gz.json"
        );
        assert_eq!(
            writer.url(),
            "s3://bucket/p/heap_snapshot-x-pid42-1.heapsnapshot.gz.json"
        );
    }

    #[test]
    fn the_document_is_the_metadata_plus_the_object() {
        let profile = finished_profile();
        let document: Value =
            serde_json::from_slice(&writer(true).document(&profile, 300).unwrap()).unwrap();
        assert_eq!(document["sidecar_version"], 1);
        assert_eq!(document["id"], profile.id.get());
        assert_eq!(document["kind"], "heap_snapshot");
        assert_eq!(document["status"], json!({"status": "success"}));
        assert_eq!(document["size"], 1000);
        assert_eq!(document["duration_ms"], 2500);
        assert_eq!(document["attributes"], json!({"reason": "rss"}));
        assert_eq!(
            document["object"],
            json!({
                "key": "p/heap_snapshot-x-pid42-1.heapsnapshot.gz",
                "url": "s3://bucket/p/heap_snapshot-x-pid42-1.heapsnapshot.gz",
                "content_type": "application/gzip",
                "compression": "gzip",
                "stored_bytes": 300,
            })
        );
        // A reader gets the profile's metadata back whole.
        let back: ProfileMetadata = serde_json::from_value(document).unwrap();
        assert_eq!(back, profile);
    }

    #[test]
    fn an_uncompressed_object_says_so() {
        let document: Value =
            serde_json::from_slice(&writer(false).document(&finished_profile(), 1000).unwrap())
                .unwrap();
        assert_eq!(document["object"]["content_type"], "application/json");
        assert_eq!(document["object"]["compression"], Value::Null);
    }
}
