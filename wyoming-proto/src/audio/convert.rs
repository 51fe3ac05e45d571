//! [`AudioConverter`]: any PCM stream to one target format, chunk by chunk.
//!
//! The steps run in Python's order (`wyoming.audio.AudioChunkConverter`): width, then channels,
//! then rate. The order matters for bit-exactness: 32-bit stereo to 16-bit mono narrows each
//! channel *before* summing, as Python does. Mixing and resampling happen on signed samples at the
//! target width; the 8-bit bias is only applied on the way out.

use super::mix::{check_channels, convert_channels};
use super::pcm::{convert_width, decode_into, encode_into, f32_to_sample, sample_to_f32};
use super::resample::{StreamResampler, check_rates};
use super::{AudioError, AudioFormat};
use std::fmt;

/// Converts a stream of chunks, each in its own [`AudioFormat`] as Wyoming sends them, to `target`.
///
/// State carried between chunks:
/// - **Partial frames.** Bytes past the last whole frame are kept and completed by the next chunk,
///   so chunks may be split anywhere.
/// - **The resampler**, created on the first chunk whose rate differs from the target and kept
///   (reset) across streams. A chunk already in the target format is copied, with no resampler.
///
/// Call [`finish`](Self::finish) at `audio-stop`: it returns the audio the resampler still holds
/// (about half an FFT block) so that nothing is lost, and the stream as a whole comes out at
/// `round(frames_in * target.rate / rate)` frames, time-aligned with the input.
///
/// If a chunk arrives in a different format than the one before, the old stream is closed first:
/// its partial frame is zero-padded to a whole frame and converted; if the *rate* changed, the
/// resampler is drained as by `finish` and a new one starts. (A width or channel change alone
/// keeps the resampler running: it works on target-format samples, so the audio stays seamless.)
/// Whatever closing the old stream produced comes first in that chunk's output.
///
/// Errors are returned before any state changes, so a rejected chunk can simply be dropped.
pub struct AudioConverter {
    target: AudioFormat,
    /// Format of the stream in progress; `None` before the first chunk and after `finish`.
    input: Option<AudioFormat>,
    /// Bytes of an incomplete frame in `input`'s format.
    partial: Vec<u8>,
    resampler: Option<StreamResampler>,
}

impl AudioConverter {
    /// A converter to `target`. An invalid target is reported by the first `convert`.
    pub fn new(target: AudioFormat) -> Self {
        AudioConverter { target, input: None, partial: Vec::new(), resampler: None }
    }

    pub fn target(&self) -> AudioFormat {
        self.target
    }

    /// Bytes of an incomplete frame held for the next chunk.
    pub fn pending_bytes(&self) -> usize {
        self.partial.len()
    }

    /// Converts one chunk of `input`-format bytes, returning what is ready in the target format.
    ///
    /// Fails, leaving the converter unchanged, if either format is invalid, if the channel change
    /// is not one of N → 1 or 1 → N, or if a rate change involves a rate outside
    /// [`MIN_RESAMPLE_RATE`](super::MIN_RESAMPLE_RATE)..=[`MAX_RESAMPLE_RATE`](super::MAX_RESAMPLE_RATE).
    pub fn convert(&mut self, input: AudioFormat, bytes: &[u8]) -> Result<Vec<u8>, AudioError> {
        self.target.validate()?;
        input.validate()?;
        check_channels(input.channels, self.target.channels)?;
        if input.rate != self.target.rate {
            check_rates(input.rate, self.target.rate)?;
        }

        let mut out = Vec::new();
        if let Some(current) = self.input.filter(|current| *current != input) {
            self.flush_partial(current, &mut out);
            if current.rate != input.rate {
                self.drain_resampler(&mut out);
            }
        }
        self.input = Some(input);

        let frame = input.bytes_per_frame();
        if self.partial.is_empty() && bytes.len().is_multiple_of(frame) {
            self.convert_frames(input, bytes, &mut out)?;
        } else {
            let mut joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(bytes);
            self.partial = joined.split_off(joined.len() - joined.len() % frame);
            self.convert_frames(input, &joined, &mut out)?;
        }
        Ok(out)
    }

