//! The heap snapshot profiler against a real `node --inspect=127.0.0.1:0`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::NodeProcess;
use openprofiling_core::{InspectorSession, ManualTrigger, ProfileStatus, ProfilingAgent};
use openprofiling_inspector_heapsnapshot::{HeapSnapshotConfig, InspectorHeapSnapshot};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const INSTANCES: usize = 1234;

/// Takes one snapshot of `node` through an agent; returns its bytes.
async fn snapshot(node: &NodeProcess, config: HeapSnapshotConfig) -> Vec<u8> {
    let session = InspectorSession::builder(node.ws_url())
        .connect()
        .await
        .unwrap();
    let profiler = InspectorHeapSnapshot::with_config(session, config);
    let progress = profiler.progress();
    let exporter = MemoryExporter::new();
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(exporter.clone())
        .start()
        .unwrap();

    let reaction = handle.start().await.unwrap();
    let report = tokio::time::timeout(WAIT, reaction.finished())
        .await
        .expect("the snapshot must complete")
        .expect("a report");
    agent.shutdown().await;

    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    assert!(report.is_success(), "{report:?}");
    let bytes = exporter.bytes();
    assert_eq!(report.profile.size, bytes.len() as u64);
    assert!(
        exporter.chunk_count() > 1,
        "a real snapshot comes in many chunks"
    );
    let progress = *progress.borrow();
    assert!(progress.finished && progress.total > 0, "{progress:?}");
    assert_eq!(progress.bytes, bytes.len() as u64);
    bytes
}

/// Checks the snapshot's structure and counts the `LeakyThing` objects in it.
fn count_leaky_things(bytes: &[u8]) -> usize {
    let snapshot: Value = serde_json::from_slice(bytes).expect("the snapshot is valid JSON");
    let meta = &snapshot["snapshot"]["meta"];
    let node_fields = meta["node_fields"].as_array().unwrap();
    let edge_fields = meta["edge_fields"].as_array().unwrap();
    let nodes = snapshot["nodes"].as_array().unwrap();
    let edges = snapshot["edges"].as_array().unwrap();
    let strings = snapshot["strings"].as_array().unwrap();
    let node_count = snapshot["snapshot"]["node_count"].as_u64().unwrap() as usize;
    let edge_count = snapshot["snapshot"]["edge_count"].as_u64().unwrap() as usize;
    assert_eq!(node_count * node_fields.len(), nodes.len());
    assert_eq!(edge_count * edge_fields.len(), edges.len());

    let field = |name: &str| node_fields.iter().position(|f| f == name).unwrap();
    let (type_field, name_field) = (field("type"), field("name"));
    let object_type = meta["node_types"][type_field]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t == "object")
        .unwrap() as u64;
    nodes
        .chunks(node_fields.len())
        .filter(|node| node[type_field].as_u64() == Some(object_type))
        .filter(|node| {
            let name = node[name_field].as_u64().unwrap() as usize;
            strings[name] == "LeakyThing"
        })
        .count()
}

#[tokio::test]
async fn a_real_node_snapshot_is_complete_and_holds_every_instance() {
    let node = NodeProcess::start_with_instances("LeakyThing", INSTANCES).await;
    let bytes = snapshot(&node, HeapSnapshotConfig::default()).await;
    node.stop().await;
    assert_eq!(count_leaky_things(&bytes), INSTANCES);
}

#[tokio::test]
async fn a_real_node_snapshot_over_its_own_session() {
    let node = NodeProcess::start_with_instances("LeakyThing", INSTANCES).await;
    let config = HeapSnapshotConfig {
        own_session: true,
        gc_after: false,
        ..HeapSnapshotConfig::default()
    };
    let bytes = snapshot(&node, config).await;
    node.stop().await;
    assert_eq!(count_leaky_things(&bytes), INSTANCES);
}
