//! [`HttpTriggerConfig`]: where the server listens and the token it wants.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::auth::Token;
use crate::{Error, HttpTrigger, Result};

/// The default host: loopback only.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The default port. 9229 is Node's inspector; 9999 is out of its way. 0 picks any free port.
pub const DEFAULT_PORT: u16 = 9999;

/// Configuration of the `http` trigger.
///
/// ```json
/// { "host": "127.0.0.1", "port": 9999, "token_env": "OPENPROFILING_TOKEN" }
/// ```
///
/// Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpTriggerConfig {
    /// The address to listen on: an IP address or `localhost`. Default `127.0.0.1`. Any address
    /// that is not loopback (`0.0.0.0`, a LAN address) needs a token.
    pub host: String,
    /// The TCP port. Default 9999; 0 picks any free port (see
    /// [`HttpTrigger::local_addr`]).
    pub port: u16,
    /// A bearer token every request must carry (`Authorization: Bearer <token>`). Printable
    /// ASCII, no spaces; prefer `token_env`, so the configuration holds no secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The name of an environment variable holding the token, read when the trigger is built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
}

impl Default for HttpTriggerConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            token: None,
            token_env: None,
        }
    }
}

impl HttpTriggerConfig {
    /// Loopback on `port` (0: any free port), no token.
    pub fn loopback(port: u16) -> Self {
        Self {
            port,
            ..Self::default()
        }
    }

    /// Requires `token` from every request.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// A trigger for this configuration: checks the host, reads the token, and refuses a
    /// non-loopback host without one.
    pub fn build(&self) -> Result<HttpTrigger> {
        HttpTrigger::new(self.clone())
    }

    /// The host without the brackets of an IPv6 literal (`[::1]` → `::1`), checked.
    pub(crate) fn checked_host(&self) -> Result<String> {
        let host = self.host.trim();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let invalid = |reason| Error::InvalidHost {
            host: self.host.clone(),
            reason,
        };
        if host.is_empty() {
            return Err(invalid("it is empty"));
        }
        if host.parse::<IpAddr>().is_err()
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(invalid("it is neither an IP address nor a host name"));
        }
        Ok(host.to_owned())
    }

    /// The token, from `token` or the variable `token_env` names.
    pub(crate) fn resolve_token(&self) -> Result<Option<Token>> {
        match (&self.token, &self.token_env) {
            (Some(_), Some(_)) => Err(Error::TokenConflict),
            (Some(token), None) => Token::new(token.clone()).map(Some),
            (None, Some(var)) => {
                let value = std::env::var(var).map_err(|error| Error::TokenEnv {
                    var: var.clone(),
                    reason: match error {
                        std::env::VarError::NotPresent => "is not set",
                        std::env::VarError::NotUnicode(_) => "is not valid UTF-8",
                    },
                })?;
                if value.trim().is_empty() {
                    return Err(Error::TokenEnv {
                        var: var.clone(),
                        reason: "is empty",
                    });
                }
                Token::new(value).map(Some)
            }
            (None, None) => Ok(None),
        }
    }
}

/// Whether `host` (brackets removed) names this machine's loopback interface. Host names other
/// than `localhost` count as remote: what they resolve to is not known here.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

impl fmt::Debug for HttpTriggerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTriggerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn example_config_round_trips() {
        let config: HttpTriggerConfig = serde_json::from_value(
            json!({ "host": "0.0.0.0", "port": 8080, "token_env": "OP_TOKEN" }),
        )
        .unwrap();
        assert_eq!(config.host, "0.0.0.0");
        assert_eq!(config.port, 8080);
        assert_eq!(config.token_env.as_deref(), Some("OP_TOKEN"));
        let back: HttpTriggerConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn defaults_are_loopback_on_9999_without_token() {
        let config: HttpTriggerConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(config, HttpTriggerConfig::default());
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.port, 9999);
        assert_eq!(config.resolve_token().unwrap(), None);
        let error = serde_json::from_value::<HttpTriggerConfig>(json!({ "prot": 1 }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `prot`"), "{error}");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "localhost",
            "LOCALHOST",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "example.com",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn hosts_are_checked_and_brackets_removed() {
        let host = |h: &str| HttpTriggerConfig {
            host: h.to_owned(),
            ..HttpTriggerConfig::default()
        };
        assert_eq!(host("[::1]").checked_host().unwrap(), "::1");
        assert_eq!(host(" localhost ").checked_host().unwrap(), "localhost");
        assert!(matches!(
            host("").checked_host(),
            Err(Error::InvalidHost { .. })
        ));
        assert!(matches!(
            host("http://x/").checked_host(),
            Err(Error::InvalidHost { .. })
        ));
    }

    #[test]
    fn tokens_come_from_the_config_or_the_environment() {
        let config = HttpTriggerConfig::loopback(0).with_token("abc-def-ghi-jkl-mno");
        assert!(config.resolve_token().unwrap().is_some());
        assert!(!format!("{config:?}").contains("abc-def"));
        let both = HttpTriggerConfig {
            token_env: Some("X".to_owned()),
            ..config
        };
        assert!(matches!(both.resolve_token(), Err(Error::TokenConflict)));
        let missing = HttpTriggerConfig {
            token_env: Some("OPENPROFILING_TRIGGER_HTTP_TEST_UNSET_VARIABLE".to_owned()),
            ..HttpTriggerConfig::default()
        };
        let error = missing.resolve_token().unwrap_err().to_string();
        assert!(
            error.contains("OPENPROFILING_TRIGGER_HTTP_TEST_UNSET_VARIABLE"),
            "{error}"
        );
        assert!(error.contains("is not set"), "{error}");
        // PATH is set in every test environment and holds no space-free secret; it only shows
        // that the variable is read.
        let from_env = HttpTriggerConfig {
            token_env: Some("PATH".to_owned()),
            ..HttpTriggerConfig::default()
        };
        let path = std::env::var("PATH").unwrap();
        assert_eq!(
            from_env.resolve_token().is_ok(),
            path.trim().bytes().all(|b| b.is_ascii_graphic())
        );
    }
}
