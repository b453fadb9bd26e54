//! Reading from a `Read` or a file (gzip detected by its magic bytes) into the parser.

use std::io::{Read, Seek};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::numbers::{Prescanned, prescan};
use super::{RawSnapshot, SnapshotParser};
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress};

const READ_CHUNK: usize = 1 << 20;

/// A read buffer: [`READ_CHUNK`] bytes, placed in it by [`ReadBuffer::read`].
#[derive(Debug, Default)]
struct ReadBuffer {
    bytes: Vec<u8>,
}

impl ReadBuffer {
    const PAGE: usize = 4096;

    /// Reads up to [`READ_CHUNK`] bytes from `reader`, whose next byte is at `position` in its
    /// input, and returns where they are in [`bytes`](Self::bytes) (empty at the end).
    ///
    /// The bytes are placed half a page away from their offset in the input's pages. Linux copies
    /// a file's pages out with `rep movsb`, which runs about five times slower when the
    /// destination's offset in its page is just above the source's (4K aliasing): as it was
    /// with malloc's 16-byte header in front of a buffer of its own mapping, 80 ms against 16 ms
    /// for 186 MiB here.
    fn read(&mut self, reader: &mut impl Read, position: u64) -> std::io::Result<Range<usize>> {
        self.bytes.resize(READ_CHUNK + Self::PAGE, 0);
        let address = self.bytes.as_ptr() as usize % Self::PAGE;
        let wanted = (position as usize + Self::PAGE / 2) % Self::PAGE;
        let start = (wanted + Self::PAGE - address) % Self::PAGE;
        loop {
            match reader.read(&mut self.bytes[start..start + READ_CHUNK]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(n) => return Ok(start..start + n),
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Parses from any reader (buffered in 1 MiB chunks), reporting bytes read to `progress` against
/// `total` (0 when unknown).
pub(crate) fn parse_reader(
    mut reader: impl Read,
    total: u64,
    progress: &dyn Progress,
    path: Option<&Path>,
) -> Result<RawSnapshot> {
    let mut parser = SnapshotParser::new();
    let mut buf = ReadBuffer::default();
    let mut reported = 0u64;
    progress.report(Phase::Parse, 0, total);
    loop {
        let range = match buf.read(&mut reader, parser.bytes_fed()) {
            Ok(range) if range.is_empty() => break,
            Ok(range) => range,
            Err(source) => {
                return Err(Error::Io {
                    path: path.map(Path::to_path_buf),
                    source,
                });
            }
        };
        parser.feed(&buf.bytes()[range])?;
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

/// A buffer read from the input (the bytes in the range), with the integers read ahead of the
/// parse.
type Filled = (ReadBuffer, Range<usize>, Prescanned);

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
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<(ReadBuffer, Prescanned)>(BUFFERS);
    for _ in 0..BUFFERS {
        // Cannot fail: the receiver is alive and the channel has room.
        let _ = empty_tx.send((ReadBuffer::default(), Prescanned::default()));
    }
    // Buffers sent and not yet taken by the parse.
    let queued = AtomicUsize::new(0);
    let queued = &queued;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = reader;
            let mut position = 0u64;
            while let Ok((mut buf, mut prescanned)) = empty_rx.recv() {
                let message = match buf.read(&mut reader, position) {
                    Ok(range) if range.is_empty() => break,
                    Ok(range) => {
                        position += range.len() as u64;
                        if queued.load(Ordering::Relaxed) > 0 {
                            prescan(&buf.bytes()[range.clone()], &mut prescanned);
                        } else {
                            prescanned.clear();
                        }
                        Ok((buf, range, prescanned))
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
            let (buf, range, prescanned) = message.map_err(|source| Error::Io {
                path: Some(path.to_path_buf()),
                source,
            })?;
            parser.feed_prescanned(&buf.bytes()[range], &prescanned)?;
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
    // Read again from the start where the file allows it (it is then read from offsets that are
    // multiples of the read size), else the bytes read go first.
    let head = match file.rewind() {
        Ok(()) => Vec::new(),
        Err(_) => magic[..got].to_vec(),
    };
    let head = std::io::Cursor::new(head);
    if magic[..got] == [0x1f, 0x8b] {
        let decoder = flate2::read::MultiGzDecoder::new(head.chain(file));
        parse_reader_threaded(decoder, 0, progress, path)
    } else {
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        parse_reader_threaded(head.chain(file), total, progress, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_read_half_a_page_away_from_their_offset_in_the_input() {
        let input: Vec<u8> = (0..3 * READ_CHUNK as u32 + 5).map(|i| i as u8).collect();
        for skip in [0, 1, 16, 2048, 4095] {
            let mut reader = &input[skip..];
            let mut buf = ReadBuffer::default();
            let mut position = skip as u64;
            let mut read = Vec::new();
            loop {
                let range = buf.read(&mut reader, position).expect("reads");
                if range.is_empty() {
                    break;
                }
                let address = buf.bytes()[range.clone()].as_ptr() as usize;
                let distance = (address + ReadBuffer::PAGE - position as usize % ReadBuffer::PAGE)
                    % ReadBuffer::PAGE;
                assert_eq!(distance, ReadBuffer::PAGE / 2, "skip {skip} at {position}");
                position += range.len() as u64;
                read.extend_from_slice(&buf.bytes()[range]);
            }
            assert_eq!(read, input[skip..]);
        }
    }
}
