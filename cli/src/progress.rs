//! A progress bar on stderr while V8 builds and streams a snapshot (only at a terminal).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use openprofiling_inspector_heapsnapshot::SnapshotProgress;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::destination::human_bytes;

/// Draws a snapshot's progress until dropped; nothing when stderr is not a terminal.
pub(crate) struct ProgressDisplay {
    drawing: Option<(ProgressBar, JoinHandle<()>)>,
}

impl ProgressDisplay {
    pub(crate) fn start(mut progress: watch::Receiver<SnapshotProgress>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { drawing: None };
        }
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<32} [{bar:30}] {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let drawn = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                let now = *progress.borrow_and_update();
                drawn.set_position((now.fraction() * 1000.0) as u64);
                drawn.set_message(if now.finished {
                    format!("streaming {}", human_bytes(now.bytes))
                } else {
                    format!("walking the heap {}/{}", now.done, now.total)
                });
                if progress.changed().await.is_err() {
                    break;
                }
            }
        });
        Self {
            drawing: Some((bar, task)),
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        if let Some((bar, task)) = self.drawing.take() {
            task.abort();
            bar.finish_and_clear();
        }
    }
}
