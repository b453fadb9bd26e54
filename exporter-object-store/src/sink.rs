//! [`ObjectStoreSink`]: one profile streamed to an object store by a multipart upload, with
//! bounded memory; completed on finish (then its metadata sidecar written), aborted on
//! failure.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::{MultipartUpload, PutPayload, PutResult, UploadPart, WriteMultipart};
use openprofiling_core::{ExportReceipt, ExportSink, ProfileMetadata};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::sidecar::SidecarWriter;

/// The first part that failed, and its error, shared between the upload and the sink.
type FirstFailure = Arc<Mutex<Option<(usize, object_store::Error)>>>;

/// A [`MultipartUpload`] that numbers its parts and keeps the first part error.
///
/// [`WriteMultipart`] reports a part's error only once, and its `finish` returns the abort's
/// error instead when aborting fails too; keeping the part's own error lets the sink report
/// what actually went wrong.
#[derive(Debug)]
pub(crate) struct TrackedUpload {
    inner: Box<dyn MultipartUpload>,
    parts: usize,
    first_failure: FirstFailure,
}

impl TrackedUpload {
    /// Wraps `inner`; its failures are kept in the returned slot.
    pub(crate) fn new(inner: Box<dyn MultipartUpload>) -> (Self, FirstFailure) {
        let first_failure = FirstFailure::default();
        let upload = Self {
            inner,
            parts: 0,
            first_failure: first_failure.clone(),
        };
        (upload, first_failure)
    }
}

#[async_trait]
impl MultipartUpload for TrackedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.parts += 1;
        let part = self.parts;
        let upload = self.inner.put_part(data);
        let first_failure = self.first_failure.clone();
        Box::pin(async move {
            let Err(error) = upload.await else {
                return Ok(());
            };
            let shown = error.to_string();
            let mut slot = first_failure.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some((part, error));
            }
            Err(object_store::Error::Generic {
                store: "multipart upload",
                source: format!("part {part} failed: {shown}").into(),
            })
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

/// One profile on its way into an object store.
///
/// Chunks (gzipped or not) go to a [`WriteMultipart`] that uploads a part each time
/// `part_size` bytes gathered, at most `parts_in_flight` at once; a write waits for a free
/// slot first, so memory stays near `(parts_in_flight + 1) × part_size`. Nothing appears under
/// the key until the upload completes, which only `finish` of a successful profile does;
/// abort, a failed finish, finish of an unsuccessful profile, or drop abort the upload.
pub(crate) struct ObjectStoreSink {
    /// The object's URL, for receipts, logs and errors.
    url: String,
    /// Writes `<key>.json` once the object is complete, when sidecars are on.
    sidecar: Option<SidecarWriter>,
    writer: Option<WriteMultipart>,
    gzip: Option<GzEncoder<Vec<u8>>>,
    parts_in_flight: usize,
    first_failure: FirstFailure,
    /// Profile bytes written (before compression).
    written: u64,
    /// Bytes handed to the upload (after compression).
    stored: u64,
}

impl std::fmt::Debug for ObjectStoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreSink")
            .field("url", &self.url)
            .field("open", &self.writer.is_some())
            .field("sidecar", &self.sidecar.is_some())
            .field("gzip", &self.gzip.is_some())
            .field("written", &self.written)
            .field("stored", &self.stored)
            .finish()
    }
}

impl ObjectStoreSink {
    /// A sink writing through `upload` in parts of `part_size` bytes, then `sidecar` if any.
    pub(crate) fn new(
        url: String,
        upload: Box<dyn MultipartUpload>,
        part_size: usize,
        parts_in_flight: usize,
        gzip: bool,
        sidecar: Option<SidecarWriter>,
    ) -> Self {
        let (upload, first_failure) = TrackedUpload::new(upload);
        Self {
            url,
            sidecar,
            writer: Some(WriteMultipart::new_with_chunk_size(
                Box::new(upload),
                part_size,
            )),
            // The fastest level: the upload must keep up with the snapshot stream, and JSON
            // still shrinks several times.
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
            parts_in_flight,
            first_failure,
            written: 0,
            stored: 0,
        }
    }

    /// The error to report for `error`: the first failed part's own error if there is one.
    fn failure(&self, error: object_store::Error) -> Error {
        let first = self
            .first_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match first {
            Some((part, error)) => Error::upload(&self.url, Some(part), error),
            None => Error::upload(&self.url, None, error),
        }
    }

    fn closed(&self) -> Error {
        Error::Closed {
            url: self.url.clone(),
        }
    }

