//! Tests of the mock inspector (feature `test-util`), with tokio-tungstenite as the client
//! and raw TCP for HTTP.
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openprofiling_core::mock::{
    MockInspector, MockTarget, Reply, event_frame, heap_snapshot_chunk_frames, heap_snapshot_text,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous: only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);

async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects");
    ws
}

async fn call(ws: &mut Ws, id: u64, method: &str, params: Value) {
    let message = json!({ "id": id, "method": method, "params": params });
    ws.send(Message::text(message.to_string()))
        .await
        .expect("call sent");
}

/// The next frame, whatever it is.
async fn next_frame(ws: &mut Ws) -> Message {
    tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("a frame within the patience")
        .expect("the stream goes on")
        .expect("a valid frame")
}

/// The next frame, parsed as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    match next_frame(ws).await {
        Message::Text(text) => serde_json::from_str(&text).expect("frame is JSON"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Asserts that nothing arrives for a short while.
async fn assert_silent(ws: &mut Ws) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(150), ws.next()).await {
        panic!("expected silence, got {frame:?}");
    }
}

/// A plain HTTP GET over raw TCP; returns the status line, the head and the body.
async fn http_get(inspector: &MockInspector, path: &str) -> (String, String, String) {
    let mut tcp = TcpStream::connect(inspector.address())
        .await
        .expect("TCP connects");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
        inspector.host_port()
    );
    tcp.write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_string(&mut response))
        .await
        .expect("the server closes the connection")
        .expect("response read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().expect("a status line").to_owned();
    (status, head.to_owned(), body.to_owned())
}

