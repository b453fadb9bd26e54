//! JavaScript string semantics DevTools relies on: UTF-16 lengths and ordering, `parseInt`,
//! `JSON.stringify` of a key.

use std::cmp::Ordering;
use std::fmt::Write;

/// `s.length` in JavaScript (UTF-16 code units).
pub(crate) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// JavaScript's default string order (`Array.prototype.sort`, `<`): by UTF-16 code units.
pub(crate) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() || b.is_ascii() {
        // UTF-8 byte order is code point order, which equals UTF-16 order whenever one side is
        // ASCII (they can only differ between U+E000..U+FFFF and supplementary characters).
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// `parseInt(s, 10)`: leading whitespace, a sign, then decimal digits; `None` for NaN.
pub(crate) fn parse_int(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let value = digits[..end]
        .bytes()
        .fold(0f64, |acc, b| acc * 10.0 + f64::from(b - b'0'));
    Some(if negative { -value } else { value })
}

/// `String(number)` for the integers `parseInt` yields (what DevTools shows for shortcut edges).
pub(crate) fn number_to_string(n: f64) -> String {
    if n == 0.0 {
        "0".to_owned()
    } else if n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        format!("{n:e}").replace('e', "e+")
    }
}

/// DevTools' `formatPropertyName`: names with `,'"{}` are shown as a JSON string.
pub(crate) fn format_property_name(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains([',', '\'', '"', '{', '}']) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_order_differs_from_code_point_order_where_javascript_says() {
        // U+FF61 sorts after U+1F600 in UTF-16 (0xD83D < 0xFF61 is false... 0xFF61 > 0xD83D).
        assert_eq!(cmp_utf16("\u{FF61}", "\u{1F600}"), Ordering::Greater);
        assert_eq!("\u{FF61}".cmp("\u{1F600}"), Ordering::Less);
        assert_eq!(cmp_utf16("a", "b"), Ordering::Less);
        assert_eq!(utf16_len("a😀"), 3);
    }

    #[test]
    fn parse_int_like_javascript() {
        assert_eq!(parse_int("12abc"), Some(12.0));
        assert_eq!(parse_int("  -3"), Some(-3.0));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(number_to_string(12.0), "12");
    }

    #[test]
    fn property_names_with_punctuation_are_quoted() {
        assert_eq!(format_property_name("abc"), "abc");
        assert_eq!(format_property_name("a,b"), "\"a,b\"");
        assert_eq!(
            format_property_name("say \"hi\"\n"),
            "\"say \\\"hi\\\"\\n\""
        );
    }
}
