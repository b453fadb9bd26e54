//! [`ChunkBlocks`]: string parameters (heap snapshot chunks) unescaped straight into blocks
//! that an exporter can write with direct I/O as they are.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

use super::message::Event;
use crate::Result;

/// The size of each full block: 4 MiB, what a file exporter writes at once.
pub const CHUNK_BLOCK_SIZE: usize = 4 << 20;

/// The alignment of each block's address, a multiple of any device's logical block size.
pub const CHUNK_BLOCK_ALIGN: usize = 4096;

/// Room past a block for the chunk that runs past its end (a chunk is about 100 KB): that part
/// is copied to the start of the next block's buffer. A larger chunk gets a buffer its size.
const OVERFLOW: usize = 256 << 10;

/// The usual capacity of a block's buffer.
const BUFFER_SIZE: usize = CHUNK_BLOCK_SIZE + OVERFLOW;

/// Buffers kept for reuse once the block in them is dropped: one, as the block an exporter
/// writes comes back before the next one is full.
const SPARE_BUFFERS: usize = 1;

/// Profile bytes gathered into blocks of [`CHUNK_BLOCK_SIZE`] bytes, each starting at an
/// address aligned to [`CHUNK_BLOCK_ALIGN`], with each chunk unescaped straight into them.
///
/// A file exporter writes such a block with direct I/O without copying it into an aligned
/// buffer first (that copy was an eighth of the agent's CPU for a heap snapshot). A profiler
/// appends each chunk, hands on every full block ([`take_full`](Self::take_full)), and the
/// last, partial block at the end ([`take_rest`](Self::take_rest)). A block's buffer is
/// reused once every copy of the block is dropped.
#[derive(Debug, Default)]
pub struct ChunkBlocks {
    /// The block being filled; allocated when the first chunk comes.
    current: Option<BlockBuffer>,
    /// Bytes written into `current`.
    filled: usize,
    /// Buffers of dropped blocks.
    spares: Arc<Mutex<Vec<BlockBuffer>>>,
}

impl ChunkBlocks {
    /// No blocks yet; buffers are allocated as chunks come.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the string parameter `key` of `event`, unescaped (see
    /// [`Event::string_param`]); returns how many bytes it added. On error, nothing is added.
    pub fn append_string_param(&mut self, event: &Event, key: &str) -> Result<usize> {
        let room = self.room_for(event.string_param_room());
        let written = event.string_param_into(key, room)?;
        self.filled += written;
        Ok(written)
    }

