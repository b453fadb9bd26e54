//! A 200 MB profile streamed to the real S3 server (SeaweedFS, started by
//! `bash scripts/test.sh`) with this process's resident memory measured during the upload.
//! Alone in its own test binary so no other test's memory counts.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{CHUNK, ChunkProfiler, run_profile};
use object_store::ObjectStoreExt;
use openprofiling_core::ProfileStatus;
use openprofiling_exporter_object_store::{ObjectStoreExporter, ObjectStoreExporterConfig};
use servers::{S3, reader, root_url, unique};

const MIB: u64 = 1024 * 1024;

/// This process's resident set size (VmRSS), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_200_mb_profile_streams_in_bounded_memory() {
    let url = format!("{}{}/", root_url(S3), unique("rss"));
    // The defaults: 8 MiB parts, 4 in flight.
    let exporter = ObjectStoreExporter::from_config(ObjectStoreExporterConfig::new(url)).unwrap();
    let chunks = 2000; // 2000 × 100 KiB = 195 MiB
    let reader = reader(S3);

    let baseline = rss();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            samples
        })
    };
    let report = tokio::time::timeout(
        Duration::from_secs(300),
        run_profile(exporter.clone(), ChunkProfiler::complete(chunks)),
    )
    .await
    .expect("the upload finishes");
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);

    assert_eq!(report.profile.status, ProfileStatus::Success);
    assert!(report.is_success(), "{report:?}");
    let size = (chunks * CHUNK) as u64;
    assert_eq!(report.profile.size, size);
    let head = reader.head(&exporter.key(&report.profile)).await.unwrap();
    assert_eq!(head.size, size, "the whole profile landed");
    assert!(samples > 10, "RSS sampled {samples} times");
    println!(
        "200 MB profile to S3: RSS baseline {} MiB, peak growth {} MiB over {samples} samples",
        baseline / MIB,
        growth / MIB
    );
    // Bounded by the parts in flight (4 × 8 MiB, plus the part being filled), not by the
    // profile's 195 MiB; measured here at 52–60 MiB. The limit leaves room for a loaded
    // machine's allocator: the 64 MB goal itself is a benchmark figure, not a timed test.
    assert!(
        growth < 96 * MIB,
        "RSS grew by {} MiB while uploading {} MiB (limit 96 MiB)",
        growth / MIB,
        size / MIB
    );
}
