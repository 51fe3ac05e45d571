//! The legacy voice packet (reference `mumble.md` §3), carried raw inside `UDPTunnel` frames.
//!
//! Pure functions over byte slices. Decoding borrows the Opus bytes from the packet, so a received
//! frame is never copied before it reaches its decoder. Every length is checked against what is
//! left, so a packet that lies about its length is refused on its own and the connection goes on.

use super::varint::{self, VarintError};
use thiserror::Error;

/// A whole voice packet is at most this long (Mumble's UDP buffer); longer ones are refused.
pub const MAX_PACKET_LEN: usize = 1020;
/// Bit 13 of the Opus header: the last frame of a talk spurt.
pub const TERMINATOR_BIT: u64 = 0x2000;
/// Bits 0–12 of the Opus header: the Opus payload length.
pub const LENGTH_MASK: u64 = 0x1FFF;
/// Target 0: normal talking to the current channel.
pub const TARGET_NORMAL: u8 = 0;
/// Target 31: the server sends the packet back to its sender only (self-tests).
pub const TARGET_LOOPBACK: u8 = 31;

/// The codec in the top three bits of the header byte.
const KIND_PING: u8 = 1;
const KIND_OPUS: u8 = 4;

/// Why a voice packet was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VoiceError {
    #[error("empty voice packet")]
    Empty,
    #[error("voice packet of {0} bytes is longer than the {MAX_PACKET_LEN}-byte limit")]
    TooLong(usize),
    #[error("bad {field} varint: {source}")]
    Varint { field: &'static str, source: VarintError },
    #[error("{field} {value} does not fit its field")]
    OutOfRange { field: &'static str, value: u64 },
    #[error("Opus length {declared} runs past the {available} bytes left in the packet")]
    LengthPastEnd { declared: usize, available: usize },
}

/// Which side wrote the packet: the server adds the speaker's session after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

/// One Opus frame with its Mumble framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusPacket<'a> {
    /// Bits 0–4 of the header: whisper target (client → server) or context (server → client).
    pub target: u8,
    /// The speaker; only present in server → client packets.
    pub session: Option<u32>,
    /// In 10 ms units: +2 per 20 ms frame.
    pub sequence: u64,
    /// Set on the last frame of a talk spurt (the frame still carries audio).
    pub terminator: bool,
    pub opus: &'a [u8],
}

/// What a voice packet turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoicePacket<'a> {
    Opus(OpusPacket<'a>),
    /// A voice-channel ping (type 1): only meaningful over UDP, ignored over the tunnel.
    Ping,
    /// CELT or Speex (obsolete) or an unused type: skipped, the header's type is kept for the log.
    Unsupported {
        kind: u8,
    },
}

/// Parses one voice packet as written by `direction`'s sender. Positional data after the Opus
/// bytes is ignored.
pub fn decode(packet: &[u8], direction: Direction) -> Result<VoicePacket<'_>, VoiceError> {
    let (&header, mut rest) = packet.split_first().ok_or(VoiceError::Empty)?;
    if packet.len() > MAX_PACKET_LEN {
        return Err(VoiceError::TooLong(packet.len()));
    }
    match header >> 5 {
        KIND_OPUS => {}
        KIND_PING => return Ok(VoicePacket::Ping),
        kind => return Ok(VoicePacket::Unsupported { kind }),
    }
    let mut field = |name: &'static str| -> Result<u64, VoiceError> {
        let (value, used) = varint::decode(rest).map_err(|source| VoiceError::Varint { field: name, source })?;
        rest = &rest[used..];
        Ok(value)
    };
    let session = match direction {
        Direction::ServerToClient => {
            let value = field("session")?;
            Some(u32::try_from(value).map_err(|_| VoiceError::OutOfRange { field: "session", value })?)
        }
        Direction::ClientToServer => None,
    };
    let sequence = field("sequence")?;
    let opus_header = field("opus header")?;
    if opus_header > 0xFFFF {
        return Err(VoiceError::OutOfRange { field: "opus header", value: opus_header });
    }
    let declared = (opus_header & LENGTH_MASK) as usize;
    let opus = rest.get(..declared).ok_or(VoiceError::LengthPastEnd { declared, available: rest.len() })?;
    Ok(VoicePacket::Opus(OpusPacket {
        target: header & 0x1F,
        session,
        sequence,
        terminator: opus_header & TERMINATOR_BIT != 0,
        opus,
    }))
}

