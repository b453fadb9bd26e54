//! Target discovery against real Node.js processes: by inspector address, by WebSocket URL, and by
//! pid with SIGUSR1; and the refusals (remote hosts, processes that are not Node.js).

use std::process::Stdio;
use std::time::Duration;

use openprofiling_core::{Discovery, Error, TargetSelector, TargetSpec, list_targets, version};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const KEEP_ALIVE: &str = "setInterval(() => {}, 1000)";

/// A port nobody listens on (just now), for a Node.js inspector to listen on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// A port nobody listens on, to be connected to. Not found by binding a TCP listener: a child
/// another test forks at that moment holds a copy of it until its exec, and a connection landing
/// in that window is reset instead of refused.
fn dead_port() -> u16 {
    loop {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let refused = std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
        if refused {
            return port;
        }
    }
}

/// `node --inspect=127.0.0.1:0`: the child, its inspector's port and the WebSocket URL it printed.
async fn node_with_inspector() -> (Child, u16, String) {
    let mut child = Command::new("node")
        .args(["--inspect=127.0.0.1:0", "-e", KEEP_ALIVE])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node (is it on PATH?)");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let ws_url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if let Some(url) = line.strip_prefix("Debugger listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("node exited without printing its inspector URL");
    })
    .await
    .expect("node printed no inspector URL in time");
    // Keep draining stderr so node never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let port = ws_url
        .strip_prefix("ws://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected inspector URL {ws_url}"));
    (child, port, ws_url)
}

