//! The CPU profiler against the mock inspector, driven through a real agent.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::{MockInspector, Reply};
use openprofiling_core::{
    AttributeValue, Error, InspectorSession, ManualTrigger, ManualTriggerHandle, PluginContext,
    ProfileKind, ProfileMetadata, ProfileReport, ProfileStatus, Profiler, ProfilingAgent,
    ReactionOutcome, Registry, RunningAgent,
};
use openprofiling_inspector_cpu_profiler::{CpuProfileConfig, InspectorCpuProfiler};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn connect(mock: &MockInspector) -> InspectorSession {
    InspectorSession::builder(mock.ws_url())
        .call_timeout(WAIT)
        .connect()
        .await
        .unwrap()
}

/// A small CPU profile of the shape V8 sends, with `extra_nodes` more nodes to make it big.
fn cpu_profile(extra_nodes: usize) -> Value {
    let mut nodes = vec![
        json!({"id": 1, "callFrame": {"functionName": "(root)", "scriptId": "0", "url": "", "lineNumber": -1, "columnNumber": -1}, "hitCount": 0, "children": [2]}),
        json!({"id": 2, "callFrame": {"functionName": "say \"hi\" é", "scriptId": "1", "url": "file:///app.js", "lineNumber": 3, "columnNumber": 7}, "hitCount": 3}),
    ];
    nodes.extend((0..extra_nodes).map(|i| {
        json!({"id": 3 + i, "callFrame": {"functionName": format!("f{i}"), "scriptId": "1", "url": "file:///app.js", "lineNumber": i, "columnNumber": 0}, "hitCount": 1})
    }));
    json!({
        "nodes": nodes,
        "startTime": 1_000,
        "endTime": 251_000,
        "samples": [2, 2, 2, 1],
        "timeDeltas": [100, 200, 300, 400],
    })
}

fn methods(mock: &MockInspector) -> Vec<String> {
    mock.calls().into_iter().map(|call| call.method).collect()
}

fn expect_start(mock: &MockInspector) {
    mock.expect("Profiler.enable", Reply::ok(json!({})));
    mock.expect("Profiler.setSamplingInterval", Reply::ok(json!({})));
    mock.expect("Profiler.start", Reply::ok(json!({})));
}

fn agent(
    profiler: InspectorCpuProfiler,
    exporter: &MemoryExporter,
) -> (RunningAgent, ManualTriggerHandle) {
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(exporter.clone())
        .start()
        .unwrap();
    (agent, handle)
}

/// Start, then End; returns the report.
async fn profile_of(handle: &ManualTriggerHandle) -> Arc<ProfileReport> {
    let started = handle.start().await.unwrap();
    assert!(
        matches!(started.outcome, ReactionOutcome::Started { .. }),
        "{:?}",
        started.outcome
    );
    let stopped = handle.end().await.unwrap();
    assert!(
        matches!(stopped.outcome, ReactionOutcome::Stopped { .. }),
        "{:?}",
        stopped.outcome
    );
    tokio::time::timeout(WAIT, stopped.finished())
        .await
        .expect("the profile must complete")
        .expect("a report")
}

fn failure_reason(report: &ProfileReport) -> String {
    match &report.profile.status {
        ProfileStatus::Failed(reason) => reason.clone(),
        other => panic!("expected a failed profile, got {other:?}"),
    }
}

#[tokio::test]
async fn start_then_end_exports_the_profile_exactly() {
    let mock = MockInspector::start().await;
    let profile = cpu_profile(0);
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": profile.clone() })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = CpuProfileConfig {
        sampling_interval_us: 250,
        ..CpuProfileConfig::default()
    };
    let (agent, handle) = agent(
        InspectorCpuProfiler::with_config(session.clone(), config),
        &exporter,
    );

    let report = profile_of(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.profile.kind, ProfileKind::CpuProfile);
    assert!(report.profile.file_name().ends_with(".cpuprofile"));
    assert_eq!(report.profile.target.url.as_deref(), Some(&*mock.ws_url()));
    let bytes = exporter.bytes();
    assert_eq!(report.profile.size, bytes.len() as u64);
    let written: Value = serde_json::from_slice(&bytes).expect("the export is valid JSON");
    assert_eq!(written, profile);
    let attribute = |key: &str| report.profile.attributes.get(key).cloned();
    assert_eq!(
        attribute("sampling_interval_us"),
        Some(AttributeValue::Number(250.0))
    );
    assert_eq!(attribute("samples"), Some(AttributeValue::Number(4.0)));
    assert_eq!(attribute("nodes"), Some(AttributeValue::Number(2.0)));
    assert_eq!(
        attribute("duration_us"),
        Some(AttributeValue::Number(250_000.0))
    );
    assert_eq!(
        methods(&mock),
        [
            "Profiler.enable",
            "Profiler.setSamplingInterval",
            "Profiler.start",
            "Profiler.stop",
            "Profiler.disable"
        ]
    );
    let interval = mock
        .calls()
        .into_iter()
        .find(|call| call.method == "Profiler.setSamplingInterval")
        .unwrap();
    assert_eq!(interval.params, json!({ "interval": 250 }));
    assert_eq!(session.domain_enables("Profiler"), 0);
    mock.assert_finished();
}

