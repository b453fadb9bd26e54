//! Thirty heap snapshots of one small Node process through one agent: after the first few,
//! no more file descriptors, no more tokio tasks, and no steady growth of resident memory.
//! (`cargo bench -p openprofiling-inspector-heapsnapshot --bench soak` takes 100, and prints.)
#![allow(clippy::unwrap_used, clippy::print_stderr)]

#[path = "common/soak.rs"]
mod soak;

const SNAPSHOTS: usize = 30;
const WARM_UP: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_snapshots_leak_no_descriptors_tasks_or_memory() {
    let node = soak::small_target().await;
    let dir = tempfile::tempdir().unwrap();
    let samples = soak::soak(&node, dir.path(), SNAPSHOTS).await;
    node.stop().await;

    let warm = samples[WARM_UP - 1];
    let last = samples[SNAPSHOTS - 1];
    let max_fds = samples[WARM_UP..].iter().map(|s| s.fds).max().unwrap();
    let max_tasks = samples[WARM_UP..].iter().map(|s| s.tasks).max().unwrap();
    eprintln!(
        "after {WARM_UP}: {} fds, {} tasks, {} KB RSS; after {SNAPSHOTS}: {} fds (max {max_fds}), {} tasks (max {max_tasks}), {} KB RSS; {} KB per snapshot",
        warm.fds,
        warm.tasks,
        warm.rss / 1024,
        last.fds,
        last.tasks,
        last.rss / 1024,
        last.bytes / 1024
    );
    assert!(
        max_fds <= warm.fds,
        "file descriptors grew: {:?}",
        samples.iter().map(|s| s.fds).collect::<Vec<_>>()
    );
    assert!(
        max_tasks <= warm.tasks,
        "tokio tasks grew: {:?}",
        samples.iter().map(|s| s.tasks).collect::<Vec<_>>()
    );
    // Allocator noise aside, 25 more snapshots must not add a snapshot's worth each.
    let growth = last.rss.saturating_sub(warm.rss);
    assert!(
        growth < 4 * last.bytes + (16 << 20),
        "RSS grew {} KB over {} snapshots of {} KB",
        growth / 1024,
        SNAPSHOTS - WARM_UP,
        last.bytes / 1024
    );
}
