//! Target discovery: from what the user gave (a `ws://` URL, the `host:port` of an inspector, or
//! the pid of a Node.js process) to the WebSocket URL of one inspector target.
//!
//! The inspector is remote code execution, so non-loopback hosts are refused unless explicitly
//! allowed, before any connection; and a pid is signalled only once it is known to be a Node.js
//! process that handles SIGUSR1 (the signal terminates most other programs).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use tokio::time::Instant;
use tracing::{debug, trace};
use url::Url;

use super::address::is_loopback_host;
use super::pinned::PinnedProcess;
use super::target::{
    DEFAULT_INSPECTOR_PORT, DiscoveredTarget, TargetDescription, TargetSelector, TargetSpec,
    VersionInfo, host_port,
};
use super::{http, process};
use crate::{Error, Result, TargetInfo};

/// How often the pid's inspector is looked for after SIGUSR1.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a pid that does not handle SIGUSR1 yet (a Node.js still starting) is waited for.
const HANDLER_GRACE: Duration = Duration::from_secs(1);

/// Finds an inspector target from a [`TargetSpec`]. Settings are chained:
///
/// ```no_run
/// # use std::time::Duration;
/// # use openprofiling_core::{Discovery, TargetSpec};
/// # async fn run() -> openprofiling_core::Result<()> {
/// let target = Discovery::new()
///     .activation_timeout(Duration::from_secs(5))
///     .discover(&TargetSpec::Pid { pid: 4242, port: None })
///     .await?;
/// println!("connect to {}", target.ws_url);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Discovery {
    allow_remote: bool,
    selector: TargetSelector,
    http_timeout: Duration,
    activation_timeout: Duration,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new()
    }
}

impl Discovery {
    /// Loopback hosts only, any target, 5 s per HTTP request, 10 s for an inspector to come up
    /// after SIGUSR1.
    pub fn new() -> Self {
        Self {
            allow_remote: false,
            selector: TargetSelector::default(),
            http_timeout: Duration::from_secs(5),
            activation_timeout: Duration::from_secs(10),
        }
    }

    /// Allows inspectors on non-loopback hosts. The inspector gives whoever reaches it remote code
    /// execution, so this is off by default, and a refused host is never connected to.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// Which target to pick when the inspector lists several.
    pub fn selector(mut self, selector: TargetSelector) -> Self {
        self.selector = selector;
        self
    }

    /// The limit on each HTTP request to the inspector (connect, request and answer).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// How long to wait for a process's inspector to answer after SIGUSR1.
    pub fn activation_timeout(mut self, timeout: Duration) -> Self {
        self.activation_timeout = timeout;
        self
    }

    /// Finds the target `spec` names.
    ///
    /// - [`TargetSpec::WebSocket`]: the URL is checked (ws or wss, a loopback host unless remote
    ///   hosts are allowed) and used as is; the runtime version and title are asked of its
    ///   host's `/json/*` endpoints, best effort.
    /// - [`TargetSpec::Inspect`]: the host is checked before any connection, then `/json/list`
    ///   is asked and a target chosen with the [`TargetSelector`].
    /// - [`TargetSpec::Pid`]: the process must be Node.js ([`Error::NotNode`] otherwise, and it
    ///   is not signalled). If its inspector already answers it is used; otherwise the process is
    ///   sent SIGUSR1 and its inspector awaited, on the given port or on the ports it listens on.
    ///
    /// Errors: [`Error::InvalidTarget`], [`Error::RemoteRefused`], [`Error::Http`],
    /// [`Error::NoMatchingTarget`], [`Error::NoSuchProcess`], [`Error::NotNode`],
    /// [`Error::InspectorNotReady`].
    pub async fn discover(&self, spec: &TargetSpec) -> Result<DiscoveredTarget> {
        debug!(target = %spec, "Discovering the inspector target.");
        match spec {
            TargetSpec::WebSocket(url) => self.discover_ws(url.trim()).await,
            TargetSpec::Inspect { host, port } => self.discover_inspect(host, *port).await,
            TargetSpec::Pid { pid, port } => self.discover_pid(*pid, *port).await,
        }
    }

    /// Refuses a non-loopback host unless remote hosts are allowed.
    fn check_host(&self, host: &str) -> Result<()> {
        if self.allow_remote || is_loopback_host(host) {
            Ok(())
        } else {
            debug!(host, "Refusing a non-loopback inspector host.");
            Err(Error::RemoteRefused {
                host: host.to_owned(),
            })
        }
    }

