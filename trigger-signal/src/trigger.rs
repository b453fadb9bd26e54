//! [`SignalTrigger`]: every signal toggles the reaction's profile.

use std::fmt;

use async_trait::async_trait;
use futures_util::StreamExt;
use openprofiling_core::{ReactionOutcome, Trigger, TriggerAction, TriggerEvent, TriggerEvents};
use signal_hook_tokio::{Handle, Signals};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{Error, Result, Signal};

/// Whether [`Trigger::run`] has the handler installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listening {
    NotYet,
    Yes,
    Ended,
}

/// A [`Trigger`] that fires on a Unix signal sent to this process (`kill -USR2 <agent pid>`).
///
/// Each signal sends a [`TriggerAction::Toggle`], with the attribute `signal` (e.g. `SIGUSR2`)
/// recorded in the profile's metadata: an instant profiler (heap snapshot) takes one profile per
/// signal; a ranged one (CPU profile) starts on one signal and stops on the next. A signal that
/// arrives while the profiler is busy is refused and logged as a warning, never queued.
///
/// - The handler is installed when [`run`](Trigger::run) starts and removed when it returns;
///   after that the signal is ignored by the process (signal-hook leaves its handler in place),
///   it no longer kills it. Before `run`, the signal's default action applies: `SIGUSR2` then
///   terminates the process, so wait for [`ready`](Self::ready) before sending one.
/// - Several triggers, each on its own signal, each drive only their own reaction. Two triggers
///   on one signal both fire.
/// - Signals that arrive faster than the agent answers may be merged into one, as the system
///   merges pending signals.
/// - Catching `SIGINT`, `SIGTERM` or `SIGQUIT` replaces their default action: they no longer
///   stop the process while the trigger runs.
pub struct SignalTrigger {
    signal: Signal,
    listening: watch::Sender<Listening>,
}

impl SignalTrigger {
    /// A trigger on `signal`.
    pub fn new(signal: Signal) -> Self {
        Self {
            signal,
            listening: watch::Sender::new(Listening::NotYet),
        }
    }

    /// A trigger on the signal named `name` (`SIGUSR2`, `usr2`, `12`); see [`Signal`].
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(Self::new(name.parse()?))
    }

    /// The signal caught.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Waits until [`run`](Trigger::run) has installed the handler, so the signal can be sent
    /// without killing the process: `true` then, `false` if `run` has already returned (it
    /// failed or shut down). Waits for as long as `run` has not been called: bound it with a
    /// timeout. For tests and embedders that signal their own process.
    pub async fn ready(&self) -> bool {
        let mut listening = self.listening.subscribe();
        match listening
            .wait_for(|state| *state != Listening::NotYet)
            .await
        {
            Ok(state) => *state == Listening::Yes,
            Err(_) => false,
        }
    }

    /// Whether the handler is installed right now.
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow() == Listening::Yes
    }

    /// Sends one toggle and logs what the agent did. `false` when the agent is gone.
    async fn toggle(&self, events: &TriggerEvents) -> bool {
        let signal = self.signal;
        let event =
            TriggerEvent::new(TriggerAction::Toggle).with_attribute("signal", signal.to_string());
        let reaction = match events.emit(event).await {
            Ok(reaction) => reaction,
            Err(error) => {
                debug!(%signal, %error, "The agent is gone; the signal trigger stops.");
                return false;
            }
        };
        match reaction.outcome {
            ReactionOutcome::Capturing { profile } => {
                info!(%signal, %profile, "Signal received: capturing a profile.");
            }
            ReactionOutcome::Started { profile } => {
                info!(%signal, %profile, "Signal received: profile started; the next signal stops it.");
            }
            ReactionOutcome::Stopped { profile } => {
                info!(%signal, %profile, "Signal received: profile stopped, exporting it.");
            }
            ReactionOutcome::Refused { reason } => {
                warn!(%signal, %reason, "Signal received but refused; send it again once the profile is done.");
            }
            ReactionOutcome::Ignored { reason } => {
                warn!(%signal, %reason, "Signal received and ignored.");
            }
            ReactionOutcome::Failed { reason } => {
                warn!(%signal, %reason, "Signal received but the profile could not start.");
            }
            other => warn!(%signal, outcome = ?other, "Signal received."),
        }
        true
    }
}

/// Closes the signal stream and records that `run` ended, however it ends (returned or dropped).
struct Registration<'a> {
    handle: Handle,
    listening: &'a watch::Sender<Listening>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.handle.close();
        self.listening.send_replace(Listening::Ended);
    }
}

#[async_trait]
impl Trigger for SignalTrigger {
    fn name(&self) -> String {
        format!("signal {}", self.signal)
    }

    async fn ready(&self) -> bool {
        SignalTrigger::ready(self).await
    }

    async fn run(
        &self,
        events: TriggerEvents,
        shutdown: CancellationToken,
    ) -> openprofiling_core::Result<()> {
        let signal = self.signal;
        // `Signal` only holds catchable numbers below signal-hook's limit, so this does not
        // panic; the system may still refuse a number it does not have.
        let mut signals = match Signals::new([signal.number()]) {
            Ok(signals) => signals,
            Err(source) => {
                self.listening.send_replace(Listening::Ended);
                return Err(openprofiling_core::Error::plugin(
                    self.name(),
                    Error::Register { signal, source },
                ));
            }
        };
        let _registration = Registration {
            handle: signals.handle(),
            listening: &self.listening,
        };
        self.listening.send_replace(Listening::Yes);
        info!(%signal, pid = std::process::id(), "Listening for the signal: each one toggles a profile.");
        loop {
            let received = tokio::select! {
                // No new toggle once shutdown began.
                biased;
                () = shutdown.cancelled() => break,
                received = signals.next() => received,
            };
            if received.is_none() {
                break;
            }
            debug!(%signal, "Signal received.");
            let delivered = tokio::select! {
                // An answer already given is logged, even as shutdown begins.
                biased;
                delivered = self.toggle(&events) => delivered,
                () = shutdown.cancelled() => break,
            };
            if !delivered {
                break;
            }
        }
        debug!(%signal, "Signal trigger stopped; the signal is now ignored.");
        Ok(())
        // `_registration` closes the stream; dropping `signals` removes the handler's action.
    }
}

impl fmt::Debug for SignalTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalTrigger")
            .field("signal", &self.signal)
            .field("listening", &self.is_listening())
            .finish()
    }
}
