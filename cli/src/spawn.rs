//! Starting the program to profile with its inspector on a free loopback port.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tracing::debug;

/// How long the program may take to open its inspector.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the program may take to exit on SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// What Node prints when its inspector listens.
const LISTENING: &str = "Debugger listening on ";

/// A program we started with `--inspect=127.0.0.1:0`; killed if dropped.
pub(crate) struct SpawnedTarget {
    child: Child,
    ws_url: String,
}

impl SpawnedTarget {
    /// Starts `command` with its inspector on a free loopback port and waits for it to listen.
    /// A `node` program gets `--inspect=127.0.0.1:0` as its first argument; any other (`npm`,
    /// a wrapper script) gets it through `NODE_OPTIONS`. The program's own output goes to our
    /// stderr, so our stdout holds only results.
    pub(crate) async fn start(command: &[String]) -> anyhow::Result<Self> {
        let Some((program, args)) = command.split_first() else {
            bail!("no command given after --");
        };
        let mut process = Command::new(program);
        let is_node = std::path::Path::new(program)
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("node"));
        if is_node {
            process.arg("--inspect=127.0.0.1:0");
        } else {
            let options = std::env::var("NODE_OPTIONS").unwrap_or_default();
            process.env("NODE_OPTIONS", format!("{options} --inspect=127.0.0.1:0"));
        }
        process
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = process.spawn().with_context(|| {
            format!("cannot start {program:?} (is it installed and on the PATH?)")
        })?;
        let stderr = child
            .stderr
            .take()
            .context("the program's stderr is not piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let ws_url = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix(LISTENING) {
                    return Ok(Some(url.trim().to_owned()));
                }
                eprintln!("{line}");
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let ws_url = match ws_url {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) => {
                let status = child.wait().await.ok();
                bail!(
                    "{program} exited{} before its inspector started: is it a Node.js program?",
                    status.map(|s| format!(" ({s})")).unwrap_or_default()
                )
            }
            Ok(Err(error)) => return Err(error).context("cannot read the program's stderr"),
            Err(_) => bail!(
                "{program} did not open its inspector within {START_TIMEOUT:?}: is it a Node.js program?"
            ),
        };
        debug!(
            pid = child.id(),
            url = ws_url,
            "Program started with its inspector on."
        );
        // Keep passing the program's stderr through, without the inspector's own chatter.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let inspector_chatter = line.starts_with("For help, see: ")
                    || line.starts_with("Debugger ending on ")
                    || line == "Debugger attached.";
                if !inspector_chatter {
                    eprintln!("{line}");
                }
            }
        });
        Ok(Self { child, ws_url })
    }

    /// The inspector's WebSocket URL.
    pub(crate) fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The program's pid.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the program: SIGTERM, then SIGKILL if it is still running after a few seconds.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