/// The message of `assert_finished`'s panic, or `None` if it did not panic.
fn finished_panic(inspector: &MockInspector) -> Option<String> {
    let result = catch_unwind(AssertUnwindSafe(|| inspector.assert_finished()));
    result.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// Unescapes the chunks of `addHeapSnapshotChunk` events and concatenates them.
fn reassemble(events: &[Value]) -> String {
    events
        .iter()
        .map(|event| event["params"]["chunk"].as_str().expect("a string chunk"))
        .collect()
}

#[tokio::test]
async fn json_list_lists_targets_with_working_websocket_urls() {
    let inspector = MockInspector::with_targets(vec![
        MockTarget::default(),
        MockTarget::new("page", "a page", "https://example.com/"),
        MockTarget::new("worker", "worker.js", "file:///worker.js"),
    ])
    .await;
    inspector.expect_always("Runtime.enable", Reply::ok(json!({})));

    for path in ["/json/list", "/json", "/json/list/"] {
        let (status, head, body) = http_get(&inspector, path).await;
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
        assert!(
            head.contains("Content-Type: application/json; charset=UTF-8"),
            "{head}"
        );
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );

        let list: Vec<Value> = serde_json::from_str(&body).expect("a JSON array");
        assert_eq!(list.len(), 3);
        let kinds: Vec<&str> = list.iter().map(|t| t["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["node", "page", "worker"]);
        assert_eq!(list[0]["title"], "mock.js");
        assert_eq!(list[1]["url"], "https://example.com/");
        let urls: Vec<String> = list
            .iter()
            .map(|t| t["webSocketDebuggerUrl"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(urls, inspector.ws_urls());
        assert_eq!(urls[0], inspector.ws_url());
        for target in &list {
            let id = target["id"].as_str().unwrap();
            assert_eq!(id.len(), 36, "uuid-like id: {id}");
            assert_eq!(
                target["webSocketDebuggerUrl"],
                format!("ws://{}/{id}", inspector.host_port())
            );
            assert_eq!(
                target["devtoolsFrontendUrl"],
                format!(
                    "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws={}/{id}",
                    inspector.host_port()
                )
            );
            assert_eq!(target["description"], "node.js instance");
            assert!(target["devtoolsFrontendUrlCompat"].is_string());
            assert!(target["faviconUrl"].is_string());
        }
        let mut ids: Vec<&str> = list.iter().map(|t| t["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3, "distinct ids");
    }

    // Every listed URL is a working WebSocket, and calls know their target.
    for (index, url) in inspector.ws_urls().iter().enumerate() {
        let mut ws = connect(url).await;
        call(&mut ws, 1, "Runtime.enable", json!({})).await;
        assert_eq!(next_json(&mut ws).await, json!({ "id": 1, "result": {} }));
        let recorded = inspector.calls().pop().unwrap();
        assert_eq!((recorded.connection, recorded.target), (index, index));
    }
    assert_eq!(inspector.connection_count(), 3);
    inspector.assert_finished();
}

#[tokio::test]
async fn json_version_unknown_paths_and_unknown_targets() {
    let inspector = MockInspector::start().await;

    let (status, head, body) = http_get(&inspector, "/json/version").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("Content-Type: application/json; charset=UTF-8"));
    let version: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(version["Browser"], "node.js/v20.0.0-mock");
    assert_eq!(version["Protocol-Version"], "1.1");

    let (status, _, _) = http_get(&inspector, "/nope").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    let unknown = format!(
        "ws://{}/00000000-0000-4000-8000-000000000000",
        inspector.host_port()
    );
    match tokio_tungstenite::connect_async(unknown).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected a 404, got {other:?}"),
    }
    assert_eq!(inspector.connection_count(), 0);

    // Garbage instead of HTTP gets a 400, not a panic.
    let mut tcp = TcpStream::connect(inspector.address()).await.unwrap();
    tcp.write_all(b"\x16\x03\x01 not http\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");

    // An endless head gets a 431 once it passes the cap.
    let mut tcp = TcpStream::connect(inspector.address()).await.unwrap();
    let endless = format!("GET / HTTP/1.1\r\nX-Pad: {}", "x".repeat(20_000));
    tcp.write_all(endless.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    inspector.assert_finished();
}

#[tokio::test]
async fn ok_error_and_never_replies() {
    let inspector = MockInspector::start().await;
    inspector.expect("Debugger.pause", Reply::never());
    inspector.expect(
        "Runtime.evaluate",
        Reply::ok(json!({ "result": { "value": 2 } })),
    );
    inspector.expect(
        "HeapProfiler.enable",
        Reply::error(-32000, "HeapProfiler is not enabled"),
    );

    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 1, "Debugger.pause", json!({})).await;
    call(
        &mut ws,
        2,
        "Runtime.evaluate",
        json!({ "expression": "1+1" }),
    )
    .await;
    call(&mut ws, 3, "HeapProfiler.enable", json!({})).await;

    // The unanswered call holds nothing up; replies come in call order.
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "id": 2, "result": { "result": { "value": 2 } } })
    );
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "id": 3, "error": { "code": -32000, "message": "HeapProfiler is not enabled" } })
    );
    assert_silent(&mut ws).await;

    let calls = inspector.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        ["Debugger.pause", "Runtime.evaluate", "HeapProfiler.enable"]
    );
    assert_eq!(calls[1].id, 2);
    assert_eq!(calls[1].params, json!({ "expression": "1+1" }));
    assert_eq!(calls[1].connection, 0);
    inspector.assert_finished();
}

#[tokio::test]
async fn expectations_are_fifo_per_method_and_expect_always_never_runs_out() {
    let inspector = MockInspector::start().await;
    inspector.expect("Runtime.evaluate", Reply::ok(json!({ "n": 1 })));
    inspector.expect("Runtime.evaluate", Reply::ok(json!({ "n": 2 })));
    inspector.expect_always("Runtime.evaluate", Reply::ok(json!({ "n": "always" })));

    let mut ws = connect(&inspector.ws_url()).await;
    for id in 1..=4 {
        call(&mut ws, id, "Runtime.evaluate", json!({})).await;
    }
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(next_json(&mut ws).await["result"]["n"].clone());
    }
    assert_eq!(
        results,
        [json!(1), json!(2), json!("always"), json!("always")]
    );
    inspector.assert_finished();
}

#[tokio::test]
async fn unexpected_calls_get_v8s_error_and_fail_assert_finished() {
    let inspector = MockInspector::start().await;
    inspector.expect("Profiler.start", Reply::ok(json!({})));

    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 7, "Foo.bar", json!({ "x": 1 })).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "id": 7, "error": { "code": -32601, "message": "'Foo.bar' wasn't found" } })
    );

    let report = finished_panic(&inspector).expect("assert_finished panics");
    assert!(report.contains("calls nobody expected"), "{report}");
    assert!(report.contains("Foo.bar"), "{report}");
    assert!(
        report.contains("expected calls that never came"),
        "{report}"
    );
    assert!(report.contains("Profiler.start"), "{report}");
    assert_eq!(
        inspector.calls().len(),
        1,
        "unexpected calls are recorded too"
    );
}

