//! Rate changes over a stream of arbitrarily sized chunks, with `rubato` doing the filtering.
//!
//! # Which rubato resampler
//! Wyoming rates are fixed for a whole stream, so the *synchronous* [`rubato::Fft`] fits: the
//! ratio is exact (no drift over hours), the anti-aliasing filter is sharp, and it is cheap. Its
//! blocks are whole multiples of `rate / gcd(in, out)` frames. We use an **even** number of those
//! units so that both block sizes are even: the filter's delay is then exactly
//! `fft_size_in / 2` input frames = `fft_size_out / 2` output frames, and trimming it leaves the
//! output sample-aligned with the input (odd blocks leave it half an output frame late). Blocks
//! hold at least 256 frames on the smaller side (a cutoff at about 95 % of the lower Nyquist
//! frequency) and at most 100 ms, which covers every pairing of the usual rates (8 k to 384 k,
//! 11025 / 22050 / 44100 included).
//!
//! A peer may send any rate, though, and a pair like 44101 → 16000 (gcd 1) would need one-second
//! blocks. Those pairs take the asynchronous sinc resampler [`rubato::Async`] instead: its cost
//! and latency do not depend on the gcd, at the price of alignment: its delay is not a whole
//! number of output frames (nor exactly what it reports), so its output may be up to about one
//! output frame early or late.
//!
//! Both want fixed-size input blocks, so chunks are buffered here until a block is complete;
//! [`StreamResampler::finish`] pushes the remainder and enough silence through to empty the
//! filter, then cuts the stream to `round(frames_in * out / in)` frames.
//!
//! Rates are limited to [`MIN_RESAMPLE_RATE`]..=[`MAX_RESAMPLE_RATE`]: a peer claiming 1 Hz would
//! otherwise make a 16 kHz server produce 16 000 frames for every frame it sends.

use super::AudioError;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters, WindowFunction};

/// Lowest rate we resample from or to.
pub const MIN_RESAMPLE_RATE: u32 = 1_000;
/// Highest rate we resample from or to.
pub const MAX_RESAMPLE_RATE: u32 = 768_000;

/// Smallest FFT block on the lower-rate side, in frames.
const MIN_FFT_BLOCK: usize = 256;
/// Longest FFT block: it is also the buffering latency.
const MAX_FFT_BLOCK_MS: u64 = 100;
/// Sinc length of the fallback resampler (rubato rounds to a multiple of 8).
const SINC_LEN: usize = 128;
/// The fallback takes input blocks that give at least this many frames on either side.
const SINC_MIN_BLOCK: usize = 64;

/// Whether `from` Hz can be resampled to `to` Hz.
pub(crate) fn check_rates(from: u32, to: u32) -> Result<(), AudioError> {
    let range = MIN_RESAMPLE_RATE..=MAX_RESAMPLE_RATE;
    if range.contains(&from) && range.contains(&to) { Ok(()) } else { Err(AudioError::UnsupportedRate { from, to }) }
}

