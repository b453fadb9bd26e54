//! [`FileSink`]: one profile streamed into a temporary file in the target directory, published
//! under its final name by a link (or rename) that never overwrites, or removed.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use openprofiling_core::{ExportReceipt, ExportSink, ProfileMetadata};
use tracing::{debug, warn};

use crate::direct::{ProfileFile, STAGING};
use crate::error::{Error, Result};

/// Profile bytes gathered as chunks (not copied) before they go to the blocking pool together,
/// when gzipping or without direct I/O; raw files with direct I/O gather aligned blocks as
/// they are, and other chunks in the file's staging buffer, up to [`STAGING`] bytes. A chunk
/// at a time, a snapshot of ~100 KB chunks cost the agent a thread hand-off and a wake-up (two
/// context switches) per chunk: about a tenth of its CPU.
const WRITE_BATCH: usize = 1 << 20;

/// Mode of the directories we create: the owner only (snapshots hold every string of the heap).
const DIR_MODE: u32 = 0o700;

/// Mode of profile files.
const FILE_MODE: u32 = 0o600;

/// How many names the temporary file tries before giving up.
const PARTIAL_ATTEMPTS: u32 = 16;

/// The file being written, raw or through gzip. Used on the blocking pool: each batch of
/// chunks is moved there and written from its buffers.
struct Output {
    file: ProfileFile,
    /// Compresses into memory; what it produced is drained into the file after each batch.
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl Output {
    fn new(file: File, gzip: bool, direct_io: bool) -> Self {
        Self {
            file: ProfileFile::new(file, direct_io),
            // The fastest level: the agent must keep up with the snapshot stream, and JSON
            // still shrinks several times.
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        }
    }

    /// Whether chunks are copied into the file's direct I/O buffer as they come (raw files
    /// with direct I/O) rather than gathered into batches.
    fn stages_chunks(&self) -> bool {
        self.gzip.is_none() && self.file.is_direct()
    }

    /// How much of `chunk` is gathered as it is and written with direct I/O from its own
    /// buffer (raw files with direct I/O, for aligned blocks with nothing staged before them).
    fn direct_prefix(&self, chunk: &[u8]) -> usize {
        if self.gzip.is_none() {
            self.file.direct_prefix(chunk)
        } else {
            0
        }
    }

    /// Writes `chunks` in order (compressed when gzipping), then whatever whole blocks are
    /// staged for direct I/O (which come after them).
    fn write_batch(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        let Some(encoder) = self.gzip.as_mut() else {
            self.file.write_chunks(chunks)?;
            return self.file.write_staged_blocks();
        };
        chunks
            .iter()
            .try_for_each(|chunk| encoder.write_all(chunk))?;
        let compressed = encoder.get_mut();
        self.file.write_bytes(compressed)?;
        compressed.clear();
        Ok(())
    }

    /// Ends the gzip stream, writes the rest, syncs, and returns the bytes on disk.
    fn finish(self) -> io::Result<u64> {
        let mut file = self.file;
        if let Some(encoder) = self.gzip {
            file.write_bytes(&encoder.finish()?)?;
        }
        let file = file.finish()?;
        Ok(file.metadata()?.len())
    }
}

/// How far publishing got; shared by the sink and the blocking task that links the file into
/// place, so that a sink dropped while it publishes (its `finish` cancelled, by the operator's
/// Ctrl-C for one) never leaves the profile under its final name: the profile is then
/// reported as not saved, and must not be found saved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Publication {
    /// Not linked yet; may still be.
    #[default]
    Pending,
    /// The sink was dropped first: the link must not happen.
    Cancelled,
    /// Linked under the final name, and the sink not yet told.
    Linked,
}

/// One profile on its way into a directory.
///
/// Chunks go to `.<final name>.<pid>-<n>.partial` in the target directory; on finish the file
/// is synced and linked to its final name (refusing to overwrite), and the directory synced.
/// On abort, on any failure in finish, or when dropped unfinished, the partial file is removed;
/// when dropped while finishing, whatever name the file already has.
pub(crate) struct FileSink {
    /// The temporary file, while it exists under that name.
    partial: Option<PathBuf>,
    final_path: PathBuf,
    directory: PathBuf,
    /// The open file; taken by finish and abort.
    output: Option<Output>,
    /// Chunks not yet written, up to [`WRITE_BATCH`] bytes.
    batch: Vec<Bytes>,
    batch_bytes: usize,
    /// Profile bytes written (before compression).
    written: u64,
    /// How far publishing got (see [`Publication`]).
    publication: Arc<Mutex<Publication>>,
    /// `finish` returned: the file is the caller's.
    published: bool,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("partial", &self.partial)
            .field("final_path", &self.final_path)
            .field(
                "gzip",
                &self.output.as_ref().is_some_and(|out| out.gzip.is_some()),
            )
            .field(
                "direct_io",
                &self.output.as_ref().is_some_and(|out| out.file.is_direct()),
            )
            .field("written", &self.written)
            .finish()
    }
}