#[tokio::test]
#[should_panic(expected = "expected calls that never came")]
async fn assert_finished_panics_on_a_missing_call() {
    let inspector = MockInspector::start().await;
    inspector.expect("HeapProfiler.takeHeapSnapshot", Reply::ok(json!({})));
    inspector.assert_finished();
}

#[tokio::test]
async fn malformed_messages_get_v8s_errors_and_the_connection_survives() {
    let inspector = MockInspector::start().await;
    inspector.expect("Runtime.enable", Reply::ok(json!({})));
    let mut ws = connect(&inspector.ws_url()).await;

    ws.send(Message::text("not json {")).await.unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "error": { "code": -32700, "message": "Message must be a valid JSON" } })
    );
    ws.send(Message::text("[1,2]")).await.unwrap();
    assert_eq!(
        next_json(&mut ws).await["error"]["message"],
        "Message must be an object"
    );
    ws.send(Message::text(r#"{"method":"Runtime.enable"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "error": { "code": -32600, "message": "Message must have integer 'id' property" } })
    );
    ws.send(Message::text(r#"{"id":5,"params":{}}"#))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "id": 5, "error": { "code": -32600, "message": "Message must have string 'method' property" } })
    );
    ws.send(Message::binary(vec![0xff, 0x00, 0x01]))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["error"]["code"], -32700);

    call(&mut ws, 6, "Runtime.enable", json!({})).await;
    assert_eq!(next_json(&mut ws).await, json!({ "id": 6, "result": {} }));

    let malformed = inspector.malformed_messages();
    assert_eq!(malformed.len(), 5);
    assert_eq!(malformed[0].text, "not json {");
    assert_eq!(inspector.calls().len(), 1);
    let report = finished_panic(&inspector).expect("assert_finished panics");
    assert!(report.contains("malformed messages"), "{report}");
}

#[tokio::test]
async fn a_heap_snapshot_streams_progress_then_chunks_that_reassemble_exactly() {
    let text: Arc<str> = heap_snapshot_text(1_000_000).into();
    let inspector = MockInspector::start().await;
    inspector.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(Arc::clone(&text), 100_000)
            .ok(json!({})),
    );

    let mut ws = connect(&inspector.ws_url()).await;
    call(
        &mut ws,
        1,
        "HeapProfiler.takeHeapSnapshot",
        json!({ "reportProgress": true }),
    )
    .await;
    let mut progress = Vec::new();
    let mut chunks = Vec::new();
    let reply = loop {
        let frame = next_json(&mut ws).await;
        match frame["method"].as_str() {
            Some("HeapProfiler.reportHeapSnapshotProgress") => {
                assert!(chunks.is_empty(), "progress comes before the chunks");
                progress.push(frame);
            }
            Some("HeapProfiler.addHeapSnapshotChunk") => chunks.push(frame),
            _ => break frame,
        }
    };
    assert_eq!(reply, json!({ "id": 1, "result": {} }));
    let last = progress.last().expect("progress events");
    assert_eq!(last["params"]["finished"], true);
    assert_eq!(last["params"]["done"], last["params"]["total"]);
    assert!(chunks.len() >= 10, "{} chunks", chunks.len());
    assert_eq!(reassemble(&chunks), *text);
    inspector.assert_finished();
}

#[test]
fn heap_snapshot_text_is_valid_json_shaped_like_v8s() {
    for approx in [20_000, 300_000, 2_000_000] {
        let text = heap_snapshot_text(approx);
        let deviation = text.len().abs_diff(approx) as f64 / approx as f64;
        assert!(deviation < 0.03, "{} bytes for {approx}", text.len());
        assert_eq!(text, heap_snapshot_text(approx), "deterministic");

        let snapshot: Value = serde_json::from_str(&text).expect("valid JSON");
        let meta = &snapshot["snapshot"]["meta"];
        let node_fields = meta["node_fields"].as_array().unwrap().len();
        assert_eq!(node_fields, 7);
        assert_eq!(meta["node_types"][0][3], "object");
        let nodes = snapshot["nodes"].as_array().unwrap();
        assert_eq!(nodes.len() % node_fields, 0);
        assert_eq!(
            snapshot["snapshot"]["node_count"],
            nodes.len() / node_fields
        );
        assert_eq!(snapshot["snapshot"]["edge_count"], 0);
        assert_eq!(snapshot["edges"], json!([]));
        // One node per line, as V8 writes them.
        assert!(text.lines().count() > nodes.len() / node_fields);

        let strings: Vec<&str> = snapshot["strings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        for case in ["\"", "\\", "\n", "\t", "\u{1}", "é", "日本", "😀"] {
            assert!(
                strings.iter().any(|s| s.contains(case)),
                "no string contains {case:?}"
            );
        }
    }
}

