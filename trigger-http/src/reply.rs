//! The JSON replies, and the HTTP status each one is sent with.
//!
//! They are public, with `Deserialize`, so that clients can read them back.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openprofiling_core::{
    ProfileId, ProfileMetadata, ProfileReport, ProfileStatus, ReactionOutcome,
};
use serde::{Deserialize, Serialize};

/// What the agent did with a request, as [`ReactionOutcome`], plus `unavailable`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An instant profile (heap snapshot) is being captured (200).
    Capturing,
    /// A ranged profile started; `POST /stop` ends it (200).
    Started,
    /// A ranged profile stopped and is being exported (200).
    Stopped,
    /// Refused: the profiler is busy; nothing was queued (409).
    Refused,
    /// Nothing to do: a stop with nothing running, or for an instant profiler (409).
    Ignored,
    /// The profiler could not start (500).
    Failed,
    /// The agent has shut down, or is shutting down (503).
    Unavailable,
}

/// The reply to `POST /start`, `/stop` and `/toggle`.
///
/// ```json
/// {"outcome":"started","profile":7,"message":"profile 7 started; POST /stop ends it"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReply {
    /// What happened.
    pub outcome: Outcome,
    /// The profile started, captured or stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileId>,
    /// Why it was refused, ignored or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One sentence for a person.
    pub message: String,
    /// With `?wait=true`, for a profile being completed: where it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportReply>,
}

/// Where a completed profile went, and how big it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportReply {
    /// True when the profile is complete and every exporter published it.
    pub success: bool,
    /// `success` or `failed` (the profile itself, whatever the exporters did).
    pub status: String,
    /// Why the profile failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bytes of profile data (before any compression by an exporter).
    pub size: u64,
    /// One entry per exporter, in the order they were added.
    pub exports: Vec<ExportReply>,
    /// The profile's metadata: name, kind, attributes, times, target.
    pub profile: ProfileMetadata,
}

/// What one exporter did with the profile: a location and size, or an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReply {
    /// The exporter's name.
    pub exporter: String,
    /// Where the profile is (a path or URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Bytes stored (after the exporter's compression, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
    /// Why the exporter did not publish it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&ProfileReport> for ReportReply {
    fn from(report: &ProfileReport) -> Self {
        let (status, reason) = match &report.profile.status {
            ProfileStatus::Success => ("success", None),
            ProfileStatus::Failed(reason) => ("failed", Some(reason.clone())),
            ProfileStatus::Running => ("running", None),
        };
        Self {
            success: report.is_success(),
            status: status.to_owned(),
            reason,
            size: report.profile.size,
            exports: report
                .exports
                .iter()
                .map(|export| match &export.result {
                    Ok(receipt) => ExportReply {
                        exporter: export.exporter.clone(),
                        location: Some(receipt.location.clone()),
                        stored_bytes: Some(receipt.stored_bytes),
                        error: None,
                    },
                    Err(error) => ExportReply {
                        exporter: export.exporter.clone(),
                        location: None,
                        stored_bytes: None,
                        error: Some(error.to_string()),
                    },
                })
                .collect(),
            profile: report.profile.clone(),
        }
    }
}

impl ActionReply {
    /// The reply for `outcome`, without a report.
    pub(crate) fn from_outcome(outcome: &ReactionOutcome) -> Self {
        let reply = |outcome, profile, reason: Option<&String>, message| Self {
            outcome,
            profile,
            reason: reason.cloned(),
            message,
            report: None,
        };
        match outcome {
            ReactionOutcome::Capturing { profile } => reply(
                Outcome::Capturing,
                Some(*profile),
                None,
                format!("capturing profile {profile}; add ?wait=true to wait for where it goes"),
            ),
            ReactionOutcome::Started { profile } => reply(
                Outcome::Started,
                Some(*profile),
                None,
                format!("profile {profile} started; POST /stop (or /toggle) ends it"),
            ),
            ReactionOutcome::Stopped { profile } => reply(
                Outcome::Stopped,
                Some(*profile),
                None,
                format!("profile {profile} stopped; it is being exported"),
            ),
            ReactionOutcome::Refused { reason } => reply(
                Outcome::Refused,
                None,
                Some(reason),
                format!("refused: {reason}"),
            ),
            ReactionOutcome::Ignored { reason } => reply(
                Outcome::Ignored,
                None,
                Some(reason),
                format!("nothing done: {reason}"),
            ),
            ReactionOutcome::Failed { reason } => reply(
                Outcome::Failed,
                None,
                Some(reason),
                format!("the profile could not start: {reason}"),
            ),
            other => {
                let reason =
                    format!("the agent answered {other:?}, which this trigger does not know");
                reply(Outcome::Failed, None, Some(&reason), reason.clone())
            }
        }
    }

    /// The agent is gone or going: nothing was done.
    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            outcome: Outcome::Unavailable,
            profile: None,
            message: format!("nothing done: {reason}"),
            reason: Some(reason),
            report: None,
        }
    }

    /// The HTTP status: 200 for what was done, 409 for refused or ignored, 500 for a failure
    /// (including a waited-for profile that did not reach every exporter), 503 when the agent
    /// is unavailable.
    pub fn status(&self) -> StatusCode {
        match self.outcome {
            Outcome::Capturing | Outcome::Started | Outcome::Stopped => match &self.report {
                Some(report) if !report.success => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::OK,
            },
            Outcome::Refused | Outcome::Ignored => StatusCode::CONFLICT,
            Outcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ActionReply {
    fn into_response(self) -> Response {
        (self.status(), Json(self)).into_response()
    }
}

/// The reply to a request that was not carried out: bad request, unauthorized, not found, ...
///
/// ```json
/// {"error":"not_found","reason":"no route GET /nope; routes: ..."}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// A short code: `bad_request`, `unauthorized`, `not_found`, `method_not_allowed`,
    /// `payload_too_large`.
    pub error: String,
    /// What was wrong and what to send instead.
    pub reason: String,
    /// The HTTP status (not serialized).
    #[serde(skip, default = "default_status")]
    pub(crate) status: u16,
}

fn default_status() -> u16 {
    StatusCode::BAD_REQUEST.as_u16()
}

impl ErrorReply {
    /// An error reply sent with `status`.
    pub(crate) fn new(status: StatusCode, error: &str, reason: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            reason: reason.into(),
            status: status.as_u16(),
        }
    }

    /// A 400 reply.
    pub(crate) fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self)).into_response()
    }
}

/// The reply to `GET /` and `GET /status`: what this server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// `openprofiling-trigger-http`.
    pub service: String,
    /// The crate's version.
    pub version: String,
    /// The trigger's name, e.g. `http 127.0.0.1:9999`.
    pub trigger: String,
    /// The address it listens on.
    pub address: String,
    /// Whether requests need `Authorization: Bearer <token>`.
    pub token_required: bool,
    /// The routes, e.g. `POST /start`.
    pub routes: Vec<String>,
}

impl IntoResponse for StatusReply {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
