//! LuxTTS plumbing cost on random-weight stand-in graphs: `cargo bench -p wyoming-luxtts --bench luxtts_plumbing`.
//!
//! **Plumbing cost only, random graphs.** The stand-ins are a few small matrix products, so the ONNX rows
//! measure tensor building, copies and session overhead per call, not LuxTTS inference (the real decoder is
//! 478 MB and dominates everything). The prompt-encoding and merge rows are pure Rust and *are* what the real
//! model pays for those stages.

#[path = "../tests/luxtts_common/mod.rs"]
mod luxtts_common;

use std::time::{Duration, Instant};
use wyoming_luxtts::luxtts::features;
use wyoming_luxtts::luxtts::model::{LuxModel, SynthParams};
use wyoming_luxtts::luxtts::voice::{self, PromptSettings};
use wyoming_luxtts::onnx::{Cancel, Device, SessionOptions, Width};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let Some(fx) = luxtts_common::fixture() else { return };
    let env = wyoming_luxtts::onnx::runtime(&fx.onnxruntime).unwrap();
    let model = LuxModel::load(env, &fx.model_dir(), SessionOptions { device: Device::Cpu, intra_threads: 1 }).unwrap();
    let wav = fx.dir.path().join("ref.wav");
    luxtts_common::write_reference_wav(&wav, 5.0, 0.05);
    let settings = PromptSettings { ref_duration: 5.0, target_rms: voice::PROMPT_TARGET_RMS };
    let audio = voice::read_reference(&wav, 5.0).unwrap();
    let started = Instant::now();
    let runs = 5;
    for _ in 0..runs {
        std::hint::black_box(features::log_mel(&audio).unwrap());
    }
    println!("LuxTTS plumbing cost only, random graphs (1 intra-op thread, bench profile)");
    println!("prompt features, 5 s reference (real cost): {:.2} ms", ms(started.elapsed()) / runs as f64);
    let transcript = "The quick brown fox jumps over the lazy dog, and then it runs far away.";
    let prompt = voice::encode(&audio, transcript, model.frontend().tokens(transcript).unwrap(), &settings).unwrap();
    let texts = [
        "Hi.",
        "Hello world, this is a short test.",
        "The weather today is sunny with a light breeze from the west, and it will stay that way until the evening.",
    ];
    println!(
        "{:>4} {:>5} {:>5} {:>9} {:>12} {:>9} {:>9} {:>10}",
        "L", "F", "G", "frontend", "enc", "dec/step", "vocoder", "merge+post"
    );
    let cancel = Cancel::new().unwrap();
    for text in texts {
        let t0 = Instant::now();
        let tokens = model.frontend().tokens(text).unwrap();
        let frontend = t0.elapsed();
        let mut trace = model.generate(&prompt, &tokens, &SynthParams::default(), 1, Width::Wide, &cancel).unwrap();
        for _ in 1..runs {
            trace = model.generate(&prompt, &tokens, &SynthParams::default(), 1, Width::Wide, &cancel).unwrap();
        }
        let t = &trace.timings;
        let per_step = t.decoder_steps.iter().map(|d| ms(*d)).sum::<f64>() / t.decoder_steps.len() as f64;
        println!(
            "{:>4} {:>5} {:>5} {:>7.2}ms {:>10.2}ms {:>7.2}ms {:>7.2}ms {:>8.2}ms",
            tokens.len(),
            trace.total_frames,
            trace.total_frames - prompt.frames,
            ms(frontend),
            ms(t.text_encoder),
            per_step,
            ms(t.vocoder),
            ms(t.merge)
        );
    }
}
