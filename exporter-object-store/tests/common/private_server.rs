//! A private SeaweedFS or Azurite for one test, which it may kill and restart: the command
//! comes from `scripts/test-servers.py private` (the same flags as the shared servers, free
//! ports, data on disk), the process runs in its own process group, and a drop kills it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::servers::env;

/// How long a private server may take to start or restart.
pub const START_WAIT: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SeaweedFS (`weed mini`), S3.
    SeaweedFs,
    /// Azurite (`azurite-blob`), Azure Blob, persisted on disk.
    Azurite,
}

impl Kind {
    fn arg(self) -> &'static str {
        match self {
            Self::SeaweedFs => "seaweedfs",
            Self::Azurite => "azurite",
        }
    }

    /// The variable naming the server's binary, written by `scripts/test-servers.py start`.
    fn binary_var(self) -> &'static str {
        match self {
            Self::SeaweedFs => "OPENPROFILING_TEST_WEED_BIN",
            Self::Azurite => "OPENPROFILING_TEST_AZURITE_BIN",
        }
    }
}

/// A server process of this test only; killed (SIGKILL to its process group) on drop.
#[derive(Debug)]
pub struct PrivateServer {
    kind: Kind,
    /// What `scripts/test-servers.py private` printed: `command`, `env`, `endpoint`, ...
    pub description: Value,
    /// Holds `data/` (the server's) and `server.log`; removed on drop.
    dir: TempDir,
    child: Option<Child>,
    /// How many times it was started (each start appends to the log).
    starts: usize,
}

/// Runs `scripts/test-servers.py` with `args`; its stdout.
fn script(args: &[&str]) -> String {
    let script = env("OPENPROFILING_TEST_SERVERS_SCRIPT");
    let output = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run python3 {script}: {error}"));
    assert!(
        output.status.success(),
        "python3 {script} {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

impl PrivateServer {
    /// Describes a new private server of `kind` with its data in a fresh directory; starts
    /// nothing yet.
    pub fn new(kind: Kind) -> Self {
        let binary = env(kind.binary_var());
        let dir = tempfile::Builder::new()
            .prefix(&format!("openprofiling-private-{}-", kind.arg()))
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let out = script(&["private", kind.arg(), data.to_str().unwrap()]);
        let description: Value = serde_json::from_str(&out)
            .unwrap_or_else(|error| panic!("test-servers.py printed no JSON ({error}): {out}"));
        assert_eq!(
            description["command"][0].as_str(),
            Some(binary.as_str()),
            "the script's command runs {} ({binary})",
            kind.binary_var()
        );
        Self {
            kind,
            description,
            dir,
            child: None,
            starts: 0,
        }
    }

    /// The server's data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `description[key]` as a string.
    pub fn field(&self, key: &str) -> String {
        self.description[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.description))
            .to_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Spawns the server (again, on the same ports and data) in its own process group.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{:?} is already running", self.kind);
        let command: Vec<String> = self.description["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap().to_owned())
            .collect();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut process = Command::new(&command[0]);
        process
            .args(&command[1..])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        if let Some(vars) = self.description["env"].as_object() {
            for (key, value) in vars {
                process.env(key, value.as_str().unwrap());
            }
        }
        let child = process
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", command[0]));
        self.child = Some(child);
        self.starts += 1;
    }

    /// Fails the test, with the log, if the server exited.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("the server was started");
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{:?} exited ({status}); log:\n{}",
                self.kind,
                self.log_tail()
            );
        }
    }

    /// SIGKILL to the server's whole process group, then reaps it.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        // `kill` the command: no libc, no unsafe. The group is the child's own (process_group(0)).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Bytes of all files under the data directory.
    pub fn data_bytes(&self) -> u64 {
        fn walk(path: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(path) else {
                return 0;
            };
            entries
                .flatten()
                .map(|entry| match entry.file_type() {
                    Ok(kind) if kind.is_dir() => walk(&entry.path()),
                    Ok(_) => entry.metadata().map_or(0, |meta| meta.len()),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.data())
    }

    /// Polls `ready` every 250 ms until it is true, for at most [`START_WAIT`]; fails the
    /// test with the log if the server exits or is not ready in time.
    pub async fn wait_ready<F, Fut>(&mut self, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let began = Instant::now();
        let mut last = String::new();
        while began.elapsed() < START_WAIT {
            self.assert_running();
            match ready().await {
                Ok(()) => return,
                Err(why) => last = why,
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "{:?} was not ready within {START_WAIT:?} (last: {last}); log:\n{}",
            self.kind,
            self.log_tail()
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates the test container on the Azurite at `endpoint` (`http://127.0.0.1:PORT`), as
/// the shared one gets it.
pub fn create_container(endpoint: &str) -> Result<(), String> {
    let script = env("OPENPROFILING_TEST_SERVERS_SCRIPT");
    let output = Command::new("python3")
        .arg(&script)
        .args(["create-container", endpoint])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run python3 {script}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
