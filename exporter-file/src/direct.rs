//! [`ProfileFile`]: the open file a profile goes into, written with direct I/O (`O_DIRECT`)
//! where the file system allows it.
//!
//! A heap snapshot is hundreds of MB to GB, written once and not read back by the agent.
//! Through the page cache, every byte is first copied into kernel memory: measured here, that
//! copy was most of the agent's CPU for a snapshot (0.07–0.5 CPU-s per 244 MB, against 0.01–0.03
//! with direct I/O), and the cached pages are charged to the agent's memory cgroup, in the
//! pod of the service being profiled, pushing out that service's own cache. With direct I/O
//! the device reads the data from our buffer instead.
//!
//! Direct I/O wants the buffer's address, the length and the file offset aligned to the
//! device's block size: bytes are staged in a buffer aligned to [`ALIGN`] and written in
//! multiples of it; the last partial block goes through the page cache, after the file is
//! switched back to ordinary writes. Where the file system refuses direct I/O (tmpfs, some
//! FUSE and network file systems), refuses a write with `EINVAL`, or where the device is too
//! slow to keep up with a snapshot ([`DevicePace`]), the file falls back to ordinary writes for
//! good, with nothing lost.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::time::Instant;

use bytes::Bytes;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tracing::{debug, info};

use crate::pace::DevicePace;

/// The alignment of buffer addresses, lengths and file offsets for direct I/O: the largest
/// logical block size of common devices (512 or 4096 bytes).
const ALIGN: usize = 4096;

/// Bytes staged before a direct write (a multiple of [`ALIGN`]). Each write is a hand-off
/// to tokio's blocking pool and back: at 4 MiB rather than 1 MiB, a 243 MB snapshot took
/// about 430 context switches instead of 1,270, and 9 % less of the agent's CPU (7 runs
/// each, alternated), for 3 MiB more memory.
pub(crate) const STAGING: usize = 4 << 20;

/// A profile's open file: direct I/O through an aligned staging buffer, or ordinary writes.
pub(crate) struct ProfileFile {
    file: File,
    /// Direct I/O is on: writes go through `staging`.
    direct: bool,
    /// `STAGING + ALIGN` bytes (empty without direct I/O), of which the aligned window
    /// `start..start + STAGING` is used.
    staging: Vec<u8>,
    start: usize,
    /// Bytes staged at the start of the window, not yet written.
    staged: usize,
    /// How fast the direct writes went: a device that falls behind gets ordinary writes.
    pace: DevicePace,
}

impl std::fmt::Debug for ProfileFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileFile")
            .field("direct", &self.direct)
            .field("staged", &self.staged)
            .finish()
    }
}

impl ProfileFile {
    /// Wraps `file` (opened for writing, empty); with direct I/O when `direct` is asked for
    /// and the file system accepts it.
    pub(crate) fn new(file: File, direct: bool) -> Self {
        let direct = direct && set_direct(&file, true).is_ok();
        let staging = if direct {
            vec![0; STAGING + ALIGN]
        } else {
            Vec::new()
        };
        let start = if direct {
            staging.as_ptr().align_offset(ALIGN).min(ALIGN)
        } else {
            0
        };
        Self {
            file,
            direct,
            staging,
            start,
            staged: 0,
            pace: DevicePace::default(),
        }
    }

    /// Whether writes still use direct I/O.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }

    /// How much of `chunk`, from its start, can be written with direct I/O from its own
    /// buffer, without staging: its whole blocks of [`ALIGN`] bytes when nothing is staged and
    /// its address is aligned (as with blocks from `openprofiling_core::ChunkBlocks`), else 0.
    pub(crate) fn direct_prefix(&self, chunk: &[u8]) -> usize {
        if self.direct && self.staged == 0 && chunk.as_ptr().align_offset(ALIGN) == 0 {
            chunk.len() / ALIGN * ALIGN
        } else {
            0
        }
    }

