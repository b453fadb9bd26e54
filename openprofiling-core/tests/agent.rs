//! The agent: reactions, chunk fan-out, exporter failure isolation, busy refusal, shutdown.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use openprofiling_core::{
    Error, ExportReceipt, ExportSink, Exporter, ManualTrigger, ProfileKind, ProfileMetadata,
    ProfileStatus, ProfileWriter, Profiler, ProfilingAgent, ReactionOutcome, Result, TriggerAction,
    TriggerEvent,
};
use tokio::sync::Notify;

/// What an in-test exporter saw.
#[derive(Debug, Default)]
struct Seen {
    chunks: Vec<Bytes>,
    finished: Vec<ProfileMetadata>,
    aborted: Vec<String>,
}

/// Keeps profiles in memory; fails at chunk `fail_at` if set; sleeps per chunk if `slow`.
#[derive(Debug, Clone, Default)]
struct MemoryExporter {
    name: &'static str,
    seen: Arc<Mutex<Seen>>,
    fail_at: Option<usize>,
    fail_begin: bool,
    slow: Option<Duration>,
    written: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct MemorySink {
    exporter: MemoryExporter,
    count: usize,
}

#[async_trait]
impl Exporter for MemoryExporter {
    fn name(&self) -> String {
        self.name.to_owned()
    }
    async fn begin(&self, _profile: &ProfileMetadata) -> Result<Box<dyn ExportSink>> {
        if self.fail_begin {
            return Err(Error::plugin(self.name, "bucket does not exist"));
        }
        Ok(Box::new(MemorySink {
            exporter: self.clone(),
            count: 0,
        }))
    }
}

#[async_trait]
impl ExportSink for MemorySink {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.count += 1;
        if Some(self.count) == self.exporter.fail_at {
            return Err(Error::plugin(self.exporter.name, "disk full"));
        }
        if let Some(delay) = self.exporter.slow {
            tokio::time::sleep(delay).await;
        }
        self.exporter.written.fetch_add(1, Ordering::SeqCst);
        self.exporter.seen.lock().unwrap().chunks.push(chunk);
        Ok(())
    }
    async fn finish(self: Box<Self>, profile: &ProfileMetadata) -> Result<ExportReceipt> {
        let mut seen = self.exporter.seen.lock().unwrap();
        seen.finished.push(profile.clone());
        Ok(ExportReceipt {
            location: format!("memory://{}/{}", self.exporter.name, profile.id),
            stored_bytes: seen.chunks.iter().map(|c| c.len() as u64).sum(),
        })
    }
    async fn abort(self: Box<Self>, reason: &str) -> Result<()> {
        self.exporter
            .seen
            .lock()
            .unwrap()
            .aborted
            .push(reason.to_owned());
        Ok(())
    }
}

/// Writes `chunks` numbered chunks; fails after `fail_after` if set; waits on `gate` first.
#[derive(Debug, Default)]
struct CountingProfiler {
    kind: Option<ProfileKind>,
    chunks: usize,
    fail_after: Option<usize>,
    gate: Option<Arc<Notify>>,
    produced: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
}

