//! What discovery works with: the target as the user gave it ([`TargetSpec`]), how to pick one
//! of several ([`TargetSelector`]), what an inspector lists ([`TargetDescription`],
//! [`VersionInfo`]), and what discovery found ([`DiscoveredTarget`]).

use std::fmt;
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, TargetInfo};

/// The port Node.js's inspector listens on by default, and after SIGUSR1 unless told otherwise.
pub(crate) const DEFAULT_INSPECTOR_PORT: u16 = 9229;

/// Where the inspector is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A target's WebSocket URL, given directly: `ws://127.0.0.1:9229/<id>`, as Node.js prints it in
    /// `Debugger listening on ws://…`.
    WebSocket(String),
    /// The inspector's HTTP endpoint (`node --inspect=HOST:PORT`, `chrome --remote-debugging-port`),
    /// where `/json/list` names the targets.
    Inspect {
        /// The host, a name or an IP address (an IPv6 address without brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// A running Node.js process, whose inspector is switched on with SIGUSR1 if it is not already.
    Pid {
        /// The process id.
        pid: u32,
        /// The port its inspector listens on, when known (`--inspect-port`); otherwise it is found
        /// among the ports the process listens on.
        port: Option<u16>,
    },
}

impl TargetSpec {
    /// Parses an inspector address as `node --inspect=` takes it: `HOST:PORT`, `[IPv6]:PORT`,
    /// `PORT` alone (on `127.0.0.1`), or `HOST` alone (on port 9229).
    ///
    /// ```
    /// # use openprofiling_core::TargetSpec;
    /// let spec = TargetSpec::parse_inspect("9230")?;
    /// assert_eq!(spec, TargetSpec::Inspect { host: "127.0.0.1".into(), port: 9230 });
    /// assert_eq!(TargetSpec::parse_inspect("[::1]:9229")?.to_string(), "[::1]:9229");
    /// # Ok::<(), openprofiling_core::Error>(())
    /// ```
    pub fn parse_inspect(s: &str) -> Result<Self> {
        let s = s.trim();
        let invalid = |reason: String| Error::InvalidTarget {
            target: s.to_owned(),
            reason,
        };
        const FORMS: &str = "give HOST:PORT, [IPv6]:PORT or PORT, as for node --inspect=";
        if s.is_empty() {
            return Err(invalid(format!("it is empty; {FORMS}")));
        }
        if s.contains("://") {
            return Err(invalid(format!(
                "it is a URL; {FORMS}, or give a ws:// URL as a WebSocket target"
            )));
        }
        let parse_port = |port: &str| -> Result<u16> {
            match port.parse::<u16>() {
                Ok(0) => Err(invalid(
                    "port 0 cannot be connected to; give the port the inspector listens on, \
                     as printed in `Debugger listening on ws://HOST:PORT/…`"
                        .to_owned(),
                )),
                Ok(port) => Ok(port),
                Err(_) => Err(invalid(format!(
                    "{port:?} is not a port number (1 to 65535); {FORMS}"
                ))),
            }
        };
        let (host, port) = if s.bytes().all(|b| b.is_ascii_digit()) {
            ("127.0.0.1", parse_port(s)?)
        } else if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid(format!("a '[' without its ']'; {FORMS}")))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(invalid(format!(
                    "{host:?} in brackets is not an IPv6 address; {FORMS}"
                )));
            }
            let port = match after {
                "" => DEFAULT_INSPECTOR_PORT,
                after => match after.strip_prefix(':') {
                    Some(port) => parse_port(port)?,
                    None => return Err(invalid(format!("{after:?} after ']'; {FORMS}"))),
                },
            };
            (host, port)
        } else {
            let (host, port) = match s.rsplit_once(':') {
                Some((host, port)) => (host, parse_port(port)?),
                None => (s, DEFAULT_INSPECTOR_PORT),
            };
            if host.contains(':') {
                return Err(invalid(format!(
                    "an IPv6 address needs brackets, e.g. [::1]:{DEFAULT_INSPECTOR_PORT}"
                )));
            }
            let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.is_empty() || !host.chars().all(valid) {
                return Err(invalid(format!(
                    "{host:?} is not a host name or address; {FORMS}"
                )));
            }
            (host, port)
        };
        Ok(Self::Inspect {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebSocket(url) => f.write_str(url),
            Self::Inspect { host, port } => f.write_str(&host_port(host, *port)),
            Self::Pid { pid, port: None } => write!(f, "pid {pid}"),
            Self::Pid {
                pid,
                port: Some(port),
            } => write!(f, "pid {pid} (inspector port {port})"),
        }
    }
}

