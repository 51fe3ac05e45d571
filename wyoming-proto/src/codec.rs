//! A `tokio-util` codec that turns a byte stream into [`Frame`]s and back, with limits.
//!
//! The decoder is a small state machine (waiting for a header line, then for the body it announced)
//! over the read buffer, so it can be driven with plain byte slices in tests and fuzzing. Limits are
//! checked against the *announced* lengths before any body byte is awaited, and the buffer is only
//! grown by what actually arrives, so a hostile `payload_length` of 2^62 costs nothing but an error.

use crate::frame::{Frame, Header, HeaderError};
use bytes::{Buf, BytesMut};
use serde_json::{Map, Value};
use tokio_util::codec::{Decoder, Encoder};

/// Size limits of one frame. Exceeding one is a [`FrameError`], never an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest header line in bytes, without its newline. Python's reader stops at 64 KiB.
    pub max_header: usize,
    /// Largest DATA section. A client must accept piper's `info` with 174 voices (86 KB).
    pub max_data: usize,
    /// Largest payload.
    pub max_payload: usize,
}

impl Limits {
    /// 64 KiB, like Python's `readline()` limit.
    pub const DEFAULT_MAX_HEADER: usize = 64 * 1024;
    /// 1 MiB: ten times piper's largest `info`.
    pub const DEFAULT_MAX_DATA: usize = 1024 * 1024;
    /// 10 s of 48 kHz stereo 32-bit audio, and nothing more.
    pub const DEFAULT_MAX_PAYLOAD: usize = 10 * 48_000 * 2 * 4;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header: Self::DEFAULT_MAX_HEADER,
            max_data: Self::DEFAULT_MAX_DATA,
            max_payload: Self::DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// Why a byte stream is not a valid sequence of Wyoming frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("header line longer than {limit} bytes")]
    HeaderTooLong { limit: usize },
    #[error("invalid header: {0}")]
    Header(#[from] HeaderError),
    #[error("\"{event_type}\" announces {length} bytes of data, more than the limit of {limit}")]
    DataTooLong { event_type: String, length: usize, limit: usize },
    #[error("\"{event_type}\" announces a {length}-byte payload, more than the limit of {limit}")]
    PayloadTooLong { event_type: String, length: usize, limit: usize },
    #[error("data of \"{event_type}\" is not a JSON object: {reason}")]
    InvalidData { event_type: String, reason: String },
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug)]
enum State {
    /// Looking for `\n`; `scanned` bytes of the buffer are known not to contain one.
    Header { scanned: usize },
    /// Header parsed; waiting for `data_length + payload_length` bytes.
    Body(Header),
}

/// The Wyoming framing codec.
#[derive(Debug)]
pub struct WyomingCodec {
    limits: Limits,
    state: State,
}

impl WyomingCodec {
    pub fn new(limits: Limits) -> Self {
        WyomingCodec { limits, state: State::Header { scanned: 0 } }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn decode_header(&mut self, src: &mut BytesMut) -> Result<Option<Header>, FrameError> {
        loop {
            let State::Header { scanned } = &mut self.state else { unreachable!("called in header state") };
            let window = src.len().min(self.limits.max_header + 1);
            let Some(pos) = src[*scanned..window].iter().position(|b| *b == b'\n').map(|p| p + *scanned) else {
                if src.len() > self.limits.max_header {
                    return Err(FrameError::HeaderTooLong { limit: self.limits.max_header });
                }
                *scanned = src.len();
                return Ok(None);
            };
            let line = src.split_to(pos + 1);
            *scanned = 0;
            let line = &line[..pos];
            // Blank lines between frames are skipped (Python would close; skipping is harmless).
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let header = Header::parse(line)?;
            if header.data_length > self.limits.max_data {
                return Err(FrameError::DataTooLong {
                    event_type: header.event_type,
                    length: header.data_length,
                    limit: self.limits.max_data,
                });
            }
            if header.payload_length > self.limits.max_payload {
                return Err(FrameError::PayloadTooLong {
                    event_type: header.event_type,
                    length: header.payload_length,
                    limit: self.limits.max_payload,
                });
            }
            return Ok(Some(header));
        }
    }
}

impl Default for WyomingCodec {
    fn default() -> Self {
        WyomingCodec::new(Limits::default())
    }
}

/// Bytes reserved ahead at most: enough for a typical audio chunk, never what a peer merely claims.
const MAX_RESERVE: usize = 64 * 1024;

impl Decoder for WyomingCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if matches!(self.state, State::Header { .. }) {
            match self.decode_header(src)? {
                Some(header) => self.state = State::Body(header),
                None => return Ok(None),
            }
        }
        let State::Body(header) = &self.state else { unreachable!("header state handled above") };
        let needed = header.data_length + header.payload_length;
        if src.len() < needed {
            src.reserve((needed - src.len()).min(MAX_RESERVE));
            return Ok(None);
        }
        let State::Body(header) = std::mem::replace(&mut self.state, State::Header { scanned: 0 }) else {
            unreachable!("checked above")
        };
        let mut data = header.inline_data;
        if header.data_length > 0 {
            let section = src.split_to(header.data_length);
            merge_data(&mut data, &section, &header.event_type)?;
        }
        let payload = src.split_to(header.payload_length).freeze();
        Ok(Some(Frame { event_type: header.event_type, data, payload }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        let only_whitespace = src.iter().all(u8::is_ascii_whitespace);
        if matches!(self.state, State::Body(_)) || !only_whitespace {
            return Err(FrameError::Truncated { buffered: src.len() });
        }
        src.clear();
        Ok(None)
    }
}

/// Python updates the inline data key by key with the DATA object, so DATA wins. A leading UTF-8 byte order mark
/// is skipped, as Python's `json.loads` of bytes does.
fn merge_data(data: &mut Map<String, Value>, section: &[u8], event_type: &str) -> Result<(), FrameError> {
    let invalid = |reason: String| FrameError::InvalidData { event_type: event_type.to_string(), reason };
    let section = section.strip_prefix("\u{feff}".as_bytes()).unwrap_or(section);
    match serde_json::from_slice::<Value>(section) {
        Ok(Value::Object(separate)) => {
            data.extend(separate);
            Ok(())
        }
        Ok(_) => Err(invalid("not an object".into())),
        Err(e) => Err(invalid(e.to_string())),
    }
}

impl Encoder<&Frame> for WyomingCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        frame.encode(dst);
        Ok(())
    }
}

impl Encoder<Frame> for WyomingCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        frame.encode(dst);
        Ok(())
    }
}

/// Decodes every complete frame in `bytes`, then applies end-of-stream rules. Handy for tests, golden
/// files and fuzzing.
pub fn decode_all(bytes: &[u8], limits: Limits) -> Result<Vec<Frame>, FrameError> {
    let mut codec = WyomingCodec::new(limits);
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(&mut buf)? {
        frames.push(frame);
    }
    while let Some(frame) = codec.decode_eof(&mut buf)? {
        frames.push(frame);
    }
    buf.advance(buf.len());
    Ok(frames)
}
