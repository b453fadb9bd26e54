//! [`NodeProcess`]: a real `node --inspect=127.0.0.1:0` for tests that need the real inspector.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long node may take to open its inspector and to say it is ready.
const WAIT: Duration = Duration::from_secs(60);

/// A `node` process with its inspector on a free loopback port, killed when dropped.
///
/// [`start`](Self::start) runs a program given with `-e`, which must print a line `ready` on
/// stdout once it has built whatever the test looks for in its heap.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    ws_url: String,
}

impl NodeProcess {
    /// Starts `node --inspect=127.0.0.1:0 -e program` and waits for its inspector and for the
    /// program's `ready` line.
    ///
    /// # Panics
    ///
    /// If `node` is not on the PATH, exits early, or is not ready within a minute.
    pub async fn start(program: &str) -> Self {
        let mut child = Command::new("node")
            .args(["--inspect=127.0.0.1:0", "-e", program])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be on the PATH");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = BufReader::new(stderr).lines();
        let mut stdout = BufReader::new(stdout).lines();
        let ws_url = tokio::time::timeout(WAIT, async {
            while let Some(line) = stderr.next_line().await.expect("node's stderr") {
                if let Some(url) = line.strip_prefix("Debugger listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("node exited without announcing its inspector");
        })
        .await
        .expect("node announces its inspector within a minute");
        tokio::time::timeout(WAIT, async {
            while let Some(line) = stdout.next_line().await.expect("node's stdout") {
                if line.trim() == "ready" {
                    return;
                }
            }
            panic!("node exited before its program printed `ready`");
        })
        .await
        .expect("the program gets ready within a minute");
        // Keep reading both pipes so that node never blocks on a full one.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self { child, ws_url }
    }

    /// Starts a program that keeps exactly `count` objects of its own class `class` alive,
    /// so a test can count them in a heap snapshot.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start); and if `class` is not a plain JavaScript identifier.
    pub async fn start_with_instances(class: &str, count: usize) -> Self {
        assert!(
            !class.is_empty() && class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{class:?} is not a plain class name"
        );
        let program = format!(
            "class {class} {{ constructor(i) {{ this.i = i; }} }}\n\
             globalThis.kept = Array.from({{ length: {count} }}, (_, i) => new {class}(i));\n\
             setInterval(() => {{}}, 1000);\n\
             console.log('ready');"
        );
        Self::start(&program).await
    }

    /// The inspector's WebSocket URL.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit status, or `None` if
    /// it still runs.
    pub async fn exited_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Kills the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
