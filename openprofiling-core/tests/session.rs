//! The inspector session against the mock inspector: calls, ids, timeouts, error replies,
//! close, clones, domain refcounts, subscriptions and backpressure.
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use openprofiling_core::mock::{MockInspector, Reply, heap_snapshot_text};
use openprofiling_core::{Error, InspectorSession};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn connect(mock: &MockInspector) -> InspectorSession {
    InspectorSession::builder(mock.ws_url())
        .call_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn calls_get_their_own_replies_with_increasing_ids() {
    let mock = MockInspector::start().await;
    mock.expect(
        "Runtime.evaluate",
        Reply::ok(json!({"result": {"type": "number", "value": 2}})),
    );
    mock.expect(
        "Runtime.getHeapUsage",
        Reply::ok(json!({"usedSize": 10, "totalSize": 20})),
    );
    let session = connect(&mock).await;

    let reply: Value = session
        .call("Runtime.evaluate", json!({"expression": "1+1"}))
        .await
        .unwrap();
    assert_eq!(reply["result"]["value"], 2);
    let usage: Value = session
        .call("Runtime.getHeapUsage", json!({}))
        .await
        .unwrap();
    assert_eq!(usage["usedSize"], 10);

    let calls = mock.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].params, json!({"expression": "1+1"}));
    assert!(calls[0].id < calls[1].id, "ids must increase: {calls:?}");
    mock.assert_finished();
}

#[tokio::test]
async fn a_call_without_reply_times_out_and_the_session_goes_on() {
    let mock = MockInspector::start().await;
    mock.expect("Debugger.pause", Reply::never());
    mock.expect("Runtime.evaluate", Reply::ok(json!({"ok": true})));
    let session = connect(&mock).await;

    let error = session
        .call_with_timeout::<Value>("Debugger.pause", json!({}), Duration::from_millis(200))
        .await
        .unwrap_err();
    match &error {
        Error::Timeout { method, after } => {
            assert_eq!(method, "Debugger.pause");
            assert_eq!(*after, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(error.to_string().contains("200ms"), "{error}");
    let reply: Value = session.call("Runtime.evaluate", json!({})).await.unwrap();
    assert_eq!(reply["ok"], true);
    mock.assert_finished();
}

#[tokio::test]
async fn cdp_error_replies_become_typed_errors() {
    let mock = MockInspector::start().await;
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::error(-32000, "Another snapshot is being taken"),
    );
    let session = connect(&mock).await;
    let error = session
        .call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}))
        .await
        .unwrap_err();
    match &error {
        Error::Cdp {
            method,
            code,
            message,
            ..
        } => {
            assert_eq!(method, "HeapProfiler.takeHeapSnapshot");
            assert_eq!(*code, -32000);
            assert_eq!(message, "Another snapshot is being taken");
        }
        other => panic!("expected a CDP error, got {other:?}"),
    }
    // An unknown method: V8's -32601.
    let error = session
        .call::<Value>("No.such", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Cdp { code: -32601, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn close_reaches_every_pending_call_and_subscriber_at_once() {
    let mock = MockInspector::start().await;
    mock.expect("Debugger.enable", Reply::never());
    mock.expect("Profiler.enable", Reply::never());
    mock.expect("Runtime.terminate", Reply::steps().close());
    let session = connect(&mock).await;
    let mut subscription = session.subscribe("Debugger.paused").unwrap();

    let first = tokio::spawn({
        let session = session.clone();
        async move { session.call::<Value>("Debugger.enable", json!({})).await }
    });
    let second = tokio::spawn({
        let session = session.clone();
        async move { session.call::<Value>("Profiler.enable", json!({})).await }
    });
    mock.wait_for_call("Profiler.enable", Duration::from_secs(5))
        .await;
    mock.wait_for_call("Debugger.enable", Duration::from_secs(5))
        .await;
    let started = std::time::Instant::now();
    let third = session.call::<Value>("Runtime.terminate", json!({})).await;

    for result in [first.await.unwrap(), second.await.unwrap(), third] {
        assert!(
            result.as_ref().unwrap_err().is_connection_closed(),
            "{result:?}"
        );
    }
    assert!(
        subscription
            .next()
            .await
            .unwrap_err()
            .is_connection_closed()
    );
    // Everyone learnt it well before any call timeout (10 s).
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(session.close_reason().is_some());
    // Later calls fail at once.
    let later = session.call::<Value>("Runtime.evaluate", json!({})).await;
    assert!(later.unwrap_err().is_connection_closed());
    assert!(session.subscribe("X.y").unwrap_err().is_connection_closed());
}

#[tokio::test]
async fn a_dropped_tcp_connection_is_noticed() {
    let mock = MockInspector::start().await;
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps().drop_connection(),
    );
    let session = connect(&mock).await;
    let error = session
        .call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}))
        .await
        .unwrap_err();
    assert!(error.is_connection_closed(), "{error:?}");
    assert!(
        error.to_string().contains(mock.ws_url().as_str()),
        "{error}"
    );
}

