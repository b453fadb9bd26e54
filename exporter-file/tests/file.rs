//! The file exporter, driven directly and through a real agent.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use openprofiling_core::{
    ChunkBlocks, Error, Exporter, ManualTrigger, PluginContext, ProfileKind, ProfileMetadata,
    ProfileStatus, ProfileWriter, Profiler, ProfilingAgent, Registry, Result, TargetInfo,
};
use openprofiling_exporter_file::{FileExporter, FileExporterConfig};

/// A heap snapshot profile of this process.
fn profile() -> ProfileMetadata {
    let mut profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "test");
    profile.target.pid = Some(std::process::id());
    profile
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `chunks` chunks of `size` bytes of JSON-ish text, numbered so order matters.
fn chunks(count: usize, size: usize) -> Vec<Bytes> {
    (0..count)
        .map(|i| {
            let line = format!("[{i},\"node\",{}],", i * 7);
            Bytes::from(line.repeat(size / line.len() + 1)[..size].to_owned())
        })
        .collect()
}

fn concat(chunks: &[Bytes]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.to_vec()).collect()
}

/// Asserts `name` is `heap_snapshot-<time>-pid<our pid>-<id>.heapsnapshot<suffix>`.
fn assert_final_name(name: &str, profile: &ProfileMetadata, suffix: &str) {
    assert!(name.starts_with("heap_snapshot-"), "{name}");
    assert!(
        name.ends_with(&format!(
            "-pid{}-{}.heapsnapshot{suffix}",
            std::process::id(),
            profile.id
        )),
        "{name}"
    );
    assert!(!name.contains(':'), "{name}");
}

#[tokio::test]
async fn a_complete_profile_is_published_owner_only_with_exactly_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path());
    assert_eq!(exporter.name(), format!("file {}", dir.path().display()));
    let profile = profile();
    let data = chunks(5, 1000);

    let mut sink = exporter.begin(&profile).await.unwrap();
    for chunk in &data {
        sink.write(chunk.clone()).await.unwrap();
    }

    // While writing: only the hidden partial file, nothing under the final name.
    let during = names(dir.path());
    assert_eq!(during.len(), 1, "{during:?}");
    assert!(during[0].starts_with('.'), "{during:?}");
    assert!(during[0].ends_with(".partial"), "{during:?}");
    assert_eq!(mode(&dir.path().join(&during[0])), 0o600);
    let final_name = profile.file_name();
    assert!(!dir.path().join(&final_name).exists());

    let receipt = sink.finish(&profile).await.unwrap();

    assert_eq!(names(dir.path()), [final_name.as_str()], "no partial left");
    assert_final_name(&final_name, &profile, "");
    let path = dir.path().join(&final_name);
    assert_eq!(std::fs::read(&path).unwrap(), concat(&data));
    assert_eq!(mode(&path), 0o600, "snapshots hold secrets");
    assert_eq!(receipt.location, path.display().to_string());
    assert!(Path::new(&receipt.location).is_absolute());
    assert_eq!(receipt.stored_bytes, 5000);
}

#[tokio::test]
async fn a_relative_directory_is_reported_as_an_absolute_path() {
    let dir = tempfile::tempdir_in(".").unwrap();
    let relative = PathBuf::from(".").join(dir.path().file_name().unwrap());
    let profile = profile();
    let mut sink = FileExporter::new(&relative).begin(&profile).await.unwrap();
    sink.write(Bytes::from_static(b"{}")).await.unwrap();
    let receipt = sink.finish(&profile).await.unwrap();
    assert!(
        Path::new(&receipt.location).is_absolute(),
        "{}",
        receipt.location
    );
    assert_eq!(std::fs::read(&receipt.location).unwrap(), b"{}");
}

#[tokio::test]
async fn an_aborted_profile_leaves_no_file_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path());
    let profile = profile();
    let mut sink = exporter.begin(&profile).await.unwrap();
    for chunk in chunks(3, 100_000) {
        sink.write(chunk).await.unwrap();
    }
    sink.abort("the target died").await.unwrap();
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[tokio::test]
async fn a_sink_dropped_unfinished_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path()).gzip(true);
    let mut sink = exporter.begin(&profile()).await.unwrap();
    sink.write(Bytes::from_static(b"{\"snapshot\":"))
        .await
        .unwrap();
    drop(sink);
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[tokio::test]
async fn profiles_started_in_the_same_millisecond_get_different_names() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path());
    let first = profile();
    let mut second = profile();
    second.start_time = first.start_time;
    assert_eq!(first.start_time_iso(), second.start_time_iso());

    // Both in flight at once, as with two reactions.
    let mut a = exporter.begin(&first).await.unwrap();
    let mut b = exporter.begin(&second).await.unwrap();
    a.write(Bytes::from_static(b"first")).await.unwrap();
    b.write(Bytes::from_static(b"second")).await.unwrap();
    let a = a.finish(&first).await.unwrap();
    let b = b.finish(&second).await.unwrap();

    assert_ne!(a.location, b.location);
    assert_eq!(names(dir.path()).len(), 2);
    assert_eq!(std::fs::read(&a.location).unwrap(), b"first");
    assert_eq!(std::fs::read(&b.location).unwrap(), b"second");
}