    /// Writes `chunks` in order, after anything staged. With direct I/O, when nothing is staged
    /// and each chunk is aligned (see [`direct_prefix`](Self::direct_prefix)), straight from their
    /// buffers in as few vectored writes as the kernel allows, falling back to ordinary writes
    /// for good as [`write_staged_blocks`](Self::write_staged_blocks) does; otherwise staged.
    /// Without direct I/O, in as few vectored writes as the kernel allows.
    pub(crate) fn write_chunks(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
        if !self.direct {
            return write_all_slices(&mut self.file, &mut slices);
        }
        if self.staged > 0 || !chunks.iter().all(|chunk| is_aligned(chunk)) {
            return chunks.iter().try_for_each(|chunk| self.write_bytes(chunk));
        }
        let total: usize = chunks.iter().map(|chunk| chunk.len()).sum();
        let started = Instant::now();
        let mut rest = &mut slices[..];
        let mut written = 0;
        while !rest.is_empty() {
            match self.file.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    IoSlice::advance_slices(&mut rest, n);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.raw_os_error() == Some(Errno::EINVAL as i32) => {
                    debug!(%error, "Direct write refused; writing through the page cache.");
                    return self.fall_back_after(rest);
                }
                Err(error) => return Err(error),
            }
            if written % ALIGN != 0 {
                // A short write in mid-block: the rest cannot be aligned any more.
                return self.fall_back_after(rest);
            }
        }
        if total > 0 && !self.pace.record(total, started.elapsed()) {
            self.report_slow_device();
            return self.fall_back();
        }
        Ok(())
    }

    /// Writes `data`: staged for direct I/O (written once a whole buffer is gathered), or
    /// straight to the file.
    pub(crate) fn write_bytes(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let taken = self.stage(data);
            data = &data[taken..];
            if self.staging_full() {
                self.write_staged_blocks()?;
            } else if taken == 0 {
                // Not (or no longer) direct.
                return self.file.write_all(data);
            }
        }
        Ok(())
    }

    /// Copies as much of `data` as the staging buffer holds into it (nothing without direct
    /// I/O, or when it is full); returns how many bytes it took. No I/O: a caller on an async
    /// runtime may stage while the bytes are still in its core's cache, then leave the writing
    /// ([`write_staged_blocks`](Self::write_staged_blocks)) to a blocking thread.
    pub(crate) fn stage(&mut self, data: &[u8]) -> usize {
        if !self.direct {
            return 0;
        }
        let taken = (STAGING - self.staged).min(data.len());
        let at = self.start + self.staged;
        self.staging[at..at + taken].copy_from_slice(&data[..taken]);
        self.staged += taken;
        taken
    }

    /// Whether the staging buffer is full: time to [`write_staged_blocks`](Self::write_staged_blocks).
    pub(crate) fn staging_full(&self) -> bool {
        self.direct && self.staged == STAGING
    }

    /// Writes what is still staged, syncs the file (data and metadata) and returns it.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        if self.direct {
            self.write_staged_blocks()?;
            // Less than a block is left: it needs an ordinary write.
            self.fall_back()?;
        }
        self.file.sync_all()?;
        Ok(self.file)
    }

    /// Writes the whole blocks staged with direct I/O and moves the rest to the front. On
    /// `EINVAL` (the file system refusing this direct write), or when the device turns out too
    /// slow to keep up with a snapshot (see [`DevicePace`]), falls back to ordinary writes for
    /// what is left. Nothing to do without direct I/O.
    pub(crate) fn write_staged_blocks(&mut self) -> io::Result<()> {
        if !self.direct {
            return Ok(());
        }
        let blocks = self.staged / ALIGN * ALIGN;
        let started = Instant::now();
        let mut written = 0;
        while written < blocks {
            let window = &self.staging[self.start + written..self.start + blocks];
            match self.file.write(window) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.raw_os_error() == Some(Errno::EINVAL as i32) => {
                    debug!(%error, "Direct write refused; writing through the page cache.");
                    self.discard_staged(written);
                    return self.fall_back();
                }
                Err(error) => return Err(error),
            }
            if written % ALIGN != 0 {
                // A short write in mid-block: the rest cannot be aligned any more.
                self.discard_staged(written);
                return self.fall_back();
            }
        }
        self.discard_staged(blocks);
        if blocks > 0 && !self.pace.record(blocks, started.elapsed()) {
            self.report_slow_device();
            return self.fall_back();
        }
        Ok(())
    }

    fn report_slow_device(&self) {
        info!(
            megabytes_per_second = self.pace.megabytes_per_second(),
            "The device is too slow for direct writes to keep up with the profile stream; writing through the page cache."
        );
    }

    /// Drops the first `count` staged bytes (written), keeping the rest at the front.
    fn discard_staged(&mut self, count: usize) {
        let (from, to) = (self.start + count, self.start + self.staged);
        self.staging.copy_within(from..to, self.start);
        self.staged -= count;
    }

    /// Switches the file to ordinary writes for good and writes what is staged.
    fn fall_back(&mut self) -> io::Result<()> {
        if !self.direct {
            return Ok(());
        }
        self.fall_back_after(&mut [])
    }

    /// Switches the file to ordinary writes for good, writes `first`, then what is staged.
    fn fall_back_after(&mut self, first: &mut [IoSlice<'_>]) -> io::Result<()> {
        if self.direct {
            set_direct(&self.file, false)?;
            self.direct = false;
        }
        write_all_slices(&mut self.file, first)?;
        self.file
            .write_all(&self.staging[self.start..self.start + self.staged])?;
        self.staged = 0;
        self.staging = Vec::new();
        Ok(())
    }
}

