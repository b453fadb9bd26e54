//! A store server killed (SIGKILL) in the middle of a ~60 MB upload fails that exporter only:
//! the profile's report names it, with an error that says what happened, while an in-memory
//! exporter next to it gets every byte; and once the server is back (same data, same ports),
//! nothing is under the profile's key, and no sidecar.
//!
//! Each test runs a private SeaweedFS or Azurite (never the shared ones, which other tests
//! use at the same time), described by `scripts/test-servers.py private`; run them with
//! `bash scripts/test.sh`, which sets the variables they read. Azurite keeps its data with
//! `--location` but saves its metadata only every 5 s: the test waits for its container to be
//! saved before the upload, and kills it before the profile can end, so no commit is lost.
//!
//! The bound: the exporter uses object_store's default retries (the `options` cannot change
//! them): each request is retried at most 10 times, waiting at most 0.1 + 0.2 + ... + 12.8 +
//! 15 + 15 = 55.5 s in all; a failed part, then the abort of the upload, each take one such
//! request, so the profile's report comes at most [`BOUND`] after the kill.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;
#[path = "common/private_server.rs"]
mod private_server;
#[path = "common/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{CHUNK, chunk, expected};
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use openprofiling_core::{
    Exporter, ManualTrigger, ProfileKind, ProfileReport, ProfileStatus, ProfileWriter, Profiler,
    ProfilingAgent, Result, TargetInfo,
};
use openprofiling_exporter_object_store::{ObjectStoreExporter, ObjectStoreExporterConfig};
use private_server::{Kind, PrivateServer};
use servers::unique;
use tokio::sync::{Notify, oneshot};

/// Chunks of the profile: 600 × 100 KiB = 61.4 MB.
const CHUNKS: usize = 600;
/// Chunks written before the pause: 7 MB, so the first 5 MiB part is on its way.
const BEFORE_KILL: usize = 70;
/// The S3 minimum, so the first part goes up early.
const PART_MIB: usize = 5;
/// Longest wait from the kill to the profile's report: two requests' worth of object_store's
/// default retries (2 × 55.5 s), plus room for a slow machine.
const BOUND: Duration = Duration::from_secs(130);

/// When the store's exporter dropped out of the profile.
#[derive(Debug, Clone, Copy)]
struct Dropout {
    /// Profile bytes written when the profiler first saw one exporter fewer.
    bytes: u64,
    at: Instant,
}

/// Writes [`CHUNKS`] chunks; after [`BEFORE_KILL`] it says so and waits to be resumed.
#[derive(Debug)]
struct PausingProfiler {
    paused: Mutex<Option<oneshot::Sender<()>>>,
    resume: Arc<Notify>,
    dropout: Arc<Mutex<Option<Dropout>>>,
}

#[async_trait]
impl Profiler for PausingProfiler {
    fn kind(&self) -> ProfileKind {
        ProfileKind::HeapSnapshot
    }
    fn target(&self) -> TargetInfo {
        TargetInfo {
            url: Some("ws://127.0.0.1:9229/0f2c".into()),
            pid: Some(4242),
            runtime_version: Some("node.js/v20.20.2".into()),
            title: None,
        }
    }
    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        let exporters = writer.live_sinks();
        for i in 0..CHUNKS {
            if i == BEFORE_KILL {
                let resumed = self.resume.notified();
                if let Some(paused) = self.paused.lock().unwrap().take() {
                    let _ = paused.send(());
                }
                resumed.await;
            }
            writer.write(chunk(i)).await?;
            let mut dropout = self.dropout.lock().unwrap();
            if dropout.is_none() && writer.live_sinks() < exporters {
                *dropout = Some(Dropout {
                    bytes: writer.bytes_written(),
                    at: Instant::now(),
                });
            }
        }
        Ok(())
    }
}

/// A private server of one kind: its exporter's options and a reader of its own.
struct Store {
    server: PrivateServer,
    /// The exporter's URL: a fresh prefix in the server's bucket or container.
    url: String,
    prefix: Path,
    options: BTreeMap<String, String>,
}

