//! Profiles through a real agent into an in-memory store: streamed whole with their metadata
//! and sidecar, gzipped, aborted (no object, no sidecar), a failing part reported as itself,
//! and a failing sidecar that does not undo the export.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use common::{
    CHUNK, ChunkProfiler, ExpectedObject, FlakyStore, assert_sidecar, expected, run_profile,
};
use object_store::memory::InMemory;
use object_store::{Attribute, ObjectStore, ObjectStoreExt};
use openprofiling_core::{Exporter, ProfileKind, ProfileMetadata, ProfileStatus};
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
    assert_eq!(metadata(&attributes, "status").as_deref(), Some("success"));

    // The sidecar, next to the object, holds what was only known at the end.
    let sidecar_key = exporter.sidecar_key(&report.profile);
    assert_eq!(sidecar_key.as_ref(), format!("{key}.json"));
    let sidecar = store.inner.get(&sidecar_key).await.unwrap();
    let sidecar_attributes = sidecar.attributes.clone();
    let body = sidecar.bytes().await.unwrap();
    let document = assert_sidecar(
        &body,
        &report,
        &ExpectedObject {
            key: key.as_ref(),
            url: &receipt.location,
            stored_bytes: bytes.len() as u64,
            gzip: false,
        },
    );
    assert_eq!(document["size"].as_u64(), Some((chunks * CHUNK) as u64));
    assert_eq!(document["name"], "leak hunt");
    assert_eq!(document["target"]["pid"], 4242);
    assert_eq!(document["target"]["url"], "ws://127.0.0.1:9229/0f2c");
    assert_eq!(document["target"]["runtime_version"], "node.js/v20.20.2");
    assert_eq!(document["attributes"]["Trigger-Reason"], "rss > 1 GB");
    assert!(
        report.profile.end_time.unwrap() >= report.profile.start_time,
        "{document:#}"
    );

    assert_eq!(
        sidecar_attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string()),
        Some("application/json".into())
    );
    assert_eq!(
        metadata(&sidecar_attributes, "status").as_deref(),
        Some("success")
    );
    assert_eq!(
        metadata(&sidecar_attributes, "size_bytes"),
        Some((chunks * CHUNK).to_string())
    );
    assert_eq!(
        metadata(&sidecar_attributes, "stored_bytes"),
        Some(bytes.len().to_string())
    );
    assert_eq!(
        metadata(&sidecar_attributes, "duration_ms"),
        Some(report.profile.duration().unwrap().as_millis().to_string())
    );
    let end_time = metadata(&sidecar_attributes, "end_time").expect("end_time");
    assert!(end_time >= report.profile.start_time_iso(), "{end_time}");
    assert_eq!(
        metadata(&sidecar_attributes, "trigger_reason").as_deref(),
        Some("rss > 1 GB")
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

    let sidecar_key = exporter.sidecar_key(&report.profile);
    assert!(sidecar_key.as_ref().ends_with(".heapsnapshot.gz.json"));
    let body = store
        .get(&sidecar_key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let document = assert_sidecar(
        &body,
        &report,
        &ExpectedObject {
            key: key.as_ref(),
            url: &receipt.location,
            stored_bytes: compressed.len() as u64,
            gzip: true,
        },
    );
    assert_eq!(document["size"].as_u64(), Some(raw.len() as u64));
}

/// Every key the store holds.
async fn keys(store: &dyn ObjectStore) -> Vec<String> {
    use futures_util::StreamExt;
    let mut keys: Vec<String> = store
        .list(None)
        .map(|meta| meta.unwrap().location.to_string())
        .collect()
        .await;
    keys.sort();
    keys
}

#[tokio::test]
async fn without_sidecars_only_the_profile_is_written() {
    let store = Arc::new(InMemory::new());
    let exporter = ObjectStoreExporter::with_store(store.clone(), "p", "memory:///").sidecar(false);
    assert!(!exporter.writes_sidecar());
    let report = run_profile(exporter.clone(), ChunkProfiler::complete(3)).await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(
        keys(store.as_ref()).await,
        [exporter.key(&report.profile).to_string()]
    );
}

#[tokio::test]
async fn the_sidecar_is_on_by_default_from_the_config() {
    let config: openprofiling_exporter_object_store::ObjectStoreExporterConfig =
        serde_json::from_str(r#"{"url": "memory:///"}"#).unwrap();
    assert!(
        ObjectStoreExporter::from_config(config)
            .unwrap()
            .writes_sidecar()
    );
    let config: openprofiling_exporter_object_store::ObjectStoreExporterConfig =
        serde_json::from_str(r#"{"url": "memory:///", "sidecar": false}"#).unwrap();
    assert!(
        !ObjectStoreExporter::from_config(config)
            .unwrap()
            .writes_sidecar()
    );
}

/// The profile is whole and visible when its sidecar fails: the export succeeds (the failure
/// is logged), and the object is there.
#[tokio::test]
async fn a_failing_sidecar_does_not_undo_the_export() {
    let store = Arc::new(FlakyStore {
        puts_fail: true,
        ..Default::default()
    });
    let exporter = ObjectStoreExporter::with_store(store.clone(), "", "memory:///");
    let chunks = 5;
    let report = run_profile(exporter.clone(), ChunkProfiler::complete(chunks)).await;

    let receipt = report.exports[0].result.as_ref().unwrap();
    assert_eq!(receipt.stored_bytes, (chunks * CHUNK) as u64);
    let key = exporter.key(&report.profile);
    let bytes = store.inner.get(&key).await.unwrap().bytes().await.unwrap();
    assert!(bytes == expected(chunks), "the object differs");
    assert_eq!(keys(&store.inner).await, [key.to_string()], "no sidecar");
}

/// Finishing a profile that did not succeed publishes nothing: no object may claim
/// `status = success` for it.
#[tokio::test]
async fn finishing_an_unsuccessful_profile_publishes_nothing() {
    let store = Arc::new(FlakyStore::default());
    let exporter = ObjectStoreExporter::with_store(store.clone(), "", "memory:///");
    let mut profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "x");
    let mut sink = exporter.begin(&profile).await.unwrap();
    sink.write(common::chunk(0)).await.unwrap();
    profile.status = ProfileStatus::Failed("the target died".into());
    let error = sink.finish(&profile).await.unwrap_err().to_string();
    assert!(
        error.contains("refusing to publish memory:///heap_snapshot-"),
        "{error}"
    );
    assert!(error.contains("the target died"), "{error}");
    assert!(
        keys(&store.inner).await.is_empty(),
        "{:?}",
        keys(&store.inner).await
    );
    assert_eq!(store.seen.lock().unwrap().aborts, 1);
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
    assert!(
        keys(&store.inner).await.is_empty(),
        "neither the object nor a sidecar: {:?}",
        keys(&store.inner).await
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