#[tokio::test]
async fn an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path());
    let profile = profile();
    let mut sink = exporter.begin(&profile).await.unwrap();
    sink.write(Bytes::from_static(b"new profile"))
        .await
        .unwrap();
    // Someone takes the final name while the profile is written.
    let taken = dir.path().join(profile.file_name());
    std::fs::write(&taken, b"precious").unwrap();

    let error = sink.finish(&profile).await.unwrap_err().to_string();
    assert!(error.contains("already exists"), "{error}");
    assert!(error.contains(&profile.file_name()), "{error}");
    assert_eq!(std::fs::read(&taken).unwrap(), b"precious");
    assert_eq!(
        names(dir.path()),
        [profile.file_name()],
        "the partial is removed"
    );

    // Begin checks too, before anything is written.
    let error = exporter.begin(&profile).await.unwrap_err().to_string();
    assert!(error.contains("already exists"), "{error}");
    assert_eq!(names(dir.path()), [profile.file_name()]);
}

#[tokio::test]
async fn gzip_round_trips_under_a_gz_name() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path()).gzip(true);
    let profile = profile();
    let data = chunks(50, 10_000);
    let mut sink = exporter.begin(&profile).await.unwrap();
    for chunk in &data {
        sink.write(chunk.clone()).await.unwrap();
    }
    let receipt = sink.finish(&profile).await.unwrap();

    let name = names(dir.path()).remove(0);
    assert_final_name(&name, &profile, ".gz");
    assert_eq!(name, exporter.file_name(&profile));
    let path = dir.path().join(&name);
    assert_eq!(receipt.location, path.display().to_string());
    let stored = std::fs::read(&path).unwrap();
    assert_eq!(receipt.stored_bytes, stored.len() as u64);
    assert!(
        stored.len() < 500_000 / 5,
        "compressed to {} bytes",
        stored.len()
    );
    assert_eq!(mode(&path), 0o600);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&stored[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, concat(&data));
}

/// Writes `chunks` as one profile into a new directory; returns what the file holds,
/// decompressed when gzipped.
async fn write_and_read_back(chunks: &[Bytes], gzip: bool, direct_io: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let exporter = FileExporter::new(dir.path())
        .gzip(gzip)
        .direct_io(direct_io);
    let profile = profile();
    let mut sink = exporter.begin(&profile).await.unwrap();
    for chunk in chunks {
        sink.write(chunk.clone()).await.unwrap();
    }
    let receipt = sink.finish(&profile).await.unwrap();
    let stored = std::fs::read(&receipt.location).unwrap();
    assert_eq!(receipt.stored_bytes, stored.len() as u64);
    if !gzip {
        return stored;
    }
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&stored[..])
        .read_to_end(&mut decoded)
        .unwrap();
    decoded
}

#[tokio::test]
async fn a_large_profile_streams_through_raw_and_gzip() {
    // 20 MB in 100 KB chunks (not a multiple of the direct I/O block or buffer).
    let data = chunks(200, 100_000);
    for (gzip, direct_io) in [(false, true), (false, false), (true, true)] {
        let content = write_and_read_back(&data, gzip, direct_io).await;
        assert_eq!(content.len(), 20_000_000, "gzip {gzip}, direct {direct_io}");
        assert!(
            content == concat(&data),
            "gzip {gzip}, direct {direct_io}: content differs"
        );
    }
}

#[tokio::test]
async fn aligned_blocks_and_other_chunks_interleaved_arrive_in_order() {
    // Aligned 4 MiB blocks (as a heap snapshot's come, from `ChunkBlocks`), taken as they are,
    // between ordinary chunks, which are staged: every byte in order, raw or gzipped.
    let mut pieces = Vec::new();
    for round in 0..7 {
        let mut blocks = ChunkBlocks::new();
        blocks.append(&concat(&chunks(42 + round, 100_000)));
        pieces.extend(std::iter::from_fn(|| blocks.take_full()));
        pieces.extend(blocks.take_rest());
        if round % 3 == 1 {
            pieces.extend(chunks(3, 5_000 + round));
        }
    }
    for (gzip, direct_io) in [(false, true), (false, false), (true, true)] {
        let content = write_and_read_back(&pieces, gzip, direct_io).await;
        assert!(
            content == concat(&pieces),
            "gzip {gzip}, direct {direct_io}: content differs"
        );
    }
}

#[tokio::test]
async fn a_regular_file_as_destination_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profiles");
    std::fs::write(&file, b"not a directory").unwrap();
    let error = FileExporter::new(&file)
        .begin(&profile())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a directory"), "{error}");
    assert!(error.contains("give --to a directory"), "{error}");
    assert!(error.contains(&file.display().to_string()), "{error}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
}

