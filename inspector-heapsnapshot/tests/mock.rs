//! The heap snapshot profiler against the mock inspector, driven through a real agent.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::{MockInspector, Reply, heap_snapshot_text};
use openprofiling_core::{
    AttributeValue, CHUNK_BLOCK_SIZE, Error, InspectorSession, ManualTrigger, PluginContext,
    ProfileKind, ProfileReport, ProfileStatus, ProfilingAgent, ReactionOutcome, Registry,
    RunningAgent,
};
use openprofiling_inspector_heapsnapshot::{
    HeapSnapshotConfig, InspectorHeapSnapshot, SnapshotProgress,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(mock: &MockInspector) -> InspectorSession {
    InspectorSession::builder(mock.ws_url())
        .call_timeout(WAIT)
        .connect()
        .await
        .unwrap()
}

/// The replies of a complete snapshot with garbage collection before and after.
fn expect_full_snapshot(mock: &MockInspector, text: &str, chunk_size: usize) {
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.into(), chunk_size)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
}

fn methods(mock: &MockInspector) -> Vec<String> {
    mock.calls().into_iter().map(|call| call.method).collect()
}

/// Starts an agent with one manual trigger driving `profiler`, exporting to `exporter`.
fn agent(
    profiler: InspectorHeapSnapshot,
    exporter: &MemoryExporter,
) -> (RunningAgent, openprofiling_core::ManualTriggerHandle) {
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(exporter.clone())
        .start()
        .unwrap();
    (agent, handle)
}

/// Fires one Start and waits for the profile's report.
async fn snapshot(handle: &openprofiling_core::ManualTriggerHandle) -> Arc<ProfileReport> {
    let reaction = handle.start().await.unwrap();
    assert!(
        matches!(reaction.outcome, ReactionOutcome::Capturing { .. }),
        "{:?}",
        reaction.outcome
    );
    tokio::time::timeout(WAIT, reaction.finished())
        .await
        .expect("the snapshot must complete")
        .expect("a report")
}

/// A profiler with the default settings but the memory guard, whose CDP calls
/// (`tests/memory_guard.rs` covers them) these tests do not script.
fn unguarded(session: InspectorSession) -> InspectorHeapSnapshot {
    InspectorHeapSnapshot::with_config(
        session,
        HeapSnapshotConfig {
            memory_guard: false,
            ..HeapSnapshotConfig::default()
        },
    )
}

fn failure_reason(report: &ProfileReport) -> String {
    match &report.profile.status {
        ProfileStatus::Failed(reason) => reason.clone(),
        other => panic!("expected a failed profile, got {other:?}"),
    }
}

#[tokio::test]
async fn chunks_reach_the_exporter_in_order_and_byte_exact() {
    let mock = MockInspector::start().await;
    // Two blocks' worth, and some.
    let text = heap_snapshot_text(2 * CHUNK_BLOCK_SIZE + 300_000);
    // An odd chunk size, so that escapes and multi-byte characters straddle chunks.
    let chunk_size = 70_001;
    let expected_chunks = text.len().div_ceil(chunk_size);
    expect_full_snapshot(&mock, &text, chunk_size);
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    assert_eq!(report.profile.status, ProfileStatus::Success);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.profile.kind, ProfileKind::HeapSnapshot);
    assert_eq!(report.profile.size, text.len() as u64);
    assert_eq!(report.profile.target.url.as_deref(), Some(&*mock.ws_url()));
    assert!(report.profile.file_name().ends_with(".heapsnapshot"));
    assert_eq!(
        report.profile.attributes.get("chunks"),
        Some(&AttributeValue::Number(expected_chunks as f64))
    );
    // The exporter gets the chunks gathered into blocks.
    assert_eq!(
        exporter.chunk_count(),
        text.len().div_ceil(CHUNK_BLOCK_SIZE)
    );
    assert!(exporter.bytes() == text.as_bytes(), "bytes differ");
    assert_eq!(exporter.finished().len(), 1);
    assert!(exporter.aborted().is_empty());
    // The text is valid JSON with escapes in its strings: it must parse back the same.
    let parsed: Value = serde_json::from_slice(&exporter.bytes()).unwrap();
    let strings = parsed["strings"].as_array().unwrap();
    assert!(strings.iter().any(|s| s == "say \"hi\" to \"mock.js\""));
    assert!(strings.iter().any(|s| s == "C:\\Users\\node\\app.js"));
    assert!(
        strings
            .iter()
            .any(|s| s == "escaped caf\u{e9} \u{65e5}\u{672c} \u{1F600}")
    );
    mock.assert_finished();
}