#[tokio::test]
async fn concurrent_calls_from_many_clones_are_routed_by_id() {
    let mock = MockInspector::start().await;
    for i in 0..40 {
        mock.expect(&format!("Test.method{i}"), Reply::ok(json!({"i": i})));
    }
    let session = connect(&mock).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let session = session.clone();
            tokio::spawn(async move {
                let reply: Value = session
                    .call(&format!("Test.method{i}"), json!({}))
                    .await
                    .unwrap();
                assert_eq!(reply["i"], i);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(mock.connection_count(), 1, "clones share one connection");
    let mut ids: Vec<_> = mock.calls().iter().map(|call| call.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "every call has its own id");
    mock.assert_finished();
}

#[tokio::test]
async fn domain_enables_are_counted() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    mock.expect("Profiler.enable", Reply::ok(json!({})));
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;

    let first = session.enable_domain("HeapProfiler").await.unwrap();
    let second = session.clone().enable_domain("HeapProfiler").await.unwrap();
    assert_eq!(session.domain_enables("HeapProfiler"), 2);
    first.release().await.unwrap();
    assert_eq!(session.domain_enables("HeapProfiler"), 1);
    let methods: Vec<_> = mock.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["HeapProfiler.enable"],
        "one enable, no disable while a guard lives"
    );
    second.release().await.unwrap();
    assert_eq!(session.domain_enables("HeapProfiler"), 0);

    // A dropped guard releases in the background.
    let guard = session.enable_domain("Profiler").await.unwrap();
    drop(guard);
    mock.wait_for_call("Profiler.disable", Duration::from_secs(5))
        .await;
    let methods: Vec<_> = mock.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        [
            "HeapProfiler.enable",
            "HeapProfiler.disable",
            "Profiler.enable",
            "Profiler.disable"
        ]
    );
    mock.assert_finished();
}

#[tokio::test]
async fn a_failed_enable_counts_nothing() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::error(-32000, "nope"));
    let session = connect(&mock).await;
    assert!(session.enable_domain("HeapProfiler").await.is_err());
    assert_eq!(session.domain_enables("HeapProfiler"), 0);
}

#[tokio::test]
async fn heap_snapshot_chunks_arrive_in_order_and_byte_exact() {
    let mock = MockInspector::start().await;
    let text: Arc<str> = heap_snapshot_text(2 << 20).into();
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.clone(), 100_000)
            .ok(json!({})),
    );
    let session = connect(&mock).await;
    let mut chunks = session
        .subscribe("HeapProfiler.addHeapSnapshotChunk")
        .unwrap();
    let mut progress = session
        .subscribe("HeapProfiler.reportHeapSnapshotProgress")
        .unwrap();
    let call = session.call::<Value>(
        "HeapProfiler.takeHeapSnapshot",
        json!({"reportProgress": true}),
    );
    tokio::pin!(call);
    let mut received = Vec::new();
    let mut progress_events = 0;
    loop {
        tokio::select! {
            reply = &mut call => { reply.unwrap(); break; }
            event = chunks.next() => received.extend_from_slice(&event.unwrap().string_param("chunk").unwrap()),
            event = progress.next() => { event.unwrap(); progress_events += 1; }
        }
    }
    // The reply comes after every chunk on the wire; drain what is buffered.
    while let Some(event) = chunks.try_next() {
        received.extend_from_slice(&event.string_param("chunk").unwrap());
    }
    assert_eq!(received.len(), text.len());
    assert!(
        received == text.as_bytes(),
        "chunks must reassemble to the snapshot byte for byte"
    );
    assert!(progress_events > 0);
    mock.assert_finished();
}