#[async_trait]
impl Profiler for CountingProfiler {
    fn kind(&self) -> ProfileKind {
        self.kind.unwrap_or(ProfileKind::HeapSnapshot)
    }
    async fn start(&self, _profile: &ProfileMetadata) -> Result<()> {
        self.started.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        for i in 0..self.chunks {
            if Some(i) == self.fail_after {
                return Err(Error::ConnectionClosed {
                    url: "ws://127.0.0.1:1/x".into(),
                    reason: "the target died".into(),
                });
            }
            writer.write(Bytes::from(format!("chunk {i};"))).await?;
            self.produced.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

fn expected(chunks: usize) -> Vec<u8> {
    (0..chunks)
        .flat_map(|i| format!("chunk {i};").into_bytes())
        .collect()
}

fn joined(seen: &Arc<Mutex<Seen>>) -> Vec<u8> {
    seen.lock()
        .unwrap()
        .chunks
        .iter()
        .flat_map(|c| c.to_vec())
        .collect()
}

#[tokio::test]
async fn chunks_fan_out_and_a_failing_exporter_only_aborts_itself() {
    let good = MemoryExporter {
        name: "good",
        ..Default::default()
    };
    let other = MemoryExporter {
        name: "other",
        ..Default::default()
    };
    let failing = MemoryExporter {
        name: "failing",
        fail_at: Some(3),
        ..Default::default()
    };
    let refusing = MemoryExporter {
        name: "refusing",
        fail_begin: true,
        ..Default::default()
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 50,
                ..Default::default()
            },
        )
        .exporter(good.clone())
        .exporter(failing.clone())
        .exporter(refusing.clone())
        .exporter(other.clone())
        .start()
        .unwrap();

    let reaction = handle.start().await.unwrap();
    assert!(matches!(
        reaction.outcome,
        ReactionOutcome::Capturing { .. }
    ));
    let report = reaction.finished().await.unwrap();

    assert_eq!(report.profile.status, ProfileStatus::Success);
    assert_eq!(report.profile.size, expected(50).len() as u64);
    assert!(!report.is_success(), "two exporters failed");
    let names: Vec<_> = report.exports.iter().map(|e| e.exporter.as_str()).collect();
    assert_eq!(names, ["good", "failing", "refusing", "other"]);
    assert!(report.exports[0].result.is_ok());
    assert!(report.exports[3].result.is_ok());
    let failed = report.exports[1].result.as_ref().unwrap_err().to_string();
    assert!(failed.contains("disk full"), "{failed}");
    let refused = report.exports[2].result.as_ref().unwrap_err().to_string();
    assert!(refused.contains("bucket does not exist"), "{refused}");

    assert_eq!(joined(&good.seen), expected(50));
    assert_eq!(joined(&other.seen), expected(50));
    assert_eq!(good.seen.lock().unwrap().finished.len(), 1);
    {
        let failing_seen = failing.seen.lock().unwrap();
        assert!(
            failing_seen.finished.is_empty(),
            "a failed sink is never finished"
        );
        assert_eq!(failing_seen.aborted.len(), 1);
    }
    agent.shutdown().await;
}

#[tokio::test]
async fn a_failed_profile_is_aborted_everywhere() {
    let a = MemoryExporter {
        name: "a",
        ..Default::default()
    };
    let b = MemoryExporter {
        name: "b",
        ..Default::default()
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 10,
                fail_after: Some(4),
                ..Default::default()
            },
        )
        .exporter(a.clone())
        .exporter(b.clone())
        .start()
        .unwrap();
    let report = handle.start().await.unwrap().finished().await.unwrap();
    match &report.profile.status {
        ProfileStatus::Failed(reason) => assert!(reason.contains("the target died"), "{reason}"),
        other => panic!("expected a failed profile, got {other:?}"),
    }
    for exporter in [&a, &b] {
        let seen = exporter.seen.lock().unwrap();
        assert!(seen.finished.is_empty());
        assert_eq!(seen.aborted.len(), 1);
        assert!(seen.aborted[0].contains("the target died"));
        drop(seen);
    }
    agent.shutdown().await;
}

#[tokio::test]
async fn a_start_while_busy_is_refused_not_queued() {
    let gate = Arc::new(Notify::new());
    let exporter = MemoryExporter {
        name: "m",
        ..Default::default()
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 3,
                gate: Some(gate.clone()),
                ..Default::default()
            },
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let first = handle.start().await.unwrap();
    let second = handle.start().await.unwrap();
    match &second.outcome {
        ReactionOutcome::Refused { reason } => assert!(reason.contains("busy"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(second.finished().await.is_none());
    gate.notify_one();
    let report = first.finished().await.unwrap();
    assert!(report.is_success());
    // Idle again: the next start captures.
    gate.notify_one();
    let third = handle.start().await.unwrap();
    assert!(matches!(third.outcome, ReactionOutcome::Capturing { .. }));
    assert!(third.finished().await.unwrap().is_success());
    assert_eq!(
        exporter.seen.lock().unwrap().finished.len(),
        2,
        "two profiles, not three"
    );
    agent.shutdown().await;
}

#[tokio::test]
async fn instant_profilers_capture_on_every_toggle_and_ignore_end() {
    let exporter = MemoryExporter {
        name: "m",
        ..Default::default()
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 2,
                ..Default::default()
            },
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();
    for _ in 0..3 {
        let reaction = handle
            .emit(TriggerEvent::new(TriggerAction::Toggle))
            .await
            .unwrap();
        assert!(
            matches!(reaction.outcome, ReactionOutcome::Capturing { .. }),
            "{:?}",
            reaction.outcome
        );
        reaction.finished().await.unwrap();
    }
    let end = handle.end().await.unwrap();
    assert!(matches!(end.outcome, ReactionOutcome::Ignored { .. }));
    assert_eq!(exporter.seen.lock().unwrap().finished.len(), 3);
    agent.shutdown().await;
}

#[tokio::test]
async fn ranged_profilers_alternate_and_carry_name_and_attributes() {
    let exporter = MemoryExporter {
        name: "m",
        ..Default::default()
    };
    let started = Arc::new(AtomicUsize::new(0));
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                kind: Some(ProfileKind::CpuProfile),
                chunks: 2,
                started: started.clone(),
                ..Default::default()
            },
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let start = handle
        .emit(
            TriggerEvent::new(TriggerAction::Toggle)
                .with_name("checkout")
                .with_attribute("route", "/checkout"),
        )
        .await
        .unwrap();
    assert!(matches!(start.outcome, ReactionOutcome::Started { .. }));
    assert_eq!(started.load(Ordering::SeqCst), 1);
    let again = handle.start().await.unwrap();
    assert!(matches!(again.outcome, ReactionOutcome::Refused { .. }));
    let stop = handle
        .emit(TriggerEvent::new(TriggerAction::Toggle))
        .await
        .unwrap();
    assert!(matches!(stop.outcome, ReactionOutcome::Stopped { .. }));
    let report = stop.finished().await.unwrap();
    assert_eq!(report.profile.name, "checkout");
    assert_eq!(report.profile.attributes["route"], "/checkout".into());
    assert!(report.profile.duration().is_some());
    let end = handle.end().await.unwrap();
    assert!(matches!(end.outcome, ReactionOutcome::Ignored { .. }));
    agent.shutdown().await;
}

#[tokio::test]
async fn memory_in_flight_is_bounded_by_the_sink_buffer() {
    let slow = MemoryExporter {
        name: "slow",
        slow: Some(Duration::from_millis(2)),
        ..Default::default()
    };
    let written = slow.written.clone();
    let produced = Arc::new(AtomicUsize::new(0));
    let (trigger, handle) = ManualTrigger::new("test");
    let buffer = 4;
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 200,
                produced: produced.clone(),
                ..Default::default()
            },
        )
        .exporter(slow.clone())
        .sink_buffer(buffer)
        .start()
        .unwrap();
    let reaction = handle.start().await.unwrap();
    let mut max_in_flight = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(3)).await;
        let in_flight = produced.load(Ordering::SeqCst)
            - written
                .load(Ordering::SeqCst)
                .min(produced.load(Ordering::SeqCst));
        max_in_flight = max_in_flight.max(in_flight);
    }
    assert!(reaction.finished().await.unwrap().is_success());
    // The channel holds `buffer`, the sink holds one while writing, the writer one more.
    assert!(
        max_in_flight <= buffer + 2,
        "{max_in_flight} chunks in flight, buffer {buffer}"
    );
    assert_eq!(joined(&slow.seen), expected(200));
    agent.shutdown().await;
}