    /// Ends the stream: a held partial frame is zero-padded and converted, and the resampler is
    /// drained. The converter is then ready for a new stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(current) = self.input.take() {
            self.flush_partial(current, &mut out);
            self.drain_resampler(&mut out);
        }
        out
    }

    /// Forgets the stream in progress without returning its tail.
    pub fn reset(&mut self) {
        self.input = None;
        self.partial.clear();
        if let Some(resampler) = &mut self.resampler {
            resampler.reset();
        }
    }

    /// Converts a whole clip at once (`convert` then `finish`).
    pub fn convert_clip(input: AudioFormat, bytes: &[u8], target: AudioFormat) -> Result<Vec<u8>, AudioError> {
        let mut converter = AudioConverter::new(target);
        let mut out = converter.convert(input, bytes)?;
        out.extend(converter.finish());
        Ok(out)
    }

    /// Converts whole frames of a format that has passed the checks in `convert`.
    fn convert_frames(&mut self, input: AudioFormat, frames: &[u8], out: &mut Vec<u8>) -> Result<(), AudioError> {
        let target = self.target;
        if input == target {
            out.extend_from_slice(frames);
            return Ok(());
        }
        let mut samples = Vec::new();
        decode_into(frames, input.width, &mut samples);
        if input.width != target.width {
            for s in &mut samples {
                *s = convert_width(*s, input.width, target.width);
            }
        }
        let samples = convert_channels(samples, input.channels, target.channels, target.width);
        if input.rate == target.rate {
            encode_into(&samples, target.width, out);
            return Ok(());
        }

        let resampler = match self.resampler.take() {
            Some(r) if r.input_rate() == input.rate => r,
            _ => StreamResampler::new(input.rate, target.rate, target.channels)?,
        };
        let resampler = self.resampler.insert(resampler);
        let floats: Vec<f32> = samples.iter().map(|&s| sample_to_f32(s, target.width)).collect();
        let mut resampled = Vec::new();
        resampler.process(&floats, &mut resampled)?;
        encode_f32_into(&resampled, target.width, out);
        Ok(())
    }

    /// Pads a held partial frame of `format` with zeros and converts it.
    fn flush_partial(&mut self, format: AudioFormat, out: &mut Vec<u8>) {
        if self.partial.is_empty() {
            return;
        }
        let mut frame = std::mem::take(&mut self.partial);
        frame.resize(format.bytes_per_frame(), 0);
        // `format` passed every check when these bytes arrived, and its resampler (if any) was
        // built then, so this cannot fail; if it somehow did, the frame is all we would lose.
        let _ = self.convert_frames(format, &frame, out);
    }

    fn drain_resampler(&mut self, out: &mut Vec<u8>) {
        if let Some(resampler) = &mut self.resampler {
            let mut tail = Vec::new();
            resampler.finish(&mut tail);
            encode_f32_into(&tail, self.target.width, out);
        }
    }
}

impl fmt::Debug for AudioConverter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioConverter")
            .field("target", &self.target)
            .field("input", &self.input)
            .field("pending_bytes", &self.partial.len())
            .field("resampling", &self.resampler.is_some())
            .finish()
    }
}

