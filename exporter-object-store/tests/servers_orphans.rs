//! An aborted upload leaves no multipart upload behind on the real S3 server (SeaweedFS,
//! started by `bash scripts/test.sh`), which lists its uploads in progress under the filer's
//! `/buckets/<bucket>/.uploads/`. Alone in its own test binary, so no other upload is in
//! progress while it counts.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::chunk;
use openprofiling_core::{Exporter, ProfileKind, ProfileMetadata};
use openprofiling_exporter_object_store::{ObjectStoreExporter, ObjectStoreExporterConfig};
use servers::{S3, env, root_url, unique};

/// How many multipart uploads the filer holds for the test bucket now.
fn uploads_in_progress() -> usize {
    let filer = env("OPENPROFILING_TEST_SEAWEEDFS_FILER");
    let bucket = root_url(S3)
        .trim_start_matches("s3://")
        .trim_end_matches('/')
        .to_owned();
    let address = filer.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /buckets/{bucket}/.uploads/?limit=10000 HTTP/1.1\r\nHost: {address}\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    if head.starts_with("HTTP/1.1 404") {
        return 0; // No upload was ever started in this bucket.
    }
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "filer listing failed: {head}"
    );
    // The body may be chunked; the JSON object is what lies between the outer braces.
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    let listing: serde_json::Value = serde_json::from_str(json).unwrap();
    listing["Entries"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn an_aborted_upload_leaves_no_multipart_upload_behind() {
    let config = ObjectStoreExporterConfig {
        part_size_mib: 5,
        ..ObjectStoreExporterConfig::new(format!("{}{}/", root_url(S3), unique("orphans")))
    };
    let exporter = ObjectStoreExporter::from_config(config).unwrap();
    let before = uploads_in_progress();

    let profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "orphans");
    let mut sink = exporter.begin(&profile).await.unwrap();
    // 12 MB: two 5 MiB parts go up.
    for i in 0..120 {
        sink.write(chunk(i)).await.unwrap();
    }
    assert_eq!(
        uploads_in_progress(),
        before + 1,
        "the upload in progress is visible to this check"
    );

    sink.abort("the target died").await.unwrap();
    assert_eq!(uploads_in_progress(), before, "the aborted upload is gone");
}