impl FileSink {
    /// Makes sure `directory` exists, then creates the temporary file for a profile that will
    /// be named `file_name`, written with direct I/O if `direct_io` and the file system allow.
    pub(crate) async fn open(
        directory: &Path,
        file_name: String,
        gzip: bool,
        direct_io: bool,
    ) -> Result<Self> {
        let given = directory.to_owned();
        let prepared = tokio::task::spawn_blocking(move || prepare(&given, &file_name))
            .await
            .map_err(|join| Error::Interrupted {
                path: directory.to_owned(),
                reason: join.to_string(),
            })??;
        let output = Output::new(prepared.file, gzip, direct_io);
        debug!(
            partial = %prepared.partial.display(),
            gzip,
            direct_io = output.file.is_direct(),
            "Profile file opened."
        );
        Ok(Self {
            output: Some(output),
            partial: Some(prepared.partial),
            final_path: prepared.final_path,
            directory: prepared.directory,
            batch: Vec::new(),
            batch_bytes: 0,
            written: 0,
            publication: Arc::default(),
            published: false,
        })
    }

    /// Writes the gathered chunks (and the staged bytes), on the blocking pool.
    async fn write_batch(&mut self) -> Result<()> {
        if self.batch_bytes == 0 {
            return Ok(());
        }
        let Some(mut output) = self.output.take() else {
            return Err(self.closed());
        };
        let mut batch = std::mem::take(&mut self.batch);
        let bytes = std::mem::take(&mut self.batch_bytes) as u64;
        let written = tokio::task::spawn_blocking(move || {
            let result = output.write_batch(&batch);
            batch.clear();
            (output, batch, result)
        })
        .await;
        let (output, batch, result) = written.map_err(|join| Error::Interrupted {
            path: self.partial_path(),
            reason: join.to_string(),
        })?;
        self.output = Some(output);
        // The emptied vector keeps its capacity for the next batch.
        self.batch = batch;
        result.map_err(|source| Error::Write {
            path: self.partial_path(),
            source,
        })?;
        self.written += bytes;
        Ok(())
    }

    fn partial_path(&self) -> PathBuf {
        self.partial
            .clone()
            .unwrap_or_else(|| self.final_path.clone())
    }

    fn closed(&self) -> Error {
        Error::Write {
            path: self.partial_path(),
            source: io::Error::other("the file was already closed"),
        }
    }

    async fn publish(&mut self) -> Result<u64> {
        self.write_batch().await?;
        let partial = self.partial_path();
        let output = self.output.take().ok_or_else(|| self.closed())?;
        let write_error = |source| Error::Write {
            path: partial.clone(),
            source,
        };
        let stored_bytes = tokio::task::spawn_blocking(move || output.finish())
            .await
            .map_err(|join| Error::Interrupted {
                path: partial.clone(),
                reason: join.to_string(),
            })?
            .map_err(write_error)?;
        let (from, to, directory) = (
            partial.clone(),
            self.final_path.clone(),
            self.directory.clone(),
        );
        let publication = Arc::clone(&self.publication);
        tokio::task::spawn_blocking(move || {
            // Held while linking, so that a drop of the sink waits for the link to be done
            // (and then removes it) rather than race it.
            let mut state = publication.lock().unwrap_or_else(PoisonError::into_inner);
            if *state == Publication::Cancelled {
                return Err(Error::Interrupted {
                    path: to,
                    reason: "the profile was abandoned before it was published".to_owned(),
                });
            }
            link_into_place(&from, &to, &directory)?;
            *state = Publication::Linked;
            Ok(())
        })
        .await
        .map_err(|join| Error::Interrupted {
            path: self.final_path.clone(),
            reason: join.to_string(),
        })??;
        self.partial = None;
        self.published = true;
        Ok(stored_bytes)
    }
}

