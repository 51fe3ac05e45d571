//! Mumble's own variable-length integer (reference `mumble.md` §3.3).
//!
//! It is not the protobuf varint: the number of bytes is announced by a prefix of the first byte
//! and multi-byte values are big-endian. Voice packets use it for the session, the sequence number
//! and the Opus length, so every read checks the remaining length first: a packet whose varint
//! runs past its end is an error for that packet only, never a panic.

use thiserror::Error;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VarintError {
    /// The first byte announced more bytes than the buffer holds.
    #[error("varint needs {needed} bytes but only {available} remain")]
    Truncated { needed: usize, available: usize },
    /// The negative forms (`111110__`, `111111xx`): never used by voice packets, so refused.
    #[error("negative varint (prefix {prefix:#04x}) where an unsigned value was expected")]
    Negative { prefix: u8 },
}

/// The largest number of bytes one varint can take (the 64-bit form).
pub const MAX_LEN: usize = 9;

/// Reads one unsigned varint from the front of `buf`; returns the value and the bytes it took.
pub fn decode(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let Some(&first) = buf.first() else {
        return Err(VarintError::Truncated { needed: 1, available: 0 });
    };
    let (len, initial) = match first {
        0x00..=0x7F => return Ok((u64::from(first), 1)),
        0x80..=0xBF => (2, u64::from(first & 0x3F)),
        0xC0..=0xDF => (3, u64::from(first & 0x1F)),
        0xE0..=0xEF => (4, u64::from(first & 0x0F)),
        0xF0..=0xF3 => (5, 0),
        0xF4..=0xF7 => (9, 0),
        _ => return Err(VarintError::Negative { prefix: first }),
    };
    if buf.len() < len {
        return Err(VarintError::Truncated { needed: len, available: buf.len() });
    }
    let value = buf[1..len].iter().fold(initial, |acc, &b| (acc << 8) | u64::from(b));
    Ok((value, len))
}

/// How many bytes [`encode`] writes for `value` (the shortest form that fits).
pub fn encoded_len(value: u64) -> usize {
    match value {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        0x1000_0000..0x1_0000_0000 => 5,
        _ => 9,
    }
}

/// Appends `value` in the shortest form that holds it.
pub fn encode(value: u64, out: &mut Vec<u8>) {
    // The casts below keep only the bytes the chosen form carries; the match guarantees they fit.
    match encoded_len(value) {
        1 => out.push(value as u8),
        2 => out.extend_from_slice(&[0x80 | (value >> 8) as u8, value as u8]),
        3 => out.extend_from_slice(&[0xC0 | (value >> 16) as u8, (value >> 8) as u8, value as u8]),
        4 => out.extend_from_slice(&[0xE0 | (value >> 24) as u8, (value >> 16) as u8, (value >> 8) as u8, value as u8]),
        5 => {
            out.push(0xF0);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(0xF4);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out);
        out
    }

    #[test]
    fn worked_bytes_from_the_reference() {
        assert_eq!(enc(4), [0x04]);
        assert_eq!(enc(0x57), [0x57]);
        assert_eq!(enc(200), [0x80, 0xC8]);
        assert_eq!(enc(0x2057), [0xA0, 0x57]);
        assert_eq!(enc(0x3FFF), [0xBF, 0xFF]);
        assert_eq!(enc(0x4000), [0xC0, 0x40, 0x00]);
        assert_eq!(enc(0x1F_FFFF), [0xDF, 0xFF, 0xFF]);
        assert_eq!(enc(0x20_0000), [0xE0, 0x20, 0x00, 0x00]);
        assert_eq!(enc(0xFFFF_FFFF), [0xF0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(enc(u64::MAX), [0xF4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn truncated_and_negative_forms_are_errors() {
        assert_eq!(decode(&[]), Err(VarintError::Truncated { needed: 1, available: 0 }));
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated { needed: 2, available: 1 }));
        assert_eq!(decode(&[0xF4, 1, 2, 3]), Err(VarintError::Truncated { needed: 9, available: 4 }));
        assert_eq!(decode(&[0xF8, 0x01]), Err(VarintError::Negative { prefix: 0xF8 }));
        assert_eq!(decode(&[0xFC]), Err(VarintError::Negative { prefix: 0xFC }));
    }

    #[test]
    fn the_32_bit_form_ignores_its_two_spare_bits() {
        assert_eq!(decode(&[0xF3, 0, 0, 1, 0]), Ok((256, 5)));
    }

    proptest! {
        #[test]
        fn round_trip_uses_the_announced_length(value: u64, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut bytes = enc(value);
            prop_assert_eq!(bytes.len(), encoded_len(value));
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(decode(&bytes), Ok((value, encoded_len(value))));
        }

        #[test]
        fn decode_never_reads_past_the_buffer(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok((_, used)) = decode(&bytes) {
                prop_assert!(used <= bytes.len() && used <= MAX_LEN);
            }
        }

        #[test]
        fn every_prefix_of_a_valid_encoding_is_truncated(value: u64) {
            let bytes = enc(value);
            for cut in 0..bytes.len() {
                let truncated = matches!(decode(&bytes[..cut]), Err(VarintError::Truncated { .. }));
                prop_assert!(truncated);
            }
        }
    }
}
