//! The heap snapshot profiler against a real `node --inspect=127.0.0.1:0`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::MemoryExporter;
use openprofiling_core::{InspectorSession, ManualTrigger, ProfileStatus, ProfilingAgent};
use openprofiling_inspector_heapsnapshot::{HeapSnapshotConfig, InspectorHeapSnapshot};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(60);
const INSTANCES: usize = 1234;

/// Keeps exactly 1234 `LeakyThing`s alive, says "ready", then idles.
const PROGRAM: &str = r#"
class LeakyThing { constructor(i) { this.i = i; } }
globalThis.leaks = [];
for (let i = 0; i < 1234; i++) globalThis.leaks.push(new LeakyThing(i));
setInterval(() => {}, 1000);
console.log("ready");
"#;

/// A node process running [`PROGRAM`] and its inspector's WebSocket URL; killed on drop.
struct Node {
    child: Child,
    ws_url: String,
}

impl Node {
    async fn spawn() -> Self {
        let mut child = Command::new("node")
            .args(["--inspect=127.0.0.1:0", "-e", PROGRAM])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be on PATH");
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ws_url = tokio::time::timeout(WAIT, async {
            while let Some(line) = stderr.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("Debugger listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("node exited without announcing its inspector");
        })
        .await
        .expect("node announces its inspector");
        tokio::time::timeout(WAIT, async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                if line.trim() == "ready" {
                    return;
                }
            }
            panic!("node exited before it was ready");
        })
        .await
        .expect("node gets ready");
        // Keep reading both pipes so that node never blocks on a full one.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self { child, ws_url }
    }

    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Takes one snapshot of `node` through an agent; returns its bytes.
async fn snapshot(node: &Node, config: HeapSnapshotConfig) -> Vec<u8> {
    let session = InspectorSession::builder(&node.ws_url)
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
    let node = Node::spawn().await;
    let bytes = snapshot(&node, HeapSnapshotConfig::default()).await;
    node.kill().await;
    assert_eq!(count_leaky_things(&bytes), INSTANCES);
}

#[tokio::test]
async fn a_real_node_snapshot_over_its_own_session() {
    let node = Node::spawn().await;
    let config = HeapSnapshotConfig {
        own_session: true,
        gc_after: false,
        ..HeapSnapshotConfig::default()
    };
    let bytes = snapshot(&node, config).await;
    node.kill().await;
    assert_eq!(count_leaky_things(&bytes), INSTANCES);
}
