//! [`RangedProfile`]: the bookkeeping every ranged profiler over an inspector session does
//! (one profile at a time, the target claimed, the domain enabled while the profile runs, all
//! of it released before the profile is written), so that a profiler only says which calls
//! start and stop its profile.

use std::time::Duration;

use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};
use tracing::{debug, warn};

use super::activity::{Activity, ActivityClaim, Conflict, TargetActivity};
use super::domain::DomainGuard;
use super::message::RawReply;
use super::profiler_session::ProfilerSession;
use super::session::InspectorSession;
use crate::{Error, Result};

/// How long [`RangedProfile::shutdown`] waits for the stop of a profile nobody collected.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(10);

/// The state of a ranged profiler (Start begins a profile, End stops it and writes it) over
/// an inspector session.
///
/// [`begin`](Self::begin) refuses a second profile on this profiler and a profile the target
/// cannot take now (see [`TargetActivity`]), then enables the domain through a counted
/// [`DomainGuard`], so other profilers sharing the session keep theirs. The profiler makes its
/// start calls over [`Starting::session`] and ends with [`Starting::started`], or
/// [`Starting::abandon`] when they failed. [`stop`](Self::stop) sends the stop call and frees
/// the domain and the target before it returns the reply, so the next profile may start while
/// this one is written.
///
/// ```no_run
/// # async fn demo(session: openprofiling_core::InspectorSession) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use openprofiling_core::{Activity, ProfilerSession, RangedProfile};
/// use serde_json::{Value, json};
///
/// let ranged = RangedProfile::new(
///     ProfilerSession::new(session, false),
///     Activity::CpuProfile,
///     "Profiler",
///     "Profiler.stop",
/// );
/// let starting = ranged.begin().await?;
/// match starting.session().call::<Value>("Profiler.start", json!({})).await {
///     Ok(_) => starting.started(),
///     Err(error) => {
///         starting.abandon().await;
///         return Err(error.into());
///     }
/// }
/// // ... later, at End:
/// if let Some(reply) = ranged.stop(Duration::from_secs(120)).await {
///     let profile = reply?.member("profile", "Profiler.stop")?;
/// #   let _ = profile;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RangedProfile {
    sessions: ProfilerSession,
    activity: Activity,
    domain: &'static str,
    stop_method: &'static str,
    running: Mutex<Option<Running>>,
}

/// A profile in progress and what it holds on the target.
#[derive(Debug)]
struct Running {
    session: InspectorSession,
    domain: DomainGuard,
    _claim: ActivityClaim,
}

/// Why [`RangedProfile::begin`] did not begin a profile.
#[derive(Debug, thiserror::Error)]
pub enum RangedStartError {
    /// A profile already runs on this profiler.
    #[error("a profile already runs on this profiler; end it before starting another")]
    Busy,
    /// Another activity on the target rules this one out now.
    #[error(transparent)]
    Conflict(Conflict),
    /// The session could not be opened or the domain not enabled.
    #[error(transparent)]
    Inspector(Error),
}

/// A profile being started: the target is claimed and the domain enabled; other starts on the
/// same profiler wait until it is [`started`](Self::started) or [`abandon`](Self::abandon)ed.
#[derive(Debug)]
pub struct Starting<'a> {
    slot: MutexGuard<'a, Option<Running>>,
    running: Running,
}

impl Starting<'_> {
    /// The session to make the start calls over.
    pub fn session(&self) -> &InspectorSession {
        &self.running.session
    }

    /// The start calls succeeded: the profile runs until [`RangedProfile::stop`].
    pub fn started(mut self) {
        *self.slot = Some(self.running);
    }

    /// The start calls failed: disables the domain again (unless others use it) and frees the
    /// target.
    pub async fn abandon(self) {
        let domain = self.running.domain.domain().to_owned();
        if let Err(error) = self.running.domain.release().await {
            debug!(%error, domain, "Disabling the domain after a failed start failed too.");
        }
    }
}

impl RangedProfile {
    /// Profiles of `activity` over `sessions`, with `domain` enabled while one runs, stopped by
    /// calling `stop_method` (with no parameters).
    pub fn new(
        sessions: ProfilerSession,
        activity: Activity,
        domain: &'static str,
        stop_method: &'static str,
    ) -> Self {
        Self {
            sessions,
            activity,
            domain,
            stop_method,
            running: Mutex::new(None),
        }
    }

    /// The sessions profiles run over; [`ProfilerSession::given`] identifies the target.
    pub fn sessions(&self) -> &ProfilerSession {
        &self.sessions
    }

    /// Whether a profile is running now.
    pub async fn is_running(&self) -> bool {
        self.running.lock().await.is_some()
    }

    /// Begins a profile: refuses when one runs on this profiler or the target is busy with
    /// something this activity may not run beside, then opens the session (an own one, if so
    /// configured) and enables the domain.
    pub async fn begin(&self) -> std::result::Result<Starting<'_>, RangedStartError> {
        let slot = self.running.lock().await;
        if slot.is_some() {
            return Err(RangedStartError::Busy);
        }
        let claim = TargetActivity::claim(self.sessions.given().url(), self.activity)
            .map_err(RangedStartError::Conflict)?;
        let session = self
            .sessions
            .get()
            .await
            .map_err(RangedStartError::Inspector)?;
        let domain = session
            .enable_domain(self.domain)
            .await
            .map_err(RangedStartError::Inspector)?;
        Ok(Starting {
            slot,
            running: Running {
                session,
                domain,
                _claim: claim,
            },
        })
    }

    /// Stops the running profile (waiting `timeout` for the reply), then frees the domain and
    /// the target, whatever the reply: the profiler is stopped, or the disable stopped it.
    /// `None` when no profile runs.
    pub async fn stop(&self, timeout: Duration) -> Option<Result<RawReply>> {
        let running = self.running.lock().await.take()?;
        let reply = running
            .session
            .call_raw(self.stop_method, json!({}), timeout)
            .await;
        if let Err(error) = running.domain.release().await {
            warn!(
                %error,
                domain = self.domain,
                activity = %self.activity,
                "Disabling the domain after the profile failed; the profile is complete."
            );
        }
        Some(reply)
    }

    /// At the profiler's shutdown: stops and discards a profile nobody collected (the agent
    /// collects running profiles before, so only one started outside an agent), and closes an
    /// own session.
    pub async fn shutdown(&self) {
        if let Some(running) = self.running.lock().await.take() {
            warn!(activity = %self.activity, "Shutting down with a profile nobody collected: stopping and discarding it.");
            if let Err(error) = running
                .session
                .call_raw(self.stop_method, json!({}), DISCARD_TIMEOUT)
                .await
            {
                debug!(%error, activity = %self.activity, "Stopping the discarded profile failed.");
            }
            if let Err(error) = running.domain.release().await {
                debug!(%error, domain = self.domain, "Disabling the domain at shutdown failed.");
            }
        }
        self.sessions.close().await;
    }
}
