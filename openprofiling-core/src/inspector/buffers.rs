//! [`Buffers`]: large buffers that many small `Bytes` are split out of, reused once every
//! piece split from them is dropped.
//!
//! Each received frame, and each unescaped heap snapshot chunk, is about 100 KB. Allocated one
//! by one, they sit just under glibc's 128 KiB mmap threshold: every free trims the heap and
//! every allocation faults its pages in again, which cost a fifth of the session's CPU on a
//! snapshot stream. Splitting them out of 1 MiB buffers that are kept and reused touches each
//! page once.

use std::collections::VecDeque;

use bytes::BytesMut;

/// The size of each buffer.
pub(crate) const BUFFER_SIZE: usize = 1 << 20;

/// A buffer being filled, and earlier buffers to go on in once nothing holds a piece of them.
#[derive(Debug)]
pub(crate) struct Buffers {
    current: BytesMut,
    /// True when `current` was allocated with [`BUFFER_SIZE`] bytes (not for a larger piece).
    current_is_usual: bool,
    /// Earlier buffers, oldest first.
    spares: VecDeque<BytesMut>,
    max_spares: usize,
}

impl Buffers {
    /// Buffers that keep up to `max_spares` earlier buffers for reuse.
    pub(crate) fn new(max_spares: usize) -> Self {
        Self {
            current: BytesMut::new(),
            current_is_usual: false,
            spares: VecDeque::with_capacity(max_spares),
            max_spares,
        }
    }

    /// The buffer being filled: split what is complete off its front.
    pub(crate) fn current(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// What the buffer being filled holds.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.current
    }

    /// Ensures the current buffer can hold `wanted` bytes from its start (what it holds
    /// included) without moving again: in place, in a free spare or in a new buffer, which
    /// then takes what the current one holds.
    pub(crate) fn make_room_for(&mut self, wanted: usize) {
        if self.current.capacity() >= wanted {
            return;
        }
        let size = BUFFER_SIZE.max(wanted);
        if self.current.try_reclaim(size - self.current.len()) {
            return;
        }
        let free_spare = self
            .spares
            .iter_mut()
            .position(|spare| spare.try_reclaim(size));
        let mut next = free_spare
            .and_then(|index| self.spares.remove(index))
            .unwrap_or_else(|| BytesMut::with_capacity(size));
        next.extend_from_slice(&self.current);
        let mut previous = std::mem::replace(&mut self.current, next);
        // Only buffers of the usual size are kept: not one that a large piece needed.
        if std::mem::replace(&mut self.current_is_usual, size == BUFFER_SIZE) && self.max_spares > 0
        {
            previous.clear();
            if self.spares.len() == self.max_spares {
                self.spares.pop_front();
            }
            self.spares.push_back(previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_reused_once_its_pieces_are_dropped_and_not_before() {
        let mut buffers = Buffers::new(1);
        buffers.make_room_for(10);
        let first = buffers.current().as_ptr();
        buffers.current().extend_from_slice(&[1; 600 << 10]);
        let held = buffers.current().split().freeze();
        // Not enough room left, and `held` still uses the buffer: a new one, content kept.
        buffers.current().extend_from_slice(b"part");
        buffers.make_room_for(600 << 10);
        assert_ne!(buffers.current().as_ptr(), first);
        assert_eq!(&buffers.current()[..], b"part");
        let piece = buffers.current().split().freeze();
        drop(held);
        // The next switch goes back to the first buffer, now free.
        buffers.current().extend_from_slice(&[2; 500 << 10]);
        buffers.make_room_for(BUFFER_SIZE - 2);
        assert_eq!(buffers.current().as_ptr(), first);
        assert_eq!(buffers.current().len(), 500 << 10);
        assert!(buffers.current().iter().all(|&byte| byte == 2));
        assert_eq!(&piece[..], b"part");
    }

    #[test]
    fn a_piece_larger_than_a_buffer_gets_its_own_which_is_not_kept() {
        let mut buffers = Buffers::new(4);
        buffers.make_room_for(3 * BUFFER_SIZE);
        assert!(buffers.current().capacity() >= 3 * BUFFER_SIZE);
        let size = buffers.current().capacity() - 10;
        buffers.current().extend_from_slice(&vec![0; size]);
        let _held = buffers.current().split();
        buffers.make_room_for(BUFFER_SIZE);
        assert!(buffers.spares.is_empty(), "the large buffer is not kept");
        let size = buffers.current().capacity() - 10;
        buffers.current().extend_from_slice(&vec![0; size]);
        let _held_too = buffers.current().split();
        buffers.make_room_for(BUFFER_SIZE);
        assert_eq!(buffers.spares.len(), 1, "the usual buffer is kept");
    }
}
