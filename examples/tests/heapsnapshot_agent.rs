//! The `heapsnapshot-agent` example end to end: a real Node process, real SIGUSR2 signals,
//! one file per signal.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `node --inspect=127.0.0.1:0` running a small program; returns it and its ws URL.
fn start_node() -> (Running, String) {
    let mut node = Running(
        Command::new("node")
            .args([
                "--inspect=127.0.0.1:0",
                "-e",
                "globalThis.kept = Array.from({length: 1000}, (_, i) => ({i})); setInterval(() => {}, 1000);",
            ])
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

fn snapshots_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == "heapsnapshot"));
    files.sort();
    files
}

fn wait_for_snapshots(dir: &std::path::Path, count: usize) -> Vec<std::path::PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = snapshots_in(dir);
        if files.len() >= count || Instant::now() > deadline {
            return files;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_sigusr2_give_two_heap_snapshots() {
    let (_node, url) = start_node();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Running(
        Command::new(env!("CARGO_BIN_EXE_heapsnapshot-agent"))
            .args(["--ws", &url, "--to"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(agent.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.starts_with("ready:"), "{ready}");
    let pid = Pid::from_raw(i32::try_from(agent.0.id()).unwrap());

    kill(pid, Signal::SIGUSR2).unwrap();
    let first = wait_for_snapshots(dir.path(), 1);
    assert_eq!(first.len(), 1, "one signal, one snapshot");
    kill(pid, Signal::SIGUSR2).unwrap();
    let both = wait_for_snapshots(dir.path(), 2);
    assert_eq!(both.len(), 2, "two signals, two snapshots: {both:?}");

    for path in &both {
        let snapshot: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let meta = &snapshot["snapshot"]["meta"];
        let node_fields = meta["node_fields"].as_array().unwrap().len() as u64;
        let node_count = snapshot["snapshot"]["node_count"].as_u64().unwrap();
        assert_eq!(
            snapshot["nodes"].as_array().unwrap().len() as u64,
            node_count * node_fields
        );
    }

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
}