/// A rubato resampler with its input buffer, delay trimming and end-of-stream flush.
pub(crate) struct StreamResampler {
    engine: Box<dyn Resampler<f32>>,
    from: u32,
    to: u32,
    channels: usize,
    /// Interleaved input not yet processed: always less than one block after `process`.
    pending: Vec<f32>,
    /// Scratch output, `output_frames_max` frames.
    out_buf: Vec<f32>,
    /// Output frames of startup delay still to drop.
    to_trim: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    pub(crate) fn new(from: u32, to: u32, channels: u16) -> Result<Self, AudioError> {
        check_rates(from, to)?;
        let ch = usize::from(channels.max(1));
        let engine: Box<dyn Resampler<f32>> = match fft_block_in(from, to) {
            Some(block_in) => Box::new(
                Fft::<f32>::new_custom(
                    from as usize,
                    to as usize,
                    block_in,
                    1,
                    ch,
                    WindowFunction::BlackmanHarris2,
                    FixedSync::Input,
                )
                .map_err(|e| AudioError::Resampler(e.to_string()))?,
            ),
            None => {
                let ratio = f64::from(to) / f64::from(from);
                let block = SINC_MIN_BLOCK.max((SINC_MIN_BLOCK as f64 / ratio).ceil() as usize);
                let params = SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2);
                Box::new(
                    Async::<f32>::new_sinc(ratio, 1.0, &params, block, ch, FixedAsync::Input)
                        .map_err(|e| AudioError::Resampler(e.to_string()))?,
                )
            }
        };
        let out_buf = vec![0.0; engine.output_frames_max() * ch];
        let to_trim = engine.output_delay();
        Ok(StreamResampler {
            engine,
            from,
            to,
            channels: ch,
            pending: Vec::new(),
            out_buf,
            to_trim,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// The input rate this resampler was built for.
    pub(crate) fn input_rate(&self) -> u32 {
        self.from
    }

    /// Resamples interleaved `input` (whole frames), appending what is ready to `out`.
    pub(crate) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let ch = self.channels;
        let input = &input[..input.len() - input.len() % ch];
        self.pending.extend_from_slice(input);
        self.frames_in += (input.len() / ch) as u64;
        let available = self.pending.len() / ch;
        let mut used = 0;
        let result = loop {
            if available - used < self.engine.input_frames_next() {
                break Ok(());
            }
            match self.step(used, None) {
                Ok((n_in, n_out)) if n_in > 0 => {
                    used += n_in;
                    self.emit(n_out, u64::MAX, out);
                }
                Ok(_) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..used * ch);
        result
    }

    /// Ends the stream: pushes the buffered input and the filter's tail out, so the whole stream
    /// came to `round(frames_in * to / from)` frames, then resets for the next stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<f32>) {
        let ch = self.channels;
        let expected = expected_frames(self.frames_in, self.from, self.to);
        let needed = expected.saturating_sub(self.frames_out) + self.to_trim as u64;
        let per_call = (self.engine.output_frames_next() as u64 / 2).max(1);
        // Bounded in case the engine ever produces nothing; we pad below instead of spinning.
        let mut calls_left = 4 + needed / per_call;
        let mut partial = self.pending.len() / ch;
        while self.frames_out < expected && calls_left > 0 {
            calls_left -= 1;
            // The first call takes the last partial block; later ones feed silence.
            match self.step(0, Some(partial)) {
                Ok((_, n_out)) => self.emit(n_out, expected, out),
                Err(_) => break,
            }
            partial = 0;
        }
        let missing = expected.saturating_sub(self.frames_out) as usize;
        out.resize(out.len() + missing * ch, 0.0);
        self.reset();
    }

    /// Forgets the stream without flushing it.
    pub(crate) fn reset(&mut self) {
        self.engine.reset();
        self.pending.clear();
        self.to_trim = self.engine.output_delay();
        self.frames_in = 0;
        self.frames_out = 0;
    }

    /// One engine call on `pending` from frame `offset`; `partial` marks a short final block.
    fn step(&mut self, offset: usize, partial: Option<usize>) -> Result<(usize, usize), AudioError> {
        let ch = self.channels;
        let failed = |e: &dyn std::fmt::Display| AudioError::Resampler(e.to_string());
        let input = InterleavedSlice::new(&self.pending[..], ch, self.pending.len() / ch).map_err(|e| failed(&e))?;
        let capacity = self.out_buf.len() / ch;
        let mut output = InterleavedSlice::new_mut(&mut self.out_buf[..], ch, capacity).map_err(|e| failed(&e))?;
        let mut indexing = Indexing::new().input_offset(offset);
        indexing.partial_len = partial;
        self.engine.process_into_buffer(&input, &mut output, Some(&indexing)).map_err(|e| failed(&e))
    }

    /// Moves `n_out` frames from the scratch buffer to `out`, dropping the startup delay first and
    /// anything past `limit` frames in total.
    fn emit(&mut self, n_out: usize, limit: u64, out: &mut Vec<f32>) {
        let ch = self.channels;
        let n_out = n_out.min(self.out_buf.len() / ch);
        let skip = self.to_trim.min(n_out);
        self.to_trim -= skip;
        let room = limit.saturating_sub(self.frames_out);
        let keep = ((n_out - skip) as u64).min(room) as usize;
        out.extend_from_slice(&self.out_buf[skip * ch..(skip + keep) * ch]);
        self.frames_out += keep as u64;
    }
}

/// `round(frames * to / from)`, halves rounded up, in integers.
pub(crate) fn expected_frames(frames: u64, from: u32, to: u32) -> u64 {
    let from = u128::from(from.max(1));
    ((u128::from(frames) * u128::from(to) * 2 + from) / (2 * from)) as u64
}

/// The FFT input block for `from` → `to`: an even number of `from / gcd` units with at least
/// [`MIN_FFT_BLOCK`] frames on the smaller side and at most [`MAX_FFT_BLOCK_MS`] long; `None` when
/// even two units are longer than that.
fn fft_block_in(from: u32, to: u32) -> Option<usize> {
    let g = gcd(from, to);
    let (unit_in, unit_out) = ((from / g) as usize, (to / g) as usize);
    let wanted = MIN_FFT_BLOCK.div_ceil(unit_in.min(unit_out).max(1));
    let wanted = wanted + wanted % 2;
    // k units last k / g seconds.
    let most = (u64::from(g) * MAX_FFT_BLOCK_MS / 1000) as usize & !1;
    let units = wanted.min(most);
    (units >= 2).then_some(units * unit_in)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    fn tone(rate: u32, frames: usize, freqs: &[f64], shift: f64) -> Vec<f32> {
        (0..frames)
            .map(|n| {
                let t = (n as f64 + shift) / f64::from(rate);
                freqs.iter().map(|f| 0.25 * (TAU * f * t).sin()).sum::<f64>() as f32
            })
            .collect()
    }

    fn run(from: u32, to: u32, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut r = StreamResampler::new(from, to, 1).unwrap();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.process(c, &mut out).unwrap();
        }
        r.finish(&mut out);
        out
    }

