//! Profiles through a real agent to real servers: SeaweedFS (S3) and Azurite (Azure Blob),
//! started by `bash scripts/test.sh` (scripts/test-servers.py), which sets the variables
//! these tests read. Without them every test here fails, saying so.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::borrow::Cow;
use std::time::Duration;

use common::{CHUNK, ChunkProfiler, ExpectedObject, assert_sidecar, expected, run_profile};
use object_store::{Attribute, Attributes, ObjectStoreExt};
use openprofiling_core::mock::NodeProcess;
use openprofiling_core::{InspectorSession, ManualTrigger, ProfileStatus, ProfilingAgent};
use openprofiling_exporter_object_store::{ObjectStoreExporter, ObjectStoreExporterConfig};
use openprofiling_inspector_heapsnapshot::InspectorHeapSnapshot;
use serde_json::Value;
use servers::{AZURE, S3, reader, root_url, unique};

const WAIT: Duration = Duration::from_secs(120);

fn metadata(attributes: &Attributes, key: &'static str) -> Option<String> {
    attributes
        .get(&Attribute::Metadata(Cow::Borrowed(key)))
        .map(|value| value.to_string())
}

/// An exporter to a fresh prefix of the server in `var`, 5 MiB parts (SeaweedFS's minimum).
fn exporter(var: &str, test: &str) -> ObjectStoreExporter {
    let mut config = ObjectStoreExporterConfig::new(format!("{}{}/", root_url(var), unique(test)));
    config.part_size_mib = 5;
    ObjectStoreExporter::from_config(config).unwrap()
}

