//! Whisper's log-mel spectrogram, exactly as faster-whisper computes it.
//!
//! Written here rather than taken from ct2rs's `whisper` feature, whose features differ from what
//! Whisper was trained on by up to 1.15 (uncentred frames, a per-frame floor, no Nyquist bin): see
//! `native-and-models.md` §6. The steps follow faster-whisper's `FeatureExtractor` (160 samples of tail
//! padding, centred reflect-padded STFT, Slaney mel filters, log10, a floor 8 below the global maximum,
//! `(x + 4) / 4`), then `pad_or_trim` to 3000 frames with zeros.

use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Frames in one 30 s window, the encoder's fixed input length.
pub const WINDOW_FRAMES: usize = 3000;
const BINS: usize = N_FFT / 2 + 1;

/// Computes log-mel features; build once per model (the filters and FFT plan are reused).
pub struct MelExtractor {
    n_mels: usize,
    /// `[n_mels][BINS]`, row-major.
    filters: Vec<f32>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

/// The whole input's features, `[n_mels][frames]` row-major, before windowing.
pub struct LogMel {
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
}

impl LogMel {
    /// The `len` frames (at most 30 s) from `start`, zero-padded to the encoder's input, `[n_mels][3000]`.
    pub fn window(&self, start: usize, len: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n_mels * WINDOW_FRAMES];
        let end = self.frames.min(start + len.min(WINDOW_FRAMES));
        if start < end {
            for m in 0..self.n_mels {
                let row = &self.data[m * self.frames..(m + 1) * self.frames];
                out[m * WINDOW_FRAMES..m * WINDOW_FRAMES + (end - start)].copy_from_slice(&row[start..end]);
            }
        }
        out
    }

    /// How many 30 s windows cover the input. The last frame is left out, as faster-whisper's `content_frames`
    /// does: exactly 30 s is one window, not one and an empty second that could be decoded into a hallucination.
    pub fn windows(&self) -> usize {
        self.frames.saturating_sub(1).div_ceil(WINDOW_FRAMES).max(1)
    }
}

impl MelExtractor {
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32)
            .collect();
        MelExtractor {
            n_mels,
            filters: slaney_filters(n_mels),
            window,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Features of 16 kHz mono samples in [-1, 1].
    pub fn compute(&self, samples: &[f32]) -> LogMel {
        // 1. Tail padding, 2. centre (reflect) padding.
        let mut x = Vec::with_capacity(samples.len() + HOP + N_FFT);
        x.extend_from_slice(samples);
        x.resize(samples.len() + HOP, 0.0);
        let padded = reflect_pad(&x, N_FFT / 2);
        // 3. Frames: floor(L / hop) of them (the last STFT frame is dropped, as faster-whisper does).
        let frames = x.len() / HOP;
        let mut log_spec = vec![0.0f32; self.n_mels * frames];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = [0.0f32; BINS];
        let mut max = f32::NEG_INFINITY;
        for t in 0..frames {
            let frame = &padded[t * HOP..t * HOP + N_FFT];
            for ((dst, s), w) in input.iter_mut().zip(frame).zip(&self.window) {
                *dst = s * w;
            }
            // Lengths come from the plan itself, so this cannot fail.
            let _ = self.fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.re * c.re + c.im * c.im;
            }
            for m in 0..self.n_mels {
                let filter = &self.filters[m * BINS..(m + 1) * BINS];
                let energy: f32 = filter.iter().zip(&power).map(|(w, p)| w * p).sum();
                let y = energy.max(1e-10).log10();
                max = max.max(y);
                log_spec[m * frames + t] = y;
            }
        }
        let floor = max - 8.0;
        for y in &mut log_spec {
            *y = (y.max(floor) + 4.0) / 4.0;
        }
        LogMel { n_mels: self.n_mels, frames, data: log_spec }
    }
}

/// NumPy's `reflect` padding (the edge sample is not repeated). Inputs shorter than the pad are
/// extended with zeros first, so any length works.
fn reflect_pad(x: &[f32], pad: usize) -> Vec<f32> {
    let mut src = x.to_vec();
    if src.len() <= pad {
        src.resize(pad + 1, 0.0);
    }
    let n = src.len();
    let mut out = Vec::with_capacity(n + 2 * pad);
    out.extend((1..=pad).rev().map(|i| src[i]));
    out.extend_from_slice(&src);
    out.extend((1..=pad).map(|i| src[n - 1 - i]));
    out
}

fn hz_to_mel(f: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let log_step = 6.4f64.ln() / 27.0;
    if f < 1000.0 { f / F_SP } else { 15.0 + (f / 1000.0).ln() / log_step }
}

fn mel_to_hz(m: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let log_step = 6.4f64.ln() / 27.0;
    if m < 15.0 { F_SP * m } else { 1000.0 * (log_step * (m - 15.0)).exp() }
}

