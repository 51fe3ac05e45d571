//! The flow-matching sampler (reference §7): the shifted time schedule, the Euler update, and seedable
//! Gaussian noise.
//!
//! The "anchor" update of LuxTTS expands to the plain Euler step x ← x + (tᵢ₊₁ − tᵢ)·v (a test checks the
//! equivalence), so that is what runs. The network call is a closure, which keeps this module pure.

/// tᵢ = τ·sᵢ/(1 + (τ − 1)·sᵢ) for sᵢ = i/N, i = 0…N (computed in f64).
pub fn schedule(num_steps: usize, t_shift: f32) -> Vec<f64> {
    let tau = t_shift as f64;
    (0..=num_steps)
        .map(|i| {
            let s = i as f64 / num_steps as f64;
            tau * s / (1.0 + (tau - 1.0) * s)
        })
        .collect()
}

/// Runs the sampler from `x` (the noise): for each step, `velocity(tᵢ, x)` then x ← x + (tᵢ₊₁ − tᵢ)·v, in f32
/// with the step size rounded once to f32.
pub fn sample<E>(
    mut x: Vec<f32>,
    times: &[f64],
    mut velocity: impl FnMut(f32, &[f32]) -> Result<Vec<f32>, E>,
) -> Result<Vec<f32>, E> {
    for pair in times.windows(2) {
        let v = velocity(pair[0] as f32, &x)?;
        assert_eq!(v.len(), x.len(), "the velocity has the state's shape");
        let dt = (pair[1] - pair[0]) as f32;
        for (x, v) in x.iter_mut().zip(&v) {
            *x += dt * v;
        }
    }
    Ok(x)
}

/// A small, fast, seedable generator (xoshiro256** seeded through SplitMix64), so a `--seed` run is
/// reproducible on every platform without another dependency.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut r = z;
            r = (r ^ (r >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            r = (r ^ (r >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            r ^ (r >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// `len` standard normal values (Box–Muller).
    pub fn normal(&mut self, len: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(len + 1);
        while out.len() < len {
            let (u1, u2) = (self.uniform(), self.uniform());
            let r = (-2.0 * u1.ln()).sqrt();
            let a = 2.0 * std::f64::consts::PI * u2;
            out.push((r * a.cos()) as f32);
            out.push((r * a.sin()) as f32);
        }
        out.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_the_reference_table() {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&schedule(4, 0.5), &[0.0, 0.142857, 0.333333, 0.6, 1.0]));
        assert!(close(&schedule(4, 0.9), &[0.0, 0.230769, 0.473684, 0.729730, 1.0]));
        assert!(close(&schedule(4, 1.0), &[0.0, 0.25, 0.5, 0.75, 1.0]));
    }

    #[test]
    fn anchor_update_equals_euler() {
        let times = schedule(4, 0.5);
        let field = |t: f32, x: &[f32]| -> Vec<f32> {
            x.iter().enumerate().map(|(i, x)| (t * 3.0 + i as f32).sin() - 0.5 * x).collect()
        };
        let x0 = Rng::new(7).normal(64);
        let euler = sample(x0.clone(), &times, |t, x| Ok::<_, ()>(field(t, x))).unwrap();
        // LuxTTS's form: x̂₁ = x + (1 − t)v, x̂₀ = x − t·v, x ← (1 − t')x̂₀ + t'x̂₁ (x̂₁ at the last step).
        let mut x: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
        for i in 0..4 {
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let v = field(times[i] as f32, &xf);
            let t = times[i];
            for (x, &v) in x.iter_mut().zip(&v) {
                let (x1, x0) = (*x + (1.0 - t) * v as f64, *x - t * v as f64);
                *x = if i < 3 { (1.0 - times[i + 1]) * x0 + times[i + 1] * x1 } else { x1 };
            }
        }
        let worst = x.iter().zip(&euler).map(|(a, &b)| (a - b as f64).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-5, "anchor and Euler differ by {worst}");
    }

    #[test]
    fn noise_is_seeded_and_standard() {
        assert_eq!(Rng::new(1).normal(10), Rng::new(1).normal(10));
        assert_ne!(Rng::new(1).normal(10), Rng::new(2).normal(10));
        let n = Rng::new(3).normal(100_001);
        let mean = n.iter().map(|&v| v as f64).sum::<f64>() / n.len() as f64;
        let var = n.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n.len() as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {mean}, variance {var}");
    }
}
