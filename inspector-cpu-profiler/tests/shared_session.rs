//! A CPU profile and a heap snapshot sharing one session: one WebSocket, each domain enabled
//! and disabled by its own user only.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::{MockInspector, Reply, heap_snapshot_text};
use openprofiling_core::{
    InspectorSession, ManualTrigger, ProfileKind, ProfilingAgent, ReactionOutcome,
};
use openprofiling_inspector_cpu_profiler::InspectorCpuProfiler;
use openprofiling_inspector_heapsnapshot::{HeapSnapshotConfig, InspectorHeapSnapshot};
use serde_json::json;

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

#[tokio::test]
async fn a_heap_snapshot_taken_while_a_cpu_profile_runs_leaves_the_profiler_domain_alone() {
    let mock = MockInspector::start().await;
    mock.expect("Profiler.enable", Reply::ok(json!({})));
    mock.expect("Profiler.setSamplingInterval", Reply::ok(json!({})));
    mock.expect("Profiler.start", Reply::ok(json!({})));
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
    let profile = json!({"nodes": [{"id": 1, "callFrame": {"functionName": "(root)"}}], "samples": [], "timeDeltas": [], "startTime": 0, "endTime": 1});
    mock.expect("Profiler.stop", Reply::ok(json!({ "profile": profile })));
    mock.expect("Profiler.disable", Reply::ok(json!({})));

    let session = InspectorSession::builder(mock.ws_url())
        .call_timeout(WAIT)
        .connect()
        .await
        .unwrap();
    let exporter = MemoryExporter::new();
    let (cpu_trigger, cpu) = ManualTrigger::new("cpu");
    let (snapshot_trigger, snapshot) = ManualTrigger::new("snapshot");
    let agent = ProfilingAgent::new()
        .register(cpu_trigger, InspectorCpuProfiler::new(session.clone()))
        .register(snapshot_trigger, unguarded(session.clone()))
        .exporter(exporter.clone())
        .start()
        .unwrap();

    let started = cpu.start().await.unwrap();
    assert!(
        matches!(started.outcome, ReactionOutcome::Started { .. }),
        "{started:?}"
    );
    let taken = snapshot.start().await.unwrap();
    let snapshot_report = tokio::time::timeout(WAIT, taken.finished())
        .await
        .unwrap()
        .unwrap();
    assert!(snapshot_report.is_success(), "{snapshot_report:?}");
    // The snapshot's teardown disabled HeapProfiler only; the CPU profile still holds Profiler.
    assert_eq!(session.domain_enables("Profiler"), 1);
    assert_eq!(session.domain_enables("HeapProfiler"), 0);

    let stopped = cpu.end().await.unwrap();
    let cpu_report = tokio::time::timeout(WAIT, stopped.finished())
        .await
        .unwrap()
        .unwrap();
    agent.shutdown().await;

    assert!(cpu_report.is_success(), "{cpu_report:?}");
    assert_eq!(snapshot_report.profile.kind, ProfileKind::HeapSnapshot);
    assert_eq!(cpu_report.profile.kind, ProfileKind::CpuProfile);
    let calls = mock.calls();
    let methods: Vec<&str> = calls.iter().map(|call| call.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "Profiler.enable",
            "Profiler.setSamplingInterval",
            "Profiler.start",
            "HeapProfiler.enable",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.takeHeapSnapshot",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.disable",
            "Profiler.stop",
            "Profiler.disable",
        ]
    );
    assert_eq!(
        mock.connection_count(),
        1,
        "both profilers share one WebSocket"
    );
    assert!(calls.iter().all(|call| call.connection == 0), "{calls:?}");
    mock.assert_finished();
}
