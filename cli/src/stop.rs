//! Ctrl-C and SIGTERM: the operator's request to stop.

use std::process::ExitCode;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which stop signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopSignal {
    /// SIGINT, Ctrl-C at a terminal.
    Interrupt,
    /// SIGTERM, as `kill` and Kubernetes send.
    Terminate,
}

impl StopSignal {
    /// The exit code a shell reports for a program ended by this signal (128 + its number):
    /// 130 for SIGINT, 143 for SIGTERM.
    pub(crate) fn exit_code(self) -> ExitCode {
        match self {
            Self::Interrupt => ExitCode::from(130),
            Self::Terminate => ExitCode::from(143),
        }
    }

    /// `SIGINT` or `SIGTERM`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is created: once it exists, neither ends
/// the process any more; [`StopSignals::recv`] says which came.
pub(crate) struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Installs the handlers.
    pub(crate) fn install() -> anyhow::Result<Self> {
        let install = |kind, name| {
            signal(kind).map_err(|error| anyhow::anyhow!("cannot handle {name}: {error}"))
        };
        Ok(Self {
            interrupt: install(SignalKind::interrupt(), "SIGINT")?,
            terminate: install(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub(crate) async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }
}