/// Whether `bytes` can be written with direct I/O as they are: address and length multiples
/// of [`ALIGN`], and not empty.
fn is_aligned(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len() % ALIGN == 0 && bytes.as_ptr().align_offset(ALIGN) == 0
}

/// Turns direct I/O on or off for `file`. Fails with `EINVAL` where the file system does not
/// support it.
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(file, FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_DIRECT
    } else {
        flags - OFlag::O_DIRECT
    };
    fcntl(file, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// Writes `slices` in order, in as few vectored writes as the kernel allows.
fn write_all_slices(mut file: impl Write, slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut rest = slices;
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Bytes `0..len`, each a function of its offset, so any misplaced block shows.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    /// Writes `data` in pieces of `piece` bytes through a new file in `dir`; returns what
    /// the file holds and whether it stayed direct until the last partial block.
    fn round_trip(dir: &std::path::Path, data: &[u8], piece: usize, direct: bool) -> Vec<u8> {
        let path = dir.join(format!("profile-{piece}-{}", data.len()));
        let file = File::create(&path).unwrap();
        let mut out = ProfileFile::new(file, direct);
        let chunks: Vec<Bytes> = data
            .chunks(piece.max(1))
            .map(Bytes::copy_from_slice)
            .collect();
        for pair in chunks.chunks(3) {
            out.write_chunks(pair).unwrap();
        }
        out.finish().unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn every_byte_arrives_whatever_the_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            STAGING,
            STAGING + 3 * ALIGN + 17,
        ] {
            let data = pattern(len);
            for piece in [1_000, ALIGN, 100 * 1024 + 13, STAGING + 1] {
                for direct in [true, false] {
                    assert!(
                        round_trip(dir.path(), &data, piece, direct) == data,
                        "len {len}, piece {piece}, direct {direct}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_fall_back_in_mid_stream_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile");
        let mut out = ProfileFile::new(File::create(&path).unwrap(), true);
        let data = pattern(3 * STAGING + 5);
        out.write_bytes(&data[..STAGING + 10]).unwrap();
        // What a refused direct write does, at an awkward moment: bytes still staged.
        out.fall_back().unwrap();
        assert!(!out.is_direct());
        out.write_bytes(&data[STAGING + 10..]).unwrap();
        out.finish().unwrap();
        assert!(std::fs::read(&path).unwrap() == data);
    }

    /// Aligned blocks of `data` as `ChunkBlocks` makes them, and the partial rest.
    fn blocks_of(data: &[u8]) -> (Vec<Bytes>, Bytes) {
        let mut blocks = openprofiling_core::ChunkBlocks::new();
        blocks.append(data);
        let full: Vec<Bytes> = std::iter::from_fn(|| blocks.take_full()).collect();
        (full, blocks.take_rest().unwrap_or_default())
    }

    #[test]
    fn aligned_blocks_are_written_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile");
        let file = File::create(&path).unwrap();
        let direct_possible = set_direct(&file, true).is_ok();
        let mut out = ProfileFile::new(file, true);
        let data = pattern(5 * openprofiling_core::CHUNK_BLOCK_SIZE + 5_000);
        let (blocks, rest) = blocks_of(&data);
        assert_eq!(blocks.len(), 5);
        let whole = |len: usize| if direct_possible { len } else { 0 };
        assert_eq!(out.direct_prefix(&blocks[0]), whole(blocks[0].len()));
        // A partial block: its whole pages as they are, the rest staged.
        assert_eq!(out.direct_prefix(&rest), whole(rest.len() / ALIGN * ALIGN));
        out.write_chunks(&blocks[..4]).unwrap();
        assert_eq!(out.is_direct(), direct_possible, "no fall back");
        out.write_chunks(std::slice::from_ref(&rest)).unwrap();
        // Something is staged: a block that comes after it is staged too.
        assert_eq!(out.direct_prefix(&blocks[4]), 0);
        out.write_chunks(&blocks[4..]).unwrap();
        out.finish().unwrap();
        let block = openprofiling_core::CHUNK_BLOCK_SIZE;
        let mut expected = data[..4 * block].to_vec();
        expected.extend_from_slice(&rest);
        expected.extend_from_slice(&data[4 * block..5 * block]);
        assert!(std::fs::read(&path).unwrap() == expected);
    }

    #[test]
    fn direct_io_is_used_where_the_file_system_allows_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("profile")).unwrap();
        let direct_possible = set_direct(&file, true).is_ok();
        let out = ProfileFile::new(file, true);
        assert_eq!(out.is_direct(), direct_possible);
        let file = File::create(dir.path().join("other")).unwrap();
        assert!(!ProfileFile::new(file, false).is_direct());
    }
}
