//! The sampling heap profiler against the mock inspector, driven through a real agent.
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
use openprofiling_inspector_heap_profiler::{HeapProfileConfig, InspectorHeapProfiler};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn connect(mock: &MockInspector) -> InspectorSession {
    InspectorSession::builder(mock.ws_url())
        .call_timeout(WAIT)
        .connect()
        .await
        .unwrap()
}

/// A sampling heap profile of the shape V8 sends.
fn heap_profile() -> Value {
    json!({
        "head": {
            "callFrame": {"functionName": "(root)", "scriptId": "0", "url": "", "lineNumber": -1, "columnNumber": -1},
            "selfSize": 0, "id": 1,
            "children": [{
                "callFrame": {"functionName": "allocate \"lots\" é", "scriptId": "1", "url": "file:///app.js", "lineNumber": 2, "columnNumber": 5},
                "selfSize": 65536, "id": 2, "children": []
            }]
        },
        "samples": [
            {"size": 32768, "nodeId": 2, "ordinal": 1},
            {"size": 32768, "nodeId": 2, "ordinal": 2}
        ]
    })
}

fn methods(mock: &MockInspector) -> Vec<String> {
    mock.calls().into_iter().map(|call| call.method).collect()
}

fn agent(
    profiler: InspectorHeapProfiler,
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
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.stopSampling",
        Reply::ok(json!({ "profile": heap_profile() })),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorHeapProfiler::new(session.clone()), &exporter);

    let report = profile_of(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.profile.kind, ProfileKind::HeapProfile);
    assert!(report.profile.file_name().ends_with(".heapprofile"));
    let bytes = exporter.bytes();
    assert_eq!(report.profile.size, bytes.len() as u64);
    let written: Value = serde_json::from_slice(&bytes).expect("the export is valid JSON");
    assert_eq!(written, heap_profile());
    let attribute = |key: &str| report.profile.attributes.get(key).cloned();
    assert_eq!(attribute("samples"), Some(AttributeValue::Number(2.0)));
    assert_eq!(
        attribute("sampling_interval_bytes"),
        Some(AttributeValue::Number(32768.0))
    );
    assert_eq!(
        methods(&mock),
        [
            "HeapProfiler.enable",
            "HeapProfiler.startSampling",
            "HeapProfiler.stopSampling",
            "HeapProfiler.disable"
        ]
    );
    // The GC flags are left out when off, for runtimes that predate them.
    assert_eq!(mock.calls()[1].params, json!({ "samplingInterval": 32768 }));
    assert_eq!(session.domain_enables("HeapProfiler"), 0);
    mock.assert_finished();
}

#[tokio::test]
async fn options_reach_start_sampling() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.stopSampling",
        Reply::ok(json!({ "profile": heap_profile() })),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let config = HeapProfileConfig {
        sampling_interval_bytes: 1024,
        include_objects_collected_by_major_gc: true,
        include_objects_collected_by_minor_gc: true,
        ..HeapProfileConfig::default()
    };
    let (agent, handle) = agent(
        InspectorHeapProfiler::with_config(session, config),
        &exporter,
    );

    let report = profile_of(&handle).await;
    agent.shutdown().await;

    assert!(report.is_success(), "{report:?}");
    assert_eq!(
        mock.calls()[1].params,
        json!({
            "samplingInterval": 1024,
            "includeObjectsCollectedByMajorGC": true,
            "includeObjectsCollectedByMinorGC": true
        })
    );
    assert_eq!(
        report
            .profile
            .attributes
            .get("include_objects_collected_by_major_gc"),
        Some(&AttributeValue::Bool(true))
    );
    mock.assert_finished();
}

#[tokio::test]
async fn a_failed_or_empty_stop_fails_the_profile_and_disables_the_domain() {
    let mock = MockInspector::start().await;
    for stop in [
        Reply::error(-32000, "Sampling heap profiling is not started."),
        Reply::ok(json!({})),
        Reply::ok(json!({ "profile": { "nodes": [] } })),
    ] {
        mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
        mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
        mock.expect("HeapProfiler.stopSampling", stop);
        mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    }
    let session = connect(&mock).await;
    let exporter = MemoryExporter::new();
    let (agent, handle) = agent(InspectorHeapProfiler::new(session), &exporter);

    let error = failure_reason(&*profile_of(&handle).await);
    assert!(error.contains("not started"), "{error}");
    let missing = failure_reason(&*profile_of(&handle).await);
    assert!(missing.contains("without a profile"), "{missing}");
    let wrong = failure_reason(&*profile_of(&handle).await);
    assert!(wrong.contains("not a V8 sampling heap profile"), "{wrong}");
    agent.shutdown().await;

    assert!(exporter.finished().is_empty());
    assert_eq!(exporter.aborted().len(), 3);
    mock.assert_finished();
}

#[tokio::test]
async fn shutdown_outside_an_agent_stops_and_discards_a_running_profile() {
    let mock = MockInspector::start().await;
    mock.expect("HeapProfiler.enable", Reply::ok(json!({})));
    mock.expect("HeapProfiler.startSampling", Reply::ok(json!({})));
    mock.expect(
        "HeapProfiler.stopSampling",
        Reply::ok(json!({ "profile": heap_profile() })),
    );
    mock.expect("HeapProfiler.disable", Reply::ok(json!({})));
    let session = connect(&mock).await;
    let profiler = InspectorHeapProfiler::new(session.clone());
    let profile = ProfileMetadata::new(ProfileKind::HeapProfile, "direct");

    profiler.start(&profile).await.unwrap();
    let again = profiler.start(&profile).await.unwrap_err();
    assert!(again.to_string().contains("already running"), "{again}");
    profiler.shutdown().await.unwrap();

    assert!(!profiler.is_running().await);
    assert_eq!(session.domain_enables("HeapProfiler"), 0);
    mock.assert_finished();
}

#[tokio::test]
async fn the_registry_lists_and_builds_heap_profile() {
    let registry = Registry::global().unwrap();
    let plugin = registry
        .profilers()
        .find(|plugin| plugin.name == "heap-profile")
        .expect("heap-profile must be registered");
    let defaults = serde_json::to_value(HeapProfileConfig::default()).unwrap();
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
            "heap-profile",
            &json!({"sampling_interval_bytes": 512}),
            &context,
        )
        .unwrap();
    assert_eq!(profiler.kind(), ProfileKind::HeapProfile);
    assert_eq!(profiler.target().url.as_deref(), Some(&*mock.ws_url()));

    for bad in [
        json!({"interval": 1}),
        json!({"sampling_interval_bytes": 0}),
    ] {
        let error = registry
            .build_profiler("heap-profile", &bad, &context)
            .unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{error:?}");
    }
    let error = registry
        .build_profiler("heap-profile", &json!({}), &PluginContext::new())
        .unwrap_err();
    assert!(error.to_string().contains("session"), "{error}");
}
