//! One whole LuxTTS pass in Rust against an independent NumPy implementation of the published algorithm
//! (`tests/python/luxtts_reference.py`), both running the same random-weight stand-in graphs with exactly the
//! official I/O (`tests/python/luxtts_graphs.py`), from the same reference WAV, tokens and noise.
//!
//! Compared, as max |Δ| (all must be below 1e-4): the prompt features (× 0.1, after the RMS normalisation),
//! the frame plan (the encoder's `speed` input and F, exactly), the text condition, the vocoder input (sampler
//! result sliced, ÷ 0.1, transposed), both vocoder heads, the 12 kHz merge, and the final output after clamp
//! and volume match. Python computes features and the merge in float64 from its own code, and loads its own
//! ONNX Runtime (the `onnxruntime` wheel, not `ORT_DYLIB_PATH`), so agreement is not a matter of shared code.

mod luxtts_common;

use luxtts_common::{fixture, max_abs_diff, read_f32, reference, write_f32, write_reference_wav};
use wyoming_luxtts::luxtts::features::N_MELS;
use wyoming_luxtts::luxtts::model::{LuxModel, SynthParams};
use wyoming_luxtts::luxtts::voice::{self, PromptSettings};
use wyoming_luxtts::onnx::{Cancel, Device, SessionOptions, Width};

struct Case {
    name: &'static str,
    transcript: &'static str,
    text: &'static str,
    reference_rms: f32,
    ref_duration: f32,
    params: SynthParams,
    seed: u64,
}

#[test]
fn rust_pipeline_matches_the_numpy_reference() {
    let Some(fx) = fixture() else { return };
    let env = wyoming_luxtts::onnx::runtime(&fx.onnxruntime).unwrap();
    let model = LuxModel::load(env, &fx.model_dir(), SessionOptions { device: Device::Cpu, intra_threads: 1 }).unwrap();
    let cases = [
        Case {
            name: "defaults, quiet reference",
            transcript: "The quick brown fox jumps over the lazy dog.",
            text: "Hello world, this is a test of the cloned voice.",
            reference_rms: 0.004,
            ref_duration: 5.0,
            params: SynthParams::default(),
            seed: 42,
        },
        Case {
            name: "short text at the frame minimum, loud reference cut to 2 s, other sampler settings",
            transcript: "Testing, one two three.",
            text: "Hi.",
            reference_rms: 0.2,
            ref_duration: 2.0,
            params: SynthParams {
                num_steps: 3,
                guidance_scale: 2.0,
                t_shift: 0.9,
                speed: 1.2,
                ..SynthParams::default()
            },
            seed: 7,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let dir = fx.dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("reference.wav");
        write_reference_wav(&wav, 3.0, case.reference_rms);

        let settings = PromptSettings { ref_duration: case.ref_duration, target_rms: voice::PROMPT_TARGET_RMS };
        let audio = voice::read_reference(&wav, settings.ref_duration).unwrap();
        let prompt_tokens = model.frontend().tokens(case.transcript).unwrap();
        let prompt = voice::encode(&audio, case.transcript, prompt_tokens.clone(), &settings).unwrap();
        let text_tokens = model.frontend().tokens(case.text).unwrap();
        assert!(!text_tokens.is_empty() && !prompt_tokens.is_empty());
        let trace = model
            .generate(&prompt, &text_tokens, &case.params, case.seed, Width::Wide, &Cancel::new().unwrap())
            .unwrap();
        assert_eq!(trace.total_frames, trace.plan.total_frames, "{}: the plan predicts the encoder's F", case.name);
        let generated = trace.total_frames - prompt.frames;
        assert!(generated >= case.params.min_frames, "{}: {generated} frames", case.name);
        assert_eq!(trace.output.len(), 2 * 256 * generated, "{}: 48 kHz samples", case.name);

        let noise = dir.join("noise.f32");
        write_f32(&noise, &trace.noise);
        let out = dir.join("reference_out");
        let config = serde_json::json!({
            "model_dir": fx.model_dir(), "wav": wav, "ref_duration": settings.ref_duration,
            "target_rms": settings.target_rms, "prompt_tokens": prompt_tokens, "text_tokens": text_tokens,
            "noise": noise, "num_steps": case.params.num_steps, "guidance_scale": case.params.guidance_scale,
            "t_shift": case.params.t_shift, "speed": case.params.speed, "min_frames": case.params.min_frames,
            "out_dir": out,
        });
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        reference(&fx.python, &["synth".as_ref(), config_path.as_os_str()]);

        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
        assert_eq!(plan["prompt_frames"].as_u64().unwrap() as usize, prompt.frames, "{}", case.name);
        assert_eq!(plan["total_frames"].as_u64().unwrap() as usize, trace.total_frames, "{}", case.name);
        assert_eq!(plan["encoder_speed"].as_f64().unwrap() as f32, trace.plan.encoder_speed, "{}", case.name);
        assert!((plan["prompt_rms"].as_f64().unwrap() as f32 - prompt.rms).abs() < 1e-6);

        let compared = [
            ("prompt_features", &prompt.features),
            ("text_condition", &trace.text_condition),
            ("vocoder_input", &trace.vocoder_input),
            ("audio_48k", &trace.audio_48k),
            ("audio_24k", &trace.audio_24k),
            ("merged", &trace.merged),
            ("output", &trace.output),
        ];
        eprintln!(
            "{}: P = {}, L = {}, F_p = {}, F = {}, G = {generated}, speed input {}",
            case.name,
            prompt_tokens.len(),
            text_tokens.len(),
            prompt.frames,
            trace.total_frames,
            trace.plan.encoder_speed
        );
        for (name, ours) in compared {
            let theirs = read_f32(&out.join(name));
            let diff = max_abs_diff(name, ours, &theirs);
            let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
            eprintln!("  {name:16} {:>8} values, max |value| {scale:.4}, max |Δ| = {diff:e}", ours.len());
            assert!(diff < 1e-4, "{}: {name} differs by {diff}", case.name);
        }
        assert_eq!(prompt.features.len(), prompt.frames * N_MELS);
        let peak = trace.output.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 1e-4 && peak <= 1.0, "{}: output peak {peak}", case.name);
    }
}
