//! The routes: `POST /start`, `/stop`, `/toggle`, `GET /` and `/status`, and the replies for
//! unknown paths (404) and wrong methods (405).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use openprofiling_core::{Reaction, ReactionOutcome, TriggerAction, TriggerEvents};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::auth::{self, Token};
use crate::reply::{ActionReply, ErrorReply, ReportReply, StatusReply};
use crate::request::{self, MAX_BODY_BYTES};

/// The routes, for the status reply and 404s.
const ROUTES: [&str; 5] = [
    "POST /start",
    "POST /stop",
    "POST /toggle",
    "GET /status",
    "GET /",
];

/// What every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    events: TriggerEvents,
    shutdown: CancellationToken,
    token: Option<Token>,
    name: String,
    address: SocketAddr,
}

impl AppState {
    /// The state of a server named `name`, bound to `address`.
    pub(crate) fn new(
        events: TriggerEvents,
        shutdown: CancellationToken,
        token: Option<Token>,
        name: String,
        address: SocketAddr,
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                events,
                shutdown,
                token,
                name,
                address,
            }),
        }
    }

    /// The token requests need, if any.
    pub(crate) fn token(&self) -> Option<&Token> {
        self.inner.token.as_ref()
    }
}

/// The application: routes, body limit, and the token check in front of everything (404s
/// included, so that paths cannot be probed without it).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", only(get(status), "GET, HEAD"))
        .route("/status", only(get(status), "GET, HEAD"))
        .route("/start", only(post(start), "POST"))
        .route("/stop", only(post(stop), "POST"))
        .route("/toggle", only(post(toggle), "POST"))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}

/// `methods` answers; any other method gets a JSON 405 with an `Allow` header.
fn only(methods: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    methods.fallback(move |method: Method, uri: Uri| async move {
        let mut response = ErrorReply::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} {} is not served; use {allow}", uri.path()),
        )
        .into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        response
    })
}

async fn not_found(method: Method, uri: Uri) -> ErrorReply {
    ErrorReply::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route {method} {}; routes: {}",
            uri.path(),
            ROUTES.join(", ")
        ),
    )
}

async fn status(State(state): State<AppState>) -> StatusReply {
    StatusReply {
        service: env!("CARGO_PKG_NAME").to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        trigger: state.inner.name.clone(),
        address: state.inner.address.to_string(),
        token_required: state.inner.token.is_some(),
        routes: ROUTES.iter().map(|route| (*route).to_owned()).collect(),
    }
}

async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&state, peer, TriggerAction::Start, &uri, body).await
}

async fn stop(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&state, peer, TriggerAction::End, &uri, body).await
}

async fn toggle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(&state, peer, TriggerAction::Toggle, &uri, body).await
}

/// Sends the event the request asks for, and replies with what the agent did (and, with
/// `?wait=true`, where the profile went).
async fn act(
    state: &AppState,
    peer: SocketAddr,
    action: TriggerAction,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            debug!(%peer, ?action, %status, "Request body refused.");
            let (code, reason) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                (
                    "payload_too_large",
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ("bad_request", rejection.body_text())
            };
            return ErrorReply::new(status, code, reason).into_response();
        }
    };
    let (wait, event) = match request::wants_wait(uri.query())
        .and_then(|wait| Ok((wait, request::event(action, &body)?)))
    {
        Ok(parsed) => parsed,
        Err(reason) => {
            debug!(%peer, ?action, %reason, "Bad request.");
            return ErrorReply::bad_request(reason).into_response();
        }
    };
    let shutdown = &state.inner.shutdown;
    let reaction = tokio::select! {
        biased;
        () = shutdown.cancelled() => Err("the trigger is shutting down".to_owned()),
        reaction = state.inner.events.emit(event) => reaction.map_err(|error| error.to_string()),
    };
    let reaction = match reaction {
        Ok(reaction) => reaction,
        Err(reason) => {
            warn!(%peer, ?action, %reason, "HTTP trigger request not delivered.");
            return ActionReply::unavailable(reason).into_response();
        }
    };
    let reply = answer(reaction, wait, shutdown).await;
    match &reply.profile {
        Some(profile) => {
            info!(%peer, ?action, outcome = ?reply.outcome, %profile, waited = wait, "HTTP trigger request handled.")
        }
        None => {
            info!(%peer, ?action, outcome = ?reply.outcome, reason = reply.reason.as_deref().unwrap_or(""), "HTTP trigger request handled.")
        }
    }
    reply.into_response()
}

/// The reply to `reaction`; waits for its report when asked to and there is one to wait for,
/// but not past shutdown.
async fn answer(reaction: Reaction, wait: bool, shutdown: &CancellationToken) -> ActionReply {
    let mut reply = ActionReply::from_outcome(&reaction.outcome);
    let completes = matches!(
        reaction.outcome,
        ReactionOutcome::Capturing { .. } | ReactionOutcome::Stopped { .. }
    );
    if !(wait && completes) {
        return reply;
    }
    let report = tokio::select! {
        report = reaction.finished() => report,
        () = shutdown.cancelled() => {
            let reason = "the trigger shut down before the profile was complete; the agent still completes or aborts it";
            return unfinished(reply, reason);
        }
    };
    match report {
        Some(report) => {
            reply.message = if report.is_success() {
                format!(
                    "profile {} complete ({} bytes)",
                    report.profile.id, report.profile.size
                )
            } else {
                format!(
                    "profile {} did not reach every exporter; see report",
                    report.profile.id
                )
            };
            reply.report = Some(ReportReply::from(&*report));
            reply
        }
        None => unfinished(reply, "the agent shut down before the profile was complete"),
    }
}

/// A reply whose report could not be waited for: 503, saying why, keeping the profile id.
fn unfinished(reply: ActionReply, reason: &str) -> ActionReply {
    ActionReply {
        profile: reply.profile,
        ..ActionReply::unavailable(reason)
    }
}
