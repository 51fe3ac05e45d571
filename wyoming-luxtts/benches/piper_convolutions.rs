//! Our convolutions against ONNX Runtime's own, on a real Piper voice: `cargo bench -p wyoming-luxtts --bench
//! piper_convolutions` (after `make setup`, with `~/.cache/wyoming-rs/env` loaded).
//!
//! The joe voice synthesises the TTS benchmark's six replies (noise off, so every layout computes the same
//! audio) in sessions opened as the server opens them: with the graph as published (`AsIs`, ONNX Runtime's
//! convolutions), with only the 2-D rewrite (`Conv2dOnly`, how the server ran one-thread sessions before our
//! kernels; the same as published on two threads) and as the server runs it now (`FastConvolutions`: our
//! Winograd kernels, and 2-D convolutions on one thread), on one thread (as beside other requests) and on
//! all cores (as for a lone request). Rounds alternate between the layouts; the table gives the median time
//! per round and our ratio to each.

use ort::session::Session;
use ort::session::builder::PrepackedWeights;
use ort::value::Tensor;
use std::path::PathBuf;
use std::time::Instant;
use wyoming_luxtts::onnx::{self, Device, Graph, SessionOptions, Width};
use wyoming_luxtts::piper::{PiperVoice, ScaleOverrides};
use wyoming_luxtts::text::espeak;

const REPLIES: [&str; 6] = [
    "Sure, I can help with that. The kitchen lights are now on, and the thermostat is set to twenty degrees.",
    "Good morning! Today will be mostly sunny, with a high of eighteen degrees and a light breeze from the west.",
    "Of course. I've added milk, eggs and bread to your shopping list. Is there anything else you need?",
    "Here's a quick tip: boil the pasta in plenty of salted water, and stir it during the first minute.",
    "The next train to the city leaves at seven fifteen from platform two. It takes about forty minutes.",
    "Okay, your timer is set for ten minutes. I'll let you know when it's done.",
];
const ROUNDS: usize = 7;

fn main() {
    let (Some(ort), Some(voice)) = (std::env::var_os("ORT_DYLIB_PATH"), std::env::var_os("WYOMING_TEST_PIPER_VOICE"))
    else {
        eprintln!(
            "skipped: run `make setup` and load ~/.cache/wyoming-rs/env (ORT_DYLIB_PATH, WYOMING_TEST_PIPER_VOICE)"
        );
        return;
    };
    let espeak_data = std::env::var_os("WYOMING_RS_ESPEAK_DATA").map(|d| PathBuf::from(d).join("espeak-ng-data"));
    espeak::init(espeak_data.as_deref()).expect("espeak-ng");
    let env = onnx::runtime(&PathBuf::from(ort)).expect("ONNX Runtime");
    let voice = PathBuf::from(voice);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let options = SessionOptions { device: Device::Cpu, intra_threads: threads };
    let piper = PiperVoice::load(env.clone(), &voice, options.clone(), ScaleOverrides::default()).expect("voice");
    let sentences: Vec<Vec<i64>> = REPLIES.iter().flat_map(|r| piper.phoneme_ids(r).expect("phonemes")).collect();
    let prepacked = PrepackedWeights::new();
    let layouts = [Graph::AsIs, Graph::Conv2dOnly, Graph::FastConvolutions];
    println!("Piper convolutions, joe-medium, {} sentences, noise off, median of {ROUNDS} rounds", sentences.len());
    println!("| threads | as published (ms) | 2-D only (ms) | ours (ms) | ours / published | ours / 2-D |");
    println!("|---|---|---|---|---|---|");
    for width in [Width::Narrow, Width::Wide] {
        let mut sessions: Vec<Session> = layouts
            .iter()
            .map(|graph| onnx::open(&env, &voice, &options, *graph, width, &prepacked).expect("session"))
            .collect();
        let mut times = vec![Vec::new(); layouts.len()];
        for round in 0..=ROUNDS {
            for (i, session) in sessions.iter_mut().enumerate() {
                let started = Instant::now();
                for ids in &sentences {
                    std::hint::black_box(synthesize(session, ids));
                }
                // The first round warms the sessions' arenas up and is not counted.
                if round > 0 {
                    times[i].push(started.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        let median = |t: &mut Vec<f64>| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        };
        let [published, two_d, ours] = [0, 1, 2].map(|i| median(&mut times[i]));
        let n = if width == Width::Narrow { 1 } else { threads };
        println!("| {n} | {published:.0} | {two_d:.0} | {ours:.0} | {:.2} | {:.2} |", ours / published, ours / two_d);
    }
}

fn synthesize(session: &mut Session, ids: &[i64]) -> usize {
    let input = Tensor::from_array((vec![1_i64, ids.len() as i64], ids.to_vec())).unwrap();
    let lengths = Tensor::from_array((vec![1_i64], vec![ids.len() as i64])).unwrap();
    let scales = Tensor::from_array((vec![3_i64], vec![0.0f32, 1.0, 0.0])).unwrap();
    let outputs = session.run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales]).unwrap();
    outputs[0].try_extract_tensor::<f32>().unwrap().1.len()
}
