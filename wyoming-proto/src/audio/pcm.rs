//! Samples ↔ bytes at any width, width changes with `audioop` semantics, and the `f32` helpers.
//!
//! Inside this module a sample is an `i32` holding the signed value at its own width (8-bit
//! samples are un-biased: byte 0 is -128, byte 128 is 0). Keeping 8-bit audio signed while it is
//! mixed or resampled is the one place we deliberately differ from Python, which mixes and
//! resamples the re-biased bytes as if they were signed.
//!
//! Width changes are exactly `audioop.lin2lin`: the sample is moved to the top of a 32-bit word and
//! shifted back down arithmetically, so widening pads with zero bits (`u8` 255 becomes 32512, not
//! 32767) and narrowing keeps the high bits (truncation towards minus infinity, no dithering). That
//! is what makes width changes bit-exact with the Python servers.

use super::AudioError;

/// The signed range of a sample of `width` bytes (1 to 4).
pub(crate) fn sample_range(width: u16) -> (i32, i32) {
    match width {
        1 => (i32::from(i8::MIN), i32::from(i8::MAX)),
        2 => (i32::from(i16::MIN), i32::from(i16::MAX)),
        3 => (-(1 << 23), (1 << 23) - 1),
        _ => (i32::MIN, i32::MAX),
    }
}

/// `2^(bits - 1)`: the value that maps to 1.0 in the `f32` helpers.
fn full_scale(width: u16) -> f64 {
    f64::from(1u32 << (8 * u32::from(width.clamp(1, 4)) - 1))
}

/// Appends the samples of `bytes` (whole samples only; a trailing partial sample is ignored) to `out`.
pub(crate) fn decode_into(bytes: &[u8], width: u16, out: &mut Vec<i32>) {
    out.reserve(bytes.len() / usize::from(width.max(1)));
    match width {
        1 => out.extend(bytes.iter().map(|&b| i32::from(b) - 128)),
        2 => out.extend(bytes.chunks_exact(2).map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))),
        3 => out.extend(bytes.chunks_exact(3).map(|b| i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)),
        4 => out.extend(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        _ => {}
    }
}

/// Appends `samples`, which must already be in [`sample_range`] of `width`, as little-endian bytes.
pub(crate) fn encode_into(samples: &[i32], width: u16, out: &mut Vec<u8>) {
    out.reserve(samples.len() * usize::from(width));
    for &s in samples {
        match width {
            // The range holds, so the casts only drop bits that are zero (or sign copies).
            1 => out.push((s + 128) as u8),
            2 => out.extend_from_slice(&(s as i16).to_le_bytes()),
            3 => out.extend_from_slice(&s.to_le_bytes()[..3]),
            4 => out.extend_from_slice(&s.to_le_bytes()),
            _ => {}
        }
    }
}

/// `audioop.lin2lin` for one sample: both widths are 1 to 4.
pub(crate) fn convert_width(sample: i32, from: u16, to: u16) -> i32 {
    let up = 32 - 8 * u32::from(from);
    let down = 32 - 8 * u32::from(to);
    sample.wrapping_shl(up) >> down
}

/// A sample of `width` bytes as a float in [-1, 1).
pub(crate) fn sample_to_f32(sample: i32, width: u16) -> f32 {
    // Through f64 so 32-bit samples are divided exactly; the clamp keeps i32::MAX, which rounds up
    // to 1.0 in f32, inside the promised half-open range.
    ((f64::from(sample) / full_scale(width)) as f32).min(MAX_BELOW_ONE)
}

/// A float as a sample of `width` bytes: scaled by full scale, rounded half away from zero,
/// clamped to the width's range. NaN becomes 0.
pub(crate) fn f32_to_sample(value: f32, width: u16) -> i32 {
    let (min, max) = sample_range(width);
    // `as` saturates and maps NaN to 0, so no input can panic here.
    (f64::from(value) * full_scale(width)).round().clamp(f64::from(min), f64::from(max)) as i32
}

const MAX_BELOW_ONE: f32 = 1.0 - f32::EPSILON / 2.0;

fn check_width(width: u16) -> Result<(), AudioError> {
    if (1..=4).contains(&width) { Ok(()) } else { Err(AudioError::UnsupportedWidth { width }) }
}

/// PCM bytes of `width` (1 to 4; any channel layout, it is kept interleaved) as floats in [-1, 1).
///
/// Engines (Whisper, Silero) take `f32`; 16-bit audio takes a direct path. Samples are scaled by
/// `2^(bits-1)`, so the round trip through [`f32_to_pcm`] is exact for widths 1 to 3; 32-bit audio
/// keeps the 24 bits an `f32` holds. A length that is not a whole number of samples is an error
/// rather than a silently dropped byte.
pub fn pcm_to_f32(bytes: &[u8], width: u16) -> Result<Vec<f32>, AudioError> {
    check_width(width)?;
    if !bytes.len().is_multiple_of(usize::from(width)) {
        return Err(AudioError::PartialSample { len: bytes.len(), width });
    }
    if width == 2 {
        const SCALE: f32 = 1.0 / 32768.0;
        return Ok(bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * SCALE).collect());
    }
    let mut samples = Vec::new();
    decode_into(bytes, width, &mut samples);
    Ok(samples.into_iter().map(|s| sample_to_f32(s, width)).collect())
}

