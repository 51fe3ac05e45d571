//! The 12 kHz band merge of the vocoder's two heads (reference §9.2, LuxTTS's own merge).
//!
//! Why §9.2 and not §9.4: §9.2 is what LuxTTS itself does, so the server reproduces LuxTTS's output; §9.4
//! only reproduces a third-party pipeline. Both need the whole sentence at once, which sentence-level
//! streaming gives anyway.
//!
//! Why an exact FFT upsampler and not rubato: the merge already works on the whole sentence's spectrum, and
//! zero-padding the 24 kHz spectrum *is* band-limited 2× interpolation (what torchaudio's windowed-sinc
//! `resample` approximates). It costs no extra transform, has no delay to trim, and is defined exactly, so an
//! independent NumPy implementation can check us to rounding. Computed in f64.

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

pub const CROSSOVER_HZ: f64 = 12_000.0;
/// Half-width of the smoothstep transition, in bins.
pub const TRANSITION_BINS: usize = 4;

/// The spectrum (length n + 1 for n = 2·len) of `x24` upsampled 2× by zero-padding its spectrum: every bin
/// doubled (the inverse transform is twice as long), an even signal's Nyquist bin split between ±12 kHz.
pub fn upsampled_spectrum(x24: &[f32]) -> Vec<Complex<f64>> {
    let n24 = x24.len();
    let mut out = vec![Complex::new(0.0, 0.0); n24 + 1];
    if n24 == 0 {
        return out;
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n24);
    let mut input: Vec<f64> = x24.iter().map(|&v| v as f64).collect();
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum).expect("buffer sizes come from the plan");
    for (o, s) in out.iter_mut().zip(&spectrum) {
        *o = s * 2.0;
    }
    if n24.is_multiple_of(2) {
        out[n24 / 2] *= 0.5;
    }
    out
}

fn inverse(mut spectrum: Vec<Complex<f64>>, n: usize) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    let fft = RealFftPlanner::<f64>::new().plan_fft_inverse(n);
    spectrum[0].im = 0.0;
    if n.is_multiple_of(2) {
        spectrum[n / 2].im = 0.0;
    }
    let mut out = fft.make_output_vec();
    fft.process(&mut spectrum, &mut out).expect("imaginary parts of DC and Nyquist are zeroed");
    out.iter().map(|&v| (v / n as f64) as f32).collect()
}

fn forward(x: &[f32], n: usize) -> Vec<Complex<f64>> {
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut input: Vec<f64> = (0..n).map(|i| x.get(i).copied().unwrap_or(0.0) as f64).collect();
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum).expect("buffer sizes come from the plan");
    spectrum
}

/// `x24` at 48 kHz: exactly 2·len samples.
pub fn upsample_2x(x24: &[f32]) -> Vec<f32> {
    inverse(upsampled_spectrum(x24), 2 * x24.len())
}

/// LuxTTS's mask over `bins` = ⌊n/2⌋ + 1 bins: 0 below a = c − 4, 1 from b = c + 4, a smoothstep 3u² − 2u³
/// between, with u = linspace(0, 1, b − a) as in `torch.linspace`; c = ⌊12000/24000 · bins⌋.
pub fn crossover_mask(bins: usize) -> Vec<f64> {
    let c = (CROSSOVER_HZ / 24_000.0 * bins as f64).floor() as usize;
    let a = c.saturating_sub(TRANSITION_BINS);
    let b = (c + TRANSITION_BINS).min(bins);
    let width = b - a;
    (0..bins)
        .map(|k| {
            if k < a {
                0.0
            } else if k >= b {
                1.0
            } else {
                let u = if width > 1 { (k - a) as f64 / (width - 1) as f64 } else { 1.0 };
                3.0 * u * u - 2.0 * u * u * u
            }
        })
        .collect()
}

/// Merges the heads: below 12 kHz from `audio_24k` (upsampled), above from `audio_48k` (trimmed, or padded with
/// zeros, to n = 2·len(audio_24k)). Returns n samples at 48 kHz.
pub fn merge(audio_48k: &[f32], audio_24k: &[f32]) -> Vec<f32> {
    let n = 2 * audio_24k.len();
    if n == 0 {
        return Vec::new();
    }
    let low = upsampled_spectrum(audio_24k);
    let high = forward(audio_48k, n);
    let mask = crossover_mask(n / 2 + 1);
    let merged: Vec<Complex<f64>> =
        high.iter().zip(&low).zip(&mask).map(|((h, l), &m)| h * m + l * (1.0 - m)).collect();
    inverse(merged, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, len: usize) -> Vec<f32> {
        (0..len).map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin() as f32 * 0.5).collect()
    }

    fn amplitude_at(x: &[f32], freq: f64, rate: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let a = 2.0 * std::f64::consts::PI * freq * i as f64 / rate;
            re += v as f64 * a.cos();
            im += v as f64 * a.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    #[test]
    fn upsampling_is_band_limited_interpolation() {
        let x = tone(1000.0, 24_000.0, 2400);
        let y = upsample_2x(&x);
        assert_eq!(y.len(), 4800);
        let expected = tone(1000.0, 48_000.0, 4800);
        let worst = y.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-5, "{worst}");
        for (i, &v) in x.iter().enumerate() {
            assert!((y[2 * i] - v).abs() < 1e-5, "even samples are the input");
        }
    }

    #[test]
    fn low_band_comes_from_24k_and_high_band_from_48k() {
        // 5 kHz in the 24 kHz head; 18 kHz and a decoy 5 kHz in the 48 kHz head.
        let n24 = 4800;
        let a24 = tone(5000.0, 24_000.0, n24);
        let a48: Vec<f32> = tone(18_000.0, 48_000.0, 2 * n24 + 37)
            .iter()
            .zip(tone(5000.0, 48_000.0, 2 * n24 + 37))
            .map(|(a, b)| a + b)
            .collect();
        let out = merge(&a48, &a24);
        assert_eq!(out.len(), 2 * n24);
        let five = amplitude_at(&out, 5000.0, 48_000.0);
        let eighteen = amplitude_at(&out, 18_000.0, 48_000.0);
        assert!((five - 0.5).abs() < 1e-3, "5 kHz once, from the 24 kHz head: {five}");
        assert!((eighteen - 0.5).abs() < 1e-3, "18 kHz from the 48 kHz head: {eighteen}");
        // The 48 kHz head's 5 kHz is dropped.
        let residual: Vec<f32> = out.iter().zip(tone(5000.0, 48_000.0, 2 * n24)).map(|(o, t)| o - t).collect();
        assert!((amplitude_at(&residual, 5000.0, 48_000.0)) < 1e-3);
    }

    #[test]
    fn mask_is_a_smoothstep_around_12_khz() {
        let mask = crossover_mask(4801);
        let c = 2400;
        assert_eq!(mask[c - 5], 0.0);
        assert_eq!(mask[c - 4], 0.0);
        assert_eq!(mask[c + 4], 1.0);
        assert!(mask[c] > 0.4 && mask[c] < 0.7);
        assert!(mask.windows(2).all(|w| w[0] <= w[1]));
        assert!(merge(&[], &[]).is_empty());
    }
}