/// A 20 MB profile (five parts) lands whole, byte-identical, with its metadata.
async fn a_profile_lands_whole_with_its_metadata(var: &str) {
    let exporter = exporter(var, "whole");
    let chunks = 205;
    let report = tokio::time::timeout(
        WAIT,
        run_profile(exporter.clone(), ChunkProfiler::complete(chunks)),
    )
    .await
    .expect("the upload finishes");
    assert_eq!(report.profile.status, ProfileStatus::Success);
    let receipt = report.exports[0].result.as_ref().unwrap();
    let key = exporter.key(&report.profile);
    assert_eq!(receipt.location, exporter.location(&report.profile));
    assert_eq!(receipt.stored_bytes, (chunks * CHUNK) as u64);

    let object = reader(var).get(&key).await.unwrap();
    let attributes = object.attributes.clone();
    assert_eq!(object.meta.size, (chunks * CHUNK) as u64);
    let bytes = object.bytes().await.unwrap();
    assert!(
        bytes == expected(chunks),
        "the object read back differs from the profile"
    );

    // Both servers return user metadata (x-amz-meta-*, x-ms-meta-*) and the content type.
    assert_eq!(
        attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string()),
        Some("application/json".into()),
        "{attributes:?}"
    );
    assert_eq!(
        metadata(&attributes, "kind").as_deref(),
        Some("heap_snapshot"),
        "{attributes:?}"
    );
    assert_eq!(metadata(&attributes, "name").as_deref(), Some("leak hunt"));
    assert_eq!(metadata(&attributes, "target_pid").as_deref(), Some("4242"));
    assert_eq!(
        metadata(&attributes, "trigger_reason").as_deref(),
        Some("rss > 1 GB")
    );
    assert_eq!(
        metadata(&attributes, "start_time"),
        Some(report.profile.start_time_iso())
    );
    assert_eq!(
        metadata(&attributes, "status").as_deref(),
        Some("success"),
        "{attributes:?}"
    );
    // HEAD gives the same user metadata as GET.
    let head = reader(var)
        .get_opts(
            &key,
            object_store::GetOptions {
                head: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        metadata(&head.attributes, "status").as_deref(),
        Some("success"),
        "{:?}",
        head.attributes
    );

    // The sidecar lands next to the object, parses, and holds the final metadata.
    let sidecar = reader(var)
        .get(&exporter.sidecar_key(&report.profile))
        .await
        .expect("the sidecar <key>.json was written");
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
    assert_eq!(document["target"]["pid"], 4242);
    assert_eq!(document["attributes"]["Trigger-Reason"], "rss > 1 GB");
    assert_eq!(
        sidecar_attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string()),
        Some("application/json".into()),
        "{sidecar_attributes:?}"
    );
    assert_eq!(
        metadata(&sidecar_attributes, "status").as_deref(),
        Some("success"),
        "{sidecar_attributes:?}"
    );
    assert_eq!(
        metadata(&sidecar_attributes, "size_bytes"),
        Some((chunks * CHUNK).to_string()),
        "{sidecar_attributes:?}"
    );
    assert_eq!(
        metadata(&sidecar_attributes, "duration_ms"),
        Some(report.profile.duration().unwrap().as_millis().to_string()),
        "{sidecar_attributes:?}"
    );
    assert!(
        metadata(&sidecar_attributes, "end_time").is_some(),
        "{sidecar_attributes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_profile_lands_whole_with_its_metadata() {
    a_profile_lands_whole_with_its_metadata(S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_a_profile_lands_whole_with_its_metadata() {
    a_profile_lands_whole_with_its_metadata(AZURE).await;
}

/// A profile failing after 12 MB (two parts uploaded) leaves nothing under its key, and no
/// sidecar.
async fn a_failed_profile_leaves_no_object(var: &str) {
    let exporter = exporter(var, "failed");
    let report = tokio::time::timeout(
        WAIT,
        run_profile(exporter.clone(), ChunkProfiler::failing(200, 120)),
    )
    .await
    .expect("the upload is aborted");
    assert!(
        matches!(report.profile.status, ProfileStatus::Failed(_)),
        "{:?}",
        report.profile.status
    );
    assert!(report.exports[0].result.is_err());
    let key = exporter.key(&report.profile);
    let missing = reader(var).head(&key).await.unwrap_err();
    assert!(
        matches!(missing, object_store::Error::NotFound { .. }),
        "{missing}"
    );
    let sidecar = exporter.sidecar_key(&report.profile);
    let missing = reader(var).head(&sidecar).await.unwrap_err();
    assert!(
        matches!(missing, object_store::Error::NotFound { .. }),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_failed_profile_leaves_no_object() {
    a_failed_profile_leaves_no_object(S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_a_failed_profile_leaves_no_object() {
    a_failed_profile_leaves_no_object(AZURE).await;
}

/// The export error of a small profile sent to `url` with `options`.
async fn export_error(url: String, options: &[(&str, &str)]) -> String {
    let mut config = ObjectStoreExporterConfig::new(url);
    for (key, value) in options {
        config.options.insert((*key).into(), (*value).into());
    }
    let exporter = ObjectStoreExporter::from_config(config).unwrap();
    let report = tokio::time::timeout(WAIT, run_profile(exporter, ChunkProfiler::complete(3)))
        .await
        .expect("the export ends");
    report.exports[0]
        .result
        .as_ref()
        .expect_err("the export must fail")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_credentials_are_refused_clearly() {
    let url = format!("{}{}/", root_url(S3), unique("creds"));
    let error = export_error(
        url.clone(),
        &[("aws_secret_access_key", "not-the-secret-key")],
    )
    .await;
    assert!(error.contains(&url), "{error}");
    assert!(error.contains("credentials were refused"), "{error}");
    assert!(error.contains("AWS_SECRET_ACCESS_KEY"), "{error}");
    assert!(!error.contains("not-the-secret-key"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_wrong_credentials_are_refused_clearly() {
    let url = format!("{}{}/", root_url(AZURE), unique("creds"));
    // A well-formed (base64) key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWs=";
    let error = export_error(url.clone(), &[("azure_storage_account_key", wrong)]).await;
    assert!(error.contains(&url), "{error}");
    // Azurite answers a wrong SharedKey with 403 AuthorizationFailure, the code Azure also
    // gives a key without permission, so it is reported as access denied, with the code.
    assert!(error.contains("access denied"), "{error}");
    assert!(error.contains("AuthorizationFailure"), "{error}");
    assert!(error.contains("give the credentials permission"), "{error}");
    assert!(!error.contains(wrong), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_missing_bucket_is_named() {
    let url = format!("s3://{}/", unique("no-such-bucket"));
    servers::env("AWS_ENDPOINT");
    let error = export_error(url.clone(), &[]).await;
    assert!(error.contains(&url), "{error}");
    assert!(
        error.contains("bucket or container was not found"),
        "{error}"
    );
    assert!(error.contains("create it"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_a_missing_container_is_named() {
    let url = format!("az://{}/", unique("no-such-container"));
    servers::env("AZURITE_BLOB_STORAGE_URL");
    let error = export_error(url.clone(), &[]).await;
    assert!(error.contains(&url), "{error}");
    assert!(
        error.contains("bucket or container was not found"),
        "{error}"
    );
    assert!(error.contains("create it"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_real_node_heap_snapshot_lands_whole() {
    a_real_node_heap_snapshot_lands_whole(S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_a_real_node_heap_snapshot_lands_whole() {
    a_real_node_heap_snapshot_lands_whole(AZURE).await;
}

/// A heap snapshot of a real Node process, through the agent, lands in the store whole.
async fn a_real_node_heap_snapshot_lands_whole(var: &str) {
    let exporter = exporter(var, "node");
    let node = NodeProcess::start_with_instances("LeakyThing", 1234).await;
    let session = InspectorSession::builder(node.ws_url())
        .connect()
        .await
        .unwrap();
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, InspectorHeapSnapshot::new(session))
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let report = tokio::time::timeout(WAIT, handle.start().await.unwrap().finished())
        .await
        .expect("the snapshot completes")
        .expect("a report");
    agent.shutdown().await;
    node.stop().await;
    assert!(report.is_success(), "{report:?}");
    let receipt = report.exports[0].result.as_ref().unwrap();

    let object = reader(var)
        .get(&exporter.key(&report.profile))
        .await
        .unwrap();
    let attributes = object.attributes.clone();
    let bytes = object.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, report.profile.size);
    assert_eq!(receipt.stored_bytes, report.profile.size);
    let snapshot: Value = serde_json::from_slice(&bytes).expect("the object is whole JSON");
    let meta = &snapshot["snapshot"]["meta"];
    let node_fields = meta["node_fields"].as_array().unwrap().len();
    let edge_fields = meta["edge_fields"].as_array().unwrap().len();
    let node_count = snapshot["snapshot"]["node_count"].as_u64().unwrap() as usize;
    let edge_count = snapshot["snapshot"]["edge_count"].as_u64().unwrap() as usize;
    assert!(node_count > 1234, "{node_count}");
    assert_eq!(
        node_count * node_fields,
        snapshot["nodes"].as_array().unwrap().len()
    );
    assert_eq!(
        edge_count * edge_fields,
        snapshot["edges"].as_array().unwrap().len()
    );
    assert_eq!(
        metadata(&attributes, "kind").as_deref(),
        Some("heap_snapshot"),
        "{attributes:?}"
    );

    let sidecar = reader(var)
        .get(&exporter.sidecar_key(&report.profile))
        .await
        .expect("the sidecar <key>.json was written")
        .bytes()
        .await
        .unwrap();
    let document = assert_sidecar(
        &sidecar,
        &report,
        &ExpectedObject {
            key: exporter.key(&report.profile).as_ref(),
            url: &receipt.location,
            stored_bytes: bytes.len() as u64,
            gzip: false,
        },
    );
    assert_eq!(document["size"].as_u64(), Some(bytes.len() as u64));
}
