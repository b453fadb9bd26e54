//! The scanner of the big unsigned-integer arrays (`nodes`, `edges`, `locations`...): a
//! hand-written loop over bytes that keeps a partial number across chunk boundaries.

use std::ops::Range;

use wide::u8x16;

use crate::error::{Error, Result};

/// Receives the integers of an array, in order, in batches.
pub(crate) trait IntSink {
    /// The next values; `offset` is the byte offset just after the last one, for errors.
    fn accept(&mut self, values: &[u64], offset: u64) -> Result<()>;
}

/// Values parsed before they are handed to the sink.
const BATCH: usize = 2048;

/// The state of an integer array scan between chunks (the opening `[` is already consumed): the
/// number being read, if any.
#[derive(Debug, Default)]
pub(crate) struct IntScanner {
    value: u64,
    /// Digits of `value` read so far; 0 between numbers.
    digits: u32,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x80 * ONES;
const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// 0x80 in every byte of `x` that is not zero (exact: no carries between bytes).
#[inline(always)]
fn nonzero_bytes(x: u64) -> u64 {
    (((x & !HIGH_BITS).wrapping_add(0x7F * ONES)) | x) & HIGH_BITS
}

/// 0x80 in every byte of `word` that is not an ASCII digit.
#[inline(always)]
fn non_digits(word: u64) -> u64 {
    let high_nibble = (word & (0xF0 * ONES)) ^ (0x30 * ONES);
    let low_nibble_over_9 = ((word & (0x0F * ONES)) + 0x06 * ONES) & (0x10 * ONES);
    nonzero_bytes(high_nibble | low_nibble_over_9)
}

/// 0x80 in every byte of `word` equal to `byte`.
#[inline(always)]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    !nonzero_bytes(word ^ (u64::from(byte) * ONES)) & HIGH_BITS
}