impl Store {
    fn new(kind: Kind) -> Self {
        let server = PrivateServer::new(kind);
        let endpoint = server.field("endpoint");
        let prefix = Path::from(unique("stopped"));
        let (url, options) = match kind {
            Kind::SeaweedFs => {
                let env = &server.description["env"];
                let options = [
                    ("aws_endpoint", endpoint),
                    ("aws_allow_http", "true".to_owned()),
                    ("aws_region", "us-east-1".to_owned()),
                    ("aws_virtual_hosted_style_request", "false".to_owned()),
                    (
                        "aws_access_key_id",
                        env["AWS_ACCESS_KEY_ID"].as_str().unwrap().to_owned(),
                    ),
                    (
                        "aws_secret_access_key",
                        env["AWS_SECRET_ACCESS_KEY"].as_str().unwrap().to_owned(),
                    ),
                ];
                (
                    format!("s3://{}/{prefix}/", server.field("bucket")),
                    options.to_vec(),
                )
            }
            Kind::Azurite => {
                // Path-style, as Azurite serves it: the emulator mode would take its URL
                // from AZURITE_BLOB_STORAGE_URL, which names the shared Azurite.
                let options = [
                    ("azure_storage_use_emulator", "false".to_owned()),
                    (
                        "azure_storage_endpoint",
                        format!("{endpoint}/{}", server.field("account")),
                    ),
                    ("azure_allow_http", "true".to_owned()),
                    ("azure_storage_account_name", server.field("account")),
                    ("azure_storage_account_key", server.field("key")),
                ];
                (
                    format!("az://{}/{prefix}/", server.field("container")),
                    options.to_vec(),
                )
            }
        };
        let options = options
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        Self {
            server,
            url,
            prefix,
            options,
        }
    }

    fn kind_is_s3(&self) -> bool {
        self.url.starts_with("s3://")
    }

    /// The exporter under test, as a user configures it (default retries and parts in
    /// flight).
    fn exporter(&self) -> ObjectStoreExporter {
        let mut config = ObjectStoreExporterConfig::new(self.url.clone());
        config.part_size_mib = PART_MIB;
        config.options = self.options.clone();
        ObjectStoreExporter::from_config(config).unwrap()
    }

    /// A client of the server built without the exporter, that does not retry.
    fn reader(&self) -> Arc<dyn ObjectStore> {
        let no_retries = RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        };
        let option = |key: &str| self.options[key].clone();
        if self.kind_is_s3() {
            Arc::new(
                AmazonS3Builder::new()
                    .with_url(&self.url)
                    .with_endpoint(option("aws_endpoint"))
                    .with_allow_http(true)
                    .with_region("us-east-1")
                    .with_virtual_hosted_style_request(false)
                    .with_access_key_id(option("aws_access_key_id"))
                    .with_secret_access_key(option("aws_secret_access_key"))
                    .with_retry(no_retries)
                    .build()
                    .unwrap(),
            )
        } else {
            Arc::new(
                MicrosoftAzureBuilder::new()
                    .with_url(&self.url)
                    .with_endpoint(option("azure_storage_endpoint"))
                    .with_allow_http(true)
                    .with_account(option("azure_storage_account_name"))
                    .with_access_key(option("azure_storage_account_key"))
                    .with_retry(no_retries)
                    .build()
                    .unwrap(),
            )
        }
    }

    /// Starts (or restarts) the server and waits until its bucket or container answers a
    /// listing; a fresh Azurite gets its container first.
    async fn start(&mut self, create_container: bool) {
        self.server.spawn();
        let reader = self.reader();
        let endpoint = self.server.field("endpoint");
        let mut created = !create_container;
        self.server
            .wait_ready(|| {
                if !created {
                    created = private_server::create_container(&endpoint).is_ok();
                }
                let ready = created;
                let reader = reader.clone();
                async move {
                    if !ready {
                        return Err("the container could not be created yet".to_owned());
                    }
                    reader
                        .list_with_delimiter(None)
                        .await
                        .map(drop)
                        .map_err(|error| error.to_string())
                }
            })
            .await;
        if create_container {
            self.wait_container_saved().await;
        }
    }

    /// Waits until Azurite saved its new container to disk: it saves its metadata every 5 s,
    /// so a container younger than that would be gone after the kill and restart.
    async fn wait_container_saved(&mut self) {
        let container = self.server.field("container");
        let database = self.server.data().join("__azurite_db_blob__.json");
        let began = Instant::now();
        while !std::fs::read_to_string(&database)
            .is_ok_and(|saved| saved.contains(&format!("\"name\":\"{container}\"")))
        {
            self.server.assert_running();
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "Azurite did not save the container {container} to {} within 30 s",
                database.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything under the exporter's prefix.
    async fn listed(&self) -> Vec<String> {
        self.reader()
            .list(Some(&self.prefix))
            .map_ok(|meta| format!("{} ({} bytes)", meta.location, meta.size))
            .try_collect()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "cannot list {} on the restarted server: {error}; log:\n{}",
                    self.url,
                    self.server.log_tail()
                )
            })
    }
}

