//! The session a profile runs over: the shared one, or, with `own_session`, a connection of
//! the profiler's own, opened on first use and kept until shutdown.

use openprofiling_core::{InspectorSession, Result};
use tokio::sync::Mutex;
use tracing::debug;

/// Picks the session for each profile.
#[derive(Debug)]
pub(crate) struct Sessions {
    shared: InspectorSession,
    own: Option<Mutex<Option<InspectorSession>>>,
}

impl Sessions {
    /// Over `shared`, or, with `own_session`, over a connection of its own to its target.
    pub(crate) fn new(shared: InspectorSession, own_session: bool) -> Self {
        Self {
            shared,
            own: own_session.then(|| Mutex::new(None)),
        }
    }

    /// The session given (whose target every profile names).
    pub(crate) fn shared(&self) -> &InspectorSession {
        &self.shared
    }

    /// The session to profile over: the shared one, or the own one, opened now if there is
    /// none yet or it has closed.
    pub(crate) async fn get(&self) -> Result<InspectorSession> {
        let Some(own) = &self.own else {
            return Ok(self.shared.clone());
        };
        let mut own = own.lock().await;
        if let Some(session) = own.as_ref().filter(|s| s.close_reason().is_none()) {
            return Ok(session.clone());
        }
        let session = InspectorSession::builder(self.shared.url())
            .target_info(self.shared.target().clone())
            // The given session's host was already accepted.
            .allow_remote(true)
            .connect()
            .await?;
        debug!(url = session.url(), "Profiler opened its own session.");
        *own = Some(session.clone());
        Ok(session)
    }

    /// Closes the own connection, if any.
    pub(crate) async fn close(&self) {
        if let Some(own) = &self.own {
            if let Some(session) = own.lock().await.take() {
                session.close();
            }
        }
    }
}
