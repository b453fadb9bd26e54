//! The real S3 (SeaweedFS) and Azure (Azurite) servers `scripts/test.sh` starts: their URLs
//! from the environment, a unique prefix per test, and a reader built independently of the
//! exporter.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;

/// The S3 test server's bucket URL variable.
pub const S3: &str = "OPENPROFILING_TEST_S3_URL";
/// The Azure test server's container URL variable.
pub const AZURE: &str = "OPENPROFILING_TEST_AZURE_URL";

/// `name`'s value; fails the test, saying how to start the servers, when it is not set.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: these tests need the S3 and Azure test servers; run them with \
             `bash scripts/test.sh` (it starts SeaweedFS and Azurite and sets the variables)"
        ),
    }
}

/// The bucket or container URL in `var` (`s3://bucket/`), checked to end with `/`.
pub fn root_url(var: &str) -> String {
    let url = env(var);
    assert!(url.ends_with('/'), "{var}={url} must end with /");
    url
}

/// A prefix no other test (or earlier run) uses: `<test>-<pid>-<nanos>-<n>`.
pub fn unique(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{test}-{}-{nanos}-{n}", std::process::id())
}

/// A store for the bucket or container in `var`, configured from the environment only, to
/// read back what the exporter wrote.
pub fn reader(var: &str) -> Arc<dyn ObjectStore> {
    let url = root_url(var);
    if var == S3 {
        env("AWS_ENDPOINT");
        Arc::new(AmazonS3Builder::from_env().with_url(url).build().unwrap())
    } else {
        env("AZURITE_BLOB_STORAGE_URL");
        Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .build()
                .unwrap(),
        )
    }
}