/// A Node.js process without an active inspector, whose inspector will listen on `port` (0: any)
/// once activated (`--inspect-port` sets the port without starting the inspector). Returns once
/// its script runs.
async fn node_without_inspector(port: u16) -> Child {
    let mut child = Command::new("node")
        .arg(format!("--inspect-port=127.0.0.1:{port}"))
        .args(["-e", &format!("console.log('ready'); {KEEP_ALIVE}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node (is it on PATH?)");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("node did not start in time")
        .expect("read stdout");
    assert_eq!(first.as_deref(), Some("ready"));
    child
}

fn pid_of(child: &Child) -> u32 {
    child.id().expect("the child is running")
}

#[test]
fn inspector_addresses_parse_as_node_takes_them() {
    let inspect = |host: &str, port| TargetSpec::Inspect {
        host: host.to_owned(),
        port,
    };
    assert_eq!(
        TargetSpec::parse_inspect("9229").ok(),
        Some(inspect("127.0.0.1", 9229))
    );
    assert_eq!(
        TargetSpec::parse_inspect("localhost:9230").ok(),
        Some(inspect("localhost", 9230))
    );
    assert_eq!(
        TargetSpec::parse_inspect("[::1]:9231").ok(),
        Some(inspect("::1", 9231))
    );
    assert_eq!(
        TargetSpec::parse_inspect("0.0.0.0:1").ok(),
        Some(inspect("0.0.0.0", 1))
    );
    for bad in [
        "",
        "::1:9229",
        "host:port",
        "host:0",
        "http://127.0.0.1:9229",
    ] {
        assert!(
            matches!(
                TargetSpec::parse_inspect(bad),
                Err(Error::InvalidTarget { .. })
            ),
            "{bad:?} should be refused"
        );
    }
    assert_eq!(inspect("::1", 9229).to_string(), "[::1]:9229");
}

#[tokio::test]
async fn a_remote_inspector_is_refused_without_connecting() {
    // 10.255.255.1 swallows packets: a connection attempt would hang until the 60 s timeout.
    let discovery = Discovery::new().http_timeout(Duration::from_secs(60));
    for spec in [
        TargetSpec::parse_inspect("10.255.255.1:9229").expect("parse"),
        TargetSpec::WebSocket("ws://10.255.255.1:9229/0f2c".to_owned()),
    ] {
        let result = tokio::time::timeout(Duration::from_secs(5), discovery.discover(&spec))
            .await
            .expect("refused without a connection attempt");
        match result {
            Err(error @ Error::RemoteRefused { .. }) => {
                assert!(error.to_string().contains("10.255.255.1"), "{error}");
            }
            other => panic!("{spec}: expected RemoteRefused, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn discovers_a_node_inspector_by_address_and_by_websocket_url() {
    let (_node, port, printed_url) = node_with_inspector().await;
    let address = format!("127.0.0.1:{port}");

    let targets = list_targets(&address, Duration::from_secs(5))
        .await
        .expect("list");
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0].kind, "node");
    let runtime = version(&address, Duration::from_secs(5))
        .await
        .expect("version");
    assert!(runtime.browser.starts_with("node.js/v"), "{runtime:?}");

    let discovery = Discovery::new();
    let by_address = discovery
        .discover(&TargetSpec::Inspect {
            host: "127.0.0.1".to_owned(),
            port,
        })
        .await
        .expect("discover by address");
    assert_eq!(by_address.ws_url, printed_url);
    assert_eq!(by_address.info.url.as_deref(), Some(printed_url.as_str()));
    assert_eq!(by_address.info.pid, None);
    let runtime_version = by_address
        .info
        .runtime_version
        .as_deref()
        .unwrap_or_default();
    assert!(
        runtime_version.starts_with("node.js/v"),
        "{runtime_version}"
    );
    let title = by_address.info.title.as_deref().unwrap_or_default();
    assert!(title.starts_with("node["), "{title}");

    let by_url = discovery
        .discover(&TargetSpec::WebSocket(printed_url.clone()))
        .await
        .expect("discover by WebSocket URL");
    assert_eq!(by_url.ws_url, printed_url);
    assert_eq!(by_url.info, by_address.info);
}

#[tokio::test]
async fn a_selector_that_matches_nothing_lists_what_is_there() {
    let (_node, port, _) = node_with_inspector().await;
    let discovery = Discovery::new().selector(TargetSelector {
        kind: Some("page".to_owned()),
        ..TargetSelector::default()
    });
    let error = discovery
        .discover(&TargetSpec::Inspect {
            host: "127.0.0.1".to_owned(),
            port,
        })
        .await
        .expect_err("no page in node");
    let Error::NoMatchingTarget { available, .. } = &error else {
        panic!("expected NoMatchingTarget, got {error:?}");
    };
    assert_eq!(available.len(), 1);
    assert!(available[0].starts_with("node \"node["), "{available:?}");
    assert!(error.to_string().contains(r#"type "page""#), "{error}");
}

#[tokio::test]
async fn activates_a_node_process_by_pid_on_its_port() {
    let port = free_port();
    let mut node = node_without_inspector(port).await;
    let pid = pid_of(&node);
    let discovery = Discovery::new();
    let spec = TargetSpec::Pid {
        pid,
        port: Some(port),
    };

    let found = discovery.discover(&spec).await.expect("discover by pid");
    assert!(
        found.ws_url.starts_with(&format!("ws://127.0.0.1:{port}/")),
        "{}",
        found.ws_url
    );
    assert_eq!(found.info.pid, Some(pid));
    let runtime_version = found.info.runtime_version.as_deref().unwrap_or_default();
    assert!(
        runtime_version.starts_with("node.js/v"),
        "{runtime_version}"
    );
    assert_eq!(found.info.title, Some(format!("node[{pid}]")));

    // A second discovery finds the inspector already on.
    let again = discovery.discover(&spec).await.expect("discover again");
    assert_eq!(again, found);
    assert!(node.try_wait().expect("try_wait").is_none(), "node died");
}

#[tokio::test]
async fn finds_the_inspector_among_the_ports_the_process_listens_on() {
    // Port 0: the inspector comes up on a port only the process's sockets tell.
    let mut node = node_without_inspector(0).await;
    let pid = pid_of(&node);
    let found = Discovery::new()
        .discover(&TargetSpec::Pid { pid, port: None })
        .await
        .expect("discover by pid");
    assert!(
        found.ws_url.starts_with("ws://127.0.0.1:"),
        "{}",
        found.ws_url
    );
    assert!(
        !found.ws_url.starts_with("ws://127.0.0.1:9229/"),
        "{}",
        found.ws_url
    );
    assert_eq!(found.info.pid, Some(pid));
    assert_eq!(found.info.title, Some(format!("node[{pid}]")));
    assert!(node.try_wait().expect("try_wait").is_none(), "node died");
}

#[tokio::test]
async fn uses_the_inspector_a_process_already_has() {
    let (node, _, printed_url) = node_with_inspector().await;
    let found = Discovery::new()
        .discover(&TargetSpec::Pid {
            pid: pid_of(&node),
            port: None,
        })
        .await
        .expect("discover by pid");
    assert_eq!(found.ws_url, printed_url);
}

#[tokio::test]
async fn never_takes_another_process_inspector_on_the_same_port() {
    // `other` holds the port; `node` is told to use it too, so its activation fails to bind.
    let (_other, port, _) = node_with_inspector().await;
    let node = node_without_inspector(port).await;
    let pid = pid_of(&node);
    let error = Discovery::new()
        .activation_timeout(Duration::from_secs(2))
        .discover(&TargetSpec::Pid {
            pid,
            port: Some(port),
        })
        .await
        .expect_err("the inspector on the port is another process's");
    match &error {
        Error::InspectorNotReady { pid: p, ports, .. } => {
            assert_eq!(*p, pid);
            assert!(ports.contains(&format!("127.0.0.1:{port}")), "{ports}");
        }
        other => panic!("expected InspectorNotReady, got {other:?}"),
    }
}

#[tokio::test]
async fn refuses_to_signal_a_process_that_is_not_node() {
    let mut sleep = Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sleep");
    let pid = pid_of(&sleep);
    let error = Discovery::new()
        .discover(&TargetSpec::Pid { pid, port: None })
        .await
        .expect_err("sleep is not node");
    match &error {
        Error::NotNode {
            pid: p, executable, ..
        } => {
            assert_eq!(*p, pid);
            assert!(executable.contains("sleep"), "{executable}");
        }
        other => panic!("expected NotNode, got {other:?}"),
    }
    // SIGUSR1 would have killed it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sleep.try_wait().expect("try_wait").is_none(),
        "sleep was signalled"
    );
}

#[tokio::test]
async fn a_pid_that_does_not_exist_is_reported() {
    let mut done = Command::new("true").spawn().expect("spawn true");
    let pid = pid_of(&done);
    done.wait().await.expect("wait");
    match Discovery::new()
        .discover(&TargetSpec::Pid { pid, port: None })
        .await
    {
        Err(Error::NoSuchProcess { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected NoSuchProcess, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dead_address_says_connection_refused() {
    let port = dead_port();
    let error = Discovery::new()
        .discover(&TargetSpec::Inspect {
            host: "127.0.0.1".to_owned(),
            port,
        })
        .await
        .expect_err("nothing listens");
    match &error {
        Error::Http {
            address,
            path,
            reason,
        } => {
            assert_eq!(address, &format!("127.0.0.1:{port}"));
            assert_eq!(path, "/json/list");
            assert!(reason.contains("connection refused"), "{reason}");
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    assert!(error.to_string().contains("connection refused"), "{error}");
}
