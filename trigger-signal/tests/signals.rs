//! The signal trigger against real signals raised to this test process.
//!
//! Every test takes `SERIAL`: signals are process-wide, so a signal raised by one test would
//! reach another's trigger. A signal is only raised once the trigger is `ready`: before that,
//! SIGUSR1 and SIGUSR2 would kill the test process.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use nix::sys::signal::Signal as NixSignal;
use openprofiling_core::{
    AttributeValue, ExportReceipt, ExportSink, Exporter, ProfileId, ProfileKind, ProfileMetadata,
    ProfileWriter, Profiler, ProfilingAgent, Reaction, ReactionOutcome, Trigger, TriggerAction,
    TriggerEvent, TriggerEvents,
};
use openprofiling_trigger_signal::{Signal, SignalTrigger};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tracing::instrument::WithSubscriber;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Long enough for anything that should happen; only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(10);

type Events = mpsc::Receiver<(TriggerEvent, oneshot::Sender<Reaction>)>;

fn raise(signal: Signal) {
    nix::sys::signal::raise(NixSignal::try_from(signal.number()).unwrap()).unwrap();
}

/// Runs `trigger` on a test channel and waits until its handler is installed.
async fn run(
    trigger: &Arc<SignalTrigger>,
) -> (
    Events,
    CancellationToken,
    JoinHandle<openprofiling_core::Result<()>>,
) {
    let (events, receiver) = TriggerEvents::channel(8);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let trigger = trigger.clone();
        let shutdown = shutdown.clone();
        async move { trigger.run(events, shutdown).await }
    });
    assert!(timeout(PATIENCE, trigger.ready()).await.unwrap());
    (receiver, shutdown, task)
}

async fn next_event(events: &mut Events) -> (TriggerEvent, oneshot::Sender<Reaction>) {
    timeout(PATIENCE, events.recv())
        .await
        .expect("an event within the patience")
        .expect("the trigger is running")
}

fn assert_toggle_from(event: &TriggerEvent, signal: &str) {
    assert_eq!(event.action, TriggerAction::Toggle);
    assert_eq!(
        event.attributes.get("signal"),
        Some(&AttributeValue::from(signal))
    );
}

fn capturing() -> Reaction {
    Reaction::immediate(ReactionOutcome::Capturing {
        profile: ProfileId::next(),
    })
}

async fn stop(shutdown: CancellationToken, task: JoinHandle<openprofiling_core::Result<()>>) {
    shutdown.cancel();
    timeout(PATIENCE, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn every_signal_sends_one_toggle_with_the_signal_attribute() {
    let _serial = SERIAL.lock().await;
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    assert_eq!(trigger.name(), "signal SIGUSR2");
    let (mut events, shutdown, task) = run(&trigger).await;
    for _ in 0..3 {
        raise(Signal::USR2);
        let (event, answer) = next_event(&mut events).await;
        assert_toggle_from(&event, "SIGUSR2");
        answer.send(capturing()).unwrap();
    }
    stop(shutdown, task).await;
    assert!(events.try_recv().is_err(), "three signals, three events");
}

/// A `MakeWriter` that keeps log output for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_refused_signal_is_logged_as_a_warning_and_the_trigger_goes_on() {
    let _serial = SERIAL.lock().await;
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    let (sender, mut events) = TriggerEvents::channel(8);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let trigger = trigger.clone();
        let shutdown = shutdown.clone();
        async move { trigger.run(sender, shutdown).await }.with_subscriber(subscriber)
    });
    assert!(timeout(PATIENCE, trigger.ready()).await.unwrap());

    raise(Signal::USR2);
    let (event, answer) = next_event(&mut events).await;
    assert_toggle_from(&event, "SIGUSR2");
    answer
        .send(Reaction::immediate(ReactionOutcome::Refused {
            reason: "busy: profile 3 is being collected".to_owned(),
        }))
        .unwrap();

    // The trigger handles the next signal; by then it has logged the refusal.
    raise(Signal::USR2);
    let (event, answer) = next_event(&mut events).await;
    assert_toggle_from(&event, "SIGUSR2");
    let profile = ProfileId::next();
    answer
        .send(Reaction::immediate(ReactionOutcome::Capturing { profile }))
        .unwrap();
    stop(shutdown, task).await;

    let text = logs.text();
    let refused = text
        .lines()
        .find(|line| line.contains("refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{text}"));
    assert!(refused.contains("WARN"), "{refused}");
    assert!(refused.contains("SIGUSR2"), "{refused}");
    assert!(
        refused.contains("busy: profile 3 is being collected"),
        "{refused}"
    );
    let capturing = text
        .lines()
        .find(|line| line.contains("capturing"))
        .unwrap_or_else(|| panic!("no capture logged:\n{text}"));
    assert!(capturing.contains("INFO"), "{capturing}");
    assert!(
        capturing.contains(&format!("profile={profile}")),
        "{capturing}"
    );
}

