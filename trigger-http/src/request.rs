//! What a request asks: the optional JSON body (name, attributes) and the `?wait` query.

use openprofiling_core::{AttributeValue, TriggerAction, TriggerEvent};
use serde::Deserialize;
use serde_json::Value;

/// The largest request body accepted, in bytes (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The optional body of `POST /start`, `/stop`, `/toggle`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    attributes: serde_json::Map<String, Value>,
}

/// The event `body` asks for: its name and attributes, plus `trigger: "http"` unless the body
/// sets `trigger` itself. An empty body (or `null`) asks for nothing more.
pub(crate) fn event(action: TriggerAction, body: &[u8]) -> Result<TriggerEvent, String> {
    let body = body.trim_ascii();
    let malformed = |error: &dyn std::fmt::Display| {
        format!(
            "malformed JSON body: {error}; send nothing, or {{\"name\": \"...\", \"attributes\": {{\"key\": \"value\"}}}}"
        )
    };
    let value: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|error| malformed(&error))?
    };
    let parsed = match value {
        Value::Null => EventBody::default(),
        // Only an object: serde would also read a struct from an array.
        object @ Value::Object(_) => {
            serde_json::from_value(object).map_err(|error| malformed(&error))?
        }
        other => {
            return Err(malformed(&format!(
                "expected an object, got {}",
                kind(&other)
            )));
        }
    };
    let mut event = TriggerEvent::new(action);
    if let Some(name) = parsed.name {
        if name.trim().is_empty() {
            return Err(
                "\"name\" must not be empty; leave it out to use the profiler's kind".to_owned(),
            );
        }
        event = event.with_name(name);
    }
    for (key, value) in parsed.attributes {
        let value = match value {
            Value::String(text) => AttributeValue::String(text),
            Value::Bool(flag) => AttributeValue::Bool(flag),
            Value::Number(number) => match number.as_f64() {
                Some(number) => AttributeValue::Number(number),
                None => return Err(format!("attribute {key:?} is a number out of range")),
            },
            other => {
                return Err(format!(
                    "attribute {key:?} is {}; attribute values must be strings, numbers or booleans",
                    kind(&other)
                ));
            }
        };
        event.attributes.insert(key, value);
    }
    event
        .attributes
        .entry("trigger".to_owned())
        .or_insert_with(|| AttributeValue::String("http".to_owned()));
    Ok(event)
}

/// `null`, `an array`, `an object`: for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
    }
}

/// Whether the query asks to wait for the profile's report: `wait`, `wait=true` or `wait=1`
/// (`false`, `0` for no). Any other parameter is an error, so a typo is not silently ignored.
pub(crate) fn wants_wait(query: Option<&str>) -> Result<bool, String> {
    let mut wait = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        if key != "wait" {
            return Err(format!(
                "unknown query parameter {key:?}; the only one is wait=true"
            ));
        }
        wait = match value {
            "" | "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(format!(
                    "wait={other:?} is not a boolean; use wait=true or wait=false"
                ));
            }
        };
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_empty_body_asks_for_nothing_more() {
        for body in [&b""[..], b"  \n", b"null", b"{}"] {
            let event = event(TriggerAction::Start, body).unwrap();
            assert_eq!(event.action, TriggerAction::Start);
            assert_eq!(event.name, None);
            assert_eq!(event.attributes.len(), 1, "{body:?}");
            assert_eq!(event.attributes["trigger"], AttributeValue::from("http"));
        }
    }

    #[test]
    fn name_and_attributes_are_copied() {
        let event = event(
            TriggerAction::End,
            br#"{"name":"slow-request","attributes":{"route":"/users","n":3,"hot":true,"trigger":"ci"}}"#,
        )
        .unwrap();
        assert_eq!(event.name.as_deref(), Some("slow-request"));
        assert_eq!(event.attributes["route"], AttributeValue::from("/users"));
        assert_eq!(event.attributes["n"], AttributeValue::Number(3.0));
        assert_eq!(event.attributes["hot"], AttributeValue::Bool(true));
        assert_eq!(event.attributes["trigger"], AttributeValue::from("ci"));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        for (body, expected) in [
            (&br#"{"name": "x""#[..], "malformed JSON body"),
            (br#"["x"]"#, "expected an object, got an array"),
            (br#""x""#, "expected an object, got a string"),
            (br#"{"nmae": "x"}"#, "unknown field `nmae`"),
            (br#"{"name": ""}"#, "must not be empty"),
            (
                br#"{"attributes": {"a": {"b": 1}}}"#,
                "attribute \"a\" is an object",
            ),
            (br#"{"attributes": {"a": null}}"#, "attribute \"a\" is null"),
            (br#"{"attributes": [1]}"#, "malformed JSON body"),
        ] {
            let error = event(TriggerAction::Start, body).unwrap_err();
            assert!(error.contains(expected), "{body:?}: {error}");
        }
    }

    #[test]
    fn wait_is_read_from_the_query() {
        assert!(!wants_wait(None).unwrap());
        assert!(!wants_wait(Some("")).unwrap());
        assert!(wants_wait(Some("wait")).unwrap());
        assert!(wants_wait(Some("wait=true")).unwrap());
        assert!(wants_wait(Some("wait=1")).unwrap());
        assert!(!wants_wait(Some("wait=false")).unwrap());
        assert!(
            wants_wait(Some("wait=maybe"))
                .unwrap_err()
                .contains("not a boolean")
        );
        assert!(
            wants_wait(Some("wiat=true"))
                .unwrap_err()
                .contains("\"wiat\"")
        );
    }
}
