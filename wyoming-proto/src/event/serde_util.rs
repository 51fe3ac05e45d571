//! Lenient readers for fields that real peers send in more than one shape.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `true`, for `#[serde(default = ...)]` on flags whose Python default is `True`.
pub(crate) fn yes() -> bool {
    true
}

/// A millisecond timestamp: an integer, a float (rounded) or null.
pub(crate) fn opt_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        _ => None,
    })
}

/// A speaker given as a name or a numeric id; both are kept as text.
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string or number, got {other}"))),
    }
}
