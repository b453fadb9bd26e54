//! Soak: 100 heap snapshots of one small Node process through one agent (this crate's profiler,
//! the file exporter), printing file descriptors, tokio tasks, resident memory and time per
//! snapshot, and failing if descriptors or tasks grow after the first five.
//!
//! `cargo bench -p openprofiling-inspector-heapsnapshot --bench soak` (`SOAK_SNAPSHOTS=N` for
//! another count).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/common/soak.rs"]
mod soak;

use std::time::Duration;

const WARM_UP: usize = 5;

fn main() {
    let count: usize = std::env::var("SOAK_SNAPSHOTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
        .max(WARM_UP + 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let node = soak::small_target().await;
        let dir = tempfile::tempdir().unwrap();
        let before = (soak::open_fds(), soak::rss());
        let samples = soak::soak(&node, dir.path(), count).await;
        node.stop().await;

        println!("soak: {count} heap snapshots of a small Node process, one agent, one session");
        println!(
            "before: {} fds, {:.1} MB RSS",
            before.0,
            before.1 as f64 / 1048576.0
        );
        println!("snapshot   fds  tasks   RSS MB   size MB   time ms");
        for (index, sample) in samples.iter().enumerate() {
            if index < WARM_UP || (index + 1) % 10 == 0 {
                println!(
                    "{:>8} {:>5} {:>6} {:>8.1} {:>9.2} {:>9}",
                    index + 1,
                    sample.fds,
                    sample.tasks,
                    sample.rss as f64 / 1048576.0,
                    sample.bytes as f64 / 1048576.0,
                    sample.took.as_millis()
                );
            }
        }
        let warm = samples[WARM_UP - 1];
        let last = samples[count - 1];
        let mut times: Vec<Duration> = samples.iter().map(|s| s.took).collect();
        times.sort();
        println!(
            "after {WARM_UP}: {} fds, {} tasks, {:.1} MB RSS; after {count}: {} fds, {} tasks, {:.1} MB RSS ({:+.1} MB); median {:?}, max {:?} per snapshot",
            warm.fds,
            warm.tasks,
            warm.rss as f64 / 1048576.0,
            last.fds,
            last.tasks,
            last.rss as f64 / 1048576.0,
            (last.rss as f64 - warm.rss as f64) / 1048576.0,
            times[times.len() / 2],
            times[times.len() - 1]
        );
        let max_fds = samples[WARM_UP..].iter().map(|s| s.fds).max().unwrap();
        let max_tasks = samples[WARM_UP..].iter().map(|s| s.tasks).max().unwrap();
        assert!(max_fds <= warm.fds, "file descriptors grew to {max_fds}");
        assert!(max_tasks <= warm.tasks, "tokio tasks grew to {max_tasks}");
    });
}
