//! The sampling heap profiler sharing one session with a heap snapshot profiler and a CPU
//! profiler: one WebSocket, counted domain enables, and the snapshot/sampling refusal
//! (nodejs/node#23877) in both directions.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::{MockInspector, Reply, heap_snapshot_text};
use openprofiling_core::{
    InspectorSession, ManualTrigger, ManualTriggerHandle, ProfileReport, ProfileStatus,
    ProfilingAgent, Reaction, ReactionOutcome, RunningAgent,
};
use openprofiling_inspector_cpu_profiler::InspectorCpuProfiler;
use openprofiling_inspector_heap_profiler::InspectorHeapProfiler;
use openprofiling_inspector_heapsnapshot::{HeapSnapshotConfig, InspectorHeapSnapshot};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A heap snapshot profiler without its memory guard, whose CDP calls these tests do not
/// script (the heap snapshot crate's tests cover them).
fn unguarded(session: InspectorSession) -> InspectorHeapSnapshot {
    InspectorHeapSnapshot::with_config(
        session,
        HeapSnapshotConfig {
            memory_guard: false,
            ..HeapSnapshotConfig::default()
        },
    )
}

fn heap_profile() -> Value {
    json!({"head": {"callFrame": {"functionName": "(root)"}, "selfSize": 0, "id": 1, "children": []}, "samples": []})
}

fn cpu_profile() -> Value {
    json!({"nodes": [{"id": 1, "callFrame": {"functionName": "(root)"}}], "samples": [], "timeDeltas": [], "startTime": 0, "endTime": 1})
}

fn expect_snapshot(mock: &MockInspector) {
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(heap_snapshot_text(20_000).into(), 4096)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
}

async fn connect(mock: &MockInspector) -> InspectorSession {
    InspectorSession::builder(mock.ws_url())
        .call_timeout(WAIT)
        .connect()
        .await
        .unwrap()
}

/// An agent with a heap profile reaction and a heap snapshot reaction over `session`.
fn heap_agent(
    session: &InspectorSession,
    exporter: &MemoryExporter,
) -> (RunningAgent, ManualTriggerHandle, ManualTriggerHandle) {
    let (sampling_trigger, sampling) = ManualTrigger::new("sampling");
    let (snapshot_trigger, snapshot) = ManualTrigger::new("snapshot");
    let agent = ProfilingAgent::new()
        .register(
            sampling_trigger,
            InspectorHeapProfiler::new(session.clone()),
        )
        .register(snapshot_trigger, unguarded(session.clone()))
        .exporter(exporter.clone())
        .start()
        .unwrap();
    (agent, sampling, snapshot)
}

async fn finished(reaction: Reaction) -> Arc<ProfileReport> {
    tokio::time::timeout(WAIT, reaction.finished())
        .await
        .expect("the profile must complete")
        .expect("a report")
}

fn methods(mock: &MockInspector) -> Vec<String> {
    mock.calls().into_iter().map(|call| call.method).collect()
}

#[tokio::test]
async fn a_heap_snapshot_is_refused_while_heap_sampling_runs() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.stopSampling",
        Reply::ok(json!({ "profile": heap_profile() })),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    // Once sampling is over, a snapshot goes through.
    expect_snapshot(&mock);
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, sampling, snapshot) = heap_agent(&session, &exporter);

    let started = sampling.start().await.unwrap();
    assert!(
        matches!(started.outcome, ReactionOutcome::Started { .. }),
        "{started:?}"
    );
    let refused = finished(snapshot.start().await.unwrap()).await;
    let ProfileStatus::Failed(reason) = &refused.profile.status else {
        panic!("the snapshot must be refused: {refused:?}");
    };
    assert!(reason.contains("nodejs/node#23877"), "{reason}");
    assert!(
        reason.contains("end the heap sampling profile first"),
        "{reason}"
    );
    // Refused before touching the target, and the sampling profile's domain is untouched.
    assert_eq!(
        methods(&mock),
        ["HeapProfiler.enable", "HeapProfiler.startSampling"]
    );
    assert_eq!(session.domain_enables("HeapProfiler"), 1);

    let sampled = finished(sampling.end().await.unwrap()).await;
    assert!(sampled.is_success(), "{sampled:?}");
    let snapshot_report = finished(snapshot.start().await.unwrap()).await;
    assert!(snapshot_report.is_success(), "{snapshot_report:?}");
    agent.shutdown().await;

    assert_eq!(
        methods(&mock),
        [
            "HeapProfiler.enable",
            "HeapProfiler.startSampling",
            "HeapProfiler.stopSampling",
            "HeapProfiler.disable",
            "HeapProfiler.enable",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.takeHeapSnapshot",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.disable",
        ]
    );
    assert_eq!(mock.connection_count(), 1);
    assert!(mock.calls().iter().all(|call| call.connection == 0));
    mock.assert_finished();
}