#[tokio::test]
async fn two_triggers_each_drive_only_their_own_reaction() {
    let _serial = SERIAL.lock().await;
    let usr1 = Arc::new(SignalTrigger::from_name("SIGUSR1").unwrap());
    let usr2 = Arc::new(SignalTrigger::from_name("usr2").unwrap());
    let (mut events1, shutdown1, task1) = run(&usr1).await;
    let (mut events2, shutdown2, task2) = run(&usr2).await;

    raise(Signal::USR2);
    let (event, answer) = next_event(&mut events2).await;
    assert_toggle_from(&event, "SIGUSR2");
    answer.send(capturing()).unwrap();

    // Had the SIGUSR1 trigger seen SIGUSR2, that event would come before this one.
    raise(Signal::USR1);
    let (event, answer) = next_event(&mut events1).await;
    assert_toggle_from(&event, "SIGUSR1");
    answer.send(capturing()).unwrap();

    stop(shutdown1, task1).await;
    stop(shutdown2, task2).await;
    assert!(events1.try_recv().is_err());
    assert!(events2.try_recv().is_err());
}

#[tokio::test]
async fn run_returns_promptly_on_shutdown_and_the_signal_is_then_ignored() {
    let _serial = SERIAL.lock().await;
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    assert!(!trigger.is_listening());
    let (mut events, shutdown, task) = run(&trigger).await;
    assert!(trigger.is_listening());
    shutdown.cancel();
    timeout(Duration::from_secs(1), task)
        .await
        .expect("run returns within a second of shutdown")
        .unwrap()
        .unwrap();
    assert!(!trigger.is_listening());
    assert!(
        !timeout(PATIENCE, trigger.ready()).await.unwrap(),
        "not ready once run has returned"
    );
    // The handler stays installed with nothing to do: the process survives the signal.
    raise(Signal::USR2);
    tokio::task::yield_now().await;
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn run_stops_when_the_agent_is_gone() {
    let _serial = SERIAL.lock().await;
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    let (events, _shutdown, task) = run(&trigger).await;
    drop(events);
    raise(Signal::USR2);
    timeout(PATIENCE, task).await.unwrap().unwrap().unwrap();
    assert!(!trigger.is_listening());
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_signal_the_system_lacks_fails_to_register() {
    let _serial = SERIAL.lock().await;
    // Linux has signals 1 to 64.
    let trigger = SignalTrigger::new(Signal::from_number(100).unwrap());
    let (events, _receiver) = TriggerEvents::channel(1);
    let error = trigger
        .run(events, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("signal 100"), "{error}");
    assert!(
        error.contains("cannot install a handler for 100"),
        "{error}"
    );
    assert!(!timeout(PATIENCE, trigger.ready()).await.unwrap());
}

/// Keeps every finished profile's bytes in memory.
#[derive(Debug, Clone, Default)]
struct MemoryExporter {
    finished: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[derive(Debug)]
struct MemorySink {
    exporter: MemoryExporter,
    bytes: Vec<u8>,
}

#[async_trait]
impl Exporter for MemoryExporter {
    fn name(&self) -> String {
        "memory".to_owned()
    }
    async fn begin(
        &self,
        _profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<Box<dyn ExportSink>> {
        Ok(Box::new(MemorySink {
            exporter: self.clone(),
            bytes: Vec::new(),
        }))
    }
}

#[async_trait]
impl ExportSink for MemorySink {
    async fn write(&mut self, chunk: Bytes) -> openprofiling_core::Result<()> {
        self.bytes.extend_from_slice(&chunk);
        Ok(())
    }
    async fn finish(
        self: Box<Self>,
        profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<ExportReceipt> {
        let stored_bytes = self.bytes.len() as u64;
        self.exporter.finished.lock().unwrap().push(self.bytes);
        Ok(ExportReceipt {
            location: format!("memory://{}", profile.id),
            stored_bytes,
        })
    }
    async fn abort(self: Box<Self>, _reason: &str) -> openprofiling_core::Result<()> {
        Ok(())
    }
}

/// Writes one chunk per profile; tells the test when a ranged profile starts.
#[derive(Debug)]
struct OneChunkProfiler {
    kind: ProfileKind,
    started: Arc<Notify>,
}

#[async_trait]
impl Profiler for OneChunkProfiler {
    fn kind(&self) -> ProfileKind {
        self.kind
    }
    async fn start(&self, _profile: &ProfileMetadata) -> openprofiling_core::Result<()> {
        self.started.notify_one();
        Ok(())
    }
    async fn collect(&self, writer: &mut ProfileWriter) -> openprofiling_core::Result<()> {
        writer.write(Bytes::from_static(b"{\"snapshot\":{}}")).await
    }
}

#[tokio::test]
async fn through_an_agent_every_signal_takes_one_heap_snapshot() {
    let _serial = SERIAL.lock().await;
    let exporter = MemoryExporter::default();
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    let agent = ProfilingAgent::new()
        .register(
            trigger.clone(),
            OneChunkProfiler {
                kind: ProfileKind::HeapSnapshot,
                started: Arc::default(),
            },
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let mut reports = agent.reports();
    assert!(timeout(PATIENCE, trigger.ready()).await.unwrap());
    let mut ids = Vec::new();
    for _ in 0..2 {
        raise(Signal::USR2);
        let report = timeout(PATIENCE, reports.recv()).await.unwrap().unwrap();
        assert!(report.is_success(), "{report:?}");
        assert_eq!(report.profile.kind, ProfileKind::HeapSnapshot);
        assert_eq!(
            report.profile.attributes.get("signal"),
            Some(&AttributeValue::from("SIGUSR2"))
        );
        ids.push(report.profile.id);
    }
    timeout(PATIENCE, agent.shutdown()).await.unwrap();
    assert!(!trigger.is_listening());
    let finished = exporter.finished.lock().unwrap();
    assert_eq!(finished.len(), 2, "two signals, two snapshots");
    assert_ne!(ids[0], ids[1]);
    for bytes in finished.iter() {
        assert_eq!(bytes, b"{\"snapshot\":{}}");
    }
}

#[tokio::test]
async fn through_an_agent_a_ranged_profile_starts_on_one_signal_and_stops_on_the_next() {
    let _serial = SERIAL.lock().await;
    let exporter = MemoryExporter::default();
    let started = Arc::new(Notify::new());
    let trigger = Arc::new(SignalTrigger::new(Signal::USR2));
    let agent = ProfilingAgent::new()
        .register(
            trigger.clone(),
            OneChunkProfiler {
                kind: ProfileKind::CpuProfile,
                started: started.clone(),
            },
        )
        .exporter(exporter.clone())
        .start()
        .unwrap();
    let mut reports = agent.reports();
    assert!(timeout(PATIENCE, trigger.ready()).await.unwrap());

    raise(Signal::USR2);
    timeout(PATIENCE, started.notified()).await.unwrap();
    assert!(
        exporter.finished.lock().unwrap().is_empty(),
        "started, not yet collected"
    );

    raise(Signal::USR2);
    let report = timeout(PATIENCE, reports.recv()).await.unwrap().unwrap();
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.profile.kind, ProfileKind::CpuProfile);
    assert!(report.profile.duration().is_some());
    assert_eq!(
        report.profile.attributes.get("signal"),
        Some(&AttributeValue::from("SIGUSR2"))
    );
    timeout(PATIENCE, agent.shutdown()).await.unwrap();
    assert_eq!(
        exporter.finished.lock().unwrap().len(),
        1,
        "one start and one stop make one profile"
    );
    assert!(reports.try_recv().is_err());
}
