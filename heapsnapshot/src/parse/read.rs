//! Reading from a `Read` or a file (gzip detected by its magic bytes) into the parser.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::numbers::{Prescanned, prescan};
use super::{RawSnapshot, SnapshotParser};
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress};

const READ_CHUNK: usize = 1 << 20;

/// Parses from any reader (buffered in 1 MiB chunks), reporting bytes read to `progress` against
/// `total` (0 when unknown).
pub(crate) fn parse_reader(
    mut reader: impl Read,
    total: u64,
    progress: &dyn Progress,
    path: Option<&Path>,
) -> Result<RawSnapshot> {
    let mut parser = SnapshotParser::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut reported = 0u64;
    progress.report(Phase::Parse, 0, total);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: path.map(Path::to_path_buf),
                    source,
                });
            }
        };
        parser.feed(&buf[..n])?;
        let done = parser.bytes_fed();
        if done - reported >= 16 * READ_CHUNK as u64 {
            progress.report(Phase::Parse, done, total);
            reported = done;
        }
    }
    drop(buf);
    progress.report(Phase::Parse, parser.bytes_fed(), total);
    parser.finish_raw()
}

/// A buffer read from the input, with the integers read ahead of the parse.
type Filled = (Vec<u8>, Prescanned);

/// Like [`parse_reader`], with the reading (and decompression) on a second thread, overlapped
/// with the parse; four 1 MiB buffers circulate between the two.
///
/// The reading thread also reads ahead the integers of the buffers it fills while the parse is
/// behind, that is while a buffer already waits for it (`numbers::prescan`): the `nodes` and
/// `edges` arrays are most of a snapshot, and scanning them most of the parse's work. Reading
/// ahead only then balances the two threads by itself: a reader slowed by decompression seldom
/// does it, one reading from the page cache does it for about half of the buffers.
fn parse_reader_threaded<R: Read + Send>(
    reader: R,
    total: u64,
    progress: &dyn Progress,
    path: &Path,
) -> Result<RawSnapshot> {
    const BUFFERS: usize = 4;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<Filled>>(BUFFERS);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Filled>(BUFFERS);
    for _ in 0..BUFFERS {
        // Cannot fail: the receiver is alive and the channel has room.
        let _ = empty_tx.send((Vec::new(), Prescanned::default()));
    }
    // Buffers sent and not yet taken by the parse.
    let queued = AtomicUsize::new(0);
    let queued = &queued;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = reader;
            while let Ok((mut buf, mut prescanned)) = empty_rx.recv() {
                buf.resize(READ_CHUNK, 0);
                let n = loop {
                    match reader.read(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let message = match n {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if queued.load(Ordering::Relaxed) > 0 {
                            prescan(&buf, &mut prescanned);
                        } else {
                            prescanned.clear();
                        }
                        Ok((buf, prescanned))
                    }
                    Err(e) => Err(e),
                };
                let failed = message.is_err();
                queued.fetch_add(1, Ordering::Relaxed);
                if full_tx.send(message).is_err() || failed {
                    break;
                }
            }
        });
        // Dropped when this closure returns, which stops the reader if the parse fails early.
        let empty_tx = empty_tx;
        let mut parser = SnapshotParser::new();
        let mut reported = 0u64;
        progress.report(Phase::Parse, 0, total);
        while let Ok(message) = full_rx.recv() {
            queued.fetch_sub(1, Ordering::Relaxed);
            let (buf, prescanned) = message.map_err(|source| Error::Io {
                path: Some(path.to_path_buf()),
                source,
            })?;
            parser.feed_prescanned(&buf, &prescanned)?;
            let _ = empty_tx.send((buf, prescanned));
            let done = parser.bytes_fed();
            if done - reported >= 16 * READ_CHUNK as u64 {
                progress.report(Phase::Parse, done, total);
                reported = done;
            }
        }
        progress.report(Phase::Parse, parser.bytes_fed(), total);
        parser.finish_raw()
    })
}

/// Opens a file, gzip-compressed or not (detected by the magic bytes `1f 8b`).
pub(crate) fn parse_path(path: &Path, progress: &dyn Progress) -> Result<RawSnapshot> {
    let io = |source| Error::Io {
        path: Some(path.to_path_buf()),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    let head = std::io::Cursor::new(magic[..got].to_vec());
    if magic[..got] == [0x1f, 0x8b] {
        let decoder = flate2::read::MultiGzDecoder::new(head.chain(file));
        parse_reader_threaded(decoder, 0, progress, path)
    } else {
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        parse_reader_threaded(head.chain(file), total, progress, path)
    }
}
