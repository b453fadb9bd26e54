//! Starting the program to profile with its inspector on a free loopback port.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// How long the program may take to open its inspector.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the program may take to exit on SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a program whose script has ended may take to exit by itself once let go.
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// What Node prints when its inspector listens.
const LISTENING: &str = "Debugger listening on ";
/// What Node prints when its program has ended while an inspector client is attached: it then
/// waits for the client to go, and answers no more calls.
const ENDED_WITH_CLIENT: &str = "Waiting for the debugger to disconnect...";

/// A program we started with `--inspect=127.0.0.1:0`; killed if dropped.
pub(crate) struct SpawnedTarget {
    child: Child,
    ws_url: String,
    /// The program the operator named (`node`, `npm`...), for messages.
    program: String,
    /// Cancelled once the program's script has ended (see [`SpawnedTarget::ended`]).
    ended: CancellationToken,
    /// The task passing the program's stderr through; it ends with the program's stderr.
    forwarder: Option<tokio::task::JoinHandle<()>>,
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
        // Keep passing the program's stderr through, without the inspector's own chatter, and
        // watch for the program's end: Node's word for it, or its stderr closing.
        let ended = CancellationToken::new();
        let ended_here = ended.clone();
        let forwarder = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line == ENDED_WITH_CLIENT {
                    debug!("The program has ended; Node waits for the inspector client to go.");
                    ended_here.cancel();
                    continue;
                }
                let inspector_chatter = line.starts_with("For help, see: ")
                    || line.starts_with("Debugger ending on ")
                    || line == "Debugger attached.";
                if !inspector_chatter {
                    eprintln!("{line}");
                }
            }
            ended_here.cancel();
        });
        Ok(Self {
            child,
            ws_url,
            program: program.clone(),
            ended,
            forwarder: Some(forwarder),
        })
    }

    /// Completes once the program's script has ended (it exited, or Node holds it open for the
    /// attached inspector client, which then gets no answers): a snapshot cannot be taken.
    pub(crate) async fn ended(&self) {
        self.ended.cancelled().await;
    }

    /// Whether the program's script has ended, as far as we know now.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// Whether the program's script has ended, allowing `grace` for the news to arrive.
    pub(crate) async fn has_ended_within(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.ended()).await.is_ok()
    }

    /// The error for a program that ended before its snapshot was complete; stops it first
    /// (see [`stop`](Self::stop)), so that what it printed last comes before this.
    pub(crate) async fn ended_error(self) -> anyhow::Error {
        let program = self.program.clone();
        let status = self
            .stop()
            .await
            .map(|status| format!(" ({status})"))
            .unwrap_or_default();
        anyhow::anyhow!(
            "{program} ended{status} before its heap snapshot was complete, so there was \
             nothing left to snapshot: `snapshot -- COMMAND` needs a program that keeps running \
             (a server, a worker); for a script, take the snapshot from inside it with \
             v8.writeHeapSnapshot()"
        )
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
    /// A program whose script has ended is first given a moment to exit by itself (Node does
    /// once no inspector client holds it, and prints then what it held back, such as an
    /// uncaught exception). Returns how it exited, when known.
    pub(crate) async fn stop(mut self) -> Option<std::process::ExitStatus> {
        if self.ended.is_cancelled() {
            if let Ok(Ok(status)) = tokio::time::timeout(EXIT_GRACE, self.child.wait()).await {
                if let Some(forwarder) = self.forwarder.take() {
                    // Its last words, before ours.
                    let _ = tokio::time::timeout(EXIT_GRACE, forwarder).await;
                }
                return Some(status);
            }
        }
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}
