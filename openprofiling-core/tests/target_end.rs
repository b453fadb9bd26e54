//! Letting go of a Node.js program that has ended: Node does not exit while an inspector client
//! is attached, so an agent beside a service would keep it from ever shutting down.
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use openprofiling_core::mock::{MockInspector, NodeProcess, Reply};
use openprofiling_core::{Error, InspectorSession};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn connect(url: &str) -> InspectorSession {
    InspectorSession::builder(url)
        .call_timeout(WAIT)
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_session_asks_node_to_announce_its_program_end() {
    let mock = MockInspector::start().await;
    mock.expect(
        "NodeRuntime.notifyWhenWaitingForDisconnect",
        Reply::ok(json!({})),
    );
    let _session = connect(&mock.ws_url()).await;
    let asked = mock
        .wait_for_call("NodeRuntime.notifyWhenWaitingForDisconnect", WAIT)
        .await;
    assert_eq!(asked.params, json!({ "enabled": true }));
    mock.assert_finished();
}

#[tokio::test]
async fn the_announcement_closes_the_session_after_what_came_before_it() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.takeHeapSnapshot", Reply::steps().never());
    let session = connect(&mock.ws_url()).await;
    let mut chunks = session
        .subscribe("HeapProfiler.addHeapSnapshotChunk")
        .unwrap();
    let pending = tokio::spawn({
        let session = session.clone();
        async move {
            session
                .call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}))
                .await
        }
    });
    mock.wait_for_call("HeapProfiler.takeHeapSnapshot", WAIT)
        .await;

    mock.send_event(
        "HeapProfiler.addHeapSnapshotChunk",
        json!({ "chunk": "sent before the end" }),
    );
    mock.send_event("NodeRuntime.waitingForDisconnect", json!({}));
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the session lets go");

    let reason = session.close_reason().unwrap();
    assert!(reason.contains("program has ended"), "{reason}");
    let chunk = chunks.next().await.expect("what came first is delivered");
    assert_eq!(
        &chunk.string_param("chunk").unwrap()[..],
        b"sent before the end"
    );
    assert!(matches!(
        chunks.next().await,
        Err(Error::ConnectionClosed { .. })
    ));
    let error = pending.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::ConnectionClosed { reason, .. } if reason.contains("program has ended")),
        "{error}"
    );
}

#[tokio::test]
async fn a_real_node_program_that_ends_exits_instead_of_waiting_for_us() {
    // Ends 3 s after saying it is ready: the session is attached by then.
    let mut node = NodeProcess::start("console.log('ready'); setTimeout(() => {}, 3000)").await;
    let session = connect(node.ws_url()).await;
    let _: Value = session
        .call("Runtime.evaluate", json!({ "expression": "1" }))
        .await
        .unwrap();

    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the session lets go of the ended program");
    let reason = session.close_reason().unwrap();
    assert!(reason.contains("program has ended"), "{reason}");
    let status = node
        .exited_within(WAIT)
        .await
        .expect("node exits by itself once let go");
    assert!(status.success(), "{status}");
}