/// Writes `packet` in the form `direction`'s sender uses (with the session only server → client).
pub fn encode(packet: &OpusPacket<'_>, direction: Direction, out: &mut Vec<u8>) -> Result<(), VoiceError> {
    let len = packet.opus.len() as u64;
    if len > LENGTH_MASK {
        return Err(VoiceError::OutOfRange { field: "opus length", value: len });
    }
    let start = out.len();
    out.push((KIND_OPUS << 5) | (packet.target & 0x1F));
    if direction == Direction::ServerToClient {
        varint::encode(u64::from(packet.session.unwrap_or(0)), out);
    }
    varint::encode(packet.sequence, out);
    varint::encode(len | if packet.terminator { TERMINATOR_BIT } else { 0 }, out);
    out.extend_from_slice(packet.opus);
    if out.len() - start > MAX_PACKET_LEN {
        let written = out.len() - start;
        out.truncate(start);
        return Err(VoiceError::TooLong(written));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opus87() -> Vec<u8> {
        (0..87u8).collect()
    }

    #[test]
    fn worked_bytes_from_the_reference() {
        let data = opus87();
        let mut out = Vec::new();
        let packet = OpusPacket { target: 0, session: None, sequence: 4, terminator: false, opus: &data };
        encode(&packet, Direction::ClientToServer, &mut out).unwrap();
        assert_eq!(out[..3], [0x80, 0x04, 0x57]);
        assert_eq!(out.len(), 90);

        out.clear();
        encode(&OpusPacket { terminator: true, ..packet.clone() }, Direction::ClientToServer, &mut out).unwrap();
        assert_eq!(out[..4], [0x80, 0x04, 0xA0, 0x57]);

        let mut server = vec![0x80, 0x24, 0x00, 0x57];
        server.extend_from_slice(&data);
        let decoded = decode(&server, Direction::ServerToClient).unwrap();
        assert_eq!(
            decoded,
            VoicePacket::Opus(OpusPacket { target: 0, session: Some(36), sequence: 0, terminator: false, opus: &data })
        );
    }

    #[test]
    fn lying_length_is_refused() {
        let mut packet = vec![0x80, 0x01, 0x02, 0x10];
        packet.extend_from_slice(&[0; 8]);
        assert_eq!(
            decode(&packet, Direction::ServerToClient),
            Err(VoiceError::LengthPastEnd { declared: 16, available: 8 })
        );
    }

    #[test]
    fn varint_past_the_end_is_refused() {
        assert!(matches!(
            decode(&[0x80, 0x01, 0xC0, 0x01], Direction::ServerToClient),
            Err(VoiceError::Varint { field: "sequence", .. })
        ));
        assert!(matches!(decode(&[0x80], Direction::ServerToClient), Err(VoiceError::Varint { field: "session", .. })));
    }

    #[test]
    fn pings_and_old_codecs_are_recognised_not_decoded() {
        assert_eq!(decode(&[0x20, 0x05], Direction::ServerToClient), Ok(VoicePacket::Ping));
        assert_eq!(decode(&[0x40, 0x05], Direction::ServerToClient), Ok(VoicePacket::Unsupported { kind: 2 }));
        assert_eq!(decode(&[], Direction::ServerToClient), Err(VoiceError::Empty));
    }

    #[test]
    fn positional_data_after_the_opus_bytes_is_ignored() {
        let mut packet = vec![0x80, 0x02, 0x06, 0x03];
        packet.extend_from_slice(&[1, 2, 3]);
        packet.extend_from_slice(&[0xAA; 12]);
        match decode(&packet, Direction::ServerToClient).unwrap() {
            VoicePacket::Opus(p) => assert_eq!(p.opus, &[1, 2, 3]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_packets_are_refused_both_ways() {
        let big = vec![0u8; 1100];
        let mut packet = vec![0x80, 0x00, 0x00];
        packet.extend_from_slice(&big);
        assert_eq!(decode(&packet, Direction::ClientToServer), Err(VoiceError::TooLong(1103)));
        let mut out = vec![7];
        let p = OpusPacket { target: 0, session: None, sequence: 0, terminator: false, opus: &big };
        assert!(encode(&p, Direction::ClientToServer, &mut out).is_err());
        assert_eq!(out, [7], "a refused packet leaves the buffer as it was");
    }

    fn any_packet() -> impl Strategy<Value = (u8, u32, u64, bool, Vec<u8>)> {
        (0u8..32, any::<u32>(), any::<u64>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..990))
    }

    proptest! {
        #[test]
        fn round_trip_both_directions((target, session, sequence, terminator, opus) in any_packet()) {
            for direction in [Direction::ClientToServer, Direction::ServerToClient] {
                let session = (direction == Direction::ServerToClient).then_some(session);
                let packet = OpusPacket { target, session, sequence, terminator, opus: &opus };
                let mut out = Vec::new();
                if encode(&packet, direction, &mut out).is_ok() {
                    prop_assert_eq!(decode(&out, direction), Ok(VoicePacket::Opus(packet)));
                } else {
                    prop_assert!(out.is_empty());
                }
            }
        }

        #[test]
        fn decode_never_panics_and_borrows_within_the_packet(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            for direction in [Direction::ClientToServer, Direction::ServerToClient] {
                if let Ok(VoicePacket::Opus(p)) = decode(&bytes, direction) {
                    prop_assert!(p.opus.len() < bytes.len());
                }
            }
        }

        #[test]
        fn truncating_a_valid_packet_inside_its_opus_data_is_an_error(
            (target, session, sequence, terminator, opus) in any_packet(), cut in any::<prop::sample::Index>()
        ) {
            prop_assume!(!opus.is_empty());
            let packet = OpusPacket { target, session: Some(session), sequence, terminator, opus: &opus };
            let mut out = Vec::new();
            prop_assume!(encode(&packet, Direction::ServerToClient, &mut out).is_ok());
            let cut = out.len() - 1 - cut.index(opus.len());
            prop_assert!(decode(&out[..cut], Direction::ServerToClient).is_err());
        }
    }
}
