//! [`JsonArrayLen`]: the length of a JSON array, counted without keeping its elements.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// The number of elements of a JSON array, counted without keeping them: lets a summary of a
/// large reply member (the `samples` of a CPU profile, see
/// [`ReplyMember::parse`](crate::ReplyMember::parse)) say how many there are in constant
/// memory.
///
/// ```
/// use openprofiling_core::JsonArrayLen;
///
/// #[derive(serde::Deserialize)]
/// struct Summary {
///     samples: JsonArrayLen,
/// }
///
/// let summary: Summary = serde_json::from_str(r#"{"samples":[1,[2,3],{"a":4}]}"#)?;
/// assert_eq!(summary.samples, JsonArrayLen(3));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JsonArrayLen(pub u64);

impl<'de> Deserialize<'de> for JsonArrayLen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = JsonArrayLen;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonArrayLen, A::Error> {
                let mut count = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(JsonArrayLen(count))
            }
        }
        deserializer.deserialize_seq(Counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_elements_of_an_array_of_any_elements() {
        let count = |text: &str| serde_json::from_str::<JsonArrayLen>(text);
        assert_eq!(count("[]").expect("an array"), JsonArrayLen(0));
        assert_eq!(
            count(r#"[1, "two", [3, 4], {"five": [5]}, null]"#).expect("an array"),
            JsonArrayLen(5)
        );
        assert!(count("3").is_err(), "a number is not an array");
        assert!(count(r#"{"a": 1}"#).is_err(), "an object is not an array");
        assert!(count("[1, 2").is_err(), "an unterminated array is refused");
    }
}
