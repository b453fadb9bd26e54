//! A hostile inspector: garbage, replies to nobody, odd CDP errors and events nobody asked for
//! woven into a heap snapshot stream; a frame above the size limit; a handshake that never
//! comes. The session never panics, never hangs past its timeouts, and says what happened.
//! (Memory under floods is measured in `hostile_memory.rs`, a binary of its own.)
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use openprofiling_core::mock::{
    MockInspector, Reply, heap_snapshot_chunk_frames, heap_snapshot_text,
};
use openprofiling_core::{Error, InspectorSession};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const CHUNK: &str = "HeapProfiler.addHeapSnapshotChunk";

async fn connect(mock: &MockInspector) -> InspectorSession {
    InspectorSession::builder(mock.ws_url())
        .call_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

/// Every kind of junk a broken or malicious inspector could send between two chunks.
fn junk() -> Vec<Message> {
    vec![
        Message::text("not json at all"),
        Message::text("{\"method\":\"HeapProfiler.addHeapSnapshotChunk\",\"params\":{\"chunk\":"),
        Message::text("[1,2,3]"),
        Message::text("{}"),
        Message::text("null"),
        Message::text(""),
        Message::binary(vec![0xff_u8; 4096]),
        // Replies to calls nobody made, ids of every shape.
        Message::text(r#"{"id":987654,"result":{"chunk":"not for you"}}"#),
        Message::text(r#"{"id":0,"result":{}}"#),
        Message::text(r#"{"id":-1,"result":{}}"#),
        Message::text(r#"{"id":"1","result":{}}"#),
        Message::text(r#"{"id":18446744073709551615,"error":{"code":-32000,"message":"x"}}"#),
        Message::text(r#"{"id":1e3,"result":{}}"#),
        // CDP errors of odd shapes, to nobody.
        Message::text(r#"{"id":55555,"error":{}}"#),
        Message::text(r#"{"id":55556,"error":"a string"}"#),
        // Events for domains never enabled, and our method with bad parameters.
        Message::text(r#"{"method":"Debugger.paused","params":{"callFrames":[]}}"#),
        Message::text(r#"{"method":"Runtime.consoleAPICalled","params":{"type":"log","args":[]}}"#),
        Message::text(r#"{"method":"Network.requestWillBeSent"}"#),
        Message::text(r#"{"method":"HeapProfiler.addHeapSnapshotChunk","params":[]}"#),
        Message::text(r#"{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"\x"}}"#),
        Message::text(r#"{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":7}}"#),
        Message::text(r#"{"method":"Heap\u0050rofiler.addHeapSnapshotChunk","params":{}}"#),
        Message::Ping(vec![1, 2, 3].into()),
        Message::Pong(vec![].into()),
    ]
}

#[tokio::test]
async fn junk_woven_into_a_snapshot_stream_changes_nothing_but_bad_chunks() {
    let mock = MockInspector::start().await;
    let text: Arc<str> = heap_snapshot_text(1 << 20).into();
    let mut steps = Reply::steps().heap_snapshot_partial(text.clone(), 64_000, 3);
    for message in junk() {
        steps = steps.raw(message);
    }
    // Then the whole snapshot: the reader gets the first three chunks twice.
    let reply = steps.heap_snapshot(text.clone(), 64_000).ok(json!({}));
    mock.expect("HeapProfiler.takeHeapSnapshot", reply);
    mock.expect("Runtime.evaluate", Reply::ok(json!({"alive": true})));
    let session = connect(&mock).await;
    let mut chunks = session.subscribe(CHUNK).unwrap();
    let mut paused = session.subscribe("Debugger.paused").unwrap();

    let call = session.call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}));
    tokio::pin!(call);
    let (mut good, mut bad) = (Vec::new(), 0);
    loop {
        tokio::select! {
            reply = &mut call => { reply.unwrap(); break; }
            event = chunks.next() => match event.unwrap().string_param("chunk") {
                Ok(bytes) => good.extend_from_slice(&bytes),
                Err(error) => {
                    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
                    bad += 1;
                }
            },
        }
    }
    while let Some(event) = chunks.try_next() {
        match event.string_param("chunk") {
            Ok(bytes) => good.extend_from_slice(&bytes),
            Err(_) => bad += 1,
        }
    }
    // The first three chunks, then the whole text: nothing lost, nothing mangled, and the
    // three bad chunk events (array, bad escape, number) are refused, not guessed at.
    let first_three: usize = heap_snapshot_chunk_frames(&text, 64_000)
        .iter()
        .take(3)
        .map(|frame| {
            let event: Value = serde_json::from_str(frame).unwrap();
            event["params"]["chunk"].as_str().unwrap().len()
        })
        .sum();
    assert_eq!(good.len(), first_three + text.len());
    assert_eq!(&good[first_three..], text.as_bytes());
    assert_eq!(bad, 3, "the three malformed chunk events");
    // An event for a domain never enabled reaches whoever subscribed, nobody else.
    assert!(paused.try_next().is_some());
    assert!(session.close_reason().is_none());
    let alive: Value = session.call("Runtime.evaluate", json!({})).await.unwrap();
    assert_eq!(alive["alive"], true);
    mock.assert_finished();
}

#[tokio::test]
async fn a_reply_with_another_id_does_not_answer_a_call_and_the_timeout_holds() {
    let mock = MockInspector::start().await;
    // Our call takes id 2 (1 is the session's own request on connecting). Answers with the
    // next id, then a CDP error with an id nobody used: never our call.
    mock.expect(
        "Runtime.evaluate",
        Reply::steps()
            .raw(Message::text(r#"{"id":3,"result":{"wrong":true}}"#))
            .raw(Message::text(
                r#"{"id":4,"error":{"code":-1,"message":"no"}}"#,
            ))
            .never(),
    );
    let session = connect(&mock).await;
    let started = Instant::now();
    let error = session
        .call_with_timeout::<Value>("Runtime.evaluate", json!({}), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("500ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(session.close_reason().is_none());
}

#[tokio::test]
async fn cdp_errors_of_every_shape_are_typed_and_named() {
    let mock = MockInspector::start().await;
    let long = "x".repeat(100_000);
    let shapes = [
        (r#"{}"#.to_owned(), 0, ""),
        (r#"{"code":-32000}"#.to_owned(), -32000, ""),
        (
            r#"{"code":-32602,"message":"Invalid params","data":{"why":[1,2]}}"#.to_owned(),
            -32602,
            "Invalid params",
        ),
        (
            format!(r#"{{"code":1,"message":"{long}"}}"#),
            1,
            long.as_str(),
        ),
    ];
    for (index, (error, _, _)) in shapes.iter().enumerate() {
        // Id 1 is the session's own request on connecting.
        let id = index + 2;
        mock.expect(
            "HeapProfiler.enable",
            Reply::steps()
                .raw(Message::text(format!(r#"{{"id":{id},"error":{error}}}"#)))
                .never(),
        );
    }
    let session = connect(&mock).await;
    for (_, code, message) in &shapes {
        match session
            .call::<Value>("HeapProfiler.enable", json!({}))
            .await
            .unwrap_err()
        {
            Error::Cdp {
                method,
                code: got,
                message: text,
                ..
            } => {
                assert_eq!(method, "HeapProfiler.enable");
                assert_eq!(got, *code);
                assert_eq!(text, *message);
            }
            other => panic!("expected a CDP error, got {other:?}"),
        }
    }
    assert!(session.close_reason().is_none());
    mock.assert_finished();
}

#[tokio::test]
async fn a_frame_above_the_size_limit_closes_the_session_at_once_saying_why() {
    let mock = MockInspector::start().await;
    let big = format!(
        r#"{{"method":"{CHUNK}","params":{{"chunk":"{}"}}}}"#,
        "a".repeat(64 << 20)
    );
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps().raw(Message::text(big)).never(),
    );
    let session = InspectorSession::builder(mock.ws_url())
        .max_message_size(16 << 20)
        .call_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let mut chunks = session.subscribe(CHUNK).unwrap();
    let started = Instant::now();
    let error = session
        .call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}))
        .await
        .unwrap_err();
    // Not the 60 s call timeout: the frame's header alone ends the session.
    assert!(started.elapsed() < Duration::from_secs(10), "{error}");
    assert!(error.is_connection_closed(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("too long") || text.contains("too big") || text.contains("limit"),
        "the reason says the message was too large: {text}"
    );
    assert!(chunks.next().await.unwrap_err().is_connection_closed());
    assert!(session.close_reason().is_some());
}

#[tokio::test]
async fn a_64_mb_frame_below_the_limit_arrives_whole() {
    let mock = MockInspector::start().await;
    let chunk = "0123456789,\\n".repeat((64 << 20) / 13);
    let big = format!(r#"{{"method":"{CHUNK}","params":{{"chunk":"{chunk}"}}}}"#);
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps().raw(Message::text(big)).ok(json!({})),
    );
    let session = connect(&mock).await;
    let mut chunks = session.subscribe(CHUNK).unwrap();
    let _: Value = session
        .call("HeapProfiler.takeHeapSnapshot", json!({}))
        .await
        .unwrap();
    let bytes = chunks.next().await.unwrap().string_param("chunk").unwrap();
    assert_eq!(bytes.len(), chunk.len() / 13 * 12);
    assert!(bytes.chunks(12).all(|piece| piece == b"0123456789,\n"));
}

/// A TCP listener that accepts connections and never says a word.
async fn silent_listener() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

#[tokio::test]
async fn a_websocket_handshake_that_never_comes_times_out_and_says_after_how_long() {
    let (address, listener) = silent_listener().await;
    let started = Instant::now();
    let error = InspectorSession::builder(format!("ws://{address}/silent"))
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&address.to_string()), "{text}");
    assert!(text.contains("1s"), "the timeout is stated: {text}");
    listener.abort();
}

#[tokio::test]
async fn an_inspector_http_endpoint_that_never_answers_times_out_and_says_after_how_long() {
    let (address, listener) = silent_listener().await;
    let started = Instant::now();
    let error = openprofiling_core::Discovery::new()
        .http_timeout(Duration::from_secs(1))
        .discover(&openprofiling_core::TargetSpec::parse_inspect(&address.to_string()).unwrap())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(matches!(error, Error::Http { .. }), "{error:?}");
    assert!(error.to_string().contains("1s"), "{error}");
    listener.abort();
}