#[tokio::test]
async fn escapes_split_across_tiny_chunks_come_out_exact() {
    let mock = MockInspector::start().await;
    let piece = "{\"k\":\"a \\\"quoted\\\" C:\\\\dir\\\\ line\\nnext\\u0001\\u00e9\\ud83d\\ude00\"}\n\t\r\u{1}é日本😀🦀\\/\"\\\\";
    let text = piece.repeat(500);
    expect_full_snapshot(&mock, &text, 3);
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    assert_eq!(report.profile.status, ProfileStatus::Success);
    assert_eq!(report.profile.size, text.len() as u64);
    assert!(exporter.bytes() == text.as_bytes(), "bytes differ");
    mock.assert_finished();
}

#[tokio::test]
async fn the_wire_sequence_is_enable_gc_take_gc_disable() {
    let mock = MockInspector::start().await;
    expect_full_snapshot(&mock, &heap_snapshot_text(20_000), 4096);
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(
        methods(&mock),
        [
            "HeapProfiler.enable",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.takeHeapSnapshot",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.disable",
        ]
    );
    let take = &mock.calls()[2];
    assert_eq!(
        take.params,
        json!({"reportProgress": true, "exposeInternals": false, "captureNumericValue": false})
    );
    mock.assert_finished();
}

#[tokio::test]
async fn without_gc_no_collect_garbage_is_sent_and_options_reach_the_call() {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(20_000);
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.clone().into(), 1000)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = HeapSnapshotConfig {
        gc_before: false,
        gc_after: false,
        expose_internals: true,
        capture_numeric_value: true,
        report_progress: false,
        memory_guard: false,
        ..HeapSnapshotConfig::default()
    };
    let (agent, handle) = agent(
        InspectorHeapSnapshot::with_config(session, config),
        &exporter,
    );

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert!(exporter.bytes() == text.as_bytes());
    assert_eq!(
        methods(&mock),
        [
            "HeapProfiler.enable",
            "HeapProfiler.takeHeapSnapshot",
            "HeapProfiler.disable",
        ]
    );
    assert_eq!(
        mock.calls()[1].params,
        json!({"reportProgress": false, "exposeInternals": true, "captureNumericValue": true})
    );
    assert_eq!(
        report.profile.attributes.get("expose_internals"),
        Some(&AttributeValue::Bool(true))
    );
    mock.assert_finished();
}

/// The target goes away half way: the profile fails, naming the connection, and the
/// exporter aborts it rather than publishing a truncated snapshot.
async fn closed_mid_snapshot(end: fn(openprofiling_core::mock::ReplyBuilder) -> Reply) {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(100_000);
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        end(Reply::steps().heap_snapshot_partial(text.into(), 10_000, 3)),
    );
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    let reason = failure_reason(&report);
    assert!(
        reason.contains("inspector connection") && reason.contains("closed"),
        "{reason}"
    );
    assert!(report.exports[0].result.is_err(), "{report:?}");
    assert!(
        exporter.finished().is_empty(),
        "a failed profile was published"
    );
    assert_eq!(exporter.aborted().len(), 1);
    // No disable on a closed connection.
    assert_eq!(
        methods(&mock),
        [
            "HeapProfiler.enable",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.takeHeapSnapshot",
        ]
    );
    mock.assert_finished();
}

#[tokio::test]
async fn a_connection_closed_mid_snapshot_fails_the_profile_and_aborts_the_export() {
    closed_mid_snapshot(|steps| steps.close()).await;
}

#[tokio::test]
async fn a_connection_dropped_mid_snapshot_fails_the_profile_and_aborts_the_export() {
    closed_mid_snapshot(|steps| steps.drop_connection()).await;
}

