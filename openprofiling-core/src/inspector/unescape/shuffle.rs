//! The shuffle block path: each 16 bytes decoded and compacted at once, for CPUs with a byte
//! shuffle (SSSE3's `pshufb` on x86-64).
//!
//! A block of 64 bytes starting where an escape may start is taken whole when its only escapes
//! are `\n` and `\"` (nearly every block of a heap snapshot). For each 16-byte lane, without a
//! branch: the bytes after a backslash are found by moving the lane's backslash mask up one
//! byte; `n` there becomes a newline; and one shuffle drops the backslashes, its indices looked
//! up by the lane's 16-bit backslash mask. Any other content sends the block to the careful
//! path.

use wide::{CmpLt, i8x16, u8x16};

use super::Output;
use super::careful::unescape_words;

/// Bytes per block: four lanes, decoded together, then appended or handed on whole.
const BLOCK: usize = 64;

/// For each 16-bit mask of the bytes a lane drops (bit `i` for byte `i`): the indices of the
/// bytes it keeps, in order, then 0x80 (a shuffle index that yields zero). 1 MiB; a snapshot
/// reads a few hundred of its entries, as its lanes hold one or two backslashes.
static COMPACT: [[u8; 16]; 1 << 16] = {
    let mut table = [[0x80_u8; 16]; 1 << 16];
    let mut dropped = 0;
    while dropped < 1 << 16 {
        let mut kept = 0;
        let mut index = 0;
        while index < 16 {
            if dropped & (1 << index) == 0 {
                table[dropped][kept] = index as u8;
                kept += 1;
            }
            index += 1;
        }
        dropped += 1;
    }
    table
};

/// Unescapes `body` into `out` (see [`super::unescape_json_string`]).
pub(super) fn unescape(body: &[u8], out: &mut Output<'_>) -> Option<()> {
    let mut read = 0;
    let mut non_ascii = false;
    while read < body.len() {
        let decoded = match (body.get(read..read + BLOCK), out.room::<BLOCK>()) {
            (Some(block), Some(room)) => decode_block(block.try_into().ok()?, room),
            _ => None,
        };
        match decoded {
            Some((consumed, written)) => {
                read += consumed;
                out.advance(written);
            }
            None => {
                let end = (read + BLOCK).min(body.len());
                while read < end {
                    read = unescape_words(body, read, out, &mut non_ascii)?;
                }
            }
        }
    }
    super::check_utf8(body, non_ascii)
}

/// Decodes `block`, which starts where an escape may start, into `room` if its only escapes
/// are `\n` and `\"` and it holds no other quote, no control character and no byte above
/// 0x7F. Returns how many bytes it consumed (64, or 63 when its last byte is a backslash: the
/// next block then starts with that escape) and how many it wrote.
#[inline(always)]
fn decode_block(block: &[u8; BLOCK], room: &mut [u8; BLOCK]) -> Option<(usize, usize)> {
    let backslash = u8x16::splat(b'\\');
    let quote = u8x16::splat(b'"');
    let letter_n = u8x16::splat(b'n');
    let space = i8x16::splat(0x20);
    let mut refused = u8x16::splat(0);
    let mut previous_backslashes = u8x16::splat(0);
    let mut backslash_mask = 0_u16;
    let mut len = 0;
    for lane in block.chunks_exact(16) {
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(lane);
        let lane = u8x16::new(bytes);
        let backslashes = lane.cmp_eq(backslash);
        let escaped = after(previous_backslashes, backslashes);
        previous_backslashes = backslashes;
        let escaped_n = escaped & lane.cmp_eq(letter_n);
        let quotes = lane.cmp_eq(quote);
        // Refused: an escape of anything but `n` or `"` (`\\` included), or a quote that is
        // not escaped (the escaped bytes are exactly the quotes and escaped `n`s otherwise);
        // a control character or a byte above 0x7F (as a signed byte, both are below 0x20).
        let outside: u8x16 = bytemuck::cast(bytemuck::cast::<u8x16, i8x16>(lane).cmp_lt(space));
        refused = refused | (escaped ^ (quotes | escaped_n)) | outside;
        let decoded = lane ^ (escaped_n & u8x16::splat(b'n' ^ b'\n'));
        // `move_mask` fills the low 16 bits; the cast keeps exactly those.
        backslash_mask = backslashes.move_mask() as u16;
        let kept = decoded.swizzle_relaxed(u8x16::new(COMPACT[usize::from(backslash_mask)]));
        room[len..len + 16].copy_from_slice(&kept.to_array());
        len += 16 - backslash_mask.count_ones() as usize;
    }
    if refused.move_mask() != 0 {
        return None;
    }
    Some((BLOCK - usize::from(backslash_mask >> 15), len))
}

/// The lane of bytes that follow a backslash: `current`'s backslash mask moved up one byte,
/// with the last byte of `previous` (the lane before) coming in first.
#[inline(always)]
fn after(previous: u8x16, current: u8x16) -> u8x16 {
    let previous = u128::from_le_bytes(previous.to_array());
    let current = u128::from_le_bytes(current.to_array());
    u8x16::new(((current << 8) | (previous >> 120)).to_le_bytes())
}
