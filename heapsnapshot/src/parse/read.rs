//! Reading from a `Read` or a file (gzip detected by its magic bytes) into the parser.

use std::io::Read;
use std::path::Path;

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

/// Like [`parse_reader`], with the reading (and decompression) on a second thread, overlapped
/// with the parse; four 1 MiB buffers circulate between the two.
fn parse_reader_threaded<R: Read + Send>(
    reader: R,
    total: u64,
    progress: &dyn Progress,
    path: &Path,
) -> Result<RawSnapshot> {
    const BUFFERS: usize = 4;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(BUFFERS);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        // Cannot fail: the receiver is alive and the channel has room.
        let _ = empty_tx.send(Vec::new());
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = reader;
            while let Ok(mut buf) = empty_rx.recv() {
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
                        Ok(buf)
                    }
                    Err(e) => Err(e),
                };
                let failed = message.is_err();
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
            let buf = message.map_err(|source| Error::Io {
                path: Some(path.to_path_buf()),
                source,
            })?;
            parser.feed(&buf)?;
            let _ = empty_tx.send(buf);
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