#[async_trait]
impl ExportSink for FileSink {
    async fn write(&mut self, mut chunk: Bytes) -> openprofiling_core::Result<()> {
        let prefix = self
            .output
            .as_ref()
            .map_or(0, |out| out.direct_prefix(&chunk));
        if prefix > 0 {
            // An aligned block (a heap snapshot's, from `ChunkBlocks`): gathered, not copied,
            // and written straight from its buffer once a staging buffer's worth is gathered.
            self.batch_bytes += prefix;
            self.batch.push(chunk.slice(..prefix));
            if self.batch_bytes >= STAGING {
                self.write_batch().await?;
            }
            if prefix == chunk.len() {
                return Ok(());
            }
            // Less than a page is left over: staged, after the gathered blocks.
            chunk = chunk.slice(prefix..);
        }
        if !self.batch.is_empty() && self.output.as_ref().is_some_and(Output::stages_chunks) {
            // Aligned blocks are gathered: they go first, before anything is staged after them.
            self.write_batch().await?;
        }
        let mut staged = 0;
        while let Some(output) = self.output.as_mut().filter(|out| out.stages_chunks()) {
            // Copied into the direct I/O buffer now, while the chunk is still in this core's
            // cache (it was just unescaped), and freed at once; full buffers go to the
            // blocking pool.
            let taken = output.file.stage(&chunk[staged..]);
            staged += taken;
            self.batch_bytes += taken;
            if output.file.staging_full() {
                self.write_batch().await?;
            }
            if staged == chunk.len() {
                return Ok(());
            }
        }
        if self.output.is_none() {
            return Err(self.closed().into());
        }
        // Gathered as they are (gzip, or no direct I/O): written in batches.
        self.batch_bytes += chunk.len() - staged;
        self.batch.push(chunk.slice(staged..));
        if self.batch_bytes >= WRITE_BATCH {
            self.write_batch().await?;
        }
        Ok(())
    }

    async fn finish(
        mut self: Box<Self>,
        profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<ExportReceipt> {
        // On error, dropping `self` removes the partial file: nothing is published.
        let stored_bytes = self.publish().await?;
        debug!(
            profile = %profile.id,
            path = %self.final_path.display(),
            bytes = self.written,
            stored_bytes,
            "Profile file published."
        );
        Ok(ExportReceipt {
            location: self.final_path.display().to_string(),
            stored_bytes,
        })
    }

    async fn abort(mut self: Box<Self>, reason: &str) -> openprofiling_core::Result<()> {
        // Close the file first; removing the name is enough on Unix either way.
        drop(self.output.take());
        let Some(partial) = self.partial.take() else {
            return Ok(());
        };
        match tokio::fs::remove_file(&partial).await {
            Ok(()) => {
                debug!(partial = %partial.display(), reason, "Partial profile file removed.");
                Ok(())
            }
            Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => {
                let error = Error::Remove {
                    path: partial.clone(),
                    source,
                };
                // Let drop try once more.
                self.partial = Some(partial);
                Err(error.into())
            }
        }
    }
}

impl Drop for FileSink {
    /// Neither finished nor aborted (or finish failed): remove the partial file, best effort.
    fn drop(&mut self) {
        drop(self.output.take());
        if !self.published {
            let mut state = self
                .publication
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *state {
                Publication::Pending => *state = Publication::Cancelled,
                Publication::Linked => remove_unreported(&self.final_path),
                Publication::Cancelled => {}
            }
        }
        let Some(partial) = self.partial.take() else {
            return;
        };
        match std::fs::remove_file(&partial) {
            Ok(()) => debug!(partial = %partial.display(), "Unfinished profile file removed."),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => warn!(
                partial = %partial.display(),
                %error,
                "Cannot remove an unfinished profile file; remove it by hand."
            ),
        }
    }
}

/// Removes a profile linked into place by a `finish` whose caller stopped waiting: it was
/// never reported as saved.
fn remove_unreported(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            debug!(path = %path.display(), "Profile file abandoned while it was published; removed.")
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => warn!(
            path = %path.display(),
            %error,
            "Cannot remove a profile file abandoned while it was published (it is complete, but was reported as not saved); remove it by hand."
        ),
    }
}

/// What [`prepare`] made.
struct Prepared {
    file: std::fs::File,
    partial: PathBuf,
    final_path: PathBuf,
    directory: PathBuf,
}

