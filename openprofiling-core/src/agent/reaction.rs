//! One reaction: a trigger's events applied to one profiler, one profile at a time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::writer::{ProfileReport, ProfileWriter};
use crate::exporter::Exporter;
use crate::profiler::{Profiler, ProfilerMode};
use crate::trigger::{EventRequest, Reaction, ReactionOutcome, TriggerAction, TriggerEvent};
use crate::{ProfileId, ProfileMetadata, ProfileStatus};

/// What a reaction needs besides its profiler.
pub(crate) struct ReactionContext {
    pub(crate) exporters: Arc<[Arc<dyn Exporter>]>,
    pub(crate) sink_buffer: usize,
    pub(crate) grace: Duration,
    pub(crate) reports: broadcast::Sender<Arc<ProfileReport>>,
}

enum State {
    Idle,
    /// A ranged profile runs.
    Running(ProfileMetadata),
    /// A profile is being collected and exported.
    Collecting {
        profile: ProfileId,
        task: JoinHandle<Arc<ProfileReport>>,
        waiters: Vec<oneshot::Sender<Arc<ProfileReport>>>,
        /// Cancelled when the shutdown grace period is over: the collection stops and the
        /// profile is aborted everywhere.
        abandon: CancellationToken,
    },
}

enum Step {
    Shutdown,
    Collected(Result<Arc<ProfileReport>, tokio::task::JoinError>),
    Event(Option<EventRequest>),
}

