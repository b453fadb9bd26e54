//! Profiles into a `file://` destination: the object lands under its name in the directory,
//! and a failed profile leaves nothing behind.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ChunkProfiler, expected, run_profile};
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
    assert_eq!(files_in(&directory), vec![name.clone()]);
    let bytes = std::fs::read(directory.join(&name)).unwrap();
    assert!(
        bytes == expected(chunks),
        "the file differs from the profile"
    );
    assert_eq!(receipt.stored_bytes, bytes.len() as u64);
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