#[tokio::test]
async fn a_start_during_a_snapshot_is_refused_and_end_is_ignored() {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(50_000);
    expect_full_snapshot(&mock, &text, 1_000);
    expect_full_snapshot(&mock, &text, 1_000);
    let session = connect(&mock).await;
    // Writes wait until the gate opens: the snapshot stays in progress meanwhile.
    let (exporter, gate) = MemoryExporter::gated();
    let (agent, handle) = agent(unguarded(session), &exporter);

    let first = handle.start().await.unwrap();
    assert!(matches!(first.outcome, ReactionOutcome::Capturing { .. }));
    mock.wait_for_call("HeapProfiler.takeHeapSnapshot", WAIT)
        .await;

    let second = handle.start().await.unwrap();
    match &second.outcome {
        ReactionOutcome::Refused { reason } => assert!(reason.contains("busy"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(second.finished().await.is_none());
    let end = handle.end().await.unwrap();
    assert!(
        matches!(end.outcome, ReactionOutcome::Ignored { .. }),
        "{:?}",
        end.outcome
    );

    gate.add_permits(Semaphore::MAX_PERMITS);
    let report = tokio::time::timeout(WAIT, first.finished())
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_success(), "{report:?}");
    assert!(exporter.bytes() == text.as_bytes());

    // Once done, the next Start takes the next snapshot; an End on an idle profiler is
    // ignored too.
    let again = snapshot(&handle).await;
    assert!(again.is_success(), "{again:?}");
    let end = handle.end().await.unwrap();
    assert!(matches!(end.outcome, ReactionOutcome::Ignored { .. }));
    agent.shutdown().await;
    mock.assert_finished();
}

#[tokio::test]
async fn two_reactions_sharing_the_profiler_or_the_target_take_one_snapshot_at_a_time() {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(50_000);
    expect_full_snapshot(&mock, &text, 1_000);
    let session = connect(&mock).await;
    let (exporter, gate) = MemoryExporter::gated();
    let shared = Arc::new(unguarded(session.clone()));
    let other = unguarded(session);
    let (first_trigger, first) = ManualTrigger::new("first");
    let (second_trigger, second) = ManualTrigger::new("second");
    let (third_trigger, third) = ManualTrigger::new("third");
    let agent = ProfilingAgent::new()
        .register(first_trigger, shared.clone())
        .register(second_trigger, shared)
        .register(third_trigger, other)
        .exporter(exporter.clone())
        .start()
        .unwrap();

    let running = first.start().await.unwrap();
    mock.wait_for_call("HeapProfiler.takeHeapSnapshot", WAIT)
        .await;
    let same_profiler = snapshot(&second).await;
    let same_target = snapshot(&third).await;
    let reason = failure_reason(&same_profiler);
    assert!(
        reason.contains("already being taken by this profiler"),
        "{reason}"
    );
    let reason = failure_reason(&same_target);
    assert!(
        reason.contains("already being taken by another profiler"),
        "{reason}"
    );

    gate.add_permits(Semaphore::MAX_PERMITS);
    let report = tokio::time::timeout(WAIT, running.finished())
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_success(), "{report:?}");
    // The refused ones never mixed into the stream, and sent nothing on the wire.
    assert!(exporter.bytes() == text.as_bytes());
    assert_eq!(exporter.aborted().len(), 2);
    agent.shutdown().await;
    mock.assert_finished();
}

#[tokio::test]
async fn progress_reaches_the_watch_channel() {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(40_000);
    let chunks = text.len().div_ceil(4_000) as u64;
    expect_full_snapshot(&mock, &text, 4_000);
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let profiler = unguarded(session);
    let mut progress = profiler.progress();
    assert_eq!(*progress.borrow_and_update(), SnapshotProgress::default());
    let (agent, handle) = agent(profiler, &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert!(progress.has_changed().unwrap_or(true));
    let last = *progress.borrow();
    assert_eq!(
        last,
        SnapshotProgress {
            done: chunks,
            total: chunks,
            finished: true,
            bytes: text.len() as u64,
        }
    );
    assert_eq!(last.fraction(), 1.0);
    mock.assert_finished();
}

#[tokio::test]
async fn an_empty_snapshot_fails() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect("HeapProfiler.takeHeapSnapshot", Reply::ok(json!({})));
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    let reason = failure_reason(&report);
    assert!(
        reason.contains("heapsnapshot") && reason.contains("empty"),
        "{reason}"
    );
    assert!(exporter.finished().is_empty());
    assert_eq!(exporter.aborted().len(), 1);
    mock.assert_finished();
}

#[tokio::test]
async fn a_cdp_error_fails_the_profile_and_releases_the_domain() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::error(-32000, "Heap snapshot is already in progress"),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session.clone()), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    let reason = failure_reason(&report);
    assert!(
        reason.contains("HeapProfiler.takeHeapSnapshot") && reason.contains("already in progress"),
        "{reason}"
    );
    assert_eq!(session.domain_enables("HeapProfiler"), 0);
    assert_eq!(exporter.aborted().len(), 1);
    mock.assert_finished();
}

#[tokio::test]
async fn a_snapshot_without_reply_times_out() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.takeHeapSnapshot", Reply::never());
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = HeapSnapshotConfig {
        gc_before: false,
        timeout_secs: 1,
        memory_guard: false,
        ..HeapSnapshotConfig::default()
    };
    let (agent, handle) = agent(
        InspectorHeapSnapshot::with_config(session, config),
        &exporter,
    );

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    let reason = failure_reason(&report);
    assert!(
        reason.contains("HeapProfiler.takeHeapSnapshot") && reason.contains("1s"),
        "{reason}"
    );
    assert_eq!(exporter.aborted().len(), 1);
    mock.assert_finished();
}