#[test]
fn chunk_frames_split_on_char_boundaries_and_reassemble() {
    let text = heap_snapshot_text(20_000);
    for chunk_size in [1, 3, 7, 1000, 100_000] {
        let frames = heap_snapshot_chunk_frames(&text, chunk_size);
        let events: Vec<Value> = frames
            .iter()
            .map(|frame| serde_json::from_str(frame).expect("JSON frame"))
            .collect();
        assert!(
            events
                .iter()
                .all(|e| e["method"] == "HeapProfiler.addHeapSnapshotChunk")
        );
        assert!(
            events
                .iter()
                .all(|e| e["params"]["chunk"].as_str().unwrap().len() <= chunk_size.max(4))
        );
        assert_eq!(reassemble(&events), text, "chunk size {chunk_size}");
    }
}

#[tokio::test]
async fn close_mid_stream_closes_the_websocket() {
    let text: Arc<str> = heap_snapshot_text(100_000).into();
    let inspector = MockInspector::start().await;
    inspector.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot_partial(Arc::clone(&text), 10_000, 3)
            .close(),
    );
    inspector.expect("Runtime.enable", Reply::ok(json!({})));

    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 1, "HeapProfiler.takeHeapSnapshot", json!({})).await;
    let mut chunks = Vec::new();
    loop {
        match next_frame(&mut ws).await {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["method"] == "HeapProfiler.addHeapSnapshotChunk" {
                    chunks.push(event);
                }
            }
            Message::Close(_) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(chunks.len(), 3);
    assert!(text.starts_with(&reassemble(&chunks)));
    // After the close handshake, the stream ends.
    let end = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("the stream ends");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");

    // The server still accepts new connections.
    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 2, "Runtime.enable", json!({})).await;
    assert_eq!(next_json(&mut ws).await["id"], 2);
    assert_eq!(inspector.connection_count(), 2);
    inspector.assert_finished();
}

#[tokio::test]
async fn drop_connection_ends_the_stream_without_a_close_frame() {
    let text: Arc<str> = heap_snapshot_text(100_000).into();
    let inspector = MockInspector::start().await;
    inspector.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot_partial(text, 10_000, 2)
            .drop_connection(),
    );

    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 1, "HeapProfiler.takeHeapSnapshot", json!({})).await;
    let mut chunks = 0;
    let end = loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("no hang")
        {
            Some(Ok(Message::Text(text))) => {
                chunks += usize::from(text.contains("addHeapSnapshotChunk"));
            }
            Some(Ok(Message::Close(frame))) => panic!("unexpected close frame {frame:?}"),
            other => break other,
        }
    };
    assert_eq!(chunks, 2);
    assert!(
        matches!(
            end,
            None | Some(Err(
                tungstenite::Error::Protocol(_) | tungstenite::Error::Io(_)
            ))
        ),
        "{end:?}"
    );
    inspector.assert_finished();
}

#[tokio::test]
async fn frames_repeat_until_the_byte_count() {
    let frames: Arc<Vec<Utf8Bytes>> = Arc::new(
        (0..3)
            .map(|n| event_frame("Test.frame", &json!({ "n": n, "pad": "x".repeat(1000) })))
            .collect(),
    );
    let frame_len = frames[0].len() as u64;
    let until = 100_000;
    let inspector = MockInspector::start().await;
    inspector.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .frames(Arc::clone(&frames), until)
            .ok(json!({})),
    );

    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 1, "HeapProfiler.takeHeapSnapshot", json!({})).await;
    let mut bytes = 0u64;
    let mut count = 0usize;
    loop {
        let Message::Text(text) = next_frame(&mut ws).await else {
            panic!("text frames only")
        };
        if text.starts_with(r#"{"id":1"#) {
            break;
        }
        assert_eq!(text, frames[count % 3], "frames cycle in order");
        bytes += text.len() as u64;
        count += 1;
    }
    assert!(bytes >= until && bytes < until + frame_len, "{bytes} bytes");
    inspector.assert_finished();
}