#[tokio::test]
async fn a_large_profile_is_written_in_bounded_slices_byte_exact() {
    let mock = MockInspector::start().await;
    let profile = cpu_profile(30_000);
    let text = serde_json::to_string(&profile).unwrap();
    assert!(
        text.len() > 3 << 20,
        "the test profile must span several slices"
    );
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": profile.clone() })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorCpuProfiler::new(session), &exporter);

    let report = profile_of(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    // The mock sends the profile as serde_json writes it: the export is that text, byte for byte.
    assert!(exporter.bytes() == text.as_bytes(), "bytes differ");
    assert_eq!(exporter.chunk_count(), text.len().div_ceil(1 << 20));
    assert_eq!(
        report.profile.attributes.get("nodes"),
        Some(&AttributeValue::Number(30_002.0))
    );
    mock.assert_finished();
}

#[tokio::test]
async fn a_failed_stop_fails_the_profile_aborts_the_export_and_disables_the_domain() {
    let mock = MockInspector::start().await;
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::error(-32000, "No recording profiles found"),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorCpuProfiler::new(session), &exporter);

    let report = profile_of(&handle).await;
    agent.shutdown().await;

    let reason = failure_reason(&report);
    assert!(reason.contains("Profiler.stop"), "{reason}");
    assert!(reason.contains("No recording profiles found"), "{reason}");
    assert!(exporter.finished().is_empty());
    assert_eq!(exporter.aborted().len(), 1);
    mock.assert_finished();
}

#[tokio::test]
async fn a_reply_without_a_cpu_profile_fails_the_profile() {
    let mock = MockInspector::start().await;
    for reply in [json!({}), json!({ "profile": { "head": {} } })] {
        expect_start(&mock);
        mock.expect("Profiler.stop", Reply::ok(reply));
        mock.expect("Profiler.disable", Reply::ok(json!({})));
    }
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorCpuProfiler::new(session), &exporter);

    let missing = failure_reason(&*profile_of(&handle).await);
    assert!(missing.contains("without a profile"), "{missing}");
    let wrong = failure_reason(&*profile_of(&handle).await);
    assert!(wrong.contains("not a V8 CPU profile"), "{wrong}");
    assert!(wrong.contains("nodes"), "{wrong}");
    agent.shutdown().await;
    assert_eq!(exporter.aborted().len(), 2);
    mock.assert_finished();
}

