//! `openprofiling agent --config FILE` and `openprofiling plugins`, as an operator runs them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{count_objects, files_with, openprofiling};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openprofiling_core::mock::CountingProxy;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Node program with its inspector on `port`, holding `count` instances of `class`.
struct Node(Child);

impl Node {
    fn start(port: u16, class: &str, count: usize) -> Self {
        let program = format!(
            "class {class} {{}}; globalThis.kept = Array.from({{ length: {count} }}, () => new {class}()); setInterval(() => {{}}, 1000);"
        );
        let child = Command::new("node")
            .arg(format!("--inspect=127.0.0.1:{port}"))
            .args(["-e", &program])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node is on the PATH");
        Self(child)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The agent process, its stdout lines arriving on a channel, its logs kept.
struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    logs: Arc<Mutex<String>>,
}

impl Agent {
    /// Starts `openprofiling agent -vv --config CONFIG`.
    fn start(config: &Path, cwd: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_openprofiling"))
            .args(["agent", "-vv", "--config"])
            .arg(config)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        Self { child, lines, logs }
    }

    /// Everything the agent logged so far.
    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for a stdout line starting with `prefix`, within `timeout`.
    fn wait_for(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(error) => {
                    panic!("no line starting with {prefix:?} within {timeout:?}: {error}")
                }
            }
        }
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Sends SIGTERM and waits for the exit, within ten seconds.
    fn stop(&mut self) -> std::process::ExitStatus {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the agent did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Agent {
    /// A failed test must not leave the agent running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path a `saved heap snapshot (…) to PATH` line names.
fn saved_path(line: &str) -> PathBuf {
    PathBuf::from(line.rsplit_once(" to ").unwrap().1)
}

#[test]
fn the_config_agent_snapshots_on_signal_and_reattaches_to_a_restarted_target() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("agent.json");
    std::fs::write(
        &config,
        format!(
            r#"{{ "target": {{ "inspect": "127.0.0.1:{port}" }},
                 "reactions": [ {{ "trigger": {{ "type": "signal", "signal": "SIGUSR1" }},
                                  "profiler": {{ "type": "heapsnapshot" }} }} ],
                 "exporters": [ {{ "type": "file", "path": "./profiles" }} ] }}"#
        ),
    )
    .unwrap();

    // The agent starts before its target: it keeps trying until the target answers.
    let agent = Agent::start(&config, dir.path());
    std::thread::sleep(Duration::from_millis(500));
    let first = Node::start(port, "FirstTarget", 321);
    agent.wait_for(
        "ready: attached to ws://127.0.0.1:",
        Duration::from_secs(30),
    );
    agent.signal(Signal::SIGUSR1);
    let saved = saved_path(&agent.wait_for("saved heap snapshot", Duration::from_secs(60)));
    assert_eq!(count_objects(&saved, "FirstTarget"), 321);

    // The pod restarts: same address, new process. The agent reattaches by itself.
    drop(first);
    let _second = Node::start(port, "SecondTarget", 123);
    agent.wait_for(
        "ready: attached to ws://127.0.0.1:",
        Duration::from_secs(60),
    );
    agent.signal(Signal::SIGUSR1);
    let saved = saved_path(&agent.wait_for("saved heap snapshot", Duration::from_secs(60)));
    assert_eq!(count_objects(&saved, "SecondTarget"), 123);
    assert_eq!(count_objects(&saved, "FirstTarget"), 0);