#[tokio::test]
async fn when_every_exporter_fails_the_snapshot_stops() {
    let mock = MockInspector::start().await;
    // Three blocks' worth: the exporter fails on the first, and the writer sees it when it
    // hands on the second, dozens of chunks later.
    let text = heap_snapshot_text(3 * CHUNK_BLOCK_SIZE);
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.into(), 100_000)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter {
        fail_at: Some(1),
        ..MemoryExporter::new()
    };
    let (agent, handle) = agent(unguarded(session.clone()), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    let reason = failure_reason(&report);
    assert!(reason.contains("every exporter failed"), "{reason}");
    assert!(exporter.finished().is_empty());
    assert_eq!(session.domain_enables("HeapProfiler"), 0);
    // No garbage collection after a failed snapshot.
    assert_eq!(
        methods(&mock),
        [
            "HeapProfiler.enable",
            "HeapProfiler.collectGarbage",
            "HeapProfiler.takeHeapSnapshot",
            "HeapProfiler.disable",
        ]
    );
    mock.assert_finished();
}

#[tokio::test]
async fn a_domain_enabled_by_another_user_of_the_session_stays_enabled() {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(10_000);
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps()
            .heap_snapshot(text.into(), 1_000)
            .ok(json!({})),
    );
    mock.expect("HeapProfiler.collectGarbage", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let other_user = session.enable_domain("HeapProfiler").await.unwrap();
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(unguarded(session.clone()), &exporter);

    let report = snapshot(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(session.domain_enables("HeapProfiler"), 1);
    assert!(!methods(&mock).contains(&"HeapProfiler.disable".to_owned()));
    mock.assert_finished();
    drop(other_user);
}

#[tokio::test]
async fn own_session_opens_a_second_connection_once_and_keeps_it() {
    let mock = MockInspector::start().await;
    let text = heap_snapshot_text(10_000);
    expect_full_snapshot(&mock, &text, 1_000);
    expect_full_snapshot(&mock, &text, 1_000);
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = HeapSnapshotConfig {
        own_session: true,
        memory_guard: false,
        ..HeapSnapshotConfig::default()
    };
    let (agent, handle) = agent(
        InspectorHeapSnapshot::with_config(session, config),
        &exporter,
    );
    assert_eq!(
        mock.connection_count(),
        1,
        "the connection is opened lazily"
    );

    assert!(snapshot(&handle).await.is_success());
    assert!(snapshot(&handle).await.is_success());
    agent.shutdown().await;

    assert_eq!(mock.connection_count(), 2);
    let calls = mock.calls();
    assert_eq!(calls.len(), 10);
    assert!(
        calls.iter().all(|call| call.connection == 1),
        "every call must go over the profiler's own connection: {calls:?}"
    );
    assert_eq!(exporter.finished().len(), 2);
    mock.assert_finished();
}

#[tokio::test]
async fn the_registry_lists_and_builds_heapsnapshot() {
    let registry = Registry::global().unwrap();
    let plugin = registry
        .profilers()
        .find(|plugin| plugin.name == "heapsnapshot")
        .expect("heapsnapshot must be registered");
    assert_eq!(
        plugin.config_keys,
        [
            "gc_before",
            "gc_after",
            "expose_internals",
            "capture_numeric_value",
            "report_progress",
            "timeout_secs",
            "own_session",
            "memory_guard",
            "memory_margin_percent"
        ]
    );
    // Every documented key is accepted...
    let all_keys: serde_json::Map<String, Value> =
        serde_json::to_value(HeapSnapshotConfig::default())
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
    let mut keys: Vec<_> = all_keys.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut listed = plugin.config_keys.to_vec();
    listed.sort_unstable();
    assert_eq!(keys, listed);

    let mock = MockInspector::start().await;
    let session = connect(&mock).await;
    let context = PluginContext::new().with_session(session);
    let profiler = registry
        .build_profiler(
            "heapsnapshot",
            &json!({"gc_before": false, "timeout_secs": 5}),
            &context,
        )
        .unwrap();
    assert_eq!(profiler.kind(), ProfileKind::HeapSnapshot);
    assert_eq!(profiler.target().url.as_deref(), Some(&*mock.ws_url()));
    let default = registry
        .build_profiler("heapsnapshot", &Value::Null, &context)
        .unwrap();
    assert_eq!(default.kind(), ProfileKind::HeapSnapshot);

    // ...an unknown one is refused by name, and so is a missing session.
    let error = registry
        .build_profiler("heapsnapshot", &json!({"gc_befor": false}), &context)
        .unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert!(error.to_string().contains("gc_befor"), "{error}");
    let error = registry
        .build_profiler("heapsnapshot", &json!({}), &PluginContext::new())
        .unwrap_err();
    assert!(error.to_string().contains("heapsnapshot"), "{error}");
    assert!(error.to_string().contains("session"), "{error}");
}
