//! Shared by the integration tests: an in-test profiler, a store that fails on request, and
//! running one profile through a real agent.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use openprofiling_core::{
    Error, Exporter, ManualTrigger, ProfileKind, ProfileMetadata, ProfileReport, ProfileWriter,
    Profiler, ProfilingAgent, Result, TargetInfo,
};
use serde_json::Value;

/// Bytes per chunk the in-test profiler writes.
pub const CHUNK: usize = 100 * 1024;

/// Chunk `i`: `CHUNK` bytes, different for every `i`.
pub fn chunk(i: usize) -> Bytes {
    let pattern = format!("{{\"chunk\":{i:08}}},");
    Bytes::from(pattern.repeat(CHUNK / pattern.len() + 1)[..CHUNK].to_owned())
}

/// The whole profile of `chunks` chunks.
pub fn expected(chunks: usize) -> Vec<u8> {
    (0..chunks).flat_map(|i| chunk(i).to_vec()).collect()
}

/// Writes `chunks` chunks; fails after `fail_after` chunks if set.
#[derive(Debug)]
pub struct ChunkProfiler {
    pub chunks: usize,
    pub fail_after: Option<usize>,
}

impl ChunkProfiler {
    /// Writes all `chunks` chunks.
    pub fn complete(chunks: usize) -> Self {
        Self {
            chunks,
            fail_after: None,
        }
    }

    /// Fails (as a target that died) after `after` of its `chunks` chunks.
    pub fn failing(chunks: usize, after: usize) -> Self {
        Self {
            chunks,
            fail_after: Some(after),
        }
    }
}

#[async_trait]
impl Profiler for ChunkProfiler {
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
        for i in 0..self.chunks {
            if Some(i) == self.fail_after {
                return Err(Error::ConnectionClosed {
                    url: "ws://127.0.0.1:9229/0f2c".into(),
                    reason: "the target died".into(),
                });
            }
            writer.write(chunk(i)).await?;
        }
        Ok(())
    }
}

/// Runs one profile of `profiler` through a real agent exporting to `exporter`, started by a
/// manual trigger with a `Trigger-Reason` attribute.
pub async fn run_profile(exporter: impl Exporter, profiler: ChunkProfiler) -> Arc<ProfileReport> {
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(exporter)
        .start()
        .unwrap();
    let event = openprofiling_core::TriggerEvent::new(openprofiling_core::TriggerAction::Start)
        .with_name("leak hunt")
        .with_attribute("Trigger-Reason", "rss > 1 GB");
    let report = handle.emit(event).await.unwrap().finished().await.unwrap();
    agent.shutdown().await;
    report
}

/// What the sidecar of a profile should say about its object.
pub struct ExpectedObject<'a> {
    /// The object's key.
    pub key: &'a str,
    /// The object's URL (the receipt's location).
    pub url: &'a str,
    /// The object's bytes, as read back from the store.
    pub stored_bytes: u64,
    /// Whether the object is gzipped.
    pub gzip: bool,
}

/// Parses the sidecar `body` and checks it holds `report`'s final profile metadata and
/// describes `object`; returns it for more checks.
pub fn assert_sidecar(body: &[u8], report: &ProfileReport, object: &ExpectedObject<'_>) -> Value {
    let sidecar: Value = serde_json::from_slice(body).expect("the sidecar is JSON");
    assert_eq!(sidecar["sidecar_version"], 1, "{sidecar:#}");

    // The whole final metadata, as the agent reported it.
    let profile: ProfileMetadata =
        serde_json::from_value(sidecar.clone()).expect("the sidecar holds a ProfileMetadata");
    assert_eq!(profile, report.profile, "{sidecar:#}");
    assert_eq!(sidecar["status"]["status"], "success", "{sidecar:#}");
    let end_time = profile.end_time.expect("the sidecar has an end time");
    let duration = end_time
        .duration_since(profile.start_time)
        .expect("the end time is not before the start time");
    assert_eq!(
        sidecar["duration_ms"].as_u64(),
        Some(duration.as_millis() as u64),
        "{sidecar:#}"
    );
    assert_eq!(sidecar["kind"], profile.kind.as_str());
    assert_eq!(sidecar["size"].as_u64(), Some(report.profile.size));

    let described = &sidecar["object"];
    assert_eq!(described["key"], object.key, "{sidecar:#}");
    assert_eq!(described["url"], object.url, "{sidecar:#}");
    assert_eq!(
        described["stored_bytes"].as_u64(),
        Some(object.stored_bytes),
        "{sidecar:#}"
    );
    if object.gzip {
        assert_eq!(described["content_type"], "application/gzip");
        assert_eq!(described["compression"], "gzip");
    } else {
        assert_eq!(described["content_type"], "application/json");
        assert_eq!(described["compression"], Value::Null);
    }
    sidecar
}

/// What a [`FlakyStore`] saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Sizes of the parts put, in order.
    pub part_sizes: Vec<usize>,
    /// Uploads aborted.
    pub aborts: usize,
    /// Uploads completed.
    pub completes: usize,
}

/// An [`InMemory`] store whose uploads fail at part `fail_at_part` (from 1), whose aborts
/// fail when `abort_fails`, and whose single puts fail when `puts_fail`; records what happens.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: InMemory,
    pub fail_at_part: Option<usize>,
    pub abort_fails: bool,
    pub puts_fail: bool,
    pub seen: Arc<Mutex<Seen>>,
}

impl fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlakyStore({})", self.inner)
    }
}

#[derive(Debug)]
struct FlakyUpload {
    inner: Box<dyn MultipartUpload>,
    parts: usize,
    fail_at_part: Option<usize>,
    abort_fails: bool,
    seen: Arc<Mutex<Seen>>,
}

#[async_trait]
impl MultipartUpload for FlakyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.parts += 1;
        self.seen
            .lock()
            .unwrap()
            .part_sizes
            .push(data.content_length());
        if Some(self.parts) == self.fail_at_part {
            let part = self.parts;
            return Box::pin(async move {
                Err(object_store::Error::Generic {
                    store: "flaky",
                    source: format!("part {part}: 503 SlowDown, reduce your request rate").into(),
                })
            });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.seen.lock().unwrap().completes += 1;
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.seen.lock().unwrap().aborts += 1;
        if self.abort_fails {
            return Err(object_store::Error::Generic {
                store: "flaky",
                source: "abort refused: connection reset".into(),
            });
        }
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if self.puts_fail {
            return Err(object_store::Error::Generic {
                store: "flaky",
                source: "put refused: 500 InternalError".into(),
            });
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FlakyUpload {
            inner,
            parts: 0,
            fail_at_part: self.fail_at_part,
            abort_fails: self.abort_fails,
            seen: self.seen.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