#[tokio::test]
async fn heap_sampling_is_refused_while_a_heap_snapshot_is_taken() {
    let mock = MockInspector::start().await;
    expect_snapshot(&mock);
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.stopSampling",
        Reply::ok(json!({ "profile": heap_profile() })),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    // The exporter holds every write: the snapshot stays in progress until the gate opens.
    let (exporter, gate) = MemoryExporter::gated();
    let (agent, sampling, snapshot) = heap_agent(&session, &exporter);

    let taking = snapshot.start().await.unwrap();
    mock.wait_for_call("HeapProfiler.takeHeapSnapshot", WAIT)
        .await;
    let refused = sampling.start().await.unwrap();
    match &refused.outcome {
        ReactionOutcome::Failed { reason } => {
            assert!(reason.contains("nodejs/node#23877"), "{reason}");
            assert!(reason.contains("once the snapshot is done"), "{reason}");
        }
        other => panic!("heap sampling must be refused during a snapshot, got {other:?}"),
    }
    assert!(!methods(&mock).contains(&"HeapProfiler.startSampling".to_owned()));

    gate.add_permits(1_000_000);
    assert!(finished(taking).await.is_success());
    let started = sampling.start().await.unwrap();
    assert!(
        matches!(started.outcome, ReactionOutcome::Started { .. }),
        "{started:?}"
    );
    assert!(finished(sampling.end().await.unwrap()).await.is_success());
    agent.shutdown().await;
    assert_eq!(mock.connection_count(), 1);
    mock.assert_finished();
}

#[tokio::test]
async fn heap_sampling_and_a_cpu_profile_run_together_each_disabling_only_its_domain() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
    mock.expect("Profiler.enable", Reply::ok(json!({})));
    mock.expect("Profiler.setSamplingInterval", Reply::ok(json!({})));
    mock.expect("Profiler.start", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.stopSampling",
        Reply::ok(json!({ "profile": heap_profile() })),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": cpu_profile() })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (sampling_trigger, sampling) = ManualTrigger::new("sampling");
    let (cpu_trigger, cpu) = ManualTrigger::new("cpu");
    let agent = ProfilingAgent::new()
        .register(
            sampling_trigger,
            InspectorHeapProfiler::new(session.clone()),
        )
        .register(cpu_trigger, InspectorCpuProfiler::new(session.clone()))
        .exporter(exporter.clone())
        .start()
        .unwrap();

    assert!(matches!(
        sampling.start().await.unwrap().outcome,
        ReactionOutcome::Started { .. }
    ));
    assert!(matches!(
        cpu.start().await.unwrap().outcome,
        ReactionOutcome::Started { .. }
    ));
    assert!(finished(sampling.end().await.unwrap()).await.is_success());
    assert_eq!(
        session.domain_enables("Profiler"),
        1,
        "the CPU profile keeps its domain"
    );
    assert!(finished(cpu.end().await.unwrap()).await.is_success());
    agent.shutdown().await;

    assert_eq!(exporter.finished().len(), 2);
    assert_eq!(mock.connection_count(), 1);
    assert!(mock.calls().iter().all(|call| call.connection == 0));
    mock.assert_finished();
}
