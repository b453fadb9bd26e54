//! The CPU profiler against a real `node --inspect=127.0.0.1:0`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::mock::NodeProcess;
use openprofiling_core::{
    AttributeValue, InspectorSession, ManualTrigger, ProfileStatus, ProfilingAgent, ReactionOutcome,
};
use openprofiling_inspector_cpu_profiler::{CpuProfileConfig, InspectorCpuProfiler};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// Keeps the CPU busy in a function of a name found nowhere else.
const BUSY_PROGRAM: &str = "
function spinTheCpuForTest() {
  const end = Date.now() + 20;
  let x = 0;
  while (Date.now() < end) { x += Math.sqrt(x + 1); }
  return x;
}
setInterval(spinTheCpuForTest, 25);
console.log('ready');
";

/// CPU time (user + system) process `pid` has used, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel reports in clock ticks of 1/100 s on Linux (USER_HZ).
    Duration::from_millis(ticks * 10)
}

/// Waits until process `pid` has used `amount` more CPU time (at most a minute).
async fn wait_for_cpu(pid: u32, amount: Duration) {
    let start = cpu_time(pid);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while cpu_time(pid) < start + amount {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node got no CPU for a minute"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_real_cpu_profile_shows_the_busy_function() {
    let node = NodeProcess::start(BUSY_PROGRAM).await;
    let session = InspectorSession::builder(node.ws_url())
        .connect()
        .await
        .unwrap();
    let config = CpuProfileConfig {
        sampling_interval_us: 500,
        ..CpuProfileConfig::default()
    };
    let exporter = MemoryExporter::new();
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            InspectorCpuProfiler::with_config(session.clone(), config),
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();

    let started = handle.start().await.unwrap();
    assert!(
        matches!(started.outcome, ReactionOutcome::Started { .. }),
        "{started:?}"
    );
    // Profile until Node has had 400 ms of CPU, however loaded this machine is.
    wait_for_cpu(
        node.pid().expect("the pid of a running node"),
        Duration::from_millis(400),
    )
    .await;
    let stopped = handle.end().await.unwrap();
    let report = tokio::time::timeout(WAIT, stopped.finished())
        .await
        .expect("the profile must complete")
        .expect("a report");
    agent.shutdown().await;
    assert_eq!(session.domain_enables("Profiler"), 0);
    node.stop().await;

    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    let bytes = exporter.bytes();
    assert_eq!(report.profile.size, bytes.len() as u64);
    let profile: Value = serde_json::from_slice(&bytes).expect("the profile is valid JSON");
    let nodes = profile["nodes"].as_array().expect("nodes");
    let samples = profile["samples"].as_array().expect("samples");
    let deltas = profile["timeDeltas"].as_array().expect("timeDeltas");
    assert!(profile["endTime"].as_f64().unwrap() > profile["startTime"].as_f64().unwrap());
    assert_eq!(samples.len(), deltas.len(), "one time delta per sample");
    // Complete: every sample names a node of the profile.
    let ids: std::collections::HashSet<u64> = nodes
        .iter()
        .map(|node| node["id"].as_u64().unwrap())
        .collect();
    assert!(samples.iter().all(|id| ids.contains(&id.as_u64().unwrap())));
    let busy = nodes
        .iter()
        .find(|node| node["callFrame"]["functionName"] == "spinTheCpuForTest")
        .expect("the busy function must appear in the profile");
    assert!(busy["hitCount"].as_u64().unwrap() > 0, "{busy}");
    assert_eq!(
        report.profile.attributes.get("samples"),
        Some(&AttributeValue::Number(samples.len() as f64))
    );
    assert_eq!(
        report.profile.attributes.get("sampling_interval_us"),
        Some(&AttributeValue::Number(500.0))
    );
}
