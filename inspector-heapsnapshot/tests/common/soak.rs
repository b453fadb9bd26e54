//! Shared by the soak test and the soak benchmark: many heap snapshots of one small Node
//! process through one agent (this crate's profiler, the file exporter), with the resources
//! of this process sampled after each.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::time::{Duration, Instant};

use openprofiling_core::mock::NodeProcess;
use openprofiling_core::{InspectorSession, ManualTrigger, ProfileStatus, ProfilingAgent};
use openprofiling_exporter_file::FileExporter;
use openprofiling_inspector_heapsnapshot::{HeapSnapshotConfig, InspectorHeapSnapshot};

/// The resources of this process after one snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Open file descriptors.
    pub fds: usize,
    /// Tokio tasks alive.
    pub tasks: usize,
    /// Resident set size, bytes.
    pub rss: u64,
    /// The snapshot's size, bytes.
    pub bytes: u64,
    /// How long it took, trigger to report.
    pub took: Duration,
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Resident set size of this process, bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// A small Node target: a few thousand objects of a class of its own.
pub async fn small_target() -> NodeProcess {
    NodeProcess::start_with_instances("SoakThing", 5_000).await
}

/// Takes `count` heap snapshots of `node` into `dir`, one after the other, through one agent
/// over one session; removes each file once published. Samples after each snapshot, once the
/// agent is idle again.
pub async fn soak(node: &NodeProcess, dir: &Path, count: usize) -> Vec<Sample> {
    let session = InspectorSession::builder(node.ws_url())
        .connect()
        .await
        .expect("connect to node");
    let config = HeapSnapshotConfig {
        gc_before: false,
        gc_after: false,
        ..HeapSnapshotConfig::default()
    };
    let profiler = InspectorHeapSnapshot::with_config(session, config);
    let (trigger, handle) = ManualTrigger::new("soak");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(FileExporter::new(dir))
        .start()
        .expect("the agent starts");
    let mut samples = Vec::with_capacity(count);
    for index in 0..count {
        let started = Instant::now();
        let reaction = handle.start().await.expect("the trigger reaches the agent");
        let report = tokio::time::timeout(Duration::from_secs(120), reaction.finished())
            .await
            .expect("a snapshot of a small target within two minutes")
            .expect("a report");
        let took = started.elapsed();
        assert_eq!(
            report.profile.status,
            ProfileStatus::Success,
            "snapshot {index}: {report:?}"
        );
        assert!(report.is_success(), "snapshot {index}: {report:?}");
        let receipt = report.exports[0].result.as_ref().expect("published");
        std::fs::remove_file(&receipt.location).expect("remove the published file");
        // Let whatever ends with the profile (sink tasks, blocking writes) end.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        samples.push(Sample {
            fds: open_fds(),
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            rss: rss(),
            bytes: report.profile.size,
            took,
        });
    }
    agent.shutdown().await;
    assert!(
        std::fs::read_dir(dir)
            .expect("the directory")
            .next()
            .is_none(),
        "nothing but published files, all removed, was ever left in the directory"
    );
    samples
}
