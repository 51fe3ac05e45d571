//! How many frames a sentence gets (reference §6): there is no duration predictor, only the prompt's
//! frames-per-token ratio and the speed.
//!
//! The ONNX text encoder computes the total F = ⌈F_p·(P + L)/(P·s)⌉ itself, which also compresses the prompt
//! portion when s ≠ 1, so short texts would get no frames at all. We therefore feed it the adjusted speed
//! s′ = (P + L)/(P + L/s), which reproduces the PyTorch path's G = ⌈F_p·L/(P·s)⌉ generated frames, and slow
//! down phrases whose G would fall below [`MIN_GENERATED_FRAMES`] so that they get exactly that many: a word
//! like "Yes." is stretched to about 0.3 s instead of crashing the vocoder or vanishing.

/// LuxTTS multiplies the user's speed by 1.3 (its default was found too slow).
pub const SPEED_BOOST: f32 = 1.3;
/// The fewest frames a phrase generates (30 frames = 0.32 s), as §12.2 suggests.
pub const MIN_GENERATED_FRAMES: usize = 30;

/// The frame plan of one phrase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramePlan {
    /// The `speed` input of the text encoder (s′).
    pub encoder_speed: f32,
    /// F: frames of the whole timeline, prompt included, as the text encoder will compute them.
    pub total_frames: usize,
    /// G = F − F_p: frames of new speech.
    pub generated_frames: usize,
}

/// The text encoder's rule, in float32 in the order the graph evaluates it: ⌈F_p / P · (P + L) / s⌉.
pub fn onnx_total_frames(prompt_frames: usize, prompt_tokens: usize, text_tokens: usize, speed: f32) -> usize {
    let fp = prompt_frames as f32;
    let p = prompt_tokens as f32;
    let pl = (prompt_tokens + text_tokens) as f32;
    (fp / p * pl / speed).ceil().max(0.0) as usize
}

/// The PyTorch path's generated frames: ⌈F_p·L/(P·s)⌉.
pub fn pytorch_generated_frames(prompt_frames: usize, prompt_tokens: usize, text_tokens: usize, speed: f32) -> usize {
    (prompt_frames as f64 * text_tokens as f64 / (prompt_tokens as f64 * speed as f64)).ceil() as usize
}

/// s′ = (P + L)/(P + L/s): with it the ONNX rule gives F_p + F_p·L/(P·s) frames.
pub fn adjusted_speed(prompt_tokens: usize, text_tokens: usize, speed: f32) -> f32 {
    let (p, l, s) = (prompt_tokens as f64, text_tokens as f64, speed as f64);
    ((p + l) / (p + l / s)) as f32
}

/// Plans a phrase of `text_tokens` tokens after a prompt of `prompt_frames` frames and `prompt_tokens` tokens at
/// the user's `speed` (before the 1.3 boost). Both counts must be positive.
pub fn plan(
    prompt_frames: usize,
    prompt_tokens: usize,
    text_tokens: usize,
    speed: f32,
    min_frames: usize,
) -> FramePlan {
    assert!(prompt_tokens > 0 && text_tokens > 0, "a plan needs prompt and text tokens");
    let mut s = SPEED_BOOST * speed;
    if pytorch_generated_frames(prompt_frames, prompt_tokens, text_tokens, s) < min_frames {
        // The speed at which the text takes exactly `min_frames` frames.
        s = (prompt_frames as f64 * text_tokens as f64 / (prompt_tokens as f64 * min_frames as f64)) as f32;
    }
    let mut encoder_speed = adjusted_speed(prompt_tokens, text_tokens, s);
    let mut total = onnx_total_frames(prompt_frames, prompt_tokens, text_tokens, encoder_speed);
    // Float rounding can land one frame short; nudge the speed down until it does not.
    while total < prompt_frames + min_frames {
        encoder_speed *= 0.999;
        total = onnx_total_frames(prompt_frames, prompt_tokens, text_tokens, encoder_speed);
    }
    FramePlan { encoder_speed, total_frames: total, generated_frames: total - prompt_frames }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_agree_at_speed_one_and_differ_at_one_point_three() {
        // 5 s prompt: 469 frames, 70 tokens; 40 text tokens.
        assert_eq!(onnx_total_frames(469, 70, 40, 1.0), 469 + pytorch_generated_frames(469, 70, 40, 1.0));
        let onnx_g = onnx_total_frames(469, 70, 40, 1.3) as i64 - 469;
        let torch_g = pytorch_generated_frames(469, 70, 40, 1.3) as i64;
        assert!(onnx_g < torch_g - 100, "the ONNX graph compresses the prompt too: {onnx_g} vs {torch_g}");
        // A short text gets no frames at all from the raw ONNX rule.
        assert!(onnx_total_frames(469, 70, 5, 1.3) < 469);
    }

    #[test]
    fn adjusted_speed_reproduces_pytorch_lengths() {
        let p = plan(469, 70, 40, 1.0, MIN_GENERATED_FRAMES);
        let torch_g = pytorch_generated_frames(469, 70, 40, 1.3);
        assert!(p.generated_frames.abs_diff(torch_g) <= 1, "{p:?} vs {torch_g}");
        assert_eq!(p.total_frames, onnx_total_frames(469, 70, 40, p.encoder_speed));
    }

    #[test]
    fn short_phrases_get_the_minimum() {
        let p = plan(469, 70, 3, 1.0, MIN_GENERATED_FRAMES);
        assert!(p.generated_frames == MIN_GENERATED_FRAMES || p.generated_frames == MIN_GENERATED_FRAMES + 1, "{p:?}");
    }

    proptest! {
        #[test]
        fn every_plan_meets_the_minimum_and_tracks_pytorch(
            fp in 94usize..2000, p in 1usize..300, l in 1usize..400, speed in 0.5f32..2.0,
        ) {
            let plan = plan(fp, p, l, speed, MIN_GENERATED_FRAMES);
            prop_assert!(plan.generated_frames >= MIN_GENERATED_FRAMES);
            prop_assert_eq!(plan.total_frames, onnx_total_frames(fp, p, l, plan.encoder_speed));
            let torch = pytorch_generated_frames(fp, p, l, SPEED_BOOST * speed);
            if torch >= MIN_GENERATED_FRAMES {
                prop_assert!(plan.generated_frames.abs_diff(torch) <= 1, "{:?} vs {}", plan, torch);
            }
        }
    }
}
