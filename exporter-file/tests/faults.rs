//! A file destination that vanishes in the middle of a profile, through a real agent with two
//! file exporters: the other one completes and is reported, the vanished one fails alone,
//! named, and publishes nothing (not even into a directory re-created under the same name).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use openprofiling_core::{
    ManualTrigger, ProfileKind, ProfileStatus, ProfileWriter, Profiler, ProfilingAgent, Result,
    TargetInfo,
};
use openprofiling_exporter_file::FileExporter;

const CHUNKS: usize = 40;
const CHUNK_SIZE: usize = 64 << 10;
/// The chunk after which the directory goes.
const VANISH_AFTER: usize = 10;

/// Writes numbered chunks; after [`VANISH_AFTER`] of them, removes `doomed` (and, if asked,
/// makes an empty directory of the same name), noting what was in it then.
#[derive(Debug)]
struct VanishingDestination {
    doomed: PathBuf,
    recreate: bool,
    seen_before: Arc<Mutex<Vec<String>>>,
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn chunk(index: usize) -> Bytes {
    let line = format!("[{index},\"node\"],");
    Bytes::from(line.repeat(CHUNK_SIZE / line.len() + 1)[..CHUNK_SIZE].to_owned())
}

#[async_trait]
impl Profiler for VanishingDestination {
    fn kind(&self) -> ProfileKind {
        ProfileKind::HeapSnapshot
    }

    fn target(&self) -> TargetInfo {
        TargetInfo {
            pid: Some(std::process::id()),
            ..TargetInfo::default()
        }
    }

    async fn collect(&self, writer: &mut ProfileWriter) -> Result<()> {
        for index in 0..CHUNKS {
            writer.write(chunk(index)).await?;
            if index + 1 == VANISH_AFTER {
                *self.seen_before.lock().unwrap() = names(&self.doomed);
                std::fs::remove_dir_all(&self.doomed).unwrap();
                if self.recreate {
                    std::fs::create_dir(&self.doomed).unwrap();
                }
            }
        }
        Ok(())
    }
}

async fn vanish_mid_stream(recreate: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (doomed, kept) = (dir.path().join("doomed"), dir.path().join("kept"));
    let seen_before = Arc::new(Mutex::new(Vec::new()));
    let profiler = VanishingDestination {
        doomed: doomed.clone(),
        recreate,
        seen_before: seen_before.clone(),
    };
    let (trigger, handle) = ManualTrigger::new("test");
    let agent = ProfilingAgent::new()
        .register(trigger, profiler)
        .exporter(FileExporter::new(&doomed))
        .exporter(FileExporter::new(&kept))
        .start()
        .unwrap();
    let reaction = handle.start().await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), reaction.finished())
        .await
        .expect("the profile ends")
        .expect("a report");
    agent.shutdown().await;

    // The directory held only the temporary file when it went.
    let before = seen_before.lock().unwrap().clone();
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].ends_with(".partial"), "{before:?}");

    // The profile itself is complete; one destination failed, named, the other has it whole.
    assert_eq!(report.profile.status, ProfileStatus::Success, "{report:?}");
    assert!(!report.is_success());
    assert_eq!(report.exports.len(), 2);
    let failed = &report.exports[0];
    assert_eq!(failed.exporter, format!("file {}", doomed.display()));
    let error = failed.result.as_ref().unwrap_err().to_string();
    assert!(error.contains(&doomed.display().to_string()), "{error}");
    let receipt = report.exports[1].result.as_ref().unwrap();
    let published = std::fs::read(&receipt.location).unwrap();
    assert_eq!(published.len(), CHUNKS * CHUNK_SIZE);
    assert!(
        published
            .chunks(CHUNK_SIZE)
            .enumerate()
            .all(|(i, c)| c == chunk(i))
    );

    // Nothing under the vanished name: no final file, no temporary one, no directory made.
    if recreate {
        assert_eq!(names(&doomed), Vec::<String>::new());
    } else {
        assert!(!doomed.exists(), "{:?}", names(&doomed));
    }
    assert_eq!(names(&kept).len(), 1);
}

#[tokio::test]
async fn a_directory_removed_mid_stream_fails_its_export_alone() {
    vanish_mid_stream(false).await;
}

#[tokio::test]
async fn a_directory_replaced_mid_stream_gets_nothing_published_into_it() {
    vanish_mid_stream(true).await;
}
