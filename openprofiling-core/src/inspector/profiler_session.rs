//! [`ProfilerSession`]: the session a profiler works over, the one it was given or, on
//! request, a connection of its own to the same target.

use tokio::sync::Mutex;
use tracing::debug;

use super::session::InspectorSession;
use crate::Result;

/// The session a profiler works over: the one it was given, shared with the other profilers
/// of the agent, or, with `own_session`, a connection of its own to the same target (so that
/// a multi-GB heap snapshot does not hold up the others' calls and events).
///
/// The own connection is opened on the first [`get`](Self::get), kept for the next ones,
/// opened again when it has closed, and closed by [`close`](Self::close) (at the profiler's
/// shutdown). It is opened to the given session's URL, with its target's description, and
/// is allowed to a remote host: the given session's host was already accepted.
///
/// ```no_run
/// # async fn demo(session: openprofiling_core::InspectorSession) -> openprofiling_core::Result<()> {
/// use openprofiling_core::ProfilerSession;
///
/// let sessions = ProfilerSession::new(session, true);
/// let own = sessions.get().await?; // connects now
/// let _: serde_json::Value = own.call("HeapProfiler.collectGarbage", serde_json::json!({})).await?;
/// sessions.close().await; // at shutdown
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ProfilerSession {
    given: InspectorSession,
    /// With `own_session`: the own connection, once opened.
    own: Option<Mutex<Option<InspectorSession>>>,
}

impl ProfilerSession {
    /// Over `given`, or, with `own_session`, over a connection of its own to `given`'s target.
    pub fn new(given: InspectorSession, own_session: bool) -> Self {
        Self {
            given,
            own: own_session.then(|| Mutex::new(None)),
        }
    }

    /// The session given, whose URL and target identify what is profiled (also with an own
    /// connection).
    pub fn given(&self) -> &InspectorSession {
        &self.given
    }

    /// Whether profiles run over a connection of their own rather than the given session.
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }

    /// The session to profile over: the given one, or the own one, connected now if there is
    /// none yet or it has closed. Fails as [`SessionBuilder::connect`](crate::SessionBuilder::connect)
    /// does when the own connection cannot be opened; concurrent callers wait for one attempt
    /// at a time.
    pub async fn get(&self) -> Result<InspectorSession> {
        let Some(own) = &self.own else {
            return Ok(self.given.clone());
        };
        let mut own = own.lock().await;
        if let Some(session) = own.as_ref().filter(|s| s.close_reason().is_none()) {
            return Ok(session.clone());
        }
        let session = InspectorSession::builder(self.given.url())
            .target_info(self.given.target().clone())
            // The given session's host was already accepted.
            .allow_remote(true)
            .connect()
            .await?;
        debug!(url = session.url(), "Profiler opened its own session.");
        *own = Some(session.clone());
        Ok(session)
    }

    /// Closes the own connection, if one is open; the given session is left alone. Idempotent;
    /// a later [`get`](Self::get) would connect again.
    pub async fn close(&self) {
        if let Some(own) = &self.own {
            if let Some(session) = own.lock().await.take() {
                session.close();
            }
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mock::MockInspector;

    async fn connect(mock: &MockInspector) -> InspectorSession {
        InspectorSession::builder(mock.ws_url())
            .connect()
            .await
            .expect("connects to the mock")
    }

    /// Waits until `session` has noticed its connection closed.
    async fn closed(session: &InspectorSession) {
        tokio::time::timeout(Duration::from_secs(10), session.closed())
            .await
            .expect("the session notices the close");
    }

    #[tokio::test]
    async fn shared_hands_out_the_given_session_and_never_closes_it() {
        let mock = MockInspector::start().await;
        let given = connect(&mock).await;
        let sessions = ProfilerSession::new(given.clone(), false);
        assert!(!sessions.is_own());
        for _ in 0..2 {
            let session = sessions.get().await.expect("the given session");
            assert_eq!(session.url(), given.url());
        }
        sessions.close().await;
        assert_eq!(mock.connection_count(), 1, "no second connection");
        assert_eq!(given.close_reason(), None, "the given session stays open");
    }

    #[tokio::test]
    async fn own_connects_on_first_use_once_and_closes_on_close() {
        let mock = MockInspector::start().await;
        let given = connect(&mock).await;
        let sessions = ProfilerSession::new(given.clone(), true);
        assert!(sessions.is_own());
        assert_eq!(
            mock.connection_count(),
            1,
            "nothing opened before first use"
        );
        let first = sessions.get().await.expect("an own session");
        let again = sessions.get().await.expect("the same own session");
        assert_eq!(mock.connection_count(), 2, "one own connection, kept");
        assert_eq!(first.url(), given.url());
        assert_eq!(first.target(), given.target());

        sessions.close().await;
        closed(&again).await;
        assert!(first.close_reason().is_some(), "the own session is closed");
        assert_eq!(given.close_reason(), None, "the given session stays open");
        sessions.close().await; // idempotent
    }

    #[tokio::test]
    async fn own_reconnects_after_its_connection_closed() {
        let mock = MockInspector::start().await;
        let given = connect(&mock).await;
        let sessions = ProfilerSession::new(given, true);
        let first = sessions.get().await.expect("an own session");
        first.close();
        let second = sessions.get().await.expect("a new own session");
        assert_eq!(mock.connection_count(), 3, "the closed one was replaced");
        assert_eq!(second.close_reason(), None);
        sessions.close().await;
    }

    #[tokio::test]
    async fn own_fails_when_the_target_is_gone() {
        let mock = MockInspector::start().await;
        let given = connect(&mock).await;
        let sessions = ProfilerSession::new(given, true);
        drop(mock);
        // Let the aborted server task drop its listener.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(sessions.get().await.is_err(), "nothing to connect to");
    }
}
