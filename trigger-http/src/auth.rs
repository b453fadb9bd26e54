//! The optional bearer token: how it is checked (in constant time), and the middleware that
//! answers 401.

use std::fmt;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tracing::{debug, warn};

use crate::reply::ErrorReply;
use crate::routes::AppState;
use crate::{Error, Result};

/// Tokens shorter than this are accepted, with a warning in the log.
const SHORT_TOKEN: usize = 16;

/// A bearer token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

impl Token {
    /// Checks that `secret` can travel in an `Authorization` header (visible ASCII, no spaces).
    pub(crate) fn new(secret: String) -> Result<Self> {
        let secret = secret.trim().to_owned();
        if secret.is_empty() {
            return Err(Error::InvalidToken {
                reason: "it is empty; set a long random string (e.g. `openssl rand -hex 32`)",
            });
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidToken {
                reason: "it must be printable ASCII without spaces, to fit in an Authorization header",
            });
        }
        if secret.len() < SHORT_TOKEN {
            warn!(
                length = secret.len(),
                "The HTTP trigger's token is short and easy to guess; use at least {SHORT_TOKEN} random characters."
            );
        }
        Ok(Self(secret))
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Check {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Check::Missing;
        };
        match bearer(value.as_bytes()) {
            // `ct_eq` compares the contents in constant time; only the length can leak.
            Some(given) if bool::from(given.ct_eq(self.0.as_bytes())) => Check::Valid,
            Some(_) => Check::Invalid,
            None => Check::NotBearer,
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The result of checking a request's `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The right token.
    Valid,
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header of another scheme (Basic, ...).
    NotBearer,
    /// A bearer token, not the right one.
    Invalid,
}

/// The token of a `Bearer <token>` header value (scheme in any case).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    Some(rest.trim_ascii())
}

/// Answers 401 unless the request carries the token (when one is configured).
pub(crate) async fn require_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.token() else {
        return next.run(request).await;
    };
    let check = token.check(request.headers());
    let (challenge, reason) = match check {
        Check::Valid => return next.run(request).await,
        Check::Missing => {
            debug!(%peer, path = request.uri().path(), "Request without a token refused.");
            (
                r#"Bearer realm="openprofiling""#,
                "this trigger needs a token: send `Authorization: Bearer <token>`",
            )
        }
        Check::NotBearer => {
            debug!(%peer, path = request.uri().path(), "Request with another authorization scheme refused.");
            (
                r#"Bearer realm="openprofiling", error="invalid_request""#,
                "the Authorization header must use the Bearer scheme: `Authorization: Bearer <token>`",
            )
        }
        Check::Invalid => {
            warn!(%peer, path = request.uri().path(), "Request with a wrong token refused.");
            (
                r#"Bearer realm="openprofiling", error="invalid_token""#,
                "the bearer token is not the one configured for this trigger",
            )
        }
    };
    let mut response =
        ErrorReply::new(StatusCode::UNAUTHORIZED, "unauthorized", reason).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = Token::new("s3cret-token-0123456789".to_owned()).unwrap();
        assert_eq!(
            token.check(&headers("Bearer s3cret-token-0123456789")),
            Check::Valid
        );
        assert_eq!(
            token.check(&headers("bearer  s3cret-token-0123456789 ")),
            Check::Valid
        );
        assert_eq!(
            token.check(&headers("Bearer s3cret-token-012345678")),
            Check::Invalid
        );
        assert_eq!(
            token.check(&headers("Bearer s3cret-token-01234567890")),
            Check::Invalid
        );
        assert_eq!(token.check(&headers("Bearer ")), Check::Invalid);
        assert_eq!(token.check(&headers("Basic czNjcmV0")), Check::NotBearer);
        assert_eq!(
            token.check(&headers("s3cret-token-0123456789")),
            Check::NotBearer
        );
        assert_eq!(token.check(&HeaderMap::new()), Check::Missing);
    }

    #[test]
    fn unusable_tokens_are_refused_and_never_shown() {
        assert!(Token::new("  ".to_owned()).is_err());
        let error = Token::new("with space".to_owned()).unwrap_err().to_string();
        assert!(error.contains("printable ASCII"), "{error}");
        assert!(!error.contains("with space"), "{error}");
        let token = Token::new("hidden-value".to_owned()).unwrap();
        assert!(!format!("{token:?}").contains("hidden-value"));
    }
}