/// Runs until shutdown, then completes or aborts what is in flight.
pub(crate) async fn run(
    profiler: Arc<dyn Profiler>,
    mut events: mpsc::Receiver<EventRequest>,
    context: ReactionContext,
    shutdown: CancellationToken,
) {
    let mut state = State::Idle;
    let mut trigger_alive = true;
    loop {
        let step = {
            let collecting = async {
                match &mut state {
                    State::Collecting { task, .. } => task.await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => Step::Shutdown,
                done = collecting => Step::Collected(done),
                request = events.recv(), if trigger_alive => Step::Event(request),
            }
        };
        match step {
            Step::Shutdown => break,
            Step::Collected(done) => complete(&mut state, done, &context),
            // The trigger is gone; what is in flight goes on until shutdown.
            Step::Event(None) => trigger_alive = false,
            Step::Event(Some((event, answer))) => {
                let reaction = handle(&mut state, &profiler, event, &context).await;
                let _ = answer.send(reaction);
            }
        }
    }
    drain(state, &profiler, &context).await;
}

/// Applies one event.
async fn handle(
    state: &mut State,
    profiler: &Arc<dyn Profiler>,
    event: TriggerEvent,
    context: &ReactionContext,
) -> Reaction {
    let mode = profiler.mode();
    let action = match (event.action, mode, &*state) {
        (TriggerAction::Toggle, ProfilerMode::Instant, _) => TriggerAction::Start,
        (TriggerAction::Toggle, ProfilerMode::Ranged, State::Running(_)) => TriggerAction::End,
        (TriggerAction::Toggle, ProfilerMode::Ranged, _) => TriggerAction::Start,
        (action, _, _) => action,
    };
    match (action, mode, std::mem::replace(state, State::Idle)) {
        (TriggerAction::Start, _, busy @ (State::Running(_) | State::Collecting { .. })) => {
            let reason = match &busy {
                State::Running(profile) => format!(
                    "busy: profile {} ({}) is running; end it first",
                    profile.id, profile.kind
                ),
                State::Collecting { profile, .. } => {
                    format!("busy: profile {profile} is being collected; try again when it is done")
                }
                State::Idle => String::new(),
            };
            *state = busy;
            warn!(profiler = ?profiler.kind(), %reason, "Start refused.");
            Reaction::immediate(ReactionOutcome::Refused { reason })
        }
        (TriggerAction::Start, ProfilerMode::Instant, State::Idle) => {
            let profile = new_profile(profiler, event);
            let id = profile.id;
            let (reaction, collecting) = begin_collect(profiler, profile, context);
            *state = collecting;
            info!(profile = %id, kind = %profiler.kind(), "Capturing a profile.");
            Reaction {
                outcome: ReactionOutcome::Capturing { profile: id },
                completion: Some(reaction),
            }
        }
        (TriggerAction::Start, ProfilerMode::Ranged, State::Idle) => {
            let profile = new_profile(profiler, event);
            match profiler.start(&profile).await {
                Ok(()) => {
                    let id = profile.id;
                    info!(profile = %id, kind = %profiler.kind(), "Profile started.");
                    *state = State::Running(profile);
                    Reaction::immediate(ReactionOutcome::Started { profile: id })
                }
                Err(error) => {
                    warn!(kind = %profiler.kind(), %error, "Profile could not start.");
                    Reaction::immediate(ReactionOutcome::Failed {
                        reason: error.to_string(),
                    })
                }
            }
        }
        (TriggerAction::End, _, State::Running(profile)) => {
            let id = profile.id;
            let (reaction, collecting) = begin_collect(profiler, profile, context);
            *state = collecting;
            info!(profile = %id, "Profile stopping.");
            Reaction {
                outcome: ReactionOutcome::Stopped { profile: id },
                completion: Some(reaction),
            }
        }
        (TriggerAction::End, ProfilerMode::Instant, previous) => {
            *state = previous;
            Reaction::immediate(ReactionOutcome::Ignored {
                reason: format!(
                    "{} profiles are captured at once on Start; End does nothing",
                    profiler.kind()
                ),
            })
        }
        (TriggerAction::End, _, previous) => {
            *state = previous;
            Reaction::immediate(ReactionOutcome::Ignored {
                reason: "no profile is running".to_owned(),
            })
        }
        (TriggerAction::Toggle, _, previous) => {
            // Toggles were resolved above; keep the state as it was.
            *state = previous;
            Reaction::immediate(ReactionOutcome::Ignored {
                reason: "nothing to toggle".to_owned(),
            })
        }
    }
}

fn new_profile(profiler: &Arc<dyn Profiler>, event: TriggerEvent) -> ProfileMetadata {
    let kind = profiler.kind();
    let mut profile = ProfileMetadata::new(kind, event.name.unwrap_or_else(|| kind.to_string()));
    profile.attributes = event.attributes;
    profile.target = profiler.target();
    profile
}

/// Spawns the collection of `profile`; returns the first waiter and the new state.
fn begin_collect(
    profiler: &Arc<dyn Profiler>,
    profile: ProfileMetadata,
    context: &ReactionContext,
) -> (oneshot::Receiver<Arc<ProfileReport>>, State) {
    let id = profile.id;
    let abandon = CancellationToken::new();
    let task = tokio::spawn(collect(
        profiler.clone(),
        profile,
        context.exporters.clone(),
        context.sink_buffer,
        abandon.clone(),
    ));
    let (waiter, reaction) = oneshot::channel();
    (
        reaction,
        State::Collecting {
            profile: id,
            task,
            waiters: vec![waiter],
            abandon,
        },
    )
}

async fn collect(
    profiler: Arc<dyn Profiler>,
    profile: ProfileMetadata,
    exporters: Arc<[Arc<dyn Exporter>]>,
    sink_buffer: usize,
    abandon: CancellationToken,
) -> Arc<ProfileReport> {
    let mut writer = ProfileWriter::begin(profile, &exporters, sink_buffer).await;
    if writer.live_sinks() == 0 {
        // Spare the target a profile that could go nowhere.
        let status = ProfileStatus::Failed("no exporter could take the profile".to_owned());
        return Arc::new(writer.finish(status).await);
    }
    let status = tokio::select! {
        result = profiler.collect(&mut writer) => match result {
            Ok(()) => ProfileStatus::Success,
            Err(error) => ProfileStatus::Failed(error.to_string()),
        },
        () = abandon.cancelled() => {
            ProfileStatus::Failed("the agent shut down before the profile was complete".to_owned())
        }
    };
    Arc::new(writer.finish(status).await)
}

/// Records a finished collection and returns to idle.
fn complete(
    state: &mut State,
    done: Result<Arc<ProfileReport>, tokio::task::JoinError>,
    context: &ReactionContext,
) {
    let State::Collecting {
        profile, waiters, ..
    } = std::mem::replace(state, State::Idle)
    else {
        return;
    };
    let report = match done {
        Ok(report) => report,
        Err(error) => {
            warn!(profile = %profile, %error, "Profile collection task failed.");
            return;
        }
    };
    log_report(&report);
    for waiter in waiters {
        let _ = waiter.send(report.clone());
    }
    let _ = context.reports.send(report);
}

fn log_report(report: &ProfileReport) {
    let profile = &report.profile;
    match &profile.status {
        ProfileStatus::Success => info!(
            profile = %profile.id,
            kind = %profile.kind,
            bytes = profile.size,
            "Profile complete."
        ),
        status => warn!(profile = %profile.id, kind = %profile.kind, ?status, "Profile failed."),
    }
    for export in &report.exports {
        match &export.result {
            Ok(receipt) => info!(
                profile = %profile.id,
                exporter = export.exporter,
                location = receipt.location,
                stored_bytes = receipt.stored_bytes,
                "Profile exported."
            ),
            Err(error) => warn!(
                profile = %profile.id,
                exporter = export.exporter,
                %error,
                "Profile not exported."
            ),
        }
    }
}

/// At shutdown: a running ranged profile is collected, a collection in flight is awaited; past
/// the grace period either is abandoned, and so aborted by every exporter.
async fn drain(mut state: State, profiler: &Arc<dyn Profiler>, context: &ReactionContext) {
    if let State::Running(profile) = state {
        info!(profile = %profile.id, "Shutting down: collecting the running profile.");
        state = begin_collect(profiler, profile, context).1;
    }
    if let State::Collecting { task, abandon, .. } = &mut state {
        let grace = tokio::time::sleep(context.grace);
        tokio::pin!(grace);
        let done = tokio::select! {
            done = &mut *task => done,
            () = &mut grace => {
                warn!(grace = ?context.grace, "Shutdown grace period over: abandoning the profile in flight.");
                abandon.cancel();
                (&mut *task).await
            }
        };
        complete(&mut state, done, context);
    }
}
