//! The control channel's framing (reference `mumble.md` §2.1): a 2-byte big-endian message type, a
//! 4-byte big-endian payload length, then the payload.
//!
//! [`FrameDecoder`] is sans-IO: the connection pushes whatever bytes TLS handed it and pops whole
//! frames, so frames split across records or packed several to a record need no special case, and
//! the fuzz target drives exactly the code the client runs.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Type (2) + length (4).
pub const HEADER_LEN: usize = 6;

/// The largest payload accepted. Legitimate messages stay far below it (the biggest carry user
/// textures or pasted images, bounded by the server's `imagemessagelength`, 128 KiB by default); a
/// bound keeps a broken peer from making us allocate gigabytes.
pub const MAX_PAYLOAD_LEN: usize = 8 * 1024 * 1024;

/// Message type ids: the message's position in `Mumble.proto` (§2.2). Only those the bridge
/// sends or reads are named; every other id is skipped by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum MessageType {
    Version = 0,
    UdpTunnel = 1,
    Authenticate = 2,
    Ping = 3,
    Reject = 4,
    ServerSync = 5,
    ChannelRemove = 6,
    ChannelState = 7,
    UserRemove = 8,
    UserState = 9,
    TextMessage = 11,
    PermissionDenied = 12,
    CryptSetup = 15,
    PermissionQuery = 20,
    CodecVersion = 21,
    ServerConfig = 24,
}

impl MessageType {
    pub fn from_id(id: u16) -> Option<Self> {
        use MessageType::*;
        Some(match id {
            0 => Version,
            1 => UdpTunnel,
            2 => Authenticate,
            3 => Ping,
            4 => Reject,
            5 => ServerSync,
            6 => ChannelRemove,
            7 => ChannelState,
            8 => UserRemove,
            9 => UserState,
            11 => TextMessage,
            12 => PermissionDenied,
            15 => CryptSetup,
            20 => PermissionQuery,
            21 => CodecVersion,
            24 => ServerConfig,
            _ => return None,
        })
    }
}

/// One control message: its type id and its payload (protobuf, or a raw voice packet for type 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u16,
    pub payload: Bytes,
}

impl Frame {
    pub fn new(kind: MessageType, payload: impl Into<Bytes>) -> Self {
        Self { kind: kind as u16, payload: payload.into() }
    }

    /// The frame as it goes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        // Frames we build are small; a payload over u32::MAX cannot be produced by this crate.
        let len = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&self.kind.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// The stream cannot be framed any further.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame of type {kind} announces {len} bytes, over the {MAX_PAYLOAD_LEN}-byte limit")]
    TooLong { kind: u16, len: usize },
}

/// Cuts a byte stream into frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not make a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `None` until one has fully arrived. An oversized length is an error
    /// checked as soon as the header is in, before anything is allocated for it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = u16::from_be_bytes([self.buf[0], self.buf[1]]);
        let len = u32::from_be_bytes([self.buf[2], self.buf[3], self.buf[4], self.buf[5]]) as usize;
        if len > MAX_PAYLOAD_LEN {
            return Err(FrameError::TooLong { kind, len });
        }
        if self.buf.len() < HEADER_LEN + len {
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let payload = self.buf.split_to(len).freeze();
        Ok(Some(Frame { kind, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_tunnel_frame() {
        let mut payload = vec![0x80, 0x04, 0x57];
        payload.extend_from_slice(&[0u8; 87]);
        let bytes = Frame::new(MessageType::UdpTunnel, payload.clone()).to_bytes();
        assert_eq!(bytes[..6], [0x00, 0x01, 0x00, 0x00, 0x00, 0x5A]);
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        assert_eq!(decoder.next_frame(), Ok(Some(Frame { kind: 1, payload: payload.into() })));
        assert_eq!(decoder.next_frame(), Ok(None));
    }

    #[test]
    fn oversized_length_is_refused_before_the_payload_arrives() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0x00, 0x07, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(decoder.next_frame(), Err(FrameError::TooLong { kind: 7, len: 0xFFFF_FFFF }));
    }

    proptest! {
        #[test]
        fn frames_survive_any_split(
            frames in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..6),
            chunk in 1usize..50,
        ) {
            let stream: Vec<u8> = frames.iter().flat_map(|(k, p)| Frame { kind: *k, payload: p.clone().into() }.to_bytes()).collect();
            let mut decoder = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                decoder.push(piece);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    got.push((frame.kind, frame.payload.to_vec()));
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(decoder.buffered(), 0);
        }
    }
}