    /// Parses a target's WebSocket URL and checks its scheme and host.
    fn check_ws_url(&self, ws_url: &str) -> Result<Url> {
        const HINT: &str = "give the ws://HOST:PORT/ID URL Node.js prints after \
                            `Debugger listening on`, or the inspector's HOST:PORT";
        let invalid = |reason: String| Error::InvalidTarget {
            target: ws_url.to_owned(),
            reason,
        };
        let url = Url::parse(ws_url).map_err(|e| invalid(format!("not a URL ({e}); {HINT}")))?;
        match url.scheme() {
            "ws" | "wss" => {}
            "http" | "https" => {
                return Err(invalid(format!(
                    "an http URL is not a WebSocket URL; give the inspector's HOST:PORT to \
                     have its targets listed, or {HINT}"
                )));
            }
            scheme => {
                return Err(invalid(format!(
                    "scheme {scheme}: is not ws: or wss:; {HINT}"
                )));
            }
        }
        let host = url
            .host_str()
            .ok_or_else(|| invalid(format!("it names no host; {HINT}")))?;
        self.check_host(host)?;
        Ok(url)
    }

    async fn discover_ws(&self, ws_url: &str) -> Result<DiscoveredTarget> {
        let url = self.check_ws_url(ws_url)?;
        let mut info = TargetInfo {
            url: Some(ws_url.to_owned()),
            ..TargetInfo::default()
        };
        // The runtime version and title come from the HTTP endpoints on the same host and port.
        // Best effort: a wss:// URL has none on plain HTTP, and a proxy may serve only the socket.
        if let (Some(host), Some(port), "ws") =
            (url.host_str(), url.port_or_known_default(), url.scheme())
        {
            let address = format!("{host}:{port}");
            let (version_info, targets) = tokio::join!(
                version(&address, self.http_timeout),
                list_targets(&address, self.http_timeout)
            );
            match version_info {
                Ok(v) => info.runtime_version = Some(v.browser).filter(|b| !b.is_empty()),
                Err(error) => debug!(%error, "No runtime version for the WebSocket target."),
            }
            match targets {
                Ok(targets) => {
                    info.title = targets
                        .iter()
                        .find(|t| {
                            t.web_socket_debugger_url
                                .as_deref()
                                .and_then(|u| Url::parse(u).ok())
                                .is_some_and(|u| u.path() == url.path())
                        })
                        .map(|t| t.title.clone())
                        .filter(|title| !title.is_empty());
                }
                Err(error) => debug!(%error, "No target list for the WebSocket target."),
            }
        }
        debug!(ws_url, runtime_version = ?info.runtime_version, "WebSocket target accepted.");
        Ok(DiscoveredTarget {
            ws_url: ws_url.to_owned(),
            info,
        })
    }

    async fn discover_inspect(&self, host: &str, port: u16) -> Result<DiscoveredTarget> {
        self.check_host(host)?;
        let address = host_port(host, port);
        let targets = list_targets(&address, self.http_timeout).await?;
        debug!(
            address,
            targets = targets.len(),
            "Inspector listed its targets."
        );
        self.finish(&address, &targets, None).await
    }

    /// Chooses among `targets` listed at `address`, checks its URL, and asks the runtime version.
    async fn finish(
        &self,
        address: &str,
        targets: &[TargetDescription],
        pid: Option<u32>,
    ) -> Result<DiscoveredTarget> {
        let Some((chosen, ws_url)) = self.selector.choose(targets).and_then(|chosen| {
            let ws_url = chosen.web_socket_debugger_url.clone()?;
            Some((chosen, ws_url))
        }) else {
            return Err(Error::NoMatchingTarget {
                address: address.to_owned(),
                selector: self.selector.to_string(),
                available: targets.iter().map(TargetDescription::describe).collect(),
            });
        };
        // Node.js and Chrome build the URL from our Host header, but whatever the inspector
        // says is checked like a URL the user gave.
        self.check_ws_url(&ws_url)?;
        let runtime_version = match version(address, self.http_timeout).await {
            Ok(v) => Some(v.browser).filter(|b| !b.is_empty()),
            Err(error) => {
                debug!(%error, "No runtime version from /json/version.");
                None
            }
        };
        debug!(
            address,
            ws_url,
            kind = chosen.kind,
            title = chosen.title,
            runtime_version = ?runtime_version,
            "Inspector target chosen."
        );
        Ok(DiscoveredTarget {
            info: TargetInfo {
                url: Some(ws_url.clone()),
                pid,
                runtime_version,
                title: Some(chosen.title.clone()).filter(|title| !title.is_empty()),
            },
            ws_url,
        })
    }