    /// Waits for a free upload slot, then hands `chunk` (compressed if gzipping) to the
    /// upload.
    async fn push(&mut self, chunk: Bytes) -> Result<()> {
        let parts_in_flight = self.parts_in_flight;
        let Some(writer) = self.writer.as_mut() else {
            return Err(self.closed());
        };
        if let Err(error) = writer.wait_for_capacity(parts_in_flight).await {
            return Err(self.failure(error));
        }
        let len = chunk.len() as u64;
        let output = match self.gzip.as_mut() {
            None => chunk,
            Some(encoder) => {
                if let Err(source) = encoder.write_all(&chunk) {
                    return Err(Error::Compress {
                        url: self.url.clone(),
                        source,
                    });
                }
                // Drain what the encoder produced so far: memory stays bounded.
                Bytes::from(std::mem::take(encoder.get_mut()))
            }
        };
        self.stored += output.len() as u64;
        if !output.is_empty() {
            writer.put(output);
        }
        self.written += len;
        Ok(())
    }

    /// Ends the gzip stream, completes the upload; returns the bytes stored.
    async fn complete(&mut self) -> Result<u64> {
        let Some(mut writer) = self.writer.take() else {
            return Err(self.closed());
        };
        if let Some(encoder) = self.gzip.take() {
            match encoder.finish() {
                Ok(tail) => {
                    self.stored += tail.len() as u64;
                    writer.put(Bytes::from(tail));
                }
                Err(source) => {
                    abort_quietly(&self.url, writer).await;
                    return Err(Error::Compress {
                        url: self.url.clone(),
                        source,
                    });
                }
            }
        }
        // On failure, finish aborts the upload itself; if that fails too it returns the
        // abort's error, but a failed part's own error is kept and reported instead.
        match writer.finish().await {
            Ok(_) => Ok(self.stored),
            Err(error) => Err(self.failure(error)),
        }
    }
}

/// Aborts `writer`'s upload, logging (not returning) a failure: used when another error is
/// the one to report.
async fn abort_quietly(url: &str, writer: WriteMultipart) {
    if let Err(error) = writer.abort().await {
        warn!(url, %error, "Cannot abort the multipart upload; uploaded parts may remain.");
    }
}

#[async_trait]
impl ExportSink for ObjectStoreSink {
    async fn write(&mut self, chunk: Bytes) -> openprofiling_core::Result<()> {
        Ok(self.push(chunk).await?)
    }

    async fn finish(
        mut self: Box<Self>,
        profile: &ProfileMetadata,
    ) -> openprofiling_core::Result<ExportReceipt> {
        // The object's user metadata says `status = success`: only such a profile may
        // complete the upload and become visible.
        if !profile.status.is_success() {
            if let Some(writer) = self.writer.take() {
                abort_quietly(&self.url, writer).await;
            }
            return Err(Error::NotSuccessful {
                url: self.url.clone(),
                status: format!("{:?}", profile.status),
            }
            .into());
        }
        let stored_bytes = self.complete().await?;
        debug!(
            profile = %profile.id,
            url = self.url,
            bytes = self.written,
            stored_bytes,
            "Profile uploaded."
        );
        if let Some(sidecar) = &self.sidecar {
            // The profile is whole and visible: a missing sidecar does not undo its export.
            if let Err(error) = sidecar.write(profile, stored_bytes).await {
                warn!(
                    profile = %profile.id,
                    url = self.url,
                    sidecar = sidecar.url(),
                    %error,
                    "Profile exported, but its metadata sidecar could not be written."
                );
            }
        }
        Ok(ExportReceipt {
            location: self.url.clone(),
            stored_bytes,
        })
    }

    async fn abort(mut self: Box<Self>, reason: &str) -> openprofiling_core::Result<()> {
        drop(self.gzip.take());
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        match writer.abort().await {
            Ok(()) => {
                debug!(url = self.url, reason, "Profile upload aborted.");
                Ok(())
            }
            Err(source) => Err(Error::Abort {
                url: self.url.clone(),
                source: Box::new(source),
            }
            .into()),
        }
    }
}

impl Drop for ObjectStoreSink {
    /// Neither finished nor aborted: abort the upload in the background, best effort.
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let url = self.url.clone();
                runtime.spawn(async move { abort_quietly(&url, writer).await });
            }
            Err(_) => warn!(
                url = self.url,
                "Unfinished profile upload dropped outside a runtime; uploaded parts may remain."
            ),
        }
    }
}