/// Picks one target when the inspector lists several (Chrome lists pages and workers; Node.js and
/// Deno list one). Every criterion given must match. Among the targets left, a `node` target is
/// preferred, then a `page`, then the first listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetSelector {
    /// The target's `type`, e.g. `node`, `page`, `service_worker` (compared ignoring case).
    pub kind: Option<String>,
    /// Text the target's URL must contain.
    pub url_contains: Option<String>,
    /// Text the target's title must contain.
    pub title_contains: Option<String>,
}

impl TargetSelector {
    /// True when `target` meets every criterion given (whether or not it can be connected to).
    pub fn matches(&self, target: &TargetDescription) -> bool {
        self.kind
            .as_deref()
            .is_none_or(|kind| target.kind.eq_ignore_ascii_case(kind))
            && self
                .url_contains
                .as_deref()
                .is_none_or(|text| target.url.contains(text))
            && self
                .title_contains
                .as_deref()
                .is_none_or(|text| target.title.contains(text))
    }

    /// The target to connect to among `targets`: one that matches and has a WebSocket URL,
    /// preferring type `node`, then `page`, then the first listed.
    pub fn choose<'a>(&self, targets: &'a [TargetDescription]) -> Option<&'a TargetDescription> {
        let mut candidates = targets.iter().filter(|t| {
            self.matches(t)
                && t.web_socket_debugger_url
                    .as_deref()
                    .is_some_and(|u| !u.is_empty())
        });
        let first = candidates.clone().next()?;
        candidates
            .clone()
            .find(|t| t.kind == "node")
            .or_else(|| candidates.find(|t| t.kind == "page"))
            .or(Some(first))
    }
}

impl fmt::Display for TargetSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(kind) = &self.kind {
            parts.push(format!("type {kind:?}"));
        }
        if let Some(text) = &self.url_contains {
            parts.push(format!("url containing {text:?}"));
        }
        if let Some(text) = &self.title_contains {
            parts.push(format!("title containing {text:?}"));
        }
        if parts.is_empty() {
            f.write_str("any target")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// One entry of the inspector's `/json/list`. Missing fields are left empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TargetDescription {
    /// The target's id, the last segment of its WebSocket URL.
    pub id: String,
    /// Its `type`: `node` for Node.js, `page`, `iframe`, `service_worker`, … for Chrome.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its title; Node.js gives `node[PID]`, or the process title and pid.
    pub title: String,
    /// The URL of the page or main script (`file://…` for Node.js).
    pub url: String,
    /// Where to connect; absent when another debugger is attached (Chrome).
    pub web_socket_debugger_url: Option<String>,
    /// A description, e.g. `node.js instance`.
    pub description: String,
}

impl TargetDescription {
    /// A one-line description for messages: type, title and URL.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{} {:?} at {:?}", self.kind, self.title, self.url);
        if self.web_socket_debugger_url.is_none() {
            text.push_str(" (no webSocketDebuggerUrl: is another debugger attached?)");
        }
        text
    }
}

/// The inspector's `/json/version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VersionInfo {
    /// The runtime and its version: `node.js/v20.20.2`, `Chrome/126.0.6478.126`, `Deno/v1.46.3`.
    #[serde(rename = "Browser")]
    pub browser: String,
    /// The version of the DevTools protocol, e.g. `1.1` (`1.3` for Chrome).
    #[serde(rename = "Protocol-Version")]
    pub protocol_version: String,
}

