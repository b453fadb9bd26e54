//! File exporter for openprofiling: profiles streamed to a directory, published by an atomic
//! rename, optionally gzipped.
//!
//! [`FileExporter`] writes each profile as
//! `heap_snapshot-2026-11-25T16-05-21.123Z-pid4242-7.heapsnapshot` (`.heapsnapshot.gz` with
//! gzip), the name Chrome DevTools' *Load profile* expects. Each profile is streamed into a
//! hidden `.partial` file in the same directory, synced, and only then given its final name,
//! never replacing an existing file; a failed profile leaves nothing. Files are created 0600
//! and missing directories 0700, since a heap snapshot holds every string of the program,
//! secrets included. Files are written with direct I/O (`O_DIRECT`) where the file system
//! allows it: no copy into the page cache, which would cost the agent most of its CPU and
//! fill the pod's memory with pages nobody reads; `direct_io: false` turns it off.
//!
//! ```
//! use openprofiling_core::Exporter;
//! use openprofiling_exporter_file::{FileExporter, FileExporterConfig};
//!
//! let exporter = FileExporter::new("/var/profiles").gzip(true);
//! assert_eq!(exporter.name(), "file /var/profiles");
//!
//! // The same, from the configuration the registry is given as `"file"`.
//! let config: FileExporterConfig =
//!     serde_json::from_str(r#"{"path": "/var/profiles", "gzip": true}"#).unwrap();
//! assert_eq!(FileExporter::from_config(config), exporter);
//! ```
//!
//! Add it to an agent with `ProfilingAgent::exporter(FileExporter::new(dir))`, or by name
//! through [`openprofiling_core::Registry`] (link the crate with
//! `use openprofiling_exporter_file as _;` so it registers).
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | [`FileExporterConfig`] |
//! | `exporter.rs` | [`FileExporter`], the registry constructor |
//! | `sink.rs` | one profile: temporary file, gzip, publish or remove |
//! | `direct.rs` | the open file: direct I/O through an aligned buffer, or ordinary writes |
//! | `pace.rs` | whether direct writes keep up with the stream |
//! | `error.rs` | [`Error`] |

mod config;
mod direct;
mod error;
mod exporter;
mod pace;
mod sink;

pub use config::FileExporterConfig;
pub use error::{Error, Result};
pub use exporter::FileExporter;

/// The name this exporter registers under.
pub const PLUGIN_NAME: &str = "file";

openprofiling_core::register_exporter!(
    name: PLUGIN_NAME,
    description: "writes each profile into a directory (0600 files, published by rename, optional gzip)",
    config_keys: ["path", "gzip", "direct_io"],
    build: exporter::build,
);