#[tokio::test]
async fn a_missing_directory_is_created_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("a");
    let target = parent.join("b");
    let profile = profile();
    let mut sink = FileExporter::new(&target).begin(&profile).await.unwrap();
    assert_eq!(mode(&parent), 0o700);
    assert_eq!(mode(&target), 0o700);
    sink.write(Bytes::from_static(b"{}")).await.unwrap();
    let receipt = sink.finish(&profile).await.unwrap();
    assert_eq!(
        Path::new(&receipt.location),
        target.join(profile.file_name())
    );
}

#[tokio::test]
async fn an_unwritable_directory_is_refused_with_advice() {
    // Root bypasses permission checks, so the case cannot be produced as root (the container
    // runs tests as uid 0); the message itself is unit-tested in src/error.rs.
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    let error = FileExporter::new(&locked)
        .begin(&profile())
        .await
        .unwrap_err()
        .to_string();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(error.contains("permission denied"), "{error}");
    assert!(error.contains(&locked.display().to_string()), "{error}");
    assert!(names(&locked).is_empty());
}

/// Writes known chunks; fails after `fail_after` chunks if set.
#[derive(Debug)]
struct KnownProfiler {
    chunks: Vec<Bytes>,
    fail_after: Option<usize>,
}

#[async_trait]
impl Profiler for KnownProfiler {
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
        for (i, chunk) in self.chunks.iter().enumerate() {
            if Some(i) == self.fail_after {
                return Err(Error::ConnectionClosed {
                    url: "ws://127.0.0.1:1/x".into(),
                    reason: "the target died".into(),
                });
            }
            writer.write(chunk.clone()).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn through_the_agent_a_success_is_published_and_a_failure_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = chunks(20, 50_000);
    for fail_after in [None, Some(10)] {
        let (trigger, handle) = ManualTrigger::new("test");
        let agent = ProfilingAgent::new()
            .register(
                trigger,
                KnownProfiler {
                    chunks: data.clone(),
                    fail_after,
                },
            )
            .exporter(FileExporter::new(dir.path()))
            .start()
            .unwrap();
        let report = handle.start().await.unwrap().finished().await.unwrap();
        agent.shutdown().await;

        if fail_after.is_none() {
            assert_eq!(report.profile.status, ProfileStatus::Success);
            let receipt = report.exports[0].result.as_ref().unwrap();
            let name = report.profile.file_name();
            assert_final_name(&name, &report.profile, "");
            assert_eq!(
                receipt.location,
                dir.path().join(&name).display().to_string()
            );
            assert_eq!(std::fs::read(&receipt.location).unwrap(), concat(&data));
            assert_eq!(receipt.stored_bytes, 1_000_000);
            assert_eq!(names(dir.path()), [name]);
            std::fs::remove_file(&receipt.location).unwrap();
        } else {
            assert!(matches!(report.profile.status, ProfileStatus::Failed(_)));
            assert!(report.exports[0].result.is_err());
            assert!(
                names(dir.path()).is_empty(),
                "a failed profile leaves no file: {:?}",
                names(dir.path())
            );
        }
    }
}

#[test]
fn the_registry_lists_and_builds_the_file_exporter() {
    let registry = Registry::global().unwrap();
    let plugin = registry
        .exporters()
        .find(|plugin| plugin.name == "file")
        .expect("the file exporter registers");
    assert_eq!(plugin.config_keys, ["path", "gzip", "direct_io"]);

    let context = PluginContext::new();
    let exporter = registry
        .build_exporter(
            "file",
            &serde_json::json!({"path": "/var/profiles", "gzip": true}),
            &context,
        )
        .unwrap();
    assert_eq!(exporter.name(), "file /var/profiles");
    let default = registry
        .build_exporter("file", &serde_json::Value::Null, &context)
        .unwrap();
    assert_eq!(
        default.name(),
        format!("file {}", std::env::temp_dir().display())
    );

    let error = registry
        .build_exporter("file", &serde_json::json!({"dir": "/tmp"}), &context)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `dir`"), "{error}");
    let error = registry
        .build_exporter("file", &serde_json::json!({"path": ""}), &context)
        .unwrap_err()
        .to_string();
    assert!(error.contains("path is empty"), "{error}");
}

#[test]
fn config_round_trips() {
    let config = FileExporterConfig {
        path: Some("/var/profiles".into()),
        gzip: true,
        direct_io: false,
    };
    let json = serde_json::to_string(&config).unwrap();
    let back: FileExporterConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
    assert_eq!(
        FileExporter::from_config(back),
        FileExporter::new("/var/profiles")
            .gzip(true)
            .direct_io(false)
    );
    assert!(serde_json::from_str::<FileExporterConfig>(r#"{"gzip": true, "level": 9}"#).is_err());
}
