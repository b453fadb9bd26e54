//! A progress bar on stderr while a snapshot is read and analysed (only at a terminal).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use openprofiling_heapsnapshot::{Phase, Progress};

/// Shows each phase of the analysis with its own bar; nothing when stderr is not a terminal.
pub(crate) struct AnalysisBar {
    bar: Option<ProgressBar>,
    phase: Mutex<Option<Phase>>,
    /// What is being analysed, shown before the phase.
    subject: String,
}

impl AnalysisBar {
    pub(crate) fn new(subject: impl Into<String>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg:<40} [{bar:30}] {percent:>3}% {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            phase: Mutex::new(None),
            subject: subject.into(),
        }
    }
}

impl Progress for AnalysisBar {
    fn report(&self, phase: Phase, done: u64, total: u64) {
        let Some(bar) = &self.bar else {
            return;
        };
        let mut current = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if *current != Some(phase) {
            *current = Some(phase);
            bar.set_message(format!("{}: {}", self.subject, phase.label()));
            bar.set_length(total.max(1));
            bar.reset();
        }
        bar.set_position(done.min(total.max(1)));
    }
}

impl Drop for AnalysisBar {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