#[tokio::test]
async fn a_slow_subscriber_holds_the_stream_back_instead_of_buffering_it() {
    let mock = MockInspector::start().await;
    let text: Arc<str> = heap_snapshot_text(24 << 20).into();
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.clone(), 100_000)
            .ok(json!({})),
    );
    let capacity = 4;
    let session = InspectorSession::builder(mock.ws_url())
        .event_capacity(capacity)
        .connect()
        .await
        .unwrap();
    let mut chunks = session
        .subscribe("HeapProfiler.addHeapSnapshotChunk")
        .unwrap();
    let call = tokio::spawn({
        let session = session.clone();
        async move {
            session
                .call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}))
                .await
        }
    });
    let first = chunks.next().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // While the subscriber sleeps, the session buffers at most `capacity` events and the
    // rest of the 24 MB waits in the socket: the reply, sent after the last chunk, has not come.
    let mut buffered = 0;
    let mut received = first.string_param("chunk").unwrap().to_vec();
    while let Some(event) = chunks.try_next() {
        buffered += 1;
        received.extend_from_slice(&event.string_param("chunk").unwrap());
    }
    assert!(
        buffered <= capacity,
        "{buffered} events buffered, capacity {capacity}"
    );
    assert!(
        !call.is_finished(),
        "the stream must be held back by the slow subscriber"
    );

    loop {
        tokio::select! {
            event = chunks.next() => received.extend_from_slice(&event.unwrap().string_param("chunk").unwrap()),
            () = tokio::time::sleep(Duration::from_millis(200)), if call.is_finished() => break,
        }
    }
    call.await.unwrap().unwrap();
    assert!(
        received == text.as_bytes(),
        "nothing lost, nothing reordered"
    );
}

#[tokio::test]
async fn dropped_subscriptions_stop_receiving_without_stalling_the_session() {
    let mock = MockInspector::start().await;
    mock.expect("Runtime.evaluate", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let subscription = session.subscribe("Runtime.consoleAPICalled").unwrap();
    drop(subscription);
    for _ in 0..100 {
        mock.send_event("Runtime.consoleAPICalled", json!({"type": "log"}));
    }
    let _: Value = session.call("Runtime.evaluate", json!({})).await.unwrap();
}

#[tokio::test]
async fn malformed_and_binary_frames_are_ignored() {
    let mock = MockInspector::start().await;
    mock.expect("Runtime.evaluate", Reply::ok(json!({"fine": 1})));
    let session = connect(&mock).await;
    mock.send_raw(Message::text("this is not json"));
    mock.send_raw(Message::binary(vec![0_u8, 159, 146, 150]));
    mock.send_raw(Message::text(r#"{"id":999999,"result":{}}"#));
    mock.send_raw(Message::text(
        r#"{"method":"Unasked.event","params":{"x":1}}"#,
    ));
    let reply: Value = session.call("Runtime.evaluate", json!({})).await.unwrap();
    assert_eq!(reply["fine"], 1);
    assert!(session.close_reason().is_none());
}

#[tokio::test]
async fn unreachable_or_refused_targets_are_clear_errors() {
    let mock = MockInspector::start().await;
    let url = format!("ws://{}/no-such-target", mock.host_port());
    let error = InspectorSession::builder(&url).connect().await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");

    let error = InspectorSession::builder("ws://10.255.255.1:9229/x")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::RemoteRefused { .. }), "{error:?}");

    let error = InspectorSession::builder("http://127.0.0.1:9229/x")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidTarget { .. }), "{error:?}");
}
