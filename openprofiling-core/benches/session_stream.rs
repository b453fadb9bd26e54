//! Streams 500 MB of heap-snapshot-shaped chunk events from the mock inspector (in a child
//! process) through an `InspectorSession` and the agent into a discarding exporter, and prints
//! throughput, CPU seconds per GB and the peak RSS of the agent's process.
//!
//! `cargo bench -p openprofiling-core --features test-util --bench session_stream [-- MB] [--current-thread]`
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use nix::sys::resource::{UsageWho, getrusage};
use openprofiling_core::mock::{
    MockInspector, Reply, heap_snapshot_chunk_frames, heap_snapshot_text,
};
use openprofiling_core::{
    ExportReceipt, ExportSink, Exporter, InspectorSession, ManualTrigger, ProfileKind,
    ProfileMetadata, ProfileWriter, Profiler, ProfilingAgent, Result,
};
use serde_json::{Value, json};

const ROLE: &str = "OPENPROFILING_BENCH_ROLE";
const CHUNK: usize = 100 * 1024;

fn main() {
    let megabytes: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(500);
    // `--current-thread`: the agent on one thread, as a small sidecar would run it.
    let current_thread = std::env::args().any(|arg| arg == "--current-thread");
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    }
    .enable_all()
    .build()
    .unwrap();
    if std::env::var_os(ROLE).is_some() {
        runtime.block_on(serve(megabytes << 20));
    } else {
        runtime.block_on(measure(megabytes));
    }
}

/// The child: a mock inspector whose `takeHeapSnapshot` streams `bytes` of chunk events.
async fn serve(bytes: u64) {
    let text = heap_snapshot_text(4 << 20);
    let frames = Arc::new(heap_snapshot_chunk_frames(&text, CHUNK));
    let mock = MockInspector::start().await;
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps().frames(frames, bytes).ok(json!({})),
    );
    println!("{}", mock.ws_url());
    // Serve until the parent closes our stdin.
    tokio::task::spawn_blocking(|| std::io::stdin().lines().count())
        .await
        .unwrap();
}

/// Takes one "snapshot": subscribe, call, write every chunk.
#[derive(Debug)]
struct ChunkPump {
    session: InspectorSession,
}

#[async_trait]
impl Profiler for ChunkPump {
    fn kind(&self) -> ProfileKind {
        ProfileKind::HeapSnapshot
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        let mut chunks = self
            .session
            .subscribe("HeapProfiler.addHeapSnapshotChunk")?;
        let call = self.session.call_with_timeout::<Value>(
            "HeapProfiler.takeHeapSnapshot",
            json!({ "reportProgress": false }),
            Duration::from_secs(600),
        );
        tokio::pin!(call);
        loop {
            tokio::select! {
                biased;
                event = chunks.next() => writer.write(event?.string_param("chunk")?).await?,
                reply = &mut call => { reply?; break; }
            }
        }
        while let Some(event) = chunks.try_next() {
            writer.write(event.string_param("chunk")?).await?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Discard;

#[derive(Debug)]
struct DiscardSink(u64);

#[async_trait]
impl Exporter for Discard {
    fn name(&self) -> String {
        "discard".into()
    }
    async fn begin(&self, _: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
        Ok(Box::new(DiscardSink(0)))
    }
}

#[async_trait]
impl ExportSink for DiscardSink {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.0 += chunk.len() as u64;
        Ok(())
    }
    async fn finish(self: Box<Self>, _: &ProfileMetadata) -> Result<ExportReceipt> {
        Ok(ExportReceipt {
            location: "nowhere".into(),
            stored_bytes: self.0,
        })
    }
    async fn abort(self: Box<Self>, _: &str) -> Result<()> {
        Ok(())
    }
}

/// CPU seconds used so far: (user, kernel).
fn cpu_seconds(who: UsageWho) -> (f64, f64) {
    let usage = getrusage(who).unwrap();
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    (seconds(usage.user_time()), seconds(usage.system_time()))
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

async fn measure(megabytes: u64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(megabytes.to_string())
        .env(ROLE, "mock")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();

    let session = InspectorSession::builder(url.trim())
        .connect()
        .await
        .unwrap();
    let (trigger, handle) = ManualTrigger::new("bench");
    let agent = ProfilingAgent::new()
        .register(trigger, ChunkPump { session })
        .exporter(Discard)
        .start()
        .unwrap();

    let cpu_before = cpu_seconds(UsageWho::RUSAGE_SELF);
    let started = Instant::now();
    let report = handle.start().await.unwrap().finished().await.unwrap();
    let wall = started.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds(UsageWho::RUSAGE_SELF);
    let (user, kernel) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    agent.shutdown().await;
    drop(child.stdin.take());
    child.wait().unwrap();
    let (mock_user, mock_kernel) = cpu_seconds(UsageWho::RUSAGE_CHILDREN);

    assert!(report.is_success(), "{report:?}");
    let bytes = report.profile.size as f64;
    let gigabytes = bytes / 1e9;
    println!(
        "session_stream: {:.0} MB of unescaped chunks through session + agent + discarding sink",
        bytes / 1e6
    );
    println!(
        "  throughput      {:>8.0} MB/s   (goal >= 1000)",
        bytes / 1e6 / wall
    );
    println!(
        "  agent CPU       {:>8.3} s/GB   (goal <= 0.5; user {:.3}, kernel {:.3})",
        (user + kernel) / gigabytes,
        user / gigabytes,
        kernel / gigabytes
    );
    println!(
        "  agent peak RSS  {:>8.1} MiB    (goal <= 32)",
        peak_rss_mib()
    );
    println!(
        "  (mock inspector process: {:.3} CPU-s/GB, not counted)",
        (mock_user + mock_kernel) / gigabytes
    );
}