/// Floats (nominally [-1, 1]) as PCM bytes of `width` (1 to 4): rounded, clamped, NaN as silence.
pub fn f32_to_pcm(samples: &[f32], width: u16) -> Result<Vec<u8>, AudioError> {
    check_width(width)?;
    let mut out = Vec::with_capacity(samples.len() * usize::from(width));
    if width == 2 {
        for &x in samples {
            // Saturating cast: 1.0 becomes 32767, NaN becomes 0.
            out.extend_from_slice(&((x * 32768.0).round() as i16).to_le_bytes());
        }
        return Ok(out);
    }
    let ints: Vec<i32> = samples.iter().map(|&x| f32_to_sample(x, width)).collect();
    encode_into(&ints, width, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lin2lin(bytes: &[u8], from: u16, to: u16) -> Vec<u8> {
        let mut s = Vec::new();
        decode_into(bytes, from, &mut s);
        let s: Vec<i32> = s.into_iter().map(|v| convert_width(v, from, to)).collect();
        let mut out = Vec::new();
        encode_into(&s, to, &mut out);
        out
    }

    #[test]
    fn unsigned_8_bit_widens_like_audioop() {
        let wide = lin2lin(&[0, 128, 255], 1, 2);
        let mut s = Vec::new();
        decode_into(&wide, 2, &mut s);
        assert_eq!(s, [-32768, 0, 32512]);
    }

    #[test]
    fn narrowing_keeps_the_high_bits() {
        let mut bytes = Vec::new();
        encode_into(&[-32768, -1, 0, 255, 256, 32767], 2, &mut bytes);
        // Arithmetic shift right by 8, then the 128 bias: -1 >> 8 is -1, i.e. byte 127.
        assert_eq!(lin2lin(&bytes, 2, 1), [0, 127, 128, 128, 129, 255]);
    }

    #[test]
    fn three_byte_samples_are_signed_little_endian() {
        let mut s = Vec::new();
        decode_into(&[0xff, 0xff, 0xff, 0x00, 0x00, 0x80, 0x01, 0x02, 0x03], 3, &mut s);
        assert_eq!(s, [-1, -(1 << 23), 0x030201]);
        assert_eq!(lin2lin(&[0x00, 0x00, 0x80], 3, 2), 0x8000u16.to_le_bytes());
        assert_eq!(lin2lin(&0x1234i16.to_le_bytes(), 2, 3), [0x00, 0x34, 0x12]);
        assert_eq!(lin2lin(&[0x56, 0x34, 0x12], 3, 4), 0x1234_5600i32.to_le_bytes());
    }

    #[test]
    fn f32_helpers_scale_and_clamp() {
        let mut pcm = Vec::new();
        encode_into(&[-32768, 0, 16384, 32767], 2, &mut pcm);
        assert_eq!(pcm_to_f32(&pcm, 2).unwrap(), [-1.0, 0.0, 0.5, 32767.0 / 32768.0]);
        assert_eq!(pcm_to_f32(&[0, 128, 255], 1).unwrap(), [-1.0, 0.0, 127.0 / 128.0]);
        let back = f32_to_pcm(&[-2.0, -1.0, 0.5, 1.0, 7.0, f32::NAN, 0.49 / 32768.0], 2).unwrap();
        let mut s = Vec::new();
        decode_into(&back, 2, &mut s);
        assert_eq!(s, [-32768, -32768, 16384, 32767, 32767, 0, 0]);
        assert_eq!(f32_to_pcm(&[1.0, -1.0, f32::NAN], 1).unwrap(), [255, 0, 128]);
        assert_eq!(f32_to_pcm(&[1.0], 4).unwrap(), i32::MAX.to_le_bytes());
        assert!(pcm_to_f32(&i32::MAX.to_le_bytes(), 4).unwrap()[0] < 1.0);
    }

    #[test]
    fn f32_helpers_reject_bad_input() {
        assert_eq!(pcm_to_f32(&[0; 3], 2), Err(AudioError::PartialSample { len: 3, width: 2 }));
        assert_eq!(pcm_to_f32(&[0; 4], 0), Err(AudioError::UnsupportedWidth { width: 0 }));
        assert_eq!(f32_to_pcm(&[0.0], 5), Err(AudioError::UnsupportedWidth { width: 5 }));
    }

    proptest! {
        #[test]
        fn widening_then_narrowing_is_lossless(from in 1u16..=4, extra in 0u16..=3, bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let to = (from + extra).min(4);
            let bytes = &bytes[..bytes.len() - bytes.len() % usize::from(from)];
            prop_assert_eq!(lin2lin(&lin2lin(bytes, from, to), to, from), bytes);
        }

        #[test]
        fn f32_round_trip(width in 1u16..=4, bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let bytes = &bytes[..bytes.len() - bytes.len() % usize::from(width)];
            let floats = pcm_to_f32(bytes, width).unwrap();
            prop_assert!(floats.iter().all(|x| (-1.0..1.0).contains(x)));
            let back = f32_to_pcm(&floats, width).unwrap();
            if width < 4 {
                prop_assert_eq!(back, bytes);
            } else {
                // An f32 holds 24 bits: 32-bit samples come back within 2^7.
                let (mut a, mut b) = (Vec::new(), Vec::new());
                decode_into(bytes, 4, &mut a);
                decode_into(&back, 4, &mut b);
                for (x, y) in a.iter().zip(&b) {
                    prop_assert!((i64::from(*x) - i64::from(*y)).abs() <= 128);
                }
            }
        }

        #[test]
        fn f32_to_pcm_never_panics(width in 0u16..=6, samples in prop::collection::vec(any::<f32>(), 0..32)) {
            let _ = f32_to_pcm(&samples, width);
        }

        #[test]
        fn pcm_to_f32_never_panics(width in 0u16..=6, bytes in prop::collection::vec(any::<u8>(), 0..32)) {
            let _ = pcm_to_f32(&bytes, width);
        }
    }
}
