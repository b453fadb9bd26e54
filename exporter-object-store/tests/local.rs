//! Profiles into a `file://` destination: the object and its metadata sidecar land under
//! their names in the directory (a directory keeps no user metadata, the sidecar file is
//! written all the same), and a failed profile leaves nothing behind.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHUNK, ChunkProfiler, ExpectedObject, assert_sidecar, expected, run_profile};
use openprofiling_core::{Exporter, ProfileStatus};
use openprofiling_exporter_object_store::ObjectStoreExporter;

fn files_in(directory: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_profile_lands_in_the_directory_which_is_created() {
    let temp = tempfile::tempdir().unwrap();
    let directory = temp.path().join("nested/prefix");
    let url = format!("file://{}/", directory.display());
    let exporter = ObjectStoreExporter::new(&url).unwrap();
    assert!(directory.is_dir(), "the directory is created");
    assert_eq!(exporter.name(), format!("object-store {url}"));

    let chunks = 30;
    let report = run_profile(exporter.clone(), ChunkProfiler::complete(chunks)).await;

    assert_eq!(report.profile.status, ProfileStatus::Success);
    let receipt = report.exports[0].result.as_ref().unwrap();
    let name = report.profile.file_name();
    assert_eq!(receipt.location, format!("{url}{name}"));
    let sidecar_name = format!("{name}.json");
    assert_eq!(
        files_in(&directory),
        vec![name.clone(), sidecar_name.clone()]
    );
    let bytes = std::fs::read(directory.join(&name)).unwrap();
    assert!(
        bytes == expected(chunks),
        "the file differs from the profile"
    );
    assert_eq!(receipt.stored_bytes, bytes.len() as u64);

    let body = std::fs::read(directory.join(&sidecar_name)).unwrap();
    let document = assert_sidecar(
        &body,
        &report,
        &ExpectedObject {
            key: &name,
            url: &receipt.location,
            stored_bytes: bytes.len() as u64,
            gzip: false,
        },
    );
    assert_eq!(document["size"].as_u64(), Some((chunks * CHUNK) as u64));
    assert_eq!(document["target"]["pid"], 4242);
    assert_eq!(document["attributes"]["Trigger-Reason"], "rss > 1 GB");

    // The next profile, knowing the directory keeps no attributes, gets its sidecar too.
    let second = run_profile(exporter.clone(), ChunkProfiler::complete(2)).await;
    assert!(second.is_success(), "{second:?}");
    let second_name = second.profile.file_name();
    let body = std::fs::read(directory.join(format!("{second_name}.json"))).unwrap();
    let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["id"], second.profile.id.get());
    assert_eq!(files_in(&directory).len(), 4);
}

#[tokio::test]
async fn without_sidecars_only_the_profile_file_is_written() {
    let temp = tempfile::tempdir().unwrap();
    let url = format!("file://{}/", temp.path().display());
    let config: openprofiling_exporter_object_store::ObjectStoreExporterConfig =
        serde_json::from_value(serde_json::json!({"url": url, "sidecar": false})).unwrap();
    let exporter = ObjectStoreExporter::from_config(config).unwrap();
    let report = run_profile(exporter, ChunkProfiler::complete(3)).await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(files_in(temp.path()), vec![report.profile.file_name()]);
}

#[tokio::test]
async fn a_failed_profile_leaves_no_file() {
    let temp = tempfile::tempdir().unwrap();
    let url = format!("file://{}/", temp.path().display());
    let exporter = ObjectStoreExporter::new(&url)
        .unwrap()
        .part_size_mib(5)
        .unwrap();
    let report = run_profile(exporter, ChunkProfiler::failing(100, 70)).await;

    assert!(matches!(report.profile.status, ProfileStatus::Failed(_)));
    assert!(report.exports[0].result.is_err());
    assert!(
        files_in(temp.path()).is_empty(),
        "left behind: {:?}",
        files_in(temp.path())
    );
}
