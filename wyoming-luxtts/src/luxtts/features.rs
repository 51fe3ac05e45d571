//! ZipVoice's `VocosFbank` (reference §4): the log-mel features of the voice prompt.
//!
//! torchaudio's `MelSpectrogram` at 24 kHz: n_fft 1024, hop 256, periodic Hann, centred with reflect padding,
//! magnitude spectrum, 100 HTK mel bands from 0 to 12 kHz without area normalisation, natural log of
//! max(mel, 1e-7), and lhotse's frame count ⌊(N + 128)/256⌋. Computed in f64 (the clip is at most a few
//! seconds, so the cost is negligible) so that it matches a NumPy reference to rounding.

use realfft::RealFftPlanner;

pub const SAMPLE_RATE: u32 = 24_000;
pub const N_FFT: usize = 1024;
pub const HOP: usize = 256;
pub const N_MELS: usize = 100;
pub const F_MAX: f64 = 12_000.0;
/// The model sees features × 0.1 (`feat_scale`); its output is divided by it again before the vocoder.
pub const FEAT_SCALE: f32 = 0.1;

/// How many frames `samples` samples give: ⌊(N + 128)/256⌋.
pub fn frame_count(samples: usize) -> usize {
    (samples + HOP / 2) / HOP
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// torchaudio `melscale_fbanks(513, 0, 12000, 100, 24000, norm=None, mel_scale="htk")`: `[513][100]`.
pub fn mel_filters() -> Vec<[f64; N_MELS]> {
    let bins = N_FFT / 2 + 1;
    let (m_min, m_max) = (hz_to_mel(0.0), hz_to_mel(F_MAX));
    let edges: Vec<f64> =
        (0..N_MELS + 2).map(|i| mel_to_hz(m_min + (m_max - m_min) * i as f64 / (N_MELS + 1) as f64)).collect();
    (0..bins)
        .map(|k| {
            let f = k as f64 * SAMPLE_RATE as f64 / N_FFT as f64;
            let mut row = [0.0; N_MELS];
            for (m, value) in row.iter_mut().enumerate() {
                let down = (f - edges[m]) / (edges[m + 1] - edges[m]);
                let up = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
                *value = down.min(up).max(0.0);
            }
            row
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
#[error("the voice clip is too short: {samples} samples at 24 kHz, at least {} are needed", N_FFT / 2 + 1)]
pub struct TooShort {
    pub samples: usize,
}

/// Log-mel features `[frames][100]` of 24 kHz mono `audio` (not yet × 0.1).
pub fn log_mel(audio: &[f32]) -> Result<Vec<[f32; N_MELS]>, TooShort> {
    let pad = N_FFT / 2;
    if audio.len() <= pad {
        return Err(TooShort { samples: audio.len() });
    }
    let n = audio.len();
    // Reflect padding (no edge repeat), as torch.nn.functional.pad(mode="reflect").
    let padded: Vec<f64> = (0..n + 2 * pad)
        .map(|j| {
            let i = j as isize - pad as isize;
            let i = if i < 0 {
                -i
            } else if i >= n as isize {
                2 * (n as isize - 1) - i
            } else {
                i
            };
            audio[i as usize] as f64
        })
        .collect();
    let window: Vec<f64> =
        (0..N_FFT).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()).collect();
    let filters = mel_filters();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
    let mut frame = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let frames = frame_count(n);
    let mut out = Vec::with_capacity(frames);
    for t in 0..frames {
        let start = t * HOP;
        for (i, x) in frame.iter_mut().enumerate() {
            *x = padded[start + i] * window[i];
        }
        fft.process(&mut frame, &mut spectrum).expect("buffer sizes come from the plan");
        let mut mel = [0.0f64; N_MELS];
        for (bin, c) in spectrum.iter().enumerate() {
            let magnitude = c.norm();
            for (m, w) in filters[bin].iter().enumerate() {
                mel[m] += w * magnitude;
            }
        }
        out.push(mel.map(|v| v.max(1e-7).ln() as f32));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_follows_lhotse() {
        assert_eq!(frame_count(120_000), 469);
        assert_eq!(frame_count(24_000), 94);
        assert_eq!(log_mel(&vec![0.0; 24_000]).unwrap().len(), 94);
        assert!(log_mel(&[0.0; 512]).is_err());
    }

    #[test]
    fn filters_are_htk_triangles_peaking_at_one() {
        let f = mel_filters();
        assert_eq!(f.len(), 513);
        assert!(f[0].iter().all(|&v| v == 0.0), "0 Hz is the first edge");
        for m in 0..N_MELS {
            let peak = f.iter().map(|row| row[m]).fold(0.0, f64::max);
            assert!(peak > 0.4 && peak <= 1.0, "band {m} peaks at {peak}");
        }
        // Nothing above 12 kHz (bin 512).
        assert!(f[512].iter().all(|&v| v < 1e-9));
    }

    #[test]
    fn silence_is_the_floor_and_a_tone_lands_in_its_band() {
        let silence = log_mel(&vec![0.0; 4800]).unwrap();
        assert!(silence.iter().flatten().all(|&v| (v - 1e-7f64.ln() as f32).abs() < 1e-5));
        let tone: Vec<f32> =
            (0..24_000).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 24_000.0).sin()).collect();
        let feats = log_mel(&tone).unwrap();
        let mid = &feats[feats.len() / 2];
        let best = (0..N_MELS).max_by(|&a, &b| mid[a].total_cmp(&mid[b])).unwrap();
        let edges: Vec<f64> = (0..N_MELS + 2).map(|i| mel_to_hz(hz_to_mel(F_MAX) * i as f64 / 101.0)).collect();
        assert!(edges[best] < 1000.0 && 1000.0 < edges[best + 2], "1 kHz lands in band {best}");
    }
}