#[tokio::test]
async fn shutdown_completes_a_running_profile_and_is_idempotent() {
    let exporter = MemoryExporter {
        name: "m",
        ..Default::default()
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                kind: Some(ProfileKind::CpuProfile),
                chunks: 5,
                ..Default::default()
            },
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let mut reports = agent.reports();
    assert!(matches!(
        handle.start().await.unwrap().outcome,
        ReactionOutcome::Started { .. }
    ));
    agent.shutdown().await;
    agent.shutdown().await;
    let report = reports.recv().await.unwrap();
    assert!(
        report.is_success(),
        "a running ranged profile is collected at shutdown"
    );
    assert_eq!(exporter.seen.lock().unwrap().finished.len(), 1);
    assert!(
        handle.start().await.is_err(),
        "the trigger is gone after shutdown"
    );
}

#[tokio::test]
async fn shutdown_aborts_a_profile_stuck_past_the_grace_period() {
    let exporter = MemoryExporter {
        name: "m",
        ..Default::default()
    };
    let gate = Arc::new(Notify::new()); // never notified: the profile never completes
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 5,
                gate: Some(gate),
                ..Default::default()
            },
        )
        .exporter(exporter.clone())
        .shutdown_grace(Duration::from_millis(100))
        .start()
        .unwrap();
    let mut reports = agent.reports();
    handle.start().await.unwrap();
    agent.shutdown().await;
    let report = reports.recv().await.unwrap();
    assert!(matches!(report.profile.status, ProfileStatus::Failed(_)));
    let seen = exporter.seen.lock().unwrap();
    assert!(seen.finished.is_empty());
    assert_eq!(
        seen.aborted.len(),
        1,
        "the partial profile is aborted, not left half published"
    );
}

