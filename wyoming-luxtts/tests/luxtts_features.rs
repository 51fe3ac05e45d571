//! The VocosFbank features (reference §4) against an independent NumPy implementation of the same formulas
//! (`tests/python/luxtts_reference.py features`), on clips of awkward lengths.

mod luxtts_common;

use luxtts_common::{read_f32, reference, write_f32};
use wyoming_luxtts::luxtts::features::{self, N_MELS};

#[test]
fn features_match_the_numpy_reference() {
    let Some(python) = wyoming_tests::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut state = 7u64;
    for len in [600usize, 24_000, 30_011, 120_000] {
        let audio: Vec<f32> = (0..len)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
                let t = i as f32 / 24_000.0;
                0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.1 * (2.0 * std::f32::consts::PI * 7000.0 * t).sin()
                    + 0.05 * noise
            })
            .collect();
        let (input, output) = (dir.path().join("in.f32"), dir.path().join("out.f32"));
        write_f32(&input, &audio);
        reference(&python, &["features".as_ref(), input.as_os_str(), output.as_os_str()]);
        let theirs = read_f32(&output);
        let ours: Vec<f32> = features::log_mel(&audio).unwrap().into_iter().flatten().collect();
        assert_eq!(ours.len(), features::frame_count(len) * N_MELS, "{len} samples");
        let diff = luxtts_common::max_abs_diff("features", &ours, &theirs);
        eprintln!("{len} samples, {} frames: max |Δ| = {diff:e}", ours.len() / N_MELS);
        assert!(diff < 1e-4, "{len} samples: features differ by {diff}");
    }
}
