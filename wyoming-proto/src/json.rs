//! JSON written exactly as Python's `json.dumps(obj, ensure_ascii=False)` writes it.
//!
//! Byte-identical output matters because the Python writer is deterministic: golden captures, interop
//! tests and anyone diffing a wire dump can compare bytes. `serde_json` already escapes strings the way
//! Python does (raw UTF-8, `\n \r \t \b \f`, lower-case `\u00xx`, `/` and DEL unescaped); what differs is
//! the item separators (`", "` and `": "`) and the spelling of floats (`1e-05`, `1e+16`), which
//! [`PythonFormatter`] supplies.

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use std::io;

/// A `serde_json` formatter with Python's default separators and float spelling.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        // Python has only doubles; widen through the shortest decimal so 0.1f32 stays "0.1".
        let widened = value.to_string().parse::<f64>().unwrap_or(f64::from(value));
        self.write_f64(writer, widened)
    }
}

/// Appends `value` as Python-style JSON to `out`.
pub fn write_python_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    let mut ser = Serializer::with_formatter(out, PythonFormatter);
    value.serialize(&mut ser)
}

/// Serialises `value` as Python-style JSON.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    write_python_json(&mut out, value)?;
    Ok(out)
}

/// Python's `repr(float)`: the shortest round-trip digits, positional between 1e-4 and 1e16, otherwise
/// scientific with a signed exponent of at least two digits. Non-finite values never reach here
/// (`serde_json::Value` cannot hold them).
pub fn python_float_repr(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e-5" or "1e16".
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();

    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{exp_sign}{:02}", exp.unsigned_abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        let zeros = "0".repeat(int_len - digits.len());
        format!("{sign}{digits}{zeros}.0")
    } else {
        let (int, frac) = digits.split_at(int_len);
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_and_unicode_like_python() {
        let v = json!({"text": "Grüße, 東京", "n": [1, 2, {"a": null}], "t": true});
        let s = String::from_utf8(to_python_json(&v).unwrap()).unwrap();
        assert_eq!(s, r#"{"text": "Grüße, 東京", "n": [1, 2, {"a": null}], "t": true}"#);
    }

    #[test]
    fn escapes_like_python() {
        let v = json!("a\"b\\c\n\r\t\u{8}\u{c}\u{1}/\u{7f}\u{2028}");
        let s = String::from_utf8(to_python_json(&v).unwrap()).unwrap();
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001/\u{7f}\u{2028}\"");
    }

    #[test]
    fn floats_like_python_repr() {
        // Values checked against CPython 3.11 `repr(float)`.
        for (v, expected) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (0.3, "0.3"),
        ] {
            assert_eq!(python_float_repr(v), expected, "{v}");
        }
    }
}
