//! The wire unit: an event type, a JSON data object and an opaque binary payload.
//!
//! On the wire a frame is a one-line JSON header, then `data_length` bytes of JSON data, then
//! `payload_length` bytes of payload. [`Frame::encode`] writes exactly what the Python writer writes;
//! [`Header::parse`] reads headers as leniently as the Python reader (see `wyoming.md` §2).

use crate::json::write_python_json;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};

/// One event as it travels on the wire, before typed parsing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// The event type, e.g. `"audio-chunk"`.
    pub event_type: String,
    /// The merged data object (inline `data` updated with the separate DATA section).
    pub data: Map<String, Value>,
    /// The binary payload; empty when absent.
    pub payload: Bytes,
}

impl Frame {
    pub fn new(event_type: impl Into<String>) -> Self {
        Frame { event_type: event_type.into(), data: Map::new(), payload: Bytes::new() }
    }

    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    pub fn with_payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Appends the exact bytes the Python 1.10.2 writer emits for this frame: header keys `type`,
    /// `version`, `data_length`, `payload_length` in that order, lengths in bytes, no empty sections,
    /// never inline `data`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let data = if self.data.is_empty() { Vec::new() } else { json_bytes(&self.data) };
        let mut header = Map::new();
        header.insert("type".into(), Value::String(self.event_type.clone()));
        header.insert("version".into(), Value::String(crate::VERSION.into()));
        if !data.is_empty() {
            header.insert("data_length".into(), data.len().into());
        }
        if !self.payload.is_empty() {
            header.insert("payload_length".into(), self.payload.len().into());
        }
        let header = json_bytes(&header);
        dst.reserve(header.len() + 1 + data.len() + self.payload.len());
        dst.put_slice(&header);
        dst.put_u8(b'\n');
        dst.put_slice(&data);
        dst.put_slice(&self.payload);
    }

    /// The encoded frame as one buffer, so that it can be written in one go and never interleaves.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }
}

fn json_bytes(map: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    // A `Map` of `Value`s has string keys and finite numbers only, so writing it cannot fail.
    write_python_json(&mut out, map).expect("a JSON map always serialises");
    out
}

/// A parsed header line.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub event_type: String,
    /// Inline `data` (never written by Python, honoured when read).
    pub inline_data: Map<String, Value>,
    pub data_length: usize,
    pub payload_length: usize,
}

/// Why a header line is not a valid Wyoming header.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HeaderError {
    #[error("header is not valid UTF-8")]
    NonUtf8,
    #[error("header is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("header is not a JSON object")]
    NotObject,
    #[error("header has no string \"type\" field")]
    MissingType,
    #[error("header field \"{field}\" must be an integer, got {value}")]
    InvalidLength { field: &'static str, value: String },
    #[error("header field \"data\" must be a JSON object, got {0}")]
    InvalidInlineData(String),
}

impl Header {
    /// Parses one header line (without its `\n`). Surrounding whitespace, a trailing `\r` and a leading UTF-8
    /// byte order mark (Python's `json.loads` of bytes skips it) are accepted; lengths that are absent, `null`,
    /// zero or negative mean "no section", as in Python.
    pub fn parse(line: &[u8]) -> Result<Header, HeaderError> {
        let text = std::str::from_utf8(line).map_err(|_| HeaderError::NonUtf8)?;
        let text = text.trim();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = serde_json::from_str(text).map_err(|e| HeaderError::InvalidJson(e.to_string()))?;
        let Value::Object(mut obj) = value else { return Err(HeaderError::NotObject) };
        let event_type = match obj.remove("type") {
            Some(Value::String(t)) => t,
            _ => return Err(HeaderError::MissingType),
        };
        let inline_data = match obj.remove("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(HeaderError::InvalidInlineData(truncate(&other.to_string()))),
        };
        Ok(Header {
            event_type,
            inline_data,
            data_length: section_length(&obj, "data_length")?,
            payload_length: section_length(&obj, "payload_length")?,
        })
    }
}

