//! Object store exporter for openprofiling: profiles streamed to S3, Azure Blob Storage,
//! Google Cloud Storage, a local directory or memory by multipart upload ([object_store]).
//!
//! [`ObjectStoreExporter`] uploads each profile as
//! `<prefix>/heap_snapshot-2026-11-25T16-05-21.123Z-pid4242-7.heapsnapshot` (`.gz` added with
//! gzip) while it is being taken: parts of `part_size_mib` (default 8 MiB), at most
//! `parts_in_flight` (default 4) at once, so memory stays bounded whatever the profile's size.
//! Nothing appears under the key until the profile is complete; a failed profile's upload is
//! aborted.
//!
//! Destinations: `s3://bucket/prefix/`, `az://container/prefix/` (also `abfs://`, `abfss://`,
//! `azure://`), `gs://bucket/prefix/`, `file:///dir/`, `memory:///`. Credentials and settings
//! come from the environment variables object_store reads (`AWS_*`, `AZURE_*`, `GOOGLE_*`)
//! and from the config's `options` (`aws_endpoint`, `aws_region`, `aws_allow_http`, ...),
//! which win. A URL carrying credentials is refused, and names, logs and errors never show
//! them.
//!
//! Each object gets `Content-Type: application/json` (`application/gzip` with gzip) and user
//! metadata with keys in `[a-z0-9_]` (Azure refuses hyphens, S3 lower-cases keys): `kind`,
//! `name`, `start_time`, `status`, `target_pid`, `target_url`, `runtime_version` and the
//! trigger's attributes (keys lower-cased, other characters made `_`). S3 and GCS fix user
//! metadata when the multipart upload is created, so it holds what is known then. `status`
//! is always `success`, and truthfully: an object only becomes visible when its upload
//! completes, which happens only for a successful profile (a failed one's is aborted).
//!
//! The rest, known only at the end, goes to a **sidecar** `<key>.json` next to the object
//! (`heap_snapshot-…-pid42-1.heapsnapshot.json`), written with one `put` once the object is
//! complete (turn it off with `"sidecar": false` or [`ObjectStoreExporter::sidecar`]). Its
//! body is the profile's whole metadata, which deserializes back into a
//! [`ProfileMetadata`](openprofiling_core::ProfileMetadata), plus the duration and the
//! object's key, URL, content type, compression and stored size:
//!
//! ```json
//! {
//!   "sidecar_version": 1,
//!   "id": 1,
//!   "kind": "heap_snapshot",
//!   "name": "leak hunt",
//!   "attributes": { "Trigger-Reason": "rss > 1 GB" },
//!   "start_time": "2026-11-25T16:05:21.123456789Z",
//!   "end_time": "2026-11-25T16:05:24.480123456Z",
//!   "status": { "status": "success" },
//!   "target": { "url": "ws://127.0.0.1:9229/0f2c", "pid": 4242,
//!               "runtime_version": "node.js/v20.20.2", "title": null },
//!   "size": 20992000,
//!   "duration_ms": 3356,
//!   "object": { "key": "profiles/heap_snapshot-2026-11-25T16-05-21.123Z-pid4242-1.heapsnapshot",
//!               "url": "s3://bucket/profiles/heap_snapshot-2026-11-25T16-05-21.123Z-pid4242-1.heapsnapshot",
//!               "content_type": "application/json", "compression": null,
//!               "stored_bytes": 20992000 }
//! }
//! ```
//!
//! The sidecar's user metadata is the object's plus `end_time`, `duration_ms`, `size_bytes`
//! and `stored_bytes`. It appears just after the profile, never before. If it cannot be
//! written the export still succeeds (the profile is whole and visible) and a `warn` log names
//! the sidecar and the error. A `file://` destination keeps no user metadata; its sidecar
//! file is written all the same.
//!
//! ```
//! use openprofiling_core::Exporter;
//! use openprofiling_exporter_object_store::{ObjectStoreExporter, ObjectStoreExporterConfig};
//!
//! let exporter = ObjectStoreExporter::new("memory:///profiles/").unwrap().gzip(true);
//! assert_eq!(exporter.name(), "object-store memory:///profiles/");
//!
//! // The same, from the configuration the registry is given as `"object-store"`.
//! let config: ObjectStoreExporterConfig =
//!     serde_json::from_str(r#"{"url": "memory:///profiles/", "gzip": true}"#).unwrap();
//! assert!(ObjectStoreExporter::from_config(config).unwrap().is_gzip());
//! ```
//!
//! Add it to an agent with `ProfilingAgent::exporter(ObjectStoreExporter::new(url)?)`, or by
//! name through [`openprofiling_core::Registry`] (link the crate with
//! `use openprofiling_exporter_object_store as _;` so it registers).
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | [`ObjectStoreExporterConfig`] |
//! | `destination.rs` | URL parsing, redaction, building the store |
//! | `exporter.rs` | [`ObjectStoreExporter`], the registry constructor |
//! | `metadata.rs` | content type and user metadata of an object and its sidecar |
//! | `sidecar.rs` | the metadata sidecar `<key>.json` |
//! | `sink.rs` | one profile: multipart upload, gzip, complete or abort |
//! | `error.rs` | [`Error`] |

mod config;
mod destination;
mod error;
mod exporter;
mod metadata;
mod sidecar;
mod sink;

pub use config::{
    MAX_PART_SIZE_MIB, MAX_PARTS_IN_FLIGHT, MIN_PART_SIZE_MIB, ObjectStoreExporterConfig,
};
pub use destination::{SUPPORTED_SCHEMES, is_supported_url};
pub use error::{Error, Result};
pub use exporter::ObjectStoreExporter;

/// The name this exporter registers under.
pub const PLUGIN_NAME: &str = "object-store";

openprofiling_core::register_exporter!(
    name: PLUGIN_NAME,
    description: "uploads each profile to S3, Azure Blob, GCS, file:// or memory:// by streaming multipart upload (optional gzip), with a <key>.json metadata sidecar",
    config_keys: ["url", "gzip", "options", "part_size_mib", "parts_in_flight", "sidecar"],
    build: exporter::build,
);