    async fn discover_pid(&self, pid: u32, port: Option<u16>) -> Result<DiscoveredTarget> {
        let spec = TargetSpec::Pid { pid, port };
        let Some(raw_pid) = i32::try_from(pid).ok().filter(|&p| p > 0) else {
            return Err(Error::InvalidTarget {
                target: spec.to_string(),
                reason: "not a process id".to_owned(),
            });
        };
        if port == Some(0) {
            return Err(Error::InvalidTarget {
                target: spec.to_string(),
                reason: "port 0 cannot be connected to; give the port of --inspect-port, or none"
                    .to_owned(),
            });
        }

        // Pin the process before looking at it, so that the signal, if any, reaches the
        // process checked here and not one that took its pid since (see `pinned`).
        let pinned = PinnedProcess::open(raw_pid).map_err(|_| process::gone(pid))?;

        // First of all: is it Node.js? Nothing else is signalled.
        let executable = blocking(move || process::check_node(pid)).await?;
        let status = blocking(move || process::status(pid)).await?;
        if !status.alive {
            return Err(Error::NoSuchProcess {
                pid,
                reason: "it has exited (a zombie not yet reaped)".to_owned(),
            });
        }
        debug!(pid, executable, ns_pids = ?status.ns_pids, "The process is Node.js.");
        let mut search = PidSearch {
            pid,
            port,
            ns_pids: status.ns_pids,
            tried: Vec::new(),
            skipped: HashSet::new(),
        };

        // An inspector already on? Then no signal.
        if let Some(found) = self
            .probe_pid(&mut search, Instant::now() + self.http_timeout)
            .await?
        {
            debug!(
                pid,
                ws_url = found.ws_url,
                "Inspector already active; SIGUSR1 not sent."
            );
            return Ok(found);
        }

        // Node.js installs its SIGUSR1 handler shortly after it starts; without one, SIGUSR1
        // terminates the process.
        let grace_end = Instant::now() + HANDLER_GRACE.min(self.activation_timeout);
        let mut sigusr1 = status.sigusr1;
        while sigusr1 != process::Sigusr1::Caught && Instant::now() < grace_end {
            tokio::time::sleep(POLL_INTERVAL).await;
            sigusr1 = blocking(move || process::status(pid)).await?.sigusr1;
        }
        if sigusr1 != process::Sigusr1::Caught {
            let what = if sigusr1 == process::Sigusr1::Ignored {
                "ignores SIGUSR1, so it cannot be told to start its inspector"
            } else {
                "has no SIGUSR1 handler (started with --disable-sigusr1?), so SIGUSR1 would \
                 terminate it"
            };
            return Err(Error::InvalidTarget {
                target: spec.to_string(),
                reason: format!(
                    "process {pid} ({executable}) {what}; it was not signalled. Start it with \
                     --inspect and give its inspector's HOST:PORT"
                ),
            });
        }

        pinned
            .signal(Signal::SIGUSR1)
            .map_err(|errno| Error::NoSuchProcess {
                pid,
                reason: match errno {
                    Errno::EPERM => "not permitted to signal it (it belongs to another user; \
                                     run the agent as that user)"
                        .to_owned(),
                    Errno::ESRCH => "it exited".to_owned(),
                    errno => format!("cannot signal it: {}", errno.desc()),
                },
            })?;
        debug!(pid, "Sent SIGUSR1.");

        let started = Instant::now();
        let deadline = started + self.activation_timeout;
        loop {
            let status = blocking(move || process::status(pid)).await;
            if !status.as_ref().is_ok_and(|s| s.alive) {
                return Err(Error::NoSuchProcess {
                    pid,
                    reason: "it exited after SIGUSR1".to_owned(),
                });
            }
            if let Some(found) = self.probe_pid(&mut search, deadline).await? {
                debug!(
                    pid,
                    ws_url = found.ws_url,
                    after = ?started.elapsed(),
                    "Inspector answered after SIGUSR1."
                );
                return Ok(found);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
        Err(Error::InspectorNotReady {
            pid,
            ports: search.describe_tried(),
            after: self.activation_timeout,
        })
    }

    /// Asks each candidate address of the process for its targets once. `Ok(None)` when no
    /// inspector of this process answered (yet).
    async fn probe_pid(
        &self,
        search: &mut PidSearch,
        deadline: Instant,
    ) -> Result<Option<DiscoveredTarget>> {
        let pid = search.pid;
        let listeners = match blocking(move || process::listening_sockets(pid)).await {
            Ok(listeners) => listeners,
            Err(error @ Error::NoSuchProcess { .. }) => return Err(error),
            Err(error) => {
                debug!(pid, %error, "Cannot see the ports of the process; trying the default.");
                Vec::new()
            }
        };
        let mut candidates = Vec::new();
        for listener in listeners {
            if search.port.is_some_and(|port| port != listener.port) {
                continue;
            }
            let ip = match listener.ip {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            let address = SocketAddr::new(ip, listener.port).to_string();
            if !ip.is_loopback() && !self.allow_remote {
                if search.skipped.insert(address.clone()) {
                    search
                        .tried
                        .push(format!("{address} (not loopback; not tried)"));
                }
                continue;
            }
            candidates.push(address);
        }
        if candidates.is_empty() {
            let port = search.port.unwrap_or(DEFAULT_INSPECTOR_PORT);
            candidates.push(host_port("127.0.0.1", port));
        }

        for address in candidates {
            if search.skipped.contains(&address) {
                continue;
            }
            if !search.tried.contains(&address) {
                search.tried.push(address.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let targets = match list_targets(&address, self.http_timeout.min(deadline - now)).await
            {
                Ok(targets) => targets,
                Err(error) if http::is_connection_refused(&error) => {
                    trace!(pid, address, "No inspector listening there yet.");
                    continue;
                }
                Err(error) => {
                    // Something else listens there (the program's own server): not asked again.
                    debug!(pid, address, %error, "Not an inspector.");
                    search.skipped.insert(address);
                    continue;
                }
            };
            // Node.js titles its target `node[PID]` with the pid as it sees it: an inspector
            // listing only other pids belongs to another process (one that holds this port).
            let ours: Vec<TargetDescription> = targets
                .iter()
                .filter(|t| title_pid(&t.title).is_none_or(|p| search.ns_pids.contains(&p)))
                .cloned()
                .collect();
            if ours.is_empty() && !targets.is_empty() {
                debug!(
                    pid,
                    address,
                    title = targets[0].title,
                    "Inspector of another process."
                );
                search.skipped.insert(address);
                continue;
            }
            return self.finish(&address, &ours, Some(pid)).await.map(Some);
        }
        Ok(None)
    }
}

/// What the search for a pid's inspector has seen.
struct PidSearch {
    pid: u32,
    port: Option<u16>,
    /// The pid in each of its namespaces, as Node.js may title its target with any.
    ns_pids: Vec<u32>,
    /// Addresses asked, in order, for the error message.
    tried: Vec<String>,
    /// Addresses not to ask again: not an inspector, another process's, or not loopback.
    skipped: HashSet<String>,
}

impl PidSearch {
    fn describe_tried(&self) -> String {
        if self.tried.is_empty() {
            "no port".to_owned()
        } else {
            self.tried.join(", ")
        }
    }
}

/// The pid in a Node.js target title, `node[4242]` or `my-title[4242]`.
fn title_pid(title: &str) -> Option<u32> {
    title.strip_suffix(']')?.rsplit_once('[')?.1.parse().ok()
}

/// Runs blocking `/proc` reads off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("reading /proc", std::io::Error::other(e)))?
}

/// The targets an inspector lists: `GET http://{address}/json/list`. `address` is `host:port`
/// (an IPv6 host in brackets). Any failure is an [`Error::Http`].
pub async fn list_targets(address: &str, timeout: Duration) -> Result<Vec<TargetDescription>> {
    http::get_json(address, "/json/list", timeout).await
}

/// The inspector's runtime and protocol versions: `GET http://{address}/json/version`.
/// Any failure is an [`Error::Http`].
pub async fn version(address: &str, timeout: Duration) -> Result<VersionInfo> {
    http::get_json(address, "/json/version", timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_in_node_titles() {
        assert_eq!(title_pid("node[4242]"), Some(4242));
        assert_eq!(title_pid("my [app][17]"), Some(17));
        assert_eq!(title_pid("Example Domain"), None);
        assert_eq!(title_pid("node[x]"), None);
    }

    #[tokio::test]
    async fn remote_hosts_are_refused_before_connecting() {
        let discovery = Discovery::new().http_timeout(Duration::from_secs(30));
        for spec in [
            TargetSpec::Inspect {
                host: "10.255.255.1".into(),
                port: 9229,
            },
            TargetSpec::WebSocket("ws://10.255.255.1:9229/abc".into()),
        ] {
            match discovery.discover(&spec).await {
                Err(Error::RemoteRefused { host }) => assert_eq!(host, "10.255.255.1"),
                other => panic!("{spec}: expected RemoteRefused, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn websocket_urls_are_checked() {
        let discovery = Discovery::new();
        for url in ["http://127.0.0.1:9229/x", "not a url", "file:///tmp/x"] {
            match discovery.discover(&TargetSpec::WebSocket(url.into())).await {
                Err(Error::InvalidTarget { target, .. }) => assert_eq!(target, url),
                other => panic!("{url}: expected InvalidTarget, got {other:?}"),
            }
        }
    }
}
