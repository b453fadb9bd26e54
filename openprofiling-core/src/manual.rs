//! [`ManualTrigger`]: a trigger fired from code (the CLI's "snapshot now", tests).

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::trigger::{Reaction, Trigger, TriggerAction, TriggerEvent, TriggerEvents};
use crate::{Error, Result};

/// A trigger fired through its [`ManualTriggerHandle`].
#[derive(Debug)]
pub struct ManualTrigger {
    name: String,
    requests: Mutex<Option<mpsc::Receiver<Request>>>,
}

type Request = (TriggerEvent, tokio::sync::oneshot::Sender<Result<Reaction>>);

/// Fires a [`ManualTrigger`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ManualTriggerHandle {
    sender: mpsc::Sender<Request>,
}

impl ManualTrigger {
    /// A trigger and the handle that fires it.
    pub fn new(name: impl Into<String>) -> (Self, ManualTriggerHandle) {
        let (sender, receiver) = mpsc::channel(8);
        (
            Self {
                name: name.into(),
                requests: Mutex::new(Some(receiver)),
            },
            ManualTriggerHandle { sender },
        )
    }
}

impl ManualTriggerHandle {
    /// Sends an event; answers what the agent did.
    pub async fn emit(&self, event: TriggerEvent) -> Result<Reaction> {
        let (answer, reaction) = tokio::sync::oneshot::channel();
        let gone = || Error::Agent("the agent is not running this trigger".to_owned());
        self.sender
            .send((event, answer))
            .await
            .map_err(|_| gone())?;
        reaction.await.map_err(|_| gone())?
    }

    /// Sends a Start.
    pub async fn start(&self) -> Result<Reaction> {
        self.emit(TriggerEvent::new(TriggerAction::Start)).await
    }

    /// Sends an End.
    pub async fn end(&self) -> Result<Reaction> {
        self.emit(TriggerEvent::new(TriggerAction::End)).await
    }
}

#[async_trait]
impl Trigger for ManualTrigger {
    fn name(&self) -> String {
        format!("manual {}", self.name)
    }

    async fn run(&self, events: TriggerEvents, shutdown: CancellationToken) -> Result<()> {
        let Some(mut requests) = self.requests.lock().await.take() else {
            return Err(Error::Agent(format!(
                "manual trigger {} is already running",
                self.name
            )));
        };
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                request = requests.recv() => request,
            };
            let Some((event, answer)) = request else {
                return Ok(());
            };
            let _ = answer.send(events.emit(event).await);
        }
    }
}
