//! The HTTP trigger driving a real `ProfilingAgent`, with in-test profilers (instant and
//! ranged) and in-test exporters.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use common::{PATIENCE, post};
use openprofiling_core::{
    Error, ExportReceipt, ExportSink, Exporter, ProfileKind, ProfileMetadata, ProfileWriter,
    Profiler, ProfilingAgent, RunningAgent,
};
use openprofiling_trigger_http::{ActionReply, HttpTrigger, HttpTriggerConfig, Outcome};
use serde_json::json;
use tokio::sync::Semaphore;

/// The chunks every in-test profile is made of.
const CHUNKS: [&str; 3] = [r#"{"snapshot":"#, r#"{"nodes":[1,2,3]}"#, "}"];

fn profile_bytes() -> Vec<u8> {
    CHUNKS.concat().into_bytes()
}

/// A profiler whose `collect` waits for a permit of `gate` (when given), then writes
/// [`CHUNKS`].
#[derive(Debug)]
struct TestProfiler {
    kind: ProfileKind,
    gate: Option<Arc<Semaphore>>,
    started: Arc<Mutex<Vec<String>>>,
}

impl TestProfiler {
    fn new(kind: ProfileKind) -> Self {
        Self {
            kind,
            gate: None,
            started: Arc::default(),
        }
    }

    fn gated(kind: ProfileKind, gate: Arc<Semaphore>) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new(kind)
        }
    }
}

#[async_trait]
impl Profiler for TestProfiler {
    fn kind(&self) -> ProfileKind {
        self.kind
    }

    async fn start(&self, profile: &ProfileMetadata) -> openprofiling_core::Result<()> {
        self.started
            .lock()
            .expect("lock")
            .push(profile.name.clone());
        Ok(())
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> openprofiling_core::Result<()> {
        if let Some(gate) = &self.gate {
            gate.acquire()
                .await
                .map_err(|_| Error::Agent("gate closed".to_owned()))?
                .forget();
        }
        writer.set_attribute("collected_by", "test");
        for chunk in CHUNKS {
            writer.write(Bytes::from_static(chunk.as_bytes())).await?;
        }
        Ok(())
    }
}

/// Keeps every finished profile in memory, under `memory://<file name>`.
#[derive(Debug, Clone, Default)]
struct MemoryExporter {
    stored: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

#[derive(Debug)]
struct MemorySink {
    bytes: Vec<u8>,
    stored: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

#[async_trait]
impl Exporter for MemoryExporter {
    fn name(&self) -> String {
        "memory".to_owned()
    }

    async fn begin(
        &self,
        _profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<Box<dyn ExportSink>> {
        Ok(Box::new(MemorySink {
            bytes: Vec::new(),
            stored: self.stored.clone(),
        }))
    }
}

#[async_trait]
impl ExportSink for MemorySink {
    async fn write(&mut self, chunk: Bytes) -> openprofiling_core::Result<()> {
        self.bytes.extend_from_slice(&chunk);
        Ok(())
    }

    async fn finish(
        self: Box<Self>,
        profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<ExportReceipt> {
        let location = format!("memory://{}", profile.file_name());
        let stored_bytes = self.bytes.len() as u64;
        self.stored
            .lock()
            .expect("lock")
            .insert(location.clone(), self.bytes);
        Ok(ExportReceipt {
            location,
            stored_bytes,
        })
    }

    async fn abort(self: Box<Self>, _reason: &str) -> openprofiling_core::Result<()> {
        Ok(())
    }
}

/// An exporter whose every profile fails at `finish`.
#[derive(Debug)]
struct FullDisk;

#[derive(Debug)]
struct FullDiskSink;

#[async_trait]
impl Exporter for FullDisk {
    fn name(&self) -> String {
        "full-disk".to_owned()
    }

    async fn begin(
        &self,
        _profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<Box<dyn ExportSink>> {
        Ok(Box::new(FullDiskSink))
    }
}

#[async_trait]
impl ExportSink for FullDiskSink {
    async fn write(&mut self, _chunk: Bytes) -> openprofiling_core::Result<()> {
        Ok(())
    }

