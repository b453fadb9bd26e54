//! Where snapshots go: `--to` values turned into exporters.

use std::sync::Arc;

use anyhow::bail;
use openprofiling_core::Exporter;
use openprofiling_exporter_file::FileExporter;

/// One exporter per `--to` value. A value with a scheme (`s3://…`) is refused for now.
pub(crate) fn exporters(
    destinations: &[String],
    gzip: bool,
) -> anyhow::Result<Vec<Arc<dyn Exporter>>> {
    let mut exporters: Vec<Arc<dyn Exporter>> = Vec::with_capacity(destinations.len());
    for destination in destinations {
        if let Some((scheme, _)) = destination.split_once("://") {
            bail!(
                "--to {destination}: {scheme}:// destinations are not supported yet; give a directory"
            );
        }
        exporters.push(Arc::new(FileExporter::new(destination).gzip(gzip)));
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
    fn urls_are_refused_with_a_hint() {
        let error = exporters(&["s3://bucket/x".to_owned()], false)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("give a directory")));
        assert_eq!(
            exporters(&["./profiles".to_owned()], false)
                .map(|e| e.len())
                .ok(),
            Some(1)
        );
    }
}