fn encode_f32_into(samples: &[f32], width: u16, out: &mut Vec<u8>) {
    let ints: Vec<i32> = samples.iter().map(|&x| f32_to_sample(x, width)).collect();
    encode_into(&ints, width, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::resample::expected_frames;
    use proptest::prelude::*;

    const S16_MONO_16K: AudioFormat = AudioFormat::WHISPER;

    fn s16(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    fn in_chunks(c: &mut AudioConverter, format: AudioFormat, bytes: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            let end = cut.clamp(start, bytes.len());
            out.extend(c.convert(format, &bytes[start..end]).unwrap());
            start = end;
        }
        out.extend(c.convert(format, &bytes[start..]).unwrap());
        out.extend(c.finish());
        out
    }

    #[test]
    fn same_format_is_copied_without_a_resampler() {
        let mut c = AudioConverter::new(S16_MONO_16K);
        let bytes = s16(&[1, -2, 3]);
        assert_eq!(c.convert(S16_MONO_16K, &bytes).unwrap(), bytes);
        assert!(c.finish().is_empty());
        assert!(c.resampler.is_none());
        // Width and channel changes need no resampler either.
        let mut c = AudioConverter::new(AudioFormat::new(16_000, 4, 2));
        c.convert(S16_MONO_16K, &bytes).unwrap();
        assert!(c.resampler.is_none());
    }

    #[test]
    fn width_then_channels_like_python() {
        // 32-bit stereo → 16-bit mono narrows each channel, then sums: (0x0001_8000 >> 16) * 2.
        let input: Vec<u8> = [0x0001_8000i32, 0x0001_8000].iter().flat_map(|s| s.to_le_bytes()).collect();
        let out = AudioConverter::convert_clip(AudioFormat::new(16_000, 4, 2), &input, S16_MONO_16K).unwrap();
        assert_eq!(out, s16(&[2]));
        // u8 stereo → s16 mono: (0 → -32768) + (255 → 32512) = -256.
        let out = AudioConverter::convert_clip(AudioFormat::new(16_000, 1, 2), &[0, 255], S16_MONO_16K).unwrap();
        assert_eq!(out, s16(&[-256]));
        // To 8-bit the sum is clamped in the signed domain, then biased.
        let out = AudioConverter::convert_clip(S16_MONO_16K, &s16(&[-32768, 0, 32767]), AudioFormat::new(16_000, 1, 2))
            .unwrap();
        assert_eq!(out, [0, 0, 128, 128, 255, 255]);
    }

    #[test]
    fn partial_frames_wait_for_the_next_chunk() {
        let stereo = AudioFormat::new(16_000, 2, 2);
        let mut c = AudioConverter::new(S16_MONO_16K);
        let bytes = s16(&[1000, 3000, 30000, 30000]);
        assert!(c.convert(stereo, &bytes[..3]).unwrap().is_empty());
        assert_eq!(c.pending_bytes(), 3);
        assert_eq!(c.convert(stereo, &bytes[3..5]).unwrap(), s16(&[4000]));
        assert_eq!(c.convert(stereo, &bytes[5..]).unwrap(), s16(&[32767]));
        assert_eq!(c.pending_bytes(), 0);
    }

    #[test]
    fn finish_pads_a_partial_frame() {
        let mut c = AudioConverter::new(S16_MONO_16K);
        assert!(c.convert(S16_MONO_16K, &[0x34]).unwrap().is_empty());
        assert_eq!(c.finish(), [0x34, 0x00]);
        assert!(c.finish().is_empty());
    }

    #[test]
    fn a_format_change_closes_the_old_stream_first() {
        let mut c = AudioConverter::new(S16_MONO_16K);
        let at_48k = AudioFormat::new(48_000, 2, 1);
        let first = c.convert(at_48k, &s16(&[1000; 4801])).unwrap();
        // 4801 frames at 48 kHz are 1600.33 frames at 16 kHz; the rest of them comes with the next chunk.
        let second = c.convert(S16_MONO_16K, &[0x01, 0x00, 0x02]).unwrap();
        assert_eq!(first.len() + second.len(), 2 * 1600 + 2);
        assert_eq!(&second[second.len() - 2..], [0x01, 0x00]);
        assert_eq!(c.finish(), [0x02, 0x00]);
    }

    #[test]
    fn errors_leave_the_converter_alone() {
        let mut c = AudioConverter::new(S16_MONO_16K);
        c.convert(S16_MONO_16K, &[1]).unwrap();
        let bad = [
            (AudioFormat::new(16_000, 5, 1), AudioError::UnsupportedWidth { width: 5 }),
            (AudioFormat::new(0, 2, 1), AudioError::ZeroRate),
            (AudioFormat::new(16_000, 2, 0), AudioError::ZeroChannels),
            (AudioFormat::new(500, 2, 1), AudioError::UnsupportedRate { from: 500, to: 16_000 }),
        ];
        for (format, error) in bad {
            assert_eq!(c.convert(format, &[0; 8]), Err(error));
        }
        assert_eq!(c.pending_bytes(), 1);
        let mut to_stereo = AudioConverter::new(AudioFormat::new(16_000, 2, 2));
        assert_eq!(
            to_stereo.convert(AudioFormat::new(16_000, 2, 3), &[0; 6]),
            Err(AudioError::UnsupportedChannels { from: 3, to: 2 })
        );
        let mut bad_target = AudioConverter::new(AudioFormat::new(16_000, 2, 0));
        assert_eq!(bad_target.convert(S16_MONO_16K, &[0; 2]), Err(AudioError::ZeroChannels));
    }

    #[test]
    fn converter_is_send() {
        fn is_send<T: Send>() {}
        is_send::<AudioConverter>();
    }

    fn format() -> impl Strategy<Value = AudioFormat> {
        (prop::sample::select(vec![8000u32, 11_025, 16_000, 22_050, 44_100, 48_000]), 1u16..=4, 1u16..=3)
            .prop_map(|(rate, width, channels)| AudioFormat::new(rate, width, channels))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_chunking_gives_the_same_stream(
            input in format(),
            target in format().prop_map(|f| AudioFormat { channels: if f.channels == 3 { 2 } else { f.channels }, ..f }),
            bytes in prop::collection::vec(any::<u8>(), 0..3000),
            cuts in prop::collection::vec(0usize..3000, 0..6),
        ) {
            // Any to mono, mono to any, or same count.
            let input = if input.channels != target.channels && target.channels != 1 { AudioFormat { channels: 1, ..input } } else { input };
            let mut cuts = cuts;
            cuts.sort_unstable();
            let whole = AudioConverter::convert_clip(input, &bytes, target).unwrap();
            let chunked = in_chunks(&mut AudioConverter::new(target), input, &bytes, &cuts);
            prop_assert_eq!(&chunked, &whole);
            // Every input frame is accounted for: a trailing partial frame is padded to a whole one.
            let frames_in = bytes.len().div_ceil(input.bytes_per_frame()) as u64;
            let frames_out = target.frames(whole.len()) as u64;
            prop_assert_eq!(whole.len() % target.bytes_per_frame(), 0);
            prop_assert_eq!(frames_out, expected_frames(frames_in, input.rate, target.rate));
        }

        #[test]
        fn nothing_panics(
            target in (0u32..1_000_000, 0u16..=6, 0u16..=4),
            chunks in prop::collection::vec(((0u32..1_000_000, 0u16..=6, 0u16..=4), prop::collection::vec(any::<u8>(), 0..200)), 0..4),
        ) {
            let mut c = AudioConverter::new(AudioFormat::new(target.0, target.1, target.2));
            for ((rate, width, channels), bytes) in chunks {
                let _ = c.convert(AudioFormat::new(rate, width, channels), &bytes);
            }
            let _ = c.finish();
        }
    }
}
