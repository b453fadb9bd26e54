//! DevTools' recognition of WeakMap ephemeron edges by name:
//! `/^\d+(?<duplicatedPart> \/ part of key \(.*? @\d+\) -> value \(.*? @\d+\) pair in WeakMap \(table @(?<tableId>\d+)\))$/`.

/// A matched ephemeron edge name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeakMapEdge<'a> {
    /// Everything after the leading number; the same for the key's and the table's edge.
    pub duplicated_part: &'a str,
    /// The id of the WeakMap's table, as parsed by `parseInt` (saturating).
    pub table_id: u64,
}

fn ends_with_at_number(s: &str) -> bool {
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && s[..s.len() - digits].ends_with(" @")
}

/// Matches `name` against DevTools' ephemeron regular expression.
pub(crate) fn parse(name: &str) -> Option<WeakMapEdge<'_>> {
    let lead = name.len() - name.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if lead == 0 {
        return None;
    }
    let duplicated_part = &name[lead..];
    let middle = duplicated_part.strip_prefix(" / part of key (")?;
    // The end: ") pair in WeakMap (table @<digits>)".
    let without_close = middle.strip_suffix(')')?;
    let digits = without_close.len()
        - without_close
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .len();
    if digits == 0 {
        return None;
    }
    let table_digits = &without_close[without_close.len() - digits..];
    let middle =
        without_close[..without_close.len() - digits].strip_suffix(") pair in WeakMap (table @")?;
    // `.` does not match line terminators.
    if middle.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
        return None;
    }
    // middle = X " @" D1 ") -> value (" Y " @" D2, for some split.
    const ARROW: &str = ") -> value (";
    let found = middle.match_indices(ARROW).any(|(at, _)| {
        ends_with_at_number(&middle[..at]) && ends_with_at_number(&middle[at + ARROW.len()..])
    });
    if !found {
        return None;
    }
    let table_id = table_digits.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    Some(WeakMapEdge {
        duplicated_part,
        table_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_v8_ephemeron_names() {
        let name = "3 / part of key (Object @123) -> value (Foo @456) pair in WeakMap (table @789)";
        let m = parse(name).expect("matches");
        assert_eq!(m.table_id, 789);
        assert_eq!(
            m.duplicated_part,
            " / part of key (Object @123) -> value (Foo @456) pair in WeakMap (table @789)"
        );
        assert!(
            parse("x / part of key (a @1) -> value (b @2) pair in WeakMap (table @3)").is_none()
        );
        assert!(parse("3 / part of key (a @1) -> value (b) pair in WeakMap (table @3)").is_none());
        assert!(
            parse("3 / part of key (a\n @1) -> value (b @2) pair in WeakMap (table @3)").is_none()
        );
        assert!(parse("elements").is_none());
    }
}
