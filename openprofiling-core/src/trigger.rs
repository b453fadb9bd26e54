//! The [`Trigger`] role: decides *when* to profile.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::agent::ProfileReport;
use crate::{AttributeValue, Attributes, Error, ProfileId, Result};

/// What a trigger asks of its reaction's profiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerAction {
    /// Start a profile. An instant profiler (heap snapshot) captures one now.
    Start,
    /// End the running profile (ranged profilers); a no-op for instant profilers.
    End,
    /// Start when nothing runs, End when a ranged profile runs: the original's signal trigger,
    /// resolved by the agent, which knows the profiler's state. So every toggle of an instant
    /// profiler captures one profile, and a ranged one alternates start and stop.
    Toggle,
}

/// One event from a trigger, as the original's `TriggerEventOptions`.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerEvent {
    /// What to do.
    pub action: TriggerAction,
    /// A name for the profile this starts (the profiler's kind when absent).
    pub name: Option<String>,
    /// Attributes copied into the profile's metadata.
    pub attributes: Attributes,
}

impl TriggerEvent {
    /// An event with no name and no attributes.
    pub fn new(action: TriggerAction) -> Self {
        Self {
            action,
            name: None,
            attributes: Attributes::new(),
        }
    }

    /// Names the profile.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<AttributeValue>,
    ) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

/// What the agent did with a trigger event.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionOutcome {
    /// An instant profile (heap snapshot) is being captured.
    Capturing {
        /// The profile being captured.
        profile: ProfileId,
    },
    /// A ranged profile started; the next End (or Toggle) stops it.
    Started {
        /// The profile started.
        profile: ProfileId,
    },
    /// A ranged profile stopped and is being exported.
    Stopped {
        /// The profile stopped.
        profile: ProfileId,
    },
    /// Refused because the profiler is busy; nothing was queued.
    Refused {
        /// Why, in a sentence.
        reason: String,
    },
    /// Nothing to do (an End with nothing running, or for an instant profiler).
    Ignored {
        /// Why, in a sentence.
        reason: String,
    },
    /// The profiler could not start.
    Failed {
        /// The error, in a sentence.
        reason: String,
    },
}

/// The answer to one trigger event: what happened now, and, when a profile is being completed,
/// a way to wait for its report (where it went, how big it is).
#[derive(Debug)]
pub struct Reaction {
    /// What happened.
    pub outcome: ReactionOutcome,
    pub(crate) completion: Option<oneshot::Receiver<Arc<ProfileReport>>>,
}

impl Reaction {
    /// Waits for the report of the profile this event completes (Capturing or Stopped);
    /// `None` when it completes none, or the agent shut down first.
    pub async fn finished(self) -> Option<Arc<ProfileReport>> {
        self.completion?.await.ok()
    }
}

/// An event on its way to a reaction, with the channel for its answer.
pub(crate) type EventRequest = (TriggerEvent, oneshot::Sender<Reaction>);

/// How a trigger talks to its reaction. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TriggerEvents {
    sender: mpsc::Sender<EventRequest>,
}

impl TriggerEvents {
    pub(crate) fn new(sender: mpsc::Sender<EventRequest>) -> Self {
        Self { sender }
    }

    /// Makes a connected pair, for testing a trigger without an agent: the receiver gets each
    /// event and must answer it.
    pub fn channel(
        capacity: usize,
    ) -> (
        Self,
        mpsc::Receiver<(TriggerEvent, oneshot::Sender<Reaction>)>,
    ) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (Self { sender }, receiver)
    }

    /// Sends an event and waits for the agent's answer (not for the profile to finish: see
    /// [`Reaction::finished`]).
    pub async fn emit(&self, event: TriggerEvent) -> Result<Reaction> {
        let (answer, reaction) = oneshot::channel();
        self.sender
            .send((event, answer))
            .await
            .map_err(|_| Error::Agent("the agent has shut down".to_owned()))?;
        reaction
            .await
            .map_err(|_| Error::Agent("the agent has shut down".to_owned()))
    }

    /// Sends a [`TriggerAction::Toggle`] with no name or attributes.
    pub async fn toggle(&self) -> Result<Reaction> {
        self.emit(TriggerEvent::new(TriggerAction::Toggle)).await
    }
}

impl Reaction {
    /// An answer with nothing to wait for (for tests of triggers, with
    /// [`TriggerEvents::channel`]).
    pub fn immediate(outcome: ReactionOutcome) -> Self {
        Self {
            outcome,
            completion: None,
        }
    }
}

/// Decides when to profile: a Unix signal, an HTTP request, a timer...
///
/// # Contract
/// - The agent calls [`Trigger::run`] once, in a task of its own, when it starts. `run` sends
///   events through `events` until `shutdown` is cancelled, then returns promptly (within a
///   second); returning earlier is allowed (a one-shot trigger), the reaction then stays
///   idle until shutdown.
/// - [`TriggerEvents::emit`] answers at once with what the agent did; a Start while the
///   profiler is busy is refused (never queued), and a trigger should say so in its own terms
///   (a log line, an HTTP reply).
/// - An error from `run` means the trigger cannot work (a signal that cannot be caught, a port
///   in use); the agent logs it and its reaction stays idle.
#[async_trait]
pub trait Trigger: Send + Sync + Debug + 'static {
    /// The trigger's name for logs, e.g. `signal SIGUSR2`.
    fn name(&self) -> String;

    /// Sends events until `shutdown` is cancelled.
    async fn run(&self, events: TriggerEvents, shutdown: CancellationToken) -> Result<()>;

    /// Waits until the trigger listens (a signal handler installed, a port bound): `true`
    /// then, `false` if it never will (`run` failed or returned). Waits as long as `run` has
    /// not been called. By default a trigger is ready at once.
    ///
    /// A program that prints "ready" or signals itself waits for this first: a signal sent
    /// before its handler is installed takes its default action, which for most signals ends
    /// the process.
    async fn ready(&self) -> bool {
        true
    }
}

#[async_trait]
impl<T: Trigger + ?Sized> Trigger for Box<T> {
    fn name(&self) -> String {
        (**self).name()
    }

    async fn run(&self, events: TriggerEvents, shutdown: CancellationToken) -> Result<()> {
        (**self).run(events, shutdown).await
    }

    async fn ready(&self) -> bool {
        (**self).ready().await
    }
}

#[async_trait]
impl<T: Trigger + ?Sized> Trigger for Arc<T> {
    fn name(&self) -> String {
        (**self).name()
    }

    async fn run(&self, events: TriggerEvents, shutdown: CancellationToken) -> Result<()> {
        (**self).run(events, shutdown).await
    }

    async fn ready(&self) -> bool {
        (**self).ready().await
    }
}
