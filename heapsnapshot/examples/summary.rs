//! Prints the Summary view of a snapshot as JSON: `cargo run --release --example summary -- FILE`.
//! With `HEAPSNAPSHOT_PHASES=1`, prints each phase's start time on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::cell::Cell;
use std::time::Instant;

use openprofiling_heapsnapshot::{HeapSnapshot, Phase};

/// Current and peak resident memory, from /proc (Linux).
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.trim_start_matches(name).trim().to_owned())
            .unwrap_or_default()
    };
    format!("{} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: summary FILE.heapsnapshot");
        std::process::exit(2);
    };
    let trace = std::env::var_os("HEAPSNAPSHOT_PHASES").is_some();
    let start = Instant::now();
    let last: Cell<Option<Phase>> = Cell::new(None);
    let progress = |phase: Phase, _done: u64, _total: u64| {
        if trace && last.get() != Some(phase) {
            eprintln!(
                "{:>8.3}s {:<16} rss {}",
                start.elapsed().as_secs_f64(),
                phase.label(),
                rss()
            );
            last.set(Some(phase));
        }
    };
    let snapshot = HeapSnapshot::from_path_with_progress(path, &progress)?;
    let summary = snapshot.summary();
    if trace {
        eprintln!(
            "{:>8.3}s done             rss {}",
            start.elapsed().as_secs_f64(),
            rss()
        );
    }
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
