//! The memory guard: what it asks the target, and its verdict on a real Node process.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::{MockInspector, NodeProcess, Reply, heap_snapshot_text};
use openprofiling_core::{
    InspectorSession, ManualTrigger, ProfileReport, ProfileStatus, ProfilingAgent, ReactionOutcome,
};
use openprofiling_inspector_heapsnapshot::{HeapSnapshotConfig, InspectorHeapSnapshot};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

async fn snapshot_with(
    profiler: InspectorHeapSnapshot,
    exporter: &MemoryExporter,
) -> Arc<ProfileReport> {
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let reaction = handle.start().await.unwrap();
    assert!(
        matches!(reaction.outcome, ReactionOutcome::Capturing { .. }),
        "{:?}",
        reaction.outcome
    );
    let report = tokio::time::timeout(WAIT, reaction.finished())
        .await
        .unwrap()
        .unwrap();
    agent.shutdown().await;
    report
}

fn guarded(session: InspectorSession, margin_percent: u32) -> InspectorHeapSnapshot {
    InspectorHeapSnapshot::with_config(
        session,
        HeapSnapshotConfig {
            memory_margin_percent: margin_percent,
            ..HeapSnapshotConfig::default()
        },
    )
}

#[tokio::test]
async fn the_guard_reads_heap_usage_before_anything_else() {
    let mock = MockInspector::start().await;
    mock.expect(
        "Runtime.getHeapUsage",
        Reply::ok(json!({ "usedSize": 1_000_000.0, "totalSize": 2_000_000.0 })),
    );
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    let text = heap_snapshot_text(10_000);
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.into(), 4_096)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = InspectorSession::builder(mock.ws_url())
        .connect()
        .await
        .unwrap();
    let exporter = MemoryExporter::new();

    let report = snapshot_with(guarded(session, 25), &exporter).await;
    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    let methods: Vec<_> = mock.calls().into_iter().map(|call| call.method).collect();
    assert_eq!(
        &methods[..2],
        ["Runtime.getHeapUsage", "HeapProfiler.enable"]
    );
    mock.assert_finished();
}

#[tokio::test]
async fn a_runtime_without_heap_usage_is_snapshotted_unguarded() {
    let mock = MockInspector::start().await;
    mock.expect(
        "Runtime.getHeapUsage",
        Reply::error(-32601, "'Runtime.getHeapUsage' wasn't found"),
    );
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    let text = heap_snapshot_text(5_000);
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.into(), 4_096)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = InspectorSession::builder(mock.ws_url())
        .connect()
        .await
        .unwrap();
    let exporter = MemoryExporter::new();
    let report = snapshot_with(guarded(session, 25), &exporter).await;
    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    mock.assert_finished();
}

#[tokio::test]
async fn a_real_node_process_with_room_is_snapshotted_and_one_without_is_refused() {
    let node = NodeProcess::start_with_instances("GuardedThing", 1_000).await;
    let session = InspectorSession::builder(node.ws_url())
        .connect()
        .await
        .unwrap();

    // This machine has gigabytes free and the process a few MB of heap: allowed.
    let exporter = MemoryExporter::new();
    let report = snapshot_with(guarded(session.clone(), 25), &exporter).await;
    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    assert_eq!(exporter.finished().len(), 1, "the snapshot was exported");

    // A margin no machine has: the same process is refused, with both numbers, and nothing
    // is published.
    let exporter = MemoryExporter::new();
    let report = snapshot_with(guarded(session.clone(), 1_000_000_000), &exporter).await;
    let ProfileStatus::Failed(reason) = &report.profile.status else {
        panic!("expected a refusal, got {:?}", report.profile.status);
    };
    assert!(
        reason.contains("refusing to take a heap snapshot"),
        "{reason}"
    );
    assert!(
        reason.contains("MiB more") && reason.contains("MiB is free"),
        "{reason}"
    );
    assert!(reason.contains("--force"), "says how to override: {reason}");
    assert!(exporter.finished().is_empty(), "nothing published");

    // Forced: the guard is off and the snapshot is taken.
    let forced = InspectorHeapSnapshot::with_config(
        session,
        HeapSnapshotConfig {
            memory_guard: false,
            memory_margin_percent: 1_000_000_000,
            ..HeapSnapshotConfig::default()
        },
    );
    let exporter = MemoryExporter::new();
    let report = snapshot_with(forced, &exporter).await;
    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    node.stop().await;
}