/// Parts the SeaweedFS filer at `filer` holds for multipart uploads in progress in `bucket`
/// (`/buckets/<bucket>/.uploads/<upload>/0001_<id>.part`, ...). Its volumes cannot tell:
/// it stores these repetitive chunks compressed.
fn s3_parts_uploaded(filer: &str, bucket: &str) -> usize {
    let uploads = filer_entries(filer, &format!("/buckets/{bucket}/.uploads/"));
    uploads
        .iter()
        .flat_map(|upload| filer_entries(filer, &format!("{upload}/")))
        .filter(|part| part.ends_with(".part"))
        .count()
}

/// The full paths of the filer's entries under the directory `path` (none if missing).
fn filer_entries(filer: &str, path: &str) -> Vec<String> {
    let address = filer.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(address) else {
        return Vec::new();
    };
    // HTTP/1.0: the whole body, not chunked, then the connection closes.
    let request = format!(
        "GET {path}?limit=10000 HTTP/1.0\r\nHost: {address}\r\nAccept: application/json\r\n\r\n"
    );
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err()
        || stream.read_to_string(&mut response).is_err()
    {
        return Vec::new();
    }
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return Vec::new();
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Vec::new();
    }
    let listing: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    listing["Entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["FullPath"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the server holds the upload's first part: SeaweedFS lists it, Azurite's data
/// (raw on disk) grew by a part. Returns how long that took.
async fn first_part_arrived(store: &mut Store, kind: Kind, data_before: u64) -> Duration {
    let began = Instant::now();
    let part = (PART_MIB * 1024 * 1024) as u64;
    let arrived = |store: &Store| match kind {
        Kind::SeaweedFs => {
            s3_parts_uploaded(&store.server.field("filer"), &store.server.field("bucket")) > 0
        }
        Kind::Azurite => store.server.data_bytes() >= data_before + part,
    };
    while !arrived(store) {
        store.server.assert_running();
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the first part did not reach the {kind:?} server within 60 s; log:\n{}",
            store.server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the part's response reach the exporter.
    tokio::time::sleep(Duration::from_millis(500)).await;
    began.elapsed()
}

/// `error` and each of its sources, one a line.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut lines = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        lines.push(error.to_string());
        next = error.source();
    }
    lines
}