#[tokio::test]
async fn a_failed_start_is_reported_and_leaves_nothing_enabled_or_claimed() {
    let mock = MockInspector::start().await;
    mock.expect("Profiler.enable", Reply::ok(json!({})));
    mock.expect("Profiler.setSamplingInterval", Reply::ok(json!({})));
    mock.expect(
        "Profiler.start",
        Reply::error(-32000, "Profiler is not enabled"),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    // The next Start works: the target's CPU profile slot was freed.
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": cpu_profile(0) })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorCpuProfiler::new(session.clone()), &exporter);

    let failed = handle.start().await.unwrap();
    match &failed.outcome {
        ReactionOutcome::Failed { reason } => {
            assert!(reason.contains("Profiler is not enabled"), "{reason}");
        }
        other => panic!("expected a failed start, got {other:?}"),
    }
    assert_eq!(session.domain_enables("Profiler"), 0);
    assert!(profile_of(&handle).await.is_success());
    agent.shutdown().await;
    mock.assert_finished();
}

#[tokio::test]
async fn a_stop_without_reply_times_out() {
    let mock = MockInspector::start().await;
    expect_start(&mock);
    mock.expect("Profiler.stop", Reply::never());
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = CpuProfileConfig {
        timeout_secs: 1,
        ..CpuProfileConfig::default()
    };
    let (agent, handle) = agent(
        InspectorCpuProfiler::with_config(session, config),
        &exporter,
    );

    let reason = failure_reason(&*profile_of(&handle).await);
    agent.shutdown().await;
    assert!(reason.contains("Profiler.stop"), "{reason}");
    assert!(reason.contains("no reply within 1s"), "{reason}");
    mock.assert_finished();
}

#[tokio::test]
async fn agent_shutdown_collects_the_running_profile() {
    let mock = MockInspector::start().await;
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": cpu_profile(0) })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorCpuProfiler::new(session), &exporter);
    let mut reports = agent.reports();

    let started = handle.start().await.unwrap();
    assert!(matches!(started.outcome, ReactionOutcome::Started { .. }));
    agent.shutdown().await;

    let report = reports
        .try_recv()
        .expect("the running profile was collected");
    assert!(report.is_success(), "{report:?}");
    assert_eq!(exporter.finished().len(), 1);
    mock.assert_finished();
}

#[tokio::test]
async fn shutdown_outside_an_agent_stops_and_discards_a_running_profile() {
    let mock = MockInspector::start().await;
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": cpu_profile(0) })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let profiler = InspectorCpuProfiler::new(session.clone());

    profiler
        .start(&ProfileMetadata::new(ProfileKind::CpuProfile, "direct"))
        .await
        .unwrap();
    assert!(profiler.is_running().await);
    profiler.shutdown().await.unwrap();

    assert!(!profiler.is_running().await);
    assert_eq!(session.domain_enables("Profiler"), 0);
    mock.assert_finished();
}

#[tokio::test]
async fn a_second_cpu_profile_of_the_same_target_is_refused() {
    let mock = MockInspector::start().await;
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": cpu_profile(0) })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let first = InspectorCpuProfiler::new(session.clone());
    let second = InspectorCpuProfiler::new(session.clone());
    let profile = ProfileMetadata::new(ProfileKind::CpuProfile, "direct");

    first.start(&profile).await.unwrap();
    // The same profiler again, and another profiler of the same target.
    let again = first.start(&profile).await.unwrap_err();
    assert!(
        again
            .to_string()
            .contains("already running on this profiler"),
        "{again}"
    );
    let other = second.start(&profile).await.unwrap_err();
    assert!(other.to_string().contains("CPU profile"), "{other}");
    assert!(other.to_string().contains(&mock.ws_url()), "{other}");
    first.shutdown().await.unwrap();
    mock.assert_finished();
}

#[tokio::test]
async fn own_session_profiles_over_a_second_connection() {
    let mock = MockInspector::start().await;
    expect_start(&mock);
    mock.expect(
        "Profiler.stop",
        Reply::ok(json!({ "profile": cpu_profile(0) })),
    );
    mock.expect("Profiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = CpuProfileConfig {
        own_session: true,
        ..CpuProfileConfig::default()
    };
    let (agent, handle) = agent(
        InspectorCpuProfiler::with_config(session, config),
        &exporter,
    );
    assert_eq!(
        mock.connection_count(),
        1,
        "the connection is opened lazily"
    );

    assert!(profile_of(&handle).await.is_success());
    agent.shutdown().await;

    assert_eq!(mock.connection_count(), 2);
    let calls = mock.calls();
    assert_eq!(calls.len(), 5);
    assert!(
        calls.iter().all(|call| call.connection == 1),
        "every call must go over the profiler's own connection: {calls:?}"
    );
    mock.assert_finished();
}

#[tokio::test]
async fn the_registry_lists_and_builds_cpu_profile() {
    let registry = Registry::global().unwrap();
    let plugin = registry
        .profilers()
        .find(|plugin| plugin.name == "cpu-profile")
        .expect("cpu-profile must be registered");
    let defaults = serde_json::to_value(CpuProfileConfig::default()).unwrap();
    let mut keys: Vec<_> = defaults
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut listed = plugin.config_keys.to_vec();
    listed.sort_unstable();
    assert_eq!(keys, listed, "every config key is listed");

    let mock = MockInspector::start().await;
    let context = PluginContext::new().with_session(connect(&mock).await);
    let profiler = registry
        .build_profiler(
            "cpu-profile",
            &json!({"sampling_interval_us": 100}),
            &context,
        )
        .unwrap();
    assert_eq!(profiler.kind(), ProfileKind::CpuProfile);
    assert_eq!(profiler.target().url.as_deref(), Some(&*mock.ws_url()));

    for bad in [
        json!({"sampling_interval": 1}),
        json!({"sampling_interval_us": 0}),
    ] {
        let error = registry
            .build_profiler("cpu-profile", &bad, &context)
            .unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{error:?}");
        assert!(error.to_string().contains("sampling_interval"), "{error}");
    }
    let error = registry
        .build_profiler("cpu-profile", &json!({}), &PluginContext::new())
        .unwrap_err();
    assert!(error.to_string().contains("session"), "{error}");
}