/// Slaney-scale, Slaney-normalised triangular filters from 0 to 8 kHz, computed in f64 like librosa.
fn slaney_filters(n_mels: usize) -> Vec<f32> {
    let max_mel = hz_to_mel(SAMPLE_RATE as f64 / 2.0);
    let edges: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64)).collect();
    let mut filters = vec![0.0f32; n_mels * BINS];
    for m in 0..n_mels {
        let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
        let norm = 2.0 / (hi - lo);
        for k in 0..BINS {
            let f = k as f64 * SAMPLE_RATE as f64 / N_FFT as f64;
            let w = ((f - lo) / (mid - lo)).min((hi - f) / (hi - mid)).max(0.0);
            filters[m * BINS + k] = (w * norm) as f32;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WINDOW_SAMPLES: usize = WINDOW_FRAMES * HOP;

    #[test]
    fn frame_count_follows_faster_whisper() {
        let mel = MelExtractor::new(80);
        assert_eq!(mel.compute(&vec![0.0; 76_300]).frames, 477);
        assert_eq!(mel.compute(&vec![0.0; WINDOW_SAMPLES]).frames, 3001);
        assert_eq!(mel.compute(&[]).frames, 1);
    }

    #[test]
    fn silence_is_the_floor_everywhere() {
        let mel = MelExtractor::new(80).compute(&vec![0.0; 16_000]);
        // log10(1e-10) = -10 everywhere, so the floor is -18 and every value is (-10 + 4) / 4.
        assert!(mel.data.iter().all(|v| (*v - -1.5).abs() < 1e-6));
    }

    #[test]
    fn windows_are_zero_padded_and_sliced() {
        let mel = MelExtractor::new(80).compute(&vec![0.1; 2 * WINDOW_SAMPLES + 500]);
        assert_eq!(mel.windows(), 3);
        let last = mel.window(2 * WINDOW_FRAMES, WINDOW_FRAMES);
        assert_eq!(last.len(), 80 * WINDOW_FRAMES);
        assert_eq!(mel.frames, 2 * WINDOW_FRAMES + 4);
        // Row 0 of the last window starts at frame 6000 of row 0; row 1 at frame 6000 of row 1.
        assert_eq!(last[2], mel.data[2 * WINDOW_FRAMES + 2]);
        assert_eq!(last[WINDOW_FRAMES + 1], mel.data[mel.frames + 2 * WINDOW_FRAMES + 1]);
        assert_eq!(last[100], 0.0, "frames past the input are zero, as pad_or_trim writes them");
        assert_eq!(MelExtractor::new(80).compute(&vec![0.1; WINDOW_SAMPLES]).windows(), 1, "exactly 30 s");
        assert_eq!(MelExtractor::new(80).compute(&vec![0.1; WINDOW_SAMPLES + HOP]).windows(), 2);
        assert_eq!(MelExtractor::new(80).compute(&[]).windows(), 1);
    }

    #[test]
    fn filters_are_slaney_normalised_triangles() {
        let f = slaney_filters(80);
        // Every filter has some weight and none is negative.
        for m in 0..80 {
            let row = &f[m * BINS..(m + 1) * BINS];
            assert!(row.iter().all(|w| *w >= 0.0));
            assert!(row.iter().any(|w| *w > 0.0), "filter {m} is empty");
        }
        assert!((hz_to_mel(mel_to_hz(33.3)) - 33.3).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn any_length_and_level_is_finite(len in 0usize..5000, level in -2.0f32..2.0) {
            let samples: Vec<f32> = (0..len).map(|i| level * ((i as f32) * 0.05).sin()).collect();
            let mel = MelExtractor::new(80).compute(&samples);
            prop_assert_eq!(mel.frames, len / HOP + 1);
            prop_assert!(mel.data.iter().all(|v| v.is_finite()));
        }
    }
}

/// Parity with faster-whisper's own feature extractor (the numbers its encoder sees).
#[cfg(test)]
mod parity {
    use super::*;

    fn faster_whisper_features(python: &std::path::Path, samples: &[f32]) -> Vec<f32> {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in.f32"), dir.path().join("out.f32"));
        std::fs::write(&src, samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let status = std::process::Command::new(python)
            .arg(wyoming_tests::python_script("mel_features.py"))
            .args([&src, &dst])
            .arg("80")
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(&dst).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    /// A deterministic speech-like signal: voiced harmonics with a moving pitch, noise bursts, pauses.
    fn speechlike(seconds: f32) -> Vec<f32> {
        let n = (seconds * SAMPLE_RATE as f32) as usize;
        let mut seed = 0x2545_f491_u32;
        (0..n)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = (seed as f32 / u32::MAX as f32 - 0.5) * 0.2;
                let f0 = 120.0 + 40.0 * (t * 2.0).sin();
                let voiced: f32 =
                    (1..8).map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32).sum();
                let envelope = if (t * 3.0).fract() < 0.7 { 0.3 } else { 0.0 };
                envelope * voiced + if (t * 5.0).fract() < 0.1 { noise } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn matches_faster_whisper_within_1e_4() {
        let Some(python) = wyoming_tests::python() else { return };
        let clipped: Vec<f32> = speechlike(2.0).iter().map(|s| (s * 8.0).clamp(-1.0, 1.0)).collect();
        let cases = [
            ("speech", speechlike(4.3)),
            ("silence", vec![0.0; 16_000]),
            ("clipping", clipped),
            ("short", speechlike(0.01)),
        ];
        let mel = MelExtractor::new(80);
        for (name, samples) in cases {
            let ours = mel.compute(&samples).window(0, WINDOW_FRAMES);
            let theirs = faster_whisper_features(&python, &samples);
            assert_eq!(ours.len(), theirs.len(), "{name}");
            let max_diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            println!("{name}: max abs difference {max_diff:e}");
            assert!(max_diff <= 1e-4, "{name}: max abs difference {max_diff}");
        }
    }
}