/// The value of the first `digits` (0 to 8) ASCII digits of `word` (in memory order).
#[inline(always)]
fn parse_digits(word: u64, digits: u32) -> u64 {
    // Move the digits to the top bytes (the bottom ones become leading zeros), then combine
    // pairs, quads and octets (Lemire's eight-digit parse).
    let v = (word.wrapping_sub(0x30 * ONES))
        .checked_shl(8 * (8 - digits))
        .unwrap_or(0);
    let v = (v.wrapping_mul(10)).wrapping_add(v >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul((100 << 16) + 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul((10000 << 32) + 1) >> 32
}

/// Appends `count` (1 to 8) digits worth `part` to the number `value` of `digits` digits.
#[inline(always)]
fn append(value: &mut u64, digits: &mut u32, part: u64, count: u32) {
    let total = *digits + count;
    // More than 19 digits does not fit: saturate, so it is reported rather than wrapped.
    *value = if total > 19 {
        u64::MAX
    } else {
        *value * POW10[count as usize] + part
    };
    *digits = total;
}

/// The 8 bytes at `bytes[i..]` as a little-endian word (`i + 8 <= bytes.len()`).
#[inline(always)]
fn load(bytes: &[u8], i: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[i..i + 8]);
    u64::from_le_bytes(word)
}

/// The value of the `len` (1 to 16) digits at `bytes[start..]` (`start + 16 <= bytes.len()`).
#[inline(always)]
fn number_at(bytes: &[u8], start: usize, len: usize) -> u64 {
    let low = load(bytes, start);
    if len <= 8 {
        parse_digits(low, len as u32)
    } else {
        let rest = len as u32 - 8;
        parse_digits(low, 8) * POW10[rest as usize] + parse_digits(load(bytes, start + 8), rest)
    }
}

/// A bit per byte of `bytes[at..at + 16]` (bit `k` for byte `k`) set for `,` and `\n`; `None` if
/// one of the bytes is neither those nor an ASCII digit. 16 bytes per SIMD step (SSE2, which
/// every x86-64 has, or NEON; plain code elsewhere).
#[inline(always)]
fn lane_separators(bytes: &[u8], at: usize) -> Option<u64> {
    let mut lane = [0u8; 16];
    lane.copy_from_slice(&bytes[at..at + 16]);
    let lane = u8x16::new(lane);
    let digit_value = lane - u8x16::splat(b'0');
    // Bytes below `0` wrap around to large values: one unsigned comparison checks both ends.
    let digits = digit_value.min(u8x16::splat(9)).cmp_eq(digit_value);
    let separators = lane.cmp_eq(u8x16::splat(b',')) | lane.cmp_eq(u8x16::splat(b'\n'));
    if (digits | separators).move_mask() != 0xFFFF {
        return None;
    }
    Some(u64::from(separators.move_mask() as u16))
}

/// Parses whole numbers from `bytes[i..]` (`i` between numbers) into `out` while every byte is a
/// digit, `,` or `\n` and numbers have at most 16 digits, 64 bytes at a time: first a bit mask of
/// the separators, then one step per number, whose digits are read where the mask says (no
/// dependency from one number to the next). Returns where it stopped (between numbers, or the
/// start of one) and how many values it wrote.
fn scan_numbers(bytes: &[u8], i: usize, out: &mut [u64]) -> (usize, usize) {
    const BLOCK: usize = 64;
    let mut count = 0;
    let mut block = i;
    // The start of a number that the previous block did not finish.
    let mut pending: Option<usize> = None;
    // Room for the widest numbers read from the last block, and for a block of `1,1,...`.
    while block + BLOCK + 16 <= bytes.len() && count + BLOCK / 2 <= out.len() {
        let mut separators = 0u64;
        for k in 0..BLOCK / 16 {
            match lane_separators(bytes, block + 16 * k) {
                Some(lane) => separators |= lane << (16 * k),
                // Something else (`]`, a space, an error) in this block: leave it to the
                // careful path, from the start of the unfinished number if any.
                None => return (pending.unwrap_or(block), count),
            }
        }
        let digits = !separators;
        let previous_digit = u64::from(pending.is_some());
        let mut starts = digits & !((digits << 1) | previous_digit);
        let mut ends = separators & ((digits << 1) | previous_digit);
        while ends != 0 {
            let end = block + ends.trailing_zeros() as usize;
            ends &= ends - 1;
            let start = match pending.take() {
                Some(start) => start,
                None => {
                    let start = block + starts.trailing_zeros() as usize;
                    starts &= starts.wrapping_sub(1);
                    start
                }
            };
            let len = end - start;
            if len > 16 {
                return (start, count);
            }
            out[count] = number_at(bytes, start, len);
            count += 1;
        }
        if starts != 0 {
            pending = Some(block + starts.trailing_zeros() as usize);
        }
        block += BLOCK;
    }
    (pending.unwrap_or(block), count)
}

impl IntScanner {
    /// True between numbers (no digits of a number read yet).
    pub(crate) fn between_numbers(&self) -> bool {
        self.digits == 0
    }

    /// Scans `bytes` (which start at absolute offset `base`). Returns `Some(n)` when the closing
    /// `]` was found at `bytes[n - 1]`, `None` when all of `bytes` was consumed.
    pub(crate) fn scan<S: IntSink>(
        &mut self,
        bytes: &[u8],
        base: u64,
        context: &'static str,
        sink: &mut S,
    ) -> Result<Option<usize>> {
        let len = bytes.len();
        let mut batch = [0u64; BATCH];
        let mut count = 0usize;
        let mut i = 0;
        // The number being read, in registers.
        let mut value = self.value;
        let mut digits = self.digits;
        macro_rules! end_number {
            () => {
                if digits > 0 {
                    batch[count] = value;
                    count += 1;
                    value = 0;
                    digits = 0;
                }
            };
        }
        loop {
            if count + 8 > BATCH {
                sink.accept(&batch[..count], base + i as u64)?;
                count = 0;
            }
            // Fastest path, between numbers: 64 bytes of digits, commas and newlines at a time
            // (see `scan_numbers`); it stops at anything else, left to the paths below.
            if digits == 0 {
                let (next, filled) = scan_numbers(bytes, i, &mut batch[count..]);
                i = next;
                count += filled;
                if count + 8 > BATCH {
                    continue;
                }
            }
            // Fast path: 8 bytes of digits, commas and newlines at a time (also in a number).
            if i + 8 <= len {
                let word = load(bytes, i);
                let separators = non_digits(word);
                if separators == bytes_equal(word, b',') | bytes_equal(word, b'\n') {
                    let mut mask = separators;
                    let mut start = 0u32;
                    while mask != 0 {
                        let at = mask.trailing_zeros() / 8;
                        if at > start {
                            let part = parse_digits(word >> (8 * start), at - start);
                            append(&mut value, &mut digits, part, at - start);
                        }
                        end_number!();
                        start = at + 1;
                        mask &= mask - 1;
                    }
                    if start < 8 {
                        let part = parse_digits(word >> (8 * start), 8 - start);
                        append(&mut value, &mut digits, part, 8 - start);
                    }
                    i += 8;
                    continue;
                }
            }
            // Slow path, a word's worth of bytes (or the tail): spaces, `]`, errors.
            let stop = (i + 8).min(len);
            if i == stop {
                break;
            }
            while i < stop {
                let b = bytes[i];
                let digit = b.wrapping_sub(b'0');
                if digit < 10 {
                    append(&mut value, &mut digits, u64::from(digit), 1);
                } else {
                    match b {
                        b',' | b' ' | b'\n' | b'\r' | b'\t' => end_number!(),
                        b']' => {
                            if digits > 0 {
                                batch[count] = value;
                                count += 1;
                            }
                            sink.accept(&batch[..count], base + i as u64)?;
                            *self = IntScanner::default();
                            return Ok(Some(i + 1));
                        }
                        other => {
                            sink.accept(&batch[..count], base + i as u64)?;
                            return Err(Error::syntax(
                                base + i as u64,
                                context,
                                format!(
                                    "expected an unsigned integer, `,` or `]`, found {}",
                                    super::describe(other)
                                ),
                            ));
                        }
                    }
                }
                i += 1;
            }
        }
        sink.accept(&batch[..count], base + len as u64)?;
        self.value = value;
        self.digits = digits;
        Ok(None)
    }
}

/// Integers scanned ahead, on another thread, out of the interior of a chunk that may lie
/// inside an integer array (see [`prescan`] and `SnapshotParser::feed_prescanned`).
#[derive(Debug, Default)]
pub(crate) struct Prescanned {
    /// The bytes of the chunk the values were read from: from just after its first separator
    /// through its last separator. Empty when the interior is not plain integers.
    pub(crate) range: Range<usize>,
    /// The values, each below 2^32 (larger ones make the interior plain no more).
    pub(crate) values: Vec<u32>,
}

impl Prescanned {
    /// Nothing read ahead.
    pub(crate) fn clear(&mut self) {
        self.range = 0..0;
        self.values.clear();
    }
}

/// Reads the integers between the first and the last separator (`,` or JSON whitespace) of
/// `chunk` into `out`, with the same scanner and rules as the parse itself, if that interior
/// is nothing but unsigned integers below 2^32 and separators; otherwise leaves `out.range`
/// empty. Knowing nothing of the document's structure, it is only a guess: the parser uses
/// the values when it is inside an integer array where the interior begins.
///
/// A separator always ends a number and leaves the scanner between numbers, so a fresh
/// scanner started after one reads exactly what the parser's own scanner would.
pub(crate) fn prescan(chunk: &[u8], out: &mut Prescanned) {
    out.clear();
    let is_separator = |b: &u8| matches!(b, b',' | b' ' | b'\n' | b'\r' | b'\t');
    let (Some(first), Some(last)) = (
        chunk.iter().position(is_separator),
        chunk.iter().rposition(is_separator),
    ) else {
        return;
    };
    if last <= first + 1 {
        return;
    }
    let interior = first + 1..last + 1;
    let mut sink = U32Sink(&mut out.values);
    let scanned = IntScanner::default().scan(&chunk[interior.clone()], 0, "", &mut sink);
    if matches!(scanned, Ok(None)) {
        out.range = interior;
    } else {
        out.values.clear();
    }
}

/// Collects values below 2^32; refuses the first larger one (which ends a [`prescan`]).
struct U32Sink<'a>(&'a mut Vec<u32>);

