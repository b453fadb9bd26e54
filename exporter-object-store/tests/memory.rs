//! Profiles through a real agent into an in-memory store: streamed whole, gzipped, aborted,
//! and a failing part reported as itself.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use common::{CHUNK, ChunkProfiler, FlakyStore, expected, run_profile};
use object_store::memory::InMemory;
use object_store::{Attribute, ObjectStoreExt};
use openprofiling_core::{Exporter, ProfileStatus};
use openprofiling_exporter_object_store::ObjectStoreExporter;

const MIB: usize = 1024 * 1024;

fn metadata(attributes: &object_store::Attributes, key: &'static str) -> Option<String> {
    attributes
        .get(&Attribute::Metadata(Cow::Borrowed(key)))
        .map(|value| value.to_string())
}

#[tokio::test]
async fn a_20_mb_profile_lands_whole_in_5_mib_parts_with_its_metadata() {
    let store = Arc::new(FlakyStore::default());
    let exporter = ObjectStoreExporter::with_store(store.clone(), "profiles/prod", "memory:///")
        .part_size_mib(5)
        .unwrap();
    assert_eq!(exporter.name(), "object-store memory:///profiles/prod/");
    let chunks = 205;
    let report = run_profile(exporter.clone(), ChunkProfiler::complete(chunks)).await;

    assert_eq!(report.profile.status, ProfileStatus::Success);
    let receipt = report.exports[0].result.as_ref().unwrap();
    let key = exporter.key(&report.profile);
    assert!(
        key.as_ref().starts_with("profiles/prod/heap_snapshot-"),
        "{key}"
    );
    assert!(key.as_ref().ends_with(".heapsnapshot"), "{key}");
    assert_eq!(receipt.location, format!("memory:///{key}"));
    assert_eq!(receipt.stored_bytes, (chunks * CHUNK) as u64);

    let object = store.inner.get(&key).await.unwrap();
    let attributes = object.attributes.clone();
    let bytes = object.bytes().await.unwrap();
    assert!(
        bytes == expected(chunks),
        "the object differs from the profile"
    );

    assert_eq!(
        attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string()),
        Some("application/json".into())
    );
    assert_eq!(
        metadata(&attributes, "kind").as_deref(),
        Some("heap_snapshot")
    );
    assert_eq!(metadata(&attributes, "name").as_deref(), Some("leak hunt"));
    assert_eq!(metadata(&attributes, "target_pid").as_deref(), Some("4242"));
    assert_eq!(
        metadata(&attributes, "target_url").as_deref(),
        Some("ws://127.0.0.1:9229/0f2c")
    );
    assert_eq!(
        metadata(&attributes, "runtime_version").as_deref(),
        Some("node.js/v20.20.2")
    );
    assert_eq!(
        metadata(&attributes, "trigger_reason").as_deref(),
        Some("rss > 1 GB")
    );
    assert_eq!(
        metadata(&attributes, "start_time"),
        Some(report.profile.start_time_iso())
    );

    let seen = store.seen.lock().unwrap();
    assert_eq!(seen.part_sizes[..4], [5 * MIB; 4]);
    assert_eq!(seen.part_sizes[4..], [chunks * CHUNK - 20 * MIB]);
    assert_eq!((seen.completes, seen.aborts), (1, 0));
}

#[tokio::test]
async fn gzipped_profiles_decompress_to_the_original() {
    let store = Arc::new(InMemory::new());
    let exporter = ObjectStoreExporter::with_store(store.clone(), "", "memory:///").gzip(true);
    let chunks = 40;
    let report = run_profile(exporter.clone(), ChunkProfiler::complete(chunks)).await;

    let receipt = report.exports[0].result.as_ref().unwrap();
    let key = exporter.key(&report.profile);
    assert!(key.as_ref().ends_with(".heapsnapshot.gz"), "{key}");
    assert_eq!(receipt.location, format!("memory:///{key}"));
    let object = store.get(&key).await.unwrap();
    assert_eq!(
        object
            .attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string()),
        Some("application/gzip".into())
    );
    let compressed = object.bytes().await.unwrap();
    assert_eq!(receipt.stored_bytes, compressed.len() as u64);
    assert!(
        compressed.len() < chunks * CHUNK / 5,
        "{}",
        compressed.len()
    );
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut raw)
        .unwrap();
    assert!(raw == expected(chunks), "the decompressed object differs");
}

#[tokio::test]
async fn a_failed_profile_leaves_no_object() {
    let store = Arc::new(FlakyStore::default());
    let exporter = ObjectStoreExporter::with_store(store.clone(), "p", "memory:///")
        .part_size_mib(5)
        .unwrap();
    let report = run_profile(exporter.clone(), ChunkProfiler::failing(200, 120)).await;

    assert!(matches!(report.profile.status, ProfileStatus::Failed(_)));
    assert!(report.exports[0].result.is_err());
    let key = exporter.key(&report.profile);
    let missing = store.inner.head(&key).await.unwrap_err();
    assert!(
        matches!(missing, object_store::Error::NotFound { .. }),
        "{missing}"
    );
    let seen = store.seen.lock().unwrap();
    assert!(
        !seen.part_sizes.is_empty(),
        "parts were uploaded before the failure"
    );
    assert_eq!((seen.completes, seen.aborts), (0, 1));
}

/// The part's own error is reported, whether it surfaces while writing (one part in flight)
/// or only at finish (several in flight), and even when aborting fails too.
#[tokio::test]
async fn a_failing_part_is_reported_as_itself_and_nothing_is_published() {
    for parts_in_flight in [1, 4] {
        let store = Arc::new(FlakyStore {
            fail_at_part: Some(2),
            abort_fails: true,
            ..Default::default()
        });
        let exporter = ObjectStoreExporter::with_store(store.clone(), "", "s3://bucket")
            .part_size_mib(5)
            .unwrap()
            .parts_in_flight(parts_in_flight)
            .unwrap();
        let report = run_profile(exporter.clone(), ChunkProfiler::complete(150)).await;

        let error = report.exports[0].result.as_ref().unwrap_err().to_string();
        assert!(
            error.starts_with("object-store: cannot upload s3://bucket/heap_snapshot-"),
            "{error}"
        );
        assert!(error.contains("(part 2)"), "{error}");
        assert!(error.contains("503 SlowDown"), "{error}");
        assert!(!error.contains("abort refused"), "{error}");
        let key = exporter.key(&report.profile);
        assert!(store.inner.head(&key).await.is_err(), "nothing under {key}");
        let seen = store.seen.lock().unwrap();
        assert_eq!(
            (seen.completes, seen.aborts),
            (0, 1),
            "{parts_in_flight} in flight"
        );
    }
}

#[tokio::test]
async fn a_dropped_sink_aborts_its_upload() {
    let store = Arc::new(FlakyStore::default());
    let exporter = ObjectStoreExporter::with_store(store.clone(), "", "memory:///");
    let profile = openprofiling_core::ProfileMetadata::new(
        openprofiling_core::ProfileKind::HeapSnapshot,
        "x",
    );
    let mut sink = exporter.begin(&profile).await.unwrap();
    sink.write(common::chunk(0)).await.unwrap();
    drop(sink);
    for _ in 0..100 {
        if store.seen.lock().unwrap().aborts == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(store.seen.lock().unwrap().aborts, 1);
    assert!(store.inner.head(&exporter.key(&profile)).await.is_err());
}
