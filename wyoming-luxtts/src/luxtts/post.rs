//! Output post-processing (reference §10): clamp to [−1, 1], then match the reference clip's loudness.

/// The loudness LuxTTS's generate function aims for (distinct from the prompt encoding's 0.01).
pub const OUTPUT_TARGET_RMS: f32 = 0.1;

/// Clamps, then scales by prompt_rms/0.1 when the reference was quieter than 0.1 RMS (never louder).
pub fn finish(audio: &mut [f32], prompt_rms: f32) {
    let gain = if prompt_rms < OUTPUT_TARGET_RMS { prompt_rms / OUTPUT_TARGET_RMS } else { 1.0 };
    for s in audio.iter_mut() {
        *s = s.clamp(-1.0, 1.0) * gain;
    }
}

/// √(mean(x²)), 0 for no samples.
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_then_volume_match() {
        let mut a = vec![2.0, -3.0, 0.5];
        finish(&mut a, 0.03);
        let expected = [0.3, -0.3, 0.15];
        assert!(a.iter().zip(expected).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?}");
        let mut loud = vec![0.5, -1.5];
        finish(&mut loud, 0.2);
        assert_eq!(loud, [0.5, -1.0]);
        assert_eq!(rms(&[]), 0.0);
        assert!((rms(&[3.0, -3.0]) - 3.0).abs() < 1e-6);
    }
}