/// Blocking: the directory (made absolute, created if missing), the final name (checked
/// free), and the temporary file (created new, mode 0600).
fn prepare(directory: &Path, file_name: &str) -> Result<Prepared> {
    let directory = std::path::absolute(directory).map_err(|source| Error::Directory {
        path: directory.to_owned(),
        source,
    })?;
    ensure_directory(&directory)?;
    let final_path = directory.join(file_name);
    if final_path.symlink_metadata().is_ok() {
        return Err(Error::AlreadyExists { path: final_path });
    }
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut attempt = 0;
    loop {
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let partial = directory.join(format!(".{file_name}.{pid}-{n}.partial"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&partial)
        {
            Ok(file) => {
                return Ok(Prepared {
                    file,
                    partial,
                    final_path,
                    directory,
                });
            }
            // A leftover of an earlier process with our pid: try the next name.
            Err(source)
                if source.kind() == io::ErrorKind::AlreadyExists
                    && attempt + 1 < PARTIAL_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(source) => {
                return Err(Error::Create {
                    path: partial,
                    source,
                });
            }
        }
    }
}

/// Blocking: `directory` is a directory, created (mode 0700, parents too) if missing.
fn ensure_directory(directory: &Path) -> Result<()> {
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotADirectory {
            path: directory.to_owned(),
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(directory)
                .map_err(|source| Error::Directory {
                    path: directory.to_owned(),
                    source,
                })?;
            debug!(directory = %directory.display(), "Profile directory created.");
            Ok(())
        }
        Err(source) => Err(Error::Directory {
            path: directory.to_owned(),
            source,
        }),
    }
}

/// Blocking: gives the synced `partial` file the name `final_path`, never replacing a file
/// there, then syncs the directory so the name survives a crash.
fn link_into_place(partial: &Path, final_path: &Path, directory: &Path) -> Result<()> {
    match std::fs::hard_link(partial, final_path) {
        Ok(()) => {
            if let Err(error) = std::fs::remove_file(partial) {
                // The profile is published; only a second name of it is left over.
                warn!(
                    partial = %partial.display(),
                    %error,
                    "Cannot remove the temporary name of a published profile; remove it by hand."
                );
            }
        }
        Err(source) if source.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists {
                path: final_path.to_owned(),
            });
        }
        // File systems without hard links (EPERM, EOPNOTSUPP): check, then rename. Another
        // process could take the name in between; no agent of ours would, since names carry
        // the pid and a per-process id.
        Err(source)
            if matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
            ) =>
        {
            debug!(%source, "Hard links unsupported here; renaming.");
            if final_path.symlink_metadata().is_ok() {
                return Err(Error::AlreadyExists {
                    path: final_path.to_owned(),
                });
            }
            std::fs::rename(partial, final_path).map_err(|source| Error::Publish {
                path: final_path.to_owned(),
                source,
            })?;
        }
        Err(source) => {
            return Err(Error::Publish {
                path: final_path.to_owned(),
                source,
            });
        }
    }
    // Some file systems refuse to sync a directory; the profile is in place regardless.
    if let Err(error) = std::fs::File::open(directory).and_then(|dir| dir.sync_all()) {
        warn!(directory = %directory.display(), %error, "Cannot sync the profile directory.");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn sink_holding_bytes(directory: &Path) -> FileSink {
        let mut sink = FileSink::open(directory, "profile.heapsnapshot".to_owned(), false, true)
            .await
            .unwrap();
        sink.write(Bytes::from_static(b"{\"snapshot\":{}}"))
            .await
            .unwrap();
        sink.write_batch().await.unwrap();
        sink
    }

    fn names(directory: &Path) -> Vec<String> {
        std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_sink_dropped_once_linked_but_before_finish_returned_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sink = sink_holding_bytes(dir.path()).await;
        // Where a cancelled `finish` leaves things: the blocking task linked the file, and
        // nobody is waiting for it any more.
        link_into_place(&sink.partial_path(), &sink.final_path, &sink.directory).unwrap();
        *sink.publication.lock().unwrap() = Publication::Linked;
        assert_eq!(names(dir.path()), ["profile.heapsnapshot"]);
        drop(sink);
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_sink_dropped_before_the_link_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = sink_holding_bytes(dir.path()).await;
        // A drop marks the publication cancelled; here set by hand, as the drop of a sink
        // whose `finish` is still running (in another task) would.
        *sink.publication.lock().unwrap() = Publication::Cancelled;
        let error = sink.publish().await.unwrap_err();
        assert!(matches!(error, Error::Interrupted { .. }), "{error:?}");
        drop(sink);
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_finished_sink_keeps_its_file_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = sink_holding_bytes(dir.path()).await;
        sink.publish().await.unwrap();
        drop(sink);
        assert_eq!(names(dir.path()), ["profile.heapsnapshot"]);
    }
}