    /// Appends `bytes` as they are.
    pub fn append(&mut self, bytes: &[u8]) {
        self.room_for(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
    }

    /// The next full block, once one is gathered.
    pub fn take_full(&mut self) -> Option<Bytes> {
        if self.filled < CHUNK_BLOCK_SIZE {
            return None;
        }
        // What ran past the block starts the next one.
        let rest = self.filled - CHUNK_BLOCK_SIZE;
        let mut next = self.buffer_for(rest);
        let full = self.current.take()?;
        next.bytes_mut()[..rest].copy_from_slice(&full.bytes()[CHUNK_BLOCK_SIZE..self.filled]);
        self.current = Some(next);
        self.filled = rest;
        Some(self.hand_on(full, CHUNK_BLOCK_SIZE))
    }

    /// Whatever is gathered, full blocks first if any are left: for the end of the profile.
    pub fn take_rest(&mut self) -> Option<Bytes> {
        if let Some(full) = self.take_full() {
            return Some(full);
        }
        let len = std::mem::take(&mut self.filled);
        let buffer = self.current.take()?;
        if len == 0 {
            self.give_back(buffer);
            return None;
        }
        Some(self.hand_on(buffer, len))
    }

    /// Bytes gathered and not yet taken.
    pub fn pending(&self) -> usize {
        self.filled
    }

    /// The free part of the current buffer, at least `len` bytes: the current buffer moves
    /// to a larger one (what it holds copied) when it has less.
    fn room_for(&mut self, len: usize) -> &mut [u8] {
        let filled = self.filled;
        if self
            .current
            .as_ref()
            .is_none_or(|current| current.capacity() - filled < len)
        {
            let mut next = self.buffer_for(filled + len);
            if let Some(current) = self.current.take() {
                next.bytes_mut()[..filled].copy_from_slice(&current.bytes()[..filled]);
                self.give_back(current);
            }
            self.current = Some(next);
        }
        match self.current.as_mut() {
            Some(current) => &mut current.bytes_mut()[filled..],
            None => &mut [],
        }
    }

    /// A spare buffer, or a new one, of at least `len` bytes.
    fn buffer_for(&mut self, len: usize) -> BlockBuffer {
        if len <= BUFFER_SIZE {
            let mut spares = self.spares.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(spare) = spares.pop() {
                return spare;
            }
        }
        BlockBuffer::new(len.max(BUFFER_SIZE))
    }

    fn give_back(&self, buffer: BlockBuffer) {
        keep_spare(&self.spares, buffer);
    }

    /// The first `len` bytes of `buffer` as a block, whose buffer comes back when dropped.
    fn hand_on(&self, buffer: BlockBuffer, len: usize) -> Bytes {
        Bytes::from_owner(Block {
            buffer: Some(buffer),
            len,
            spares: Arc::downgrade(&self.spares),
        })
    }
}

/// Keeps `buffer` among `spares` if it is of the usual size and there is room.
fn keep_spare(spares: &Mutex<Vec<BlockBuffer>>, buffer: BlockBuffer) {
    let mut spares = spares.lock().unwrap_or_else(PoisonError::into_inner);
    if buffer.capacity() == BUFFER_SIZE && spares.len() < SPARE_BUFFERS {
        spares.push(buffer);
    }
}

/// A buffer whose usable part starts at an aligned address. Zero-filled when allocated (by
/// the allocator, page by page as they are first written), so written into as a slice.
struct BlockBuffer {
    memory: Vec<u8>,
    start: usize,
    capacity: usize,
}

impl std::fmt::Debug for BlockBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuffer")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl BlockBuffer {
    fn new(capacity: usize) -> Self {
        let memory = vec![0; capacity + CHUNK_BLOCK_ALIGN - 1];
        let start = memory
            .as_ptr()
            .align_offset(CHUNK_BLOCK_ALIGN)
            .min(CHUNK_BLOCK_ALIGN - 1);
        Self {
            memory,
            start,
            capacity,
        }
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn bytes(&self) -> &[u8] {
        &self.memory[self.start..self.start + self.capacity]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.memory[self.start..self.start + self.capacity]
    }
}

/// A handed-on block: owns its buffer until the last copy of the block is dropped.
struct Block {
    buffer: Option<BlockBuffer>,
    len: usize,
    spares: Weak<Mutex<Vec<BlockBuffer>>>,
}

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        match &self.buffer {
            Some(buffer) => &buffer.bytes()[..self.len],
            None => &[],
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let (Some(buffer), Some(spares)) = (self.buffer.take(), self.spares.upgrade()) {
            keep_spare(&spares, buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_event(text: &str) -> Event {
        let frame = serde_json::json!({
            "method": "HeapProfiler.addHeapSnapshotChunk",
            "params": {"chunk": text},
        })
        .to_string();
        Event::from_frame(&frame).expect("an event")
    }

    #[test]
    fn chunks_come_out_as_aligned_full_blocks_then_the_rest_in_order() {
        let mut blocks = ChunkBlocks::new();
        let mut expected = Vec::new();
        let mut taken = Vec::new();
        // ~100 KB chunks with escapes, enough for several buffers.
        for index in 0..150_u32 {
            let text = format!("{index},1,2\n\"name\"\n").repeat(100_000 / 14);
            expected.extend_from_slice(text.as_bytes());
            let added = blocks
                .append_string_param(&chunk_event(&text), "chunk")
                .expect("a string");
            assert_eq!(added, text.len());
            while let Some(block) = blocks.take_full() {
                assert_eq!(block.len(), CHUNK_BLOCK_SIZE);
                assert_eq!(block.as_ptr().align_offset(CHUNK_BLOCK_ALIGN), 0);
                taken.push(block);
            }
        }
        while let Some(rest) = blocks.take_rest() {
            taken.push(rest);
        }
        assert!(taken.len() > 3);
        assert_eq!(blocks.pending(), 0);
        assert_eq!(taken.concat(), expected);
    }

    #[test]
    fn a_bad_chunk_adds_nothing() {
        let mut blocks = ChunkBlocks::new();
        blocks.append(b"kept");
        let bad =
            Event::from_frame(r#"{"method":"A.b","params":{"chunk":"a\x"}}"#).expect("an event");
        assert!(blocks.append_string_param(&bad, "chunk").is_err());
        assert_eq!(blocks.take_rest().as_deref(), Some(&b"kept"[..]));
    }

    #[test]
    fn a_block_buffer_is_reused_once_the_block_is_dropped() {
        let mut blocks = ChunkBlocks::new();
        blocks.append(&vec![1; CHUNK_BLOCK_SIZE + 10]);
        let first = blocks.take_full().expect("a full block");
        let address = first.as_ptr();
        assert_eq!(blocks.pending(), 10);
        drop(first);
        blocks.append(&vec![2; CHUNK_BLOCK_SIZE]);
        let second = blocks.take_full().expect("a full block");
        assert!(second.iter().take(10).all(|&byte| byte == 1));
        assert!(second[10..].iter().all(|&byte| byte == 2));
        // The next block goes into the first one's buffer, free again.
        blocks.append(&[3; 20]);
        let rest = blocks.take_rest().expect("the rest");
        assert_eq!(rest.as_ptr(), address);
        assert_eq!(rest.len(), 30);
        assert!(blocks.take_rest().is_none());
    }

    #[test]
    fn a_chunk_larger_than_the_overflow_room_gets_a_buffer_its_size() {
        let mut blocks = ChunkBlocks::new();
        let data: Vec<u8> = (0..3 * CHUNK_BLOCK_SIZE + 7)
            .map(|i| (i % 251) as u8)
            .collect();
        blocks.append(&data[..100]);
        blocks.append(&data[100..]);
        let mut taken = Vec::new();
        while let Some(block) = blocks.take_rest() {
            assert_eq!(block.as_ptr().align_offset(CHUNK_BLOCK_ALIGN), 0);
            taken.push(block);
        }
        assert_eq!(taken.len(), 4);
        assert_eq!(taken.concat(), data);
    }
}