fn section_length(obj: &Map<String, Value>, field: &'static str) -> Result<usize, HeaderError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) if n.is_u64() => {
            // Saturate rather than wrap: the codec's limits reject anything this large anyway.
            Ok(n.as_u64().map_or(usize::MAX, |v| usize::try_from(v).unwrap_or(usize::MAX)))
        }
        Some(Value::Number(n)) if n.is_i64() => Ok(0), // negative: no section, like Python
        Some(other) => Err(HeaderError::InvalidLength { field, value: truncate(&other.to_string()) }),
    }
}

/// Keeps error messages readable when a hostile peer sends a huge value.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn encodes_the_reference_byte_string() {
        // wyoming.md §2.1: three consecutive events are exactly these 284 bytes.
        let mut buf = BytesMut::new();
        Frame::new("describe").encode(&mut buf);
        Frame::new("transcript").with_data(map(json!({"text": "Turn on the lamp."}))).encode(&mut buf);
        Frame::new("audio-chunk")
            .with_data(map(json!({"rate": 16000, "width": 2, "channels": 1, "timestamp": null})))
            .with_payload(vec![1u8, 0, 0xff, 0xff])
            .encode(&mut buf);
        let expected: &[u8] = b"{\"type\": \"describe\", \"version\": \"1.10.2\"}\n{\"type\": \"transcript\", \"version\": \"1.10.2\", \"data_length\": 29}\n{\"text\": \"Turn on the lamp.\"}{\"type\": \"audio-chunk\", \"version\": \"1.10.2\", \"data_length\": 61, \"payload_length\": 4}\n{\"rate\": 16000, \"width\": 2, \"channels\": 1, \"timestamp\": null}\x01\x00\xff\xff";
        assert_eq!(&buf[..], expected);
        assert_eq!(buf.len(), 284);
    }

    #[test]
    fn data_length_counts_bytes_not_characters() {
        let bytes = Frame::new("transcript").with_data(map(json!({"text": "Grüße, 東京"}))).to_bytes();
        let header_end = bytes.iter().position(|b| *b == b'\n').unwrap();
        assert!(std::str::from_utf8(&bytes[..header_end]).unwrap().ends_with("\"data_length\": 27}"));
    }

    #[test]
    fn header_lengths_are_lenient_like_python() {
        let h = Header::parse(b" {\"type\": \"x\", \"data_length\": null, \"payload_length\": -5, \"extra\": 1}\r")
            .unwrap();
        assert_eq!((h.data_length, h.payload_length), (0, 0));
        assert_eq!(h.event_type, "x");
        let h = Header::parse(b"{\"type\": \"x\", \"data_length\": 0, \"payload_length\": 7}").unwrap();
        assert_eq!((h.data_length, h.payload_length), (0, 7));
    }

    #[test]
    fn header_errors_are_typed() {
        assert_eq!(Header::parse(b"\xff\xfe{}"), Err(HeaderError::NonUtf8));
        assert!(matches!(Header::parse(b"{nope"), Err(HeaderError::InvalidJson(_))));
        assert_eq!(Header::parse(b"[1]"), Err(HeaderError::NotObject));
        assert_eq!(Header::parse(b"{\"version\": \"1\"}"), Err(HeaderError::MissingType));
        assert_eq!(Header::parse(b"{\"type\": 3}"), Err(HeaderError::MissingType));
        assert!(matches!(
            Header::parse(b"{\"type\": \"x\", \"data_length\": \"5\"}"),
            Err(HeaderError::InvalidLength { field: "data_length", .. })
        ));
        assert!(matches!(
            Header::parse(b"{\"type\": \"x\", \"payload_length\": 1.5}"),
            Err(HeaderError::InvalidLength { field: "payload_length", .. })
        ));
        assert!(matches!(Header::parse(b"{\"type\": \"x\", \"data\": [1]}"), Err(HeaderError::InvalidInlineData(_))));
    }

    #[test]
    fn huge_lengths_saturate_instead_of_wrapping() {
        let h = Header::parse(b"{\"type\": \"x\", \"payload_length\": 4611686018427387904}").unwrap();
        assert_eq!(h.payload_length as u64, 1u64 << 62);
        let h = Header::parse(b"{\"type\": \"x\", \"payload_length\": 18446744073709551615}").unwrap();
        assert_eq!(h.payload_length, usize::MAX);
    }
}
