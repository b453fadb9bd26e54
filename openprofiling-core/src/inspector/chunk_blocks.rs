//! [`ChunkBlocks`]: string parameters (heap snapshot chunks) unescaped straight into blocks
//! that an exporter can write with direct I/O as they are.

use bytes::Bytes;

use super::buffers::Buffers;
use super::message::Event;
use crate::Result;

/// The size of each full block: 1 MiB.
pub const CHUNK_BLOCK_SIZE: usize = 1 << 20;

/// The alignment of each block's address, a multiple of any device's logical block size.
pub const CHUNK_BLOCK_ALIGN: usize = 4096;

/// Each buffer holds four blocks, and room for the last chunk to run past the fourth: the
/// part of a chunk that runs past a buffer's end is copied to the next buffer, so a buffer
/// much larger than a chunk copies little (a chunk is about 100 KB).
const BUFFER_SIZE: usize = 4 * CHUNK_BLOCK_SIZE + (256 << 10);

/// Buffers kept for reuse once every block split from them is dropped.
const SPARE_BUFFERS: usize = 2;

/// Profile bytes gathered into blocks of [`CHUNK_BLOCK_SIZE`] bytes, each starting at an
/// address aligned to [`CHUNK_BLOCK_ALIGN`], with each chunk unescaped straight into them.
///
/// A file exporter writes such a block with direct I/O without copying it into an aligned
/// buffer first (that copy was an eighth of the agent's CPU for a heap snapshot). A profiler
/// appends each chunk, hands on every full block ([`take_full`](Self::take_full)), and the
/// last, partial block at the end ([`take_rest`](Self::take_rest)).
#[derive(Debug)]
pub struct ChunkBlocks {
    buffers: Buffers,
}

impl Default for ChunkBlocks {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkBlocks {
    /// No blocks yet; buffers are allocated as chunks come.
    pub fn new() -> Self {
        Self {
            buffers: Buffers::with_layout(BUFFER_SIZE, SPARE_BUFFERS, CHUNK_BLOCK_ALIGN),
        }
    }

    /// Appends the string parameter `key` of `event`, unescaped (see
    /// [`Event::string_param`]); returns how many bytes it added. On error, nothing is added.
    pub fn append_string_param(&mut self, event: &Event, key: &str) -> Result<usize> {
        let pending = self.buffers.filled().len();
        self.buffers
            .make_room_for(pending + event.string_param_room());
        event.string_param_into(key, self.buffers.current())?;
        Ok(self.buffers.filled().len() - pending)
    }

    /// Appends `bytes` as they are.
    pub fn append(&mut self, bytes: &[u8]) {
        let pending = self.buffers.filled().len();
        self.buffers.make_room_for(pending + bytes.len());
        self.buffers.current().extend_from_slice(bytes);
    }

    /// The next full block, once one is gathered.
    pub fn take_full(&mut self) -> Option<Bytes> {
        (self.buffers.filled().len() >= CHUNK_BLOCK_SIZE)
            .then(|| self.buffers.current().split_to(CHUNK_BLOCK_SIZE).freeze())
    }

    /// Whatever is gathered, full blocks first if any are left: for the end of the profile.
    pub fn take_rest(&mut self) -> Option<Bytes> {
        self.take_full().or_else(|| {
            (!self.buffers.filled().is_empty()).then(|| self.buffers.current().split().freeze())
        })
    }

    /// Bytes gathered and not yet taken.
    pub fn pending(&self) -> usize {
        self.buffers.filled().len()
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
        assert!(taken.len() > 12);
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
}