impl IntSink for U32Sink<'_> {
    #[inline]
    fn accept(&mut self, values: &[u64], offset: u64) -> Result<()> {
        // One check for the batch, then a conversion loop the compiler vectorises.
        let largest = values.iter().fold(0, |largest, &value| largest.max(value));
        to_u32(largest, offset, "")?;
        self.0.extend(values.iter().map(|&value| value as u32));
        Ok(())
    }
}

/// Hands `values` (read ahead by [`prescan`]) to `sink` in batches, as the scanner would.
pub(crate) fn accept_u32s<S: IntSink>(sink: &mut S, values: &[u32], offset: u64) -> Result<()> {
    let mut batch = [0u64; BATCH];
    for part in values.chunks(BATCH) {
        for (slot, &value) in batch.iter_mut().zip(part) {
            *slot = u64::from(value);
        }
        sink.accept(&batch[..part.len()], offset)?;
    }
    Ok(())
}

/// Converts a value to `u32` like DevTools' `Uint32Array` store would, but refuses values it would
/// wrap (a snapshot field never legitimately exceeds 32 bits except sizes, handled by callers).
#[inline]
pub(crate) fn to_u32(value: u64, offset: u64, context: &'static str) -> Result<u32> {
    u32::try_from(value).map_err(|_| {
        Error::syntax(
            offset,
            context,
            format!("value {value} does not fit in 32 bits"),
        )
    })
}