async fn a_stopped_server_fails_only_its_exporter(kind: Kind) {
    let mut store = Store::new(kind);
    store.start(kind == Kind::Azurite).await;
    let exporter = store.exporter();
    let memory = Arc::new(InMemory::new());
    let in_memory = ObjectStoreExporter::with_store(memory.clone(), "", "memory:///");

    let (paused_tx, paused) = oneshot::channel();
    let resume = Arc::new(Notify::new());
    let dropout = Arc::new(Mutex::new(None));
    let profiler = PausingProfiler {
        paused: Mutex::new(Some(paused_tx)),
        resume: resume.clone(),
        dropout: dropout.clone(),
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(exporter.clone())
        .exporter(in_memory.clone())
        .start()
        .unwrap();
    let before = store.server.data_bytes();
    let began = Instant::now();
    let reaction = handle.start().await.unwrap();
    let report = tokio::spawn(async move { reaction.finished().await });

    tokio::time::timeout(Duration::from_secs(60), paused)
        .await
        .expect("the profiler wrote its first 7 MB within 60 s")
        .unwrap();
    let waited = first_part_arrived(&mut store, kind, before).await;
    store.server.kill();
    let killed = Instant::now();
    resume.notify_one();

    let report: Arc<ProfileReport> = tokio::time::timeout(BOUND, report)
        .await
        .unwrap_or_else(|_| panic!("no report within {BOUND:?} of the kill"))
        .unwrap()
        .expect("a report");
    let reported = killed.elapsed();
    agent.shutdown().await;
    let dropout = *dropout.lock().unwrap();

    // The profile itself is whole; only the stopped store's export failed.
    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    assert_eq!(report.profile.size, (CHUNKS * CHUNK) as u64);
    assert!(!report.is_success(), "{report:?}");
    assert_eq!(report.exports.len(), 2, "{report:?}");

    let failed = &report.exports[0];
    assert_eq!(failed.exporter, exporter.name(), "{report:?}");
    let failure = failed
        .result
        .as_ref()
        .expect_err("the stopped store's export fails");
    let error = failure.to_string();
    let location = exporter.location(&report.profile);
    assert!(
        error.contains(&format!("cannot upload {location} (part ")),
        "the error names the object and the part: {error}"
    );
    assert!(
        error.contains("error sending request"),
        "the error says the request could not be sent: {error}"
    );
    // What happened to the connection is in the message itself, not only in its sources.
    assert!(
        [
            "Connection refused",
            "Connection reset",
            "connection closed"
        ]
        .iter()
        .any(|what| error.contains(&format!("(cause: {what}")) || error.contains(what)),
        "the message says the connection was refused or reset: {error}\n{:#?}",
        chain(failure)
    );

    let done = &report.exports[1];
    assert_eq!(done.exporter, in_memory.name());
    let receipt = done
        .result
        .as_ref()
        .expect("the in-memory export completes");
    assert_eq!(receipt.stored_bytes, (CHUNKS * CHUNK) as u64);
    let copy = memory
        .get(&in_memory.key(&report.profile))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        copy == expected(CHUNKS),
        "the in-memory copy differs from the profile"
    );

    // Back up on the same data and ports: nothing under the key, no sidecar.
    store.start(false).await;
    let listed = store.listed().await;
    assert!(
        listed.is_empty(),
        "nothing is under {} after the failed upload: {listed:?}",
        store.url
    );
    if kind == Kind::SeaweedFs {
        // The data survived the restart: the upload's parts are still there (its abort could
        // not reach the dead server), yet no object is.
        let parts = s3_parts_uploaded(&store.server.field("filer"), &store.server.field("bucket"));
        assert!(
            parts >= 1,
            "the restarted SeaweedFS still holds the unfinished upload's parts"
        );
    }
    let reader = store.reader();
    for key in [
        exporter.key(&report.profile),
        exporter.sidecar_key(&report.profile),
    ] {
        let missing = reader.head(&key).await.unwrap_err();
        assert!(
            matches!(missing, object_store::Error::NotFound { .. }),
            "{key}: {missing}"
        );
    }

    let (dropped_bytes, dropped_after) = dropout.map_or((None, None), |dropout| {
        (
            Some(dropout.bytes),
            Some(dropout.at.saturating_duration_since(killed)),
        )
    });
    eprintln!(
        "{kind:?}: first part on the server {waited:.1?} after the pause; killed at {:.1?}; the \
         exporter dropped out after {dropped_bytes:?} bytes, {dropped_after:.1?} after the \
         kill; report {reported:.1?} after the kill; in-memory copy {} bytes\n  error: {error}",
        killed.saturating_duration_since(began),
        copy.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_server_killed_mid_upload_fails_only_its_exporter() {
    a_stopped_server_fails_only_its_exporter(Kind::SeaweedFs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_server_killed_mid_upload_fails_only_its_exporter() {
    a_stopped_server_fails_only_its_exporter(Kind::Azurite).await;
}
