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

/// Starts `node --inspect=127.0.0.1:0 -e program`; returns it and its ws URL.
fn start_node(program: &str) -> (Running, String) {
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

/// Starts the example agent on `url`, writing to `dir`; returns it once it says it is ready.
fn start_agent(url: &str, dir: &std::path::Path) -> Running {
    let mut agent = Running(
        Command::new(env!("CARGO_BIN_EXE_heapsnapshot-agent"))
            .args(["--ws", url, "--to"])
            .arg(dir)
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
    agent
}

fn snapshots_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == "heapsnapshot"));
    files.sort();
    files
}

/// Waits up to `timeout` for `child` to exit.
fn exit_status_within(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let (_node, url) = start_node(
        "globalThis.kept = Array.from({length: 1000}, (_, i) => ({i})); setInterval(() => {}, 1000);",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut agent = start_agent(&url, dir.path());
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
    let status = exit_status_within(&mut agent.0, Duration::from_secs(20))
        .expect("the agent stops on SIGTERM");
    assert!(status.success(), "{status}");
}

/// Node waits for its inspector clients before it exits: the agent lets go of a program that
/// has ended, so that it can, and stops, having nothing left to do.
#[test]
fn a_target_that_ends_exits_and_the_agent_stops() {
    let (mut node, url) = start_node("setTimeout(() => {}, 3000);");
    let dir = tempfile::tempdir().unwrap();
    let mut agent = start_agent(&url, dir.path());

    let node_status = exit_status_within(&mut node.0, Duration::from_secs(30))
        .expect("node exits by itself once its program has ended");
    assert!(node_status.success(), "{node_status}");
    let agent_status = exit_status_within(&mut agent.0, Duration::from_secs(30))
        .expect("the agent stops once its target is gone");
    assert!(agent_status.success(), "{agent_status}");
}
