//! The careful path: a word at a time, every byte checked, every escape decoded.

use super::Output;

/// The top bit of each byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// What each byte after a backslash decodes to; 0 for `u` (four hex digits follow) and for
/// bytes that may not follow a backslash.
///
/// A table rather than a `match`: the match compiles to a jump table, and a snapshot's mix of
/// `\n`, `\"` and `\\` escapes mispredicts its indirect jump (about 10% of the unescape time).
const SIMPLE_ESCAPES: [u8; 256] = {
    let mut table = [0_u8; 256];
    table[b'n' as usize] = b'\n';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'/' as usize] = b'/';
    table[b'b' as usize] = 0x08;
    table[b'f' as usize] = 0x0c;
    table[b'r' as usize] = b'\r';
    table[b't' as usize] = b'\t';
    table
};

/// Decodes the escape starting at `body[at]` (a backslash) into `out`; returns the index after it.
#[inline(always)]
pub(super) fn unescape_one(body: &[u8], at: usize, out: &mut Output<'_>) -> Option<usize> {
    let next = *body.get(at + 1)?;
    let decoded = SIMPLE_ESCAPES[usize::from(next)];
    if decoded != 0 {
        out.push(decoded);
        return Some(at + 2);
    }
    if next != b'u' {
        return None;
    }
    let (code, rest) = read_unicode_escape(&body[at + 2..])?;
    let mut buf = [0_u8; 4];
    out.extend(code.encode_utf8(&mut buf).as_bytes());
    Some(body.len() - rest.len())
}

/// One step of the careful path: copies plain bytes up to the next special byte (eight at a
/// time), then handles that byte. Returns the index after what it consumed; `None` on a quote
/// or control character that is not escaped. Sets `non_ascii` when it may have copied a byte
/// above 0x7F.
pub(super) fn unescape_words(
    body: &[u8],
    mut read: usize,
    out: &mut Output<'_>,
    non_ascii: &mut bool,
) -> Option<usize> {
    if let Some(word) = body.get(read..read + 8) {
        let word: [u8; 8] = word.try_into().ok()?;
        let value = u64::from_le_bytes(word);
        *non_ascii |= value & HIGHS != 0;
        let special = special_bytes(value);
        let plain = if special == 0 {
            8
        } else {
            (special.trailing_zeros() / 8) as usize
        };
        // The whole word (a fixed-size move), of which only the plain bytes are kept.
        out.put(&word, plain);
        read += plain;
        if plain == 8 {
            return Some(read);
        }
    }
    match body[read] {
        b'\\' => unescape_one(body, read, out),
        b'"' | 0x00..=0x1f => None,
        plain => {
            *non_ascii |= !plain.is_ascii();
            out.push(plain);
            Some(read + 1)
        }
    }
}

/// A word whose lowest set high bit marks the first byte that is a backslash, a double quote
/// or a control character (bits above the first match may be false positives; only the
/// lowest is used).
fn special_bytes(word: u64) -> u64 {
    has_byte(word, b'\\') | quotes_or_controls(word)
}

/// Non-zero iff the word holds a double quote or a byte below 0x20; the lowest set high bit
/// marks the first such byte.
#[inline(always)]
fn quotes_or_controls(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let controls = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    controls | has_byte(word, b'"')
}

/// Non-zero iff the word holds `byte`; the lowest set high bit marks the first one.
#[inline(always)]
fn has_byte(word: u64, byte: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let v = word ^ (ONES * u64::from(byte));
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// Reads the `XXXX` of a `\uXXXX` escape (and its low surrogate partner, if it is a high one).
fn read_unicode_escape(rest: &[u8]) -> Option<(char, &[u8])> {
    let first = hex4(rest)?;
    let rest = &rest[4..];
    match first {
        0xD800..=0xDBFF => {
            let low_part = rest.strip_prefix(b"\\u")?;
            let low = hex4(low_part)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
            Some((char::from_u32(code)?, &low_part[4..]))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(first)?, rest)),
    }
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    digits.iter().try_fold(0_u32, |acc, &digit| {
        Some(acc * 16 + (digit as char).to_digit(16)?)
    })
}