/// The result of discovery: where to connect, and what is known of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTarget {
    /// The target's WebSocket URL.
    pub ws_url: String,
    /// What is known of the target, for profile metadata.
    pub info: TargetInfo,
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspect(host: &str, port: u16) -> TargetSpec {
        TargetSpec::Inspect {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn parse_inspect_forms() {
        let cases = [
            ("127.0.0.1:9229", inspect("127.0.0.1", 9229)),
            ("localhost:9230", inspect("localhost", 9230)),
            (" 9231 ", inspect("127.0.0.1", 9231)),
            ("[::1]:9229", inspect("::1", 9229)),
            ("[::1]", inspect("::1", 9229)),
            ("localhost", inspect("localhost", 9229)),
            ("my-host.internal:1", inspect("my-host.internal", 1)),
        ];
        for (text, expected) in cases {
            assert_eq!(
                TargetSpec::parse_inspect(text).expect(text),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn parse_inspect_refusals() {
        for text in [
            "",
            "ws://127.0.0.1:9229/x",
            "::1:9229",
            "host:0",
            "host:99999",
            "host:",
            ":9229",
            "[::1",
            "[::1]9229",
            "[nope]:1",
            "a b:1",
            "0",
        ] {
            match TargetSpec::parse_inspect(text) {
                Err(Error::InvalidTarget { .. }) => {}
                other => panic!("{text:?}: expected InvalidTarget, got {other:?}"),
            }
        }
        let message = TargetSpec::parse_inspect("::1:9229")
            .expect_err("bare IPv6")
            .to_string();
        assert!(message.contains("[::1]:9229"), "{message}");
    }

    #[test]
    fn display_round_trips() {
        for text in ["127.0.0.1:9229", "[::1]:9229", "localhost:1"] {
            let spec = TargetSpec::parse_inspect(text).expect(text);
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(TargetSpec::Pid { pid: 7, port: None }.to_string(), "pid 7");
        assert_eq!(
            TargetSpec::Pid {
                pid: 7,
                port: Some(9230)
            }
            .to_string(),
            "pid 7 (inspector port 9230)"
        );
    }

    fn target(kind: &str, title: &str, url: &str, ws: bool) -> TargetDescription {
        TargetDescription {
            id: title.to_owned(),
            kind: kind.to_owned(),
            title: title.to_owned(),
            url: url.to_owned(),
            web_socket_debugger_url: ws.then(|| format!("ws://127.0.0.1:9222/{title}")),
            description: String::new(),
        }
    }

    #[test]
    fn selection_prefers_node_then_page_and_needs_a_websocket_url() {
        let targets = [
            target("service_worker", "sw", "https://a/sw.js", true),
            target("page", "attached", "https://a/", false),
            target("page", "tab", "https://b/", true),
        ];
        let any = TargetSelector::default();
        assert_eq!(any.choose(&targets).map(|t| t.title.as_str()), Some("tab"));

        let mut with_node = targets.to_vec();
        with_node.push(target("node", "node[1]", "file://", true));
        assert_eq!(
            any.choose(&with_node).map(|t| t.title.as_str()),
            Some("node[1]")
        );

        let workers = TargetSelector {
            kind: Some("SERVICE_WORKER".into()),
            ..TargetSelector::default()
        };
        assert_eq!(
            workers.choose(&targets).map(|t| t.title.as_str()),
            Some("sw")
        );

        let attached = TargetSelector {
            title_contains: Some("attached".into()),
            url_contains: Some("https://a".into()),
            ..TargetSelector::default()
        };
        assert!(attached.matches(&targets[1]));
        assert_eq!(attached.choose(&targets), None);
        assert_eq!(
            attached.to_string(),
            r#"url containing "https://a", title containing "attached""#
        );
        assert_eq!(any.to_string(), "any target");
    }

    #[test]
    fn target_list_tolerates_missing_and_extra_fields() {
        let json = r#"[{"type":"node","title":"node[42]","faviconUrl":"x"},{}]"#;
        let targets: Vec<TargetDescription> = serde_json::from_str(json).expect("parse");
        assert_eq!(targets[0].kind, "node");
        assert_eq!(targets[0].web_socket_debugger_url, None);
        assert_eq!(targets[1], TargetDescription::default());
        let version: VersionInfo =
            serde_json::from_str(r#"{"Browser":"node.js/v20.20.2","Protocol-Version":"1.1"}"#)
                .expect("parse");
        assert_eq!(version.browser, "node.js/v20.20.2");
        assert_eq!(version.protocol_version, "1.1");
    }
}
