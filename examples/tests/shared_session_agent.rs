//! The `shared-session-agent` example end to end: a real Node process, real SIGUSR1 and
//! SIGUSR2 signals, a heap snapshot taken while a CPU profile runs, both over one WebSocket.
//!
//! The agent reaches Node through a [`CountingProxy`], which counts the WebSocket upgrades
//! going through it over the agent's whole life.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openprofiling_core::mock::CountingProxy;

const WAIT: Duration = Duration::from_secs(60);

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `node --inspect=127.0.0.1:0` running a program that keeps the CPU busy in
/// `spinTheCpuForTest`; returns it and its ws URL.
fn start_node() -> (Running, String) {
    let program = "
        globalThis.kept = Array.from({length: 1000}, (_, i) => ({i}));
        function spinTheCpuForTest() {
          const end = Date.now() + 20;
          let x = 0;
          while (Date.now() < end) { x += Math.sqrt(x + 1); }
          return x;
        }
        setInterval(spinTheCpuForTest, 25);";
    let mut node = Running(
        Command::new("node")
            .args(["--inspect=127.0.0.1:0", "-e", program])
            .stderr(Stdio::piped())
            .spawn()
            .expect("node on the PATH"),
    );
    let stderr = BufReader::new(node.0.stderr.take().unwrap());
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("Debugger listening on ") {
            return (node, url.trim().to_owned());
        }
    }
    panic!("node never printed its inspector URL");
}

fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == extension));
    files
}

fn wait_for_file(dir: &Path, extension: &str) -> PathBuf {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(file) = files_with(dir, extension).pop() {
            return file;
        }
        assert!(
            Instant::now() < deadline,
            "no .{extension} file in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a log line of the agent containing `text`.
fn wait_for_log(logs: &mpsc::Receiver<String>, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match logs.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(error) => panic!("the agent never logged {text:?}: {error}"),
        }
    }
}

#[test]
fn usr1_snapshots_and_usr2_profiles_the_cpu_over_one_websocket() {
    let (_node, url) = start_node();
    let (upstream, id) = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap();
    let proxy = CountingProxy::start(upstream.parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Running(
        Command::new(env!("CARGO_BIN_EXE_shared-session-agent"))
            .args(["--ws", &format!("ws://{}/{id}", proxy.address()), "--to"])
            .arg(dir.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (log_lines, logs) = mpsc::channel();
    let stderr = BufReader::new(agent.0.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = log_lines.send(line);
        }
    });
    let mut ready = String::new();
    BufReader::new(agent.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.starts_with("ready:"), "{ready}");
    let pid = Pid::from_raw(i32::try_from(agent.0.id()).unwrap());

    // CPU profile on, heap snapshot while it runs, CPU profile off.
    kill(pid, Signal::SIGUSR2).unwrap();
    wait_for_log(&logs, "profile started");
    kill(pid, Signal::SIGUSR1).unwrap();
    let snapshot = wait_for_file(dir.path(), "heapsnapshot");
    std::thread::sleep(Duration::from_millis(300));
    kill(pid, Signal::SIGUSR2).unwrap();
    let profile = wait_for_file(dir.path(), "cpuprofile");

    // SIGTERM stops the agent cleanly.
    kill(pid, Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert_eq!(
        proxy.websocket_count(),
        1,
        "both profilers must share one WebSocket connection"
    );
    assert_eq!(files_with(dir.path(), "heapsnapshot").len(), 1);
    assert_eq!(files_with(dir.path(), "cpuprofile").len(), 1);

    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snapshot).unwrap()).unwrap();
    let node_fields = snapshot["snapshot"]["meta"]["node_fields"]
        .as_array()
        .unwrap()
        .len();
    let node_count = snapshot["snapshot"]["node_count"].as_u64().unwrap() as usize;
    assert_eq!(
        snapshot["nodes"].as_array().unwrap().len(),
        node_count * node_fields
    );

    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(profile).unwrap()).unwrap();
    let nodes = profile["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .any(|node| node["callFrame"]["functionName"] == "spinTheCpuForTest"),
        "the busy function must appear in the CPU profile"
    );
}