#[tokio::test]
async fn a_slow_script_does_not_hold_up_later_calls() {
    let inspector = MockInspector::start().await;
    inspector.expect(
        "Runtime.evaluate",
        Reply::steps()
            .event("Runtime.consoleAPICalled", json!({ "type": "log" }))
            .delay(Duration::from_millis(200))
            .ok(json!({ "slow": true })),
    );
    inspector.expect("Runtime.enable", Reply::ok(json!({})));

    let mut ws = connect(&inspector.ws_url()).await;
    call(&mut ws, 1, "Runtime.evaluate", json!({})).await;
    call(&mut ws, 2, "Runtime.enable", json!({})).await;
    assert_eq!(
        next_json(&mut ws).await["method"],
        "Runtime.consoleAPICalled"
    );
    assert_eq!(next_json(&mut ws).await["id"], 2);
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "id": 1, "result": { "slow": true } })
    );
    inspector.assert_finished();
}

#[tokio::test]
async fn events_raw_frames_and_closing_reach_every_connection() {
    let inspector = MockInspector::start().await;
    let mut first = connect(&inspector.ws_url()).await;
    let mut second = connect(&inspector.ws_url()).await;
    assert_eq!(inspector.connection_count(), 2);

    inspector.send_event(
        "Runtime.executionContextDestroyed",
        json!({ "executionContextId": 1 }),
    );
    inspector.send_raw(Message::binary(vec![1, 2, 3]));
    inspector.send_raw(Message::text("{not json"));
    for ws in [&mut first, &mut second] {
        assert_eq!(
            next_json(ws).await,
            json!({ "method": "Runtime.executionContextDestroyed", "params": { "executionContextId": 1 } })
        );
        assert_eq!(next_frame(ws).await, Message::binary(vec![1, 2, 3]));
        assert_eq!(next_frame(ws).await, Message::text("{not json"));
    }

    inspector.close_connections();
    for ws in [&mut first, &mut second] {
        assert!(matches!(next_frame(ws).await, Message::Close(_)));
    }
    inspector.assert_finished();
}

#[tokio::test]
async fn wait_for_call_returns_each_call_once() {
    let inspector = MockInspector::start().await;
    inspector.expect_always("Runtime.evaluate", Reply::ok(json!({})));
    let mut ws = connect(&inspector.ws_url()).await;
    call(
        &mut ws,
        1,
        "Runtime.evaluate",
        json!({ "expression": "first" }),
    )
    .await;

    let client = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        call(
            &mut ws,
            2,
            "Runtime.evaluate",
            json!({ "expression": "second" }),
        )
        .await;
        ws
    });
    let first = inspector.wait_for_call("Runtime.evaluate", PATIENCE).await;
    assert_eq!(first.params["expression"], "first");
    let second = inspector.wait_for_call("Runtime.evaluate", PATIENCE).await;
    assert_eq!(
        (second.id, second.params["expression"].as_str()),
        (2, Some("second"))
    );
    drop(client.await);
    inspector.assert_finished();
}

#[tokio::test]
#[should_panic(expected = "no call of HeapProfiler.enable")]
async fn wait_for_call_panics_on_timeout() {
    let inspector = MockInspector::start().await;
    inspector
        .wait_for_call("HeapProfiler.enable", Duration::from_millis(20))
        .await;
}

#[tokio::test]
async fn dropping_the_mock_closes_its_connections() {
    let inspector = MockInspector::start().await;
    let address = inspector.address();
    let mut ws = connect(&inspector.ws_url()).await;
    drop(inspector);
    let end = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("the stream ends");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the port is closed"
    );
}

#[tokio::test]
async fn a_client_close_gets_a_clean_close_handshake() {
    let inspector = MockInspector::start().await;
    let mut ws = connect(&inspector.ws_url()).await;
    ws.close(None).await.expect("close frame sent");
    // The server answers the close frame, then the stream ends without error.
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("no hang")
    {
        frames.push(frame.expect("a clean close"));
    }
    assert!(
        frames
            .iter()
            .all(|frame| matches!(frame, Message::Close(_))),
        "{frames:?}"
    );
    inspector.assert_finished();
}