    let mut agent = agent;
    let status = agent.stop();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    let files = std::fs::read_dir(dir.path().join("profiles"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "two snapshots, nothing partial left");
}

/// Starts `node --inspect=127.0.0.1:0` with a program that keeps the CPU busy in
/// `spinTheCpuForTest` and allocates in `allocateForTest`; returns it and its ws URL.
fn start_busy_node() -> (Node, String) {
    let program = "
        globalThis.kept = [];
        function allocateForTest() { for (let i = 0; i < 200; i++) globalThis.kept.push({ i, s: 'x'.repeat(100) }); if (globalThis.kept.length > 100000) globalThis.kept = []; }
        function spinTheCpuForTest() { const end = Date.now() + 10; let x = 0; while (Date.now() < end) { x += Math.sqrt(x + 1); } return x; }
        setInterval(() => { spinTheCpuForTest(); allocateForTest(); }, 15);";
    let mut node = Node(
        Command::new("node")
            .args(["--inspect=127.0.0.1:0", "-e", program])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is on the PATH"),
    );
    let stderr = BufReader::new(node.0.stderr.take().unwrap());
    for line in stderr.lines() {
        if let Some(url) = line.unwrap().strip_prefix("Debugger listening on ") {
            return (node, url.trim().to_owned());
        }
    }
    panic!("node never printed its inspector URL");
}

/// `POST path` to the HTTP trigger; the status code and body.
fn post(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The seed's second program, from configuration: SIGUSR1 → heap snapshot, SIGUSR2 → CPU
/// profile, and an HTTP trigger with a token → heap sampling profile, all over one WebSocket;
/// the token never shows in the `-vv` logs.
#[test]
fn the_config_agent_runs_three_profilers_over_one_websocket() {
    const TOKEN: &str = "not-in-any-log-0123456789abcdef";
    let (_node, url) = start_busy_node();
    let (upstream, id) = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap();
    let proxy = CountingProxy::start(upstream.parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let config = dir.path().join("agent.json");
    std::fs::write(
        &config,
        format!(
            r#"{{ "target": {{ "ws": "ws://{proxy}/{id}" }},
                 "reactions": [
                   {{ "trigger": {{ "type": "signal", "signal": "SIGUSR1" }}, "profiler": {{ "type": "heapsnapshot" }} }},
                   {{ "trigger": {{ "type": "signal", "signal": "SIGUSR2" }}, "profiler": {{ "type": "cpu-profile" }} }},
                   {{ "trigger": {{ "type": "http", "port": {http_port}, "token": "{TOKEN}" }},
                      "profiler": {{ "type": "heap-profile" }} }} ],
                 "exporters": [ {{ "type": "file", "path": "./profiles" }} ] }}"#,
            proxy = proxy.address(),
        ),
    )
    .unwrap();
    let mut agent = Agent::start(&config, dir.path());
    agent.wait_for("ready: attached to", Duration::from_secs(30));
    let wait = Duration::from_secs(60);

    // A CPU profile runs while a heap snapshot is taken.
    agent.signal(Signal::SIGUSR2);
    std::thread::sleep(Duration::from_millis(300));
    agent.signal(Signal::SIGUSR1);
    agent.wait_for("saved heap snapshot", wait);
    agent.signal(Signal::SIGUSR2);
    agent.wait_for("saved CPU profile", wait);

    // The HTTP trigger wants its token.
    assert_eq!(post(http_port, "/start", None).0, 401);
    assert_eq!(post(http_port, "/start", Some("wrong")).0, 401);
    let (status, body) = post(http_port, "/start", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""outcome":"started""#), "{body}");
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) = post(http_port, "/stop?wait=true", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(".heapprofile"),
        "the reply says where it went: {body}"
    );
    agent.wait_for("saved heap profile", wait);

    let status = agent.stop();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    assert_eq!(
        proxy.websocket_count(),
        1,
        "every profiler shares one WebSocket"
    );
    let profiles = dir.path().join("profiles");
    for extension in ["heapsnapshot", "cpuprofile", "heapprofile"] {
        let files = files_with(&profiles, extension);
        assert_eq!(files.len(), 1, "one .{extension}");
        let profile: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert!(profile.is_object(), ".{extension} is a JSON object");
    }
    let cpu: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files_with(&profiles, "cpuprofile")[0]).unwrap())
            .unwrap();
    assert!(
        cpu["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|node| node["callFrame"]["functionName"] == "spinTheCpuForTest"),
        "the busy function is in the CPU profile"
    );
    let logs = agent.logs();
    assert!(logs.contains("DEBUG"), "-vv logs at debug level: {logs}");
    assert!(!logs.contains(TOKEN), "the token must never be logged");
}

#[test]
fn configuration_errors_name_what_is_wrong_and_what_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let run = |json: &str| {
        let path = dir.path().join("agent.json");
        std::fs::write(&path, json).unwrap();
        let output = openprofiling(&["agent", "--config", "agent.json"], dir.path());
        assert!(!output.status.success(), "{json} must be refused");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let reaction = |trigger: &str, profiler: &str| {
        format!(
            r#"{{ "target": {{ "inspect": "127.0.0.1:1" }},
                 "reactions": [ {{ "trigger": {trigger}, "profiler": {profiler} }} ],
                 "exporters": [ {{ "type": "file" }} ] }}"#
        )
    };

    let error = run(&reaction(
        r#"{ "type": "signal" }"#,
        r#"{ "type": "heapsnap" }"#,
    ));
    assert!(
        error.contains("reactions[0].profiler: unknown profiler type \"heapsnap\"")
            && error.contains("heapsnapshot"),
        "{error}"
    );
    let error = run(&reaction(
        r#"{ "type": "signl" }"#,
        r#"{ "type": "heapsnapshot" }"#,
    ));
    assert!(
        error.contains("unknown trigger type \"signl\"") && error.contains("signal"),
        "{error}"
    );
    let error = run(&reaction(
        r#"{ "type": "signal", "sginal": "SIGUSR1" }"#,
        r#"{ "type": "heapsnapshot" }"#,
    ));
    assert!(
        error.contains("unknown key \"sginal\"") && error.contains("it takes: signal"),
        "{error}"
    );
    let error = run(&reaction(
        r#"{ "type": "signal", "signal": "SIGNOPE" }"#,
        r#"{ "type": "heapsnapshot" }"#,
    ));
    assert!(
        error.contains("reactions[0].trigger") && error.contains("SIGNOPE"),
        "{error}"
    );
    let error = run(r#"{ "target": { "inspect": "127.0.0.1:1" }, "reactions": [] "#);
    assert!(error.contains("not a valid agent configuration"), "{error}");
    let error = run(r#"{ "target": {}, "reactions": [], "exporters": [] }"#);
    assert!(error.contains("names no program"), "{error}");

    let output = openprofiling(&["agent", "--config", "missing.json"], dir.path());
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("cannot read the agent configuration missing.json"),
        "{error}"
    );
}

#[test]
fn plugins_lists_every_linked_plugin_with_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = openprofiling(&["plugins"], dir.path());
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "triggers:",
        "  signal ",
        "profilers:",
        "  heapsnapshot ",
        "exporters:",
        "  file ",
        "  object-store ",
        "keys: gc_before, gc_after",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