#[tokio::test]
async fn an_agent_needs_reactions_and_exporters() {
    let error = ProfilingAgent::new()
        .exporter(MemoryExporter::default())
        .start()
        .unwrap_err();
    assert!(error.to_string().contains("no reactions"), "{error}");
    let (trigger, _handle) = ManualTrigger::new("test");
    let error = ProfilingAgent::new()
        .register(trigger, CountingProfiler::default())
        .start()
        .unwrap_err();
    assert!(error.to_string().contains("no exporters"), "{error}");
}

#[tokio::test]
async fn no_profile_is_taken_when_no_exporter_can_take_it() {
    let refusing = MemoryExporter {
        name: "refusing",
        fail_begin: true,
        ..Default::default()
    };
    let produced = Arc::new(AtomicUsize::new(0));
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(
            trigger,
            CountingProfiler {
                chunks: 3,
                produced: produced.clone(),
                ..Default::default()
            },
        )
        .exporter(refusing)
        .start()
        .unwrap();
    let report = handle.start().await.unwrap().finished().await.unwrap();
    match &report.profile.status {
        ProfileStatus::Failed(reason) => assert!(reason.contains("no exporter"), "{reason}"),
        other => panic!("expected a failed profile, got {other:?}"),
    }
    assert_eq!(
        produced.load(Ordering::SeqCst),
        0,
        "the target was spared the profile"
    );
    agent.shutdown().await;
}

/// A trigger that never looks at the shutdown token.
#[derive(Debug)]
struct StubbornTrigger;

#[async_trait]
impl openprofiling_core::Trigger for StubbornTrigger {
    fn name(&self) -> String {
        "stubborn".into()
    }
    async fn run(
        &self,
        _events: openprofiling_core::TriggerEvents,
        _shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<()> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_bounded_even_when_a_trigger_ignores_it() {
    let agent = ProfilingAgent::new()
        .register(StubbornTrigger, CountingProfiler::default())
        .exporter(MemoryExporter::default())
        .start()
        .unwrap();
    let started = tokio::time::Instant::now();
    agent.shutdown().await;
    assert!(
        started.elapsed() <= Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}
