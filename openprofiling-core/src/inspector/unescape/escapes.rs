//! The portable block path: each 64-byte block's escapes visited bit by bit.

use wide::u8x16;

use super::Output;
use super::careful::{unescape_one, unescape_words};

/// Unescapes `body` into `out` (see [`super::unescape_json_string`]).
///
/// Branch mispredictions on escapes dominate a byte- or word-wise loop, so blocks of 64 bytes
/// are scanned first into a bit mask of their backslashes, without branches; the escapes are
/// then visited bit by bit and the plain runs between them copied with fixed-size moves.
/// Blocks holding a quote or a control character (the strings section of a snapshot, or
/// invalid input) take the careful path.
pub(super) fn unescape(body: &[u8], out: &mut Output<'_>) -> Option<()> {
    let mut read = 0;
    let mut non_ascii = false;
    let mut block = 0;
    while block < body.len() {
        let end = (block + 64).min(body.len());
        let clean_backslashes = body
            .get(block..block + 64)
            .and_then(|bytes| backslashes_if_clean(bytes.try_into().ok()?));
        match clean_backslashes {
            Some(mut backslashes) => {
                while backslashes != 0 {
                    let at = block + backslashes.trailing_zeros() as usize;
                    backslashes &= backslashes - 1;
                    if at < read {
                        continue; // The second half of `\\`, or a `\u` low surrogate.
                    }
                    copy_plain(body, read, at, out);
                    read = unescape_one(body, at, out)?;
                }
            }
            None => {
                while read < end {
                    read = unescape_words(body, read, out, &mut non_ascii)?;
                }
            }
        }
        block = end;
    }
    copy_plain(body, read.min(body.len()), body.len(), out);
    super::check_utf8(body, non_ascii)
}

/// The fixed copy size of [`copy_plain`] (within [`super::SLACK`]).
const COPY: usize = 32;

/// Appends the plain run `body[from..to]` to `out`.
#[inline(always)]
fn copy_plain(body: &[u8], from: usize, to: usize, out: &mut Output<'_>) {
    let len = to.saturating_sub(from);
    let fixed: Option<&[u8; COPY]> = body
        .get(from..from + COPY)
        .and_then(|run| run.try_into().ok());
    match fixed {
        // Most runs are short: one fixed-size move, no call, no loop.
        Some(run) if len <= COPY => out.put(run, len),
        _ => out.extend(&body[from..to]),
    }
}

/// The backslashes of a 64-byte block as a bit mask (bit `i` for byte `i`), or `None` when the
/// block holds a double quote, a control character or a byte above 0x7F and needs the careful
/// path. Branch-free, sixteen bytes at a time with SIMD (SSE2 on x86-64, NEON on aarch64,
/// through `wide`'s safe API; plain code elsewhere).
///
/// For each 16-byte lane: `cmp_eq` sets a byte to 0xFF where it equals the wanted byte, and
/// `move_mask` gathers the top bit of each of the 16 bytes into bits 0..16 of an integer (one
/// instruction each on SSE2). A byte is a control character (below 0x20) exactly when
/// `max(byte, 0x1F) == 0x1F`: SSE2 has no unsigned less-than, but it has an unsigned max.
#[inline(always)]
fn backslashes_if_clean(block: &[u8; 64]) -> Option<u64> {
    let backslash = u8x16::splat(b'\\');
    let quote = u8x16::splat(b'"');
    let last_control = u8x16::splat(0x1f);
    let mut backslashes = 0_u64;
    let mut suspicious = u8x16::splat(0);
    for (index, lane) in block.chunks_exact(16).enumerate() {
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(lane);
        let lane = u8x16::new(bytes);
        // `move_mask` fills only the low 16 bits; the cast keeps exactly those.
        let found = lane.cmp_eq(backslash).move_mask() as u16;
        backslashes |= u64::from(found) << (16 * index);
        // The lane itself too: `any` below looks at the top bits, set in bytes above 0x7F.
        suspicious =
            suspicious | lane | lane.cmp_eq(quote) | lane.max(last_control).cmp_eq(last_control);
    }
    (!suspicious.any()).then_some(backslashes)
}