    async fn finish(
        self: Box<Self>,
        _profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<ExportReceipt> {
        Err(Error::Agent("no space left on device".to_owned()))
    }

    async fn abort(self: Box<Self>, _reason: &str) -> openprofiling_core::Result<()> {
        Ok(())
    }
}

/// An agent whose one reaction is an HTTP trigger on a free port driving `profiler`.
async fn agent(
    profiler: TestProfiler,
    exporters: Vec<Arc<dyn Exporter>>,
) -> (RunningAgent, Arc<HttpTrigger>, std::net::SocketAddr) {
    let trigger = Arc::new(HttpTrigger::new(HttpTriggerConfig::loopback(0)).expect("trigger"));
    let mut builder = ProfilingAgent::new().register(trigger.clone(), profiler);
    for exporter in exporters {
        builder = builder.exporter_boxed(exporter);
    }
    let agent = builder.start().expect("the agent starts");
    let address = tokio::time::timeout(PATIENCE, trigger.local_addr())
        .await
        .expect("listening in time")
        .expect("listening");
    (agent, trigger, address)
}

fn reply_of(response: &common::Response) -> ActionReply {
    serde_json::from_value(response.body.clone()).expect("an ActionReply")
}

#[tokio::test]
async fn start_with_wait_reports_where_the_snapshot_went() {
    let memory = MemoryExporter::default();
    let (agent, trigger, address) = agent(
        TestProfiler::new(ProfileKind::HeapSnapshot),
        vec![Arc::new(memory.clone())],
    )
    .await;

    let response = post(
        address,
        "/start?wait=true",
        r#"{"name":"leak-hunt","attributes":{"ticket":"OPS-42"}}"#,
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let reply = reply_of(&response);
    assert_eq!(reply.outcome, Outcome::Capturing);
    let report = reply.report.expect("a report, since we waited");
    assert!(report.success, "{report:?}");
    assert_eq!(report.status, "success");
    assert_eq!(report.size, profile_bytes().len() as u64);
    assert_eq!(Some(report.profile.id), reply.profile);
    assert_eq!(report.profile.name, "leak-hunt");
    assert_eq!(report.profile.kind, ProfileKind::HeapSnapshot);
    assert_eq!(report.profile.attributes["ticket"], "OPS-42".into());
    assert_eq!(report.profile.attributes["trigger"], "http".into());
    assert_eq!(report.profile.attributes["collected_by"], "test".into());
    assert_eq!(report.exports.len(), 1);
    let export = &report.exports[0];
    assert_eq!(export.exporter, "memory");
    assert_eq!(export.error, None);
    let location = export.location.clone().expect("a location");
    assert!(location.ends_with(".heapsnapshot"), "{location}");
    assert_eq!(export.stored_bytes, Some(profile_bytes().len() as u64));
    // The location is where the bytes really are.
    assert_eq!(
        memory.stored.lock().expect("lock").get(&location),
        Some(&profile_bytes())
    );

    agent.shutdown().await;
    assert_eq!(
        trigger.local_addr().await,
        None,
        "the trigger stopped with the agent"
    );
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}

#[tokio::test]
async fn a_start_while_capturing_is_refused_and_replies_do_not_wait_unless_asked() {
    let gate = Arc::new(Semaphore::new(0));
    let memory = MemoryExporter::default();
    let (agent, _trigger, address) = agent(
        TestProfiler::gated(ProfileKind::HeapSnapshot, gate.clone()),
        vec![Arc::new(memory.clone())],
    )
    .await;
    let mut reports = agent.reports();

    // The profiler is held at the gate: this reply can only come before the profile is done.
    let first = post(address, "/start", "").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let first = reply_of(&first);
    assert_eq!(first.outcome, Outcome::Capturing);
    assert_eq!(first.report, None);

    let busy = post(address, "/start", "").await;
    assert_eq!(busy.status, 409, "{:?}", busy.body);
    assert_eq!(busy.body["outcome"], "refused");
    let reason = busy.body["reason"].as_str().expect("a reason");
    assert!(reason.contains("busy"), "{reason}");
    assert!(
        reason.contains(&first.profile.expect("an id").to_string()),
        "{reason}"
    );

    let ignored = post(address, "/stop", "").await;
    assert_eq!(ignored.status, 409, "{:?}", ignored.body);
    assert_eq!(ignored.body["outcome"], "ignored");

    gate.add_permits(1);
    let report = tokio::time::timeout(PATIENCE, reports.recv())
        .await
        .expect("the profile completes in time")
        .expect("a report");
    assert_eq!(Some(report.profile.id), first.profile);
    assert!(report.is_success());
    assert_eq!(
        memory.stored.lock().expect("lock").len(),
        1,
        "one profile, not two"
    );

    // Idle again: a new start is accepted.
    gate.add_permits(1);
    let again = post(address, "/toggle?wait=true", "").await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["outcome"], "capturing");
    assert_eq!(again.body["report"]["success"], true);
    agent.shutdown().await;
}

#[tokio::test]
async fn a_ranged_profile_starts_refuses_and_stops_with_its_report() {
    let memory = MemoryExporter::default();
    let profiler = TestProfiler::new(ProfileKind::CpuProfile);
    let started = profiler.started.clone();
    let (agent, _trigger, address) = agent(profiler, vec![Arc::new(memory.clone())]).await;

    let start = post(address, "/start", r#"{"name":"busy-loop"}"#).await;
    assert_eq!(start.status, 200, "{:?}", start.body);
    let start = reply_of(&start);
    assert_eq!(start.outcome, Outcome::Started);
    assert_eq!(*started.lock().expect("lock"), ["busy-loop"]);

    let busy = post(address, "/start", "").await;
    assert_eq!(busy.status, 409);
    assert_eq!(busy.body["outcome"], "refused");
    assert!(
        busy.body["reason"]
            .as_str()
            .unwrap_or("")
            .contains("running"),
        "{:?}",
        busy.body
    );

    let stop = post(address, "/stop?wait=true", "").await;
    assert_eq!(stop.status, 200, "{:?}", stop.body);
    let stop = reply_of(&stop);
    assert_eq!(stop.outcome, Outcome::Stopped);
    assert_eq!(stop.profile, start.profile);
    let report = stop.report.expect("a report");
    assert_eq!(report.profile.name, "busy-loop");
    assert_eq!(report.size, profile_bytes().len() as u64);
    let location = report.exports[0].location.clone().expect("a location");
    assert!(location.ends_with(".cpuprofile"), "{location}");

    let nothing = post(address, "/stop", "").await;
    assert_eq!(nothing.status, 409);
    assert_eq!(nothing.body["outcome"], "ignored");
    assert_eq!(nothing.body["reason"], "no profile is running");

    let on = post(address, "/toggle", "").await;
    assert_eq!(on.body["outcome"], "started", "{:?}", on.body);
    let off = post(address, "/toggle?wait=true", "").await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    assert_eq!(off.body["outcome"], "stopped");
    assert_eq!(off.body["profile"], on.body["profile"]);
    assert_eq!(off.body["report"]["success"], true);
    assert_eq!(memory.stored.lock().expect("lock").len(), 2);
    agent.shutdown().await;
}

#[tokio::test]
async fn an_exporter_error_is_in_the_report_and_the_status_is_500() {
    let memory = MemoryExporter::default();
    let (agent, _trigger, address) = agent(
        TestProfiler::new(ProfileKind::HeapSnapshot),
        vec![Arc::new(memory.clone()), Arc::new(FullDisk)],
    )
    .await;
    let response = post(address, "/start?wait=true", "").await;
    assert_eq!(response.status, 500, "{:?}", response.body);
    let report = &response.body["report"];
    assert_eq!(report["success"], false);
    assert_eq!(
        report["status"], "success",
        "the profile itself was complete"
    );
    assert_eq!(report["exports"][0]["exporter"], "memory");
    assert!(report["exports"][0]["location"].is_string(), "{report}");
    assert_eq!(report["exports"][1]["exporter"], "full-disk");
    assert!(report["exports"][1].get("location").is_none(), "{report}");
    let error = report["exports"][1]["error"].as_str().expect("an error");
    assert!(error.contains("no space left on device"), "{error}");
    assert_eq!(
        response.body["message"],
        json!(format!(
            "profile {} did not reach every exporter; see report",
            response.body["profile"]
        ))
    );
    agent.shutdown().await;
}
