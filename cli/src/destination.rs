//! Where snapshots go: `--to` values turned into exporters.

use std::sync::Arc;

use anyhow::Context;
use openprofiling_core::Exporter;
use openprofiling_exporter_file::FileExporter;
use openprofiling_exporter_object_store::ObjectStoreExporter;

/// One exporter per `--to` value: a value with a scheme (`s3://bucket/prefix/`, `az://`,
/// `abfs://`, `azure://`, `gs://`, `file://`, `memory://`) is an object store, credentials from
/// the environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`); anything else is a directory. An unknown
/// scheme is refused, listing the supported ones.
pub(crate) fn exporters(
    destinations: &[String],
    gzip: bool,
) -> anyhow::Result<Vec<Arc<dyn Exporter>>> {
    let mut exporters: Vec<Arc<dyn Exporter>> = Vec::with_capacity(destinations.len());
    for destination in destinations {
        if destination.contains("://") {
            // The error names the URL without credentials; do not repeat it here.
            let exporter = ObjectStoreExporter::new(destination).context("--to")?;
            exporters.push(Arc::new(exporter.gzip(gzip)));
        } else {
            exporters.push(Arc::new(FileExporter::new(destination).gzip(gzip)));
        }
    }
    Ok(exporters)
}

/// `123 B`, `45.1 KB`, `180.3 MB`, `2.1 GB` (powers of 1000, as file managers show).
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(45_100), "45.1 KB");
        assert_eq!(human_bytes(180_300_000), "180.3 MB");
        assert_eq!(human_bytes(2_100_000_000), "2.1 GB");
    }

    #[test]
    fn urls_become_object_stores_and_unknown_schemes_are_refused() {
        let names = exporters(
            &["memory:///profiles/".to_owned(), "./profiles".to_owned()],
            true,
        )
        .ok()
        .map(|e| e.iter().map(|e| e.name()).collect::<Vec<_>>());
        assert_eq!(
            names,
            Some(vec![
                "object-store memory:///profiles/".to_owned(),
                "file ./profiles".to_owned()
            ])
        );

        let error = exporters(&["ftp://x".to_owned()], false)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.starts_with("--to: ftp://x"), "{error}");
        assert!(
            error.contains(
                "supported: s3://, az://, abfs://, abfss://, azure://, gs://, file://, memory://"
            ),
            "{error}"
        );

        let error = exporters(&["s3://key:hunter2secret@bucket/".to_owned()], false)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.contains("credentials in the URL"), "{error}");
        assert!(!error.contains("hunter2secret"), "{error}");
    }
}