/// Keeps every value (for small arrays such as `locations`).
#[derive(Debug, Default)]
pub(crate) struct VecSink {
    pub(crate) values: Vec<u32>,
    pub(crate) context: &'static str,
}

impl IntSink for VecSink {
    fn accept(&mut self, values: &[u64], offset: u64) -> Result<()> {
        for &value in values {
            self.values.push(to_u32(value, offset, self.context)?);
        }
        Ok(())
    }
}

/// Drops every value (`samples`, `trace_function_infos`).
#[derive(Debug, Default)]
pub(crate) struct DiscardSink;

impl IntSink for DiscardSink {
    #[inline]
    fn accept(&mut self, _values: &[u64], _offset: u64) -> Result<()> {
        Ok(())
    }
}

/// Division of 32-bit values by a fixed divisor without a `div` instruction (Lemire, Kaser and
/// Kurz, "Faster remainder by direct computation", 2019).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastDiv {
    m: u64,
    d: u32,
}

impl FastDiv {
    /// `d` must not be 0.
    pub(crate) fn new(d: u32) -> FastDiv {
        let d = d.max(1);
        FastDiv {
            m: (u64::MAX / u64::from(d)).wrapping_add(1),
            d,
        }
    }

    /// `Some(n / d)` when `d` divides `n`.
    #[inline]
    pub(crate) fn exact(self, n: u32) -> Option<u32> {
        if self.d == 1 {
            return Some(n);
        }
        let low = self.m.wrapping_mul(u64::from(n));
        if low < self.m {
            Some(((u128::from(self.m) * u128::from(n)) >> 64) as u32)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<u64>);
    impl IntSink for Collect {
        fn accept(&mut self, values: &[u64], _offset: u64) -> Result<()> {
            self.0.extend_from_slice(values);
            Ok(())
        }
    }

    #[test]
    fn numbers_split_anywhere_give_the_same_values() {
        let text = b"0,12,345\n,6789, 10 ,4294967295,1,22,333,4444,55555,666666,7777777,88888888,999999999,\n0]";
        for split in 0..text.len() {
            let mut scanner = IntScanner::default();
            let mut sink = Collect(Vec::new());
            let first = scanner
                .scan(&text[..split], 0, "test", &mut sink)
                .expect("first half scans");
            let end = match first {
                Some(n) => n,
                None => {
                    split
                        + scanner
                            .scan(&text[split..], split as u64, "test", &mut sink)
                            .expect("second half scans")
                            .expect("array ends")
                }
            };
            assert_eq!(end, text.len(), "split at {split}");
            assert_eq!(
                sink.0,
                vec![
                    0, 12, 345, 6789, 10, 4294967295, 1, 22, 333, 4444, 55555, 666666, 7777777,
                    88888888, 999999999, 0
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_with_its_offset() {
        let mut scanner = IntScanner::default();
        let err = scanner
            .scan(b"1,2,-3]", 100, "nodes", &mut Collect(Vec::new()))
            .expect_err("a minus sign is not allowed");
        assert!(
            matches!(
                err,
                Error::Syntax {
                    offset: 104,
                    context: "nodes",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn swar_masks_and_digits_are_exact() {
        let word = u64::from_le_bytes(*b"1,\n9:/\xff0");
        assert_eq!(non_digits(word), 0x0080_8080_0080_8000);
        assert_eq!(bytes_equal(word, b','), 0x80_00);
        assert_eq!(bytes_equal(word, b'\n'), 0x80_0000);
        for (text, digits, value) in [
            (b"1234567,", 7, 1234567),
            (b"12345678", 8, 12345678),
            (b"9,,,,,,,", 1, 9),
        ] {
            let word = u64::from_le_bytes(*text);
            assert_eq!(parse_digits(word, digits), value);
        }
    }

    /// A long array in the layouts the fast path takes and the ones it leaves to the careful
    /// path (spaces, empty elements, 9 to 20 digits), fed in chunks of many sizes.
    #[test]
    fn long_arrays_in_any_chunks_give_the_same_values() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut text = Vec::new();
        let mut expected = Vec::new();
        for n in 0..3000 {
            let digits = match next() % 16 {
                0 => 9 + next() % 12,
                1..=3 => 8,
                _ => 1 + next() % 7,
            } as usize;
            let number: String = (0..digits)
                .map(|k| char::from(b'0' + ((next() % 10) as u8 + u8::from(k == 0)) % 10))
                .collect();
            expected.push(if digits > 19 {
                u64::MAX
            } else {
                number.parse().expect("a number")
            });
            text.extend_from_slice(number.as_bytes());
            let separator: &[u8] = match next() % 64 {
                0 => b" , ",
                1 => b",\n",
                2 => b",\r\n",
                _ if n % 7 == 6 => b"\n,",
                _ => b",",
            };
            text.extend_from_slice(separator);
        }
        text.extend_from_slice(b"0]");
        expected.push(0);
        for chunk in [1, 7, 63, 64, 100, 1000, 4096, text.len()] {
            let mut scanner = IntScanner::default();
            let mut sink = Collect(Vec::new());
            let mut end = None;
            for (k, piece) in text.chunks(chunk).enumerate() {
                let base = k * chunk;
                if let Some(n) = scanner
                    .scan(piece, base as u64, "t", &mut sink)
                    .expect("scans")
                {
                    end = Some(base + n);
                    break;
                }
            }
            assert_eq!(end, Some(text.len()), "chunks of {chunk}");
            assert!(sink.0 == expected, "chunks of {chunk}");
        }
    }

    #[test]
    fn an_error_far_into_a_long_array_has_its_offset() {
        let mut text = b"12345,6,78\n,".repeat(40);
        let bad = text.len() + 4;
        text.extend_from_slice(b"1,2,x,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]");
        let err = IntScanner::default()
            .scan(&text, 0, "edges", &mut Collect(Vec::new()))
            .expect_err("`x` is not a number");
        assert!(
            matches!(err, Error::Syntax { offset, .. } if offset == bad as u64),
            "{err}"
        );
    }

    /// The 16-byte step's digit test is one unsigned comparison: the bytes just outside `0`..=`9`
    /// and the wrap-around ends must still be refused wherever they are in a block.
    #[test]
    fn bytes_next_to_the_digits_are_refused_anywhere_in_a_block() {
        for bad in [b'/', b':', 0x00, 0x7f, 0x80, 0xff, b'-', b'+', b'.'] {
            for at in 0..80 {
                let mut text = b"1234,".repeat(40);
                text[at] = bad;
                text.push(b']');
                let err = IntScanner::default()
                    .scan(&text, 0, "nodes", &mut Collect(Vec::new()))
                    .expect_err("a byte that is no digit");
                assert!(
                    matches!(err, Error::Syntax { offset, .. } if offset == at as u64),
                    "byte {bad:#04x} at {at}: {err}"
                );
            }
        }
    }

    #[test]
    fn long_numbers_saturate_instead_of_wrapping() {
        let text = b"123456789012345678901234567890,1]";
        for split in 0..text.len() {
            let mut scanner = IntScanner::default();
            let mut sink = Collect(Vec::new());
            if scanner
                .scan(&text[..split], 0, "t", &mut sink)
                .expect("scans")
                .is_none()
            {
                scanner
                    .scan(&text[split..], split as u64, "t", &mut sink)
                    .expect("scans");
            }
            assert_eq!(sink.0, vec![u64::MAX, 1], "split at {split}");
        }
    }

    #[test]
    fn fast_division_matches_division() {
        for d in [1u32, 2, 3, 6, 7, 8, 12] {
            let div = FastDiv::new(d);
            for n in (0..10_000u32).chain([u32::MAX - 7, u32::MAX - 1, u32::MAX]) {
                let expected = (n % d == 0).then(|| n / d);
                assert_eq!(div.exact(n), expected, "{n} / {d}");
            }
        }
    }
}