    /// RMS error against the ideal tone, relative to its RMS, over the middle of the signal.
    fn error_vs_ideal(to: u32, out: &[f32], freqs: &[f64], shift: f64) -> f64 {
        let ideal = tone(to, out.len(), freqs, shift);
        let edge = out.len() / 5;
        let (mut err, mut sig) = (0.0, 0.0);
        for (y, x) in out[edge..out.len() - edge].iter().zip(&ideal[edge..]) {
            err += f64::from(y - x).powi(2);
            sig += f64::from(*x).powi(2);
        }
        (err / sig).sqrt()
    }

    #[test]
    fn block_sizes() {
        // 48 k → 16 k: units of 3 → 1, 256 units on the 16 k side.
        assert_eq!(fft_block_in(48_000, 16_000), Some(768));
        // 44.1 k → 16 k: units of 441 → 160, two of them (20 ms).
        assert_eq!(fft_block_in(44_100, 16_000), Some(882));
        assert_eq!(fft_block_in(11_025, 16_000), Some(882));
        assert_eq!(fft_block_in(44_101, 16_000), None);
        assert_eq!(fft_block_in(1_000, 768_000), Some(100));
    }

    #[test]
    fn every_pair_of_usual_rates_uses_the_fft() {
        let rates = [
            8000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000,
            384_000,
        ];
        for from in rates {
            for to in rates.into_iter().filter(|&to| to != from) {
                let block = fft_block_in(from, to).unwrap();
                assert!(block.is_multiple_of(2) && block as u32 <= from / 10, "{from} -> {to}: {block}");
            }
        }
    }

    #[test]
    fn fft_output_is_accurate_and_aligned() {
        let freqs = [220.0, 440.0, 1000.0];
        for (from, to) in [(8000, 16_000), (22_050, 16_000), (44_100, 16_000), (48_000, 16_000), (16_000, 48_000)] {
            let out = run(from, to, &tone(from, from as usize, &freqs, 0.0), 1000);
            assert_eq!(out.len(), to as usize, "{from} -> {to}");
            let err = error_vs_ideal(to, &out, &freqs, 0.0);
            assert!(err < 1e-4, "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn odd_rates_fall_back_to_sinc_within_a_frame() {
        let freqs = [220.0, 440.0];
        let (from, to) = (44_101, 16_000);
        let out = run(from, to, &tone(from, from as usize, &freqs, 0.0), 777);
        assert_eq!(out.len() as u64, expected_frames(from as u64, from, to));
        // Misaligned by up to about one output frame: find by how much, then the shape must match.
        let (shift, err) = (-150i32..=150)
            .map(|s| (s, error_vs_ideal(to, &out, &freqs, f64::from(s) / 100.0)))
            .fold((0, f64::INFINITY), |best, x| if x.1 < best.1 { x } else { best });
        assert!(err < 1e-3 && shift.abs() <= 100, "{shift} {err}");
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let input = tone(22_050, 5000, &[300.0], 0.0);
        let whole = run(22_050, 16_000, &input, input.len());
        assert_eq!(run(22_050, 16_000, &input, 1), whole);
        assert_eq!(run(22_050, 16_000, &input, 883), whole);
    }

    #[test]
    fn short_and_empty_streams() {
        assert!(run(48_000, 16_000, &[], 10).is_empty());
        assert_eq!(run(48_000, 16_000, &[0.5; 2], 10).len(), 1);
        assert_eq!(run(8000, 48_000, &[0.5; 1], 10).len(), 6);
        // Reusable after finish.
        let mut r = StreamResampler::new(16_000, 8000, 1).unwrap();
        let mut out = Vec::new();
        for _ in 0..2 {
            out.clear();
            r.process(&[0.1; 333], &mut out).unwrap();
            r.finish(&mut out);
            assert_eq!(out.len(), 167);
        }
    }

    #[test]
    fn rates_out_of_range_are_refused() {
        assert_eq!(check_rates(1, 16_000), Err(AudioError::UnsupportedRate { from: 1, to: 16_000 }));
        assert!(StreamResampler::new(16_000, 800_000, 1).is_err());
        assert!(StreamResampler::new(MIN_RESAMPLE_RATE, MAX_RESAMPLE_RATE, 2).is_ok());
        assert!(StreamResampler::new(MAX_RESAMPLE_RATE, MIN_RESAMPLE_RATE, 2).is_ok());
    }

    #[test]
    fn rounding_of_the_expected_length() {
        assert_eq!(expected_frames(3, 48_000, 16_000), 1);
        assert_eq!(expected_frames(2, 48_000, 16_000), 1); // 0.667
        assert_eq!(expected_frames(1, 48_000, 16_000), 0); // 0.333
        assert_eq!(expected_frames(1, 32_000, 16_000), 1); // 0.5 rounds up
        let _ = expected_frames(u64::MAX, 1000, 768_000); // no overflow panic
    }
}
