//! Silero VAD on real (synthesised) speech: the native network and the endpointer on its output, and the
//! native network against ONNX Runtime.

use std::path::Path;
use wyoming_proto::audio::{AudioConverter, AudioFormat, pcm_to_f32};
use wyoming_proto::vad::silero::{SileroModel, SileroStream};
use wyoming_proto::vad::{EndpointConfig, Endpointer, VadEvent};
use wyoming_tests::{provisioned, python, synthesize_speech};

/// "Turn on the lights in the hallway." from piper-tts, as 16 kHz samples.
fn hallway(python: &Path) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let wav = &synthesize_speech(python, &["Turn on the lights in the hallway."], dir.path()).unwrap()[0];
    let reader = hound::WavReader::open(wav).unwrap();
    let pcm: Vec<u8> = reader.into_samples::<i16>().flat_map(|s| s.unwrap().to_le_bytes()).collect();
    let pcm = AudioConverter::convert_clip(AudioFormat::new(22_050, 2, 1), &pcm, AudioFormat::WHISPER).unwrap();
    pcm_to_f32(&pcm, 2).unwrap()
}

#[test]
fn finds_speech_and_the_end_of_the_turn() {
    let (Some(python), Some(model), Some(_)) =
        (python(), provisioned("WYOMING_TEST_SILERO_VAD"), provisioned("WYOMING_TEST_PIPER_VOICE"))
    else {
        return;
    };
    let speech = hallway(&python);
    let mut signal = vec![0.0f32; 16_000];
    signal.extend(&speech);
    signal.extend(vec![0.0f32; 16_000]);

    // The native network, as the servers run it (checked against ONNX Runtime below).
    let model = SileroModel::load(&model).unwrap();
    let mut stream = SileroStream::new();
    let mut endpointer = Endpointer::new(EndpointConfig::default());
    let mut events = Vec::new();
    // In uneven pieces, as audio chunks arrive.
    for piece in signal.chunks(700) {
        for p in stream.push(&model, piece).unwrap() {
            events.extend(endpointer.push(p));
        }
    }
    println!("{events:?}");
    let Some(VadEvent::SpeechStarted { at }) = events.first().copied() else { panic!("no speech found: {events:?}") };
    assert!((15_000..20_000).contains(&at), "speech starts near 1 s, found {at}");
    let end = 16_000 + speech.len();
    let Some(VadEvent::TurnEnded { speech_end, at }) = events.last().copied() else { panic!("no end: {events:?}") };
    assert!(speech_end + 8_000 > end && speech_end <= end + 4_000, "speech ends near {end}, found {speech_end}");
    assert!(at >= speech_end + 4_800);
}

/// One second of silence, a sentence, white noise, a clipped loud tone, one second of silence.
fn mixed_signal(python: &Path) -> Vec<f32> {
    let mut signal = vec![0.0f32; 16_000];
    signal.extend(hallway(python));
    let mut seed = 1u32;
    signal.extend((0..8_000).map(|_| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1
    }));
    signal.extend((0..8_000).map(|i| ((i as f32 * 0.05).sin() * 3.0).clamp(-1.0, 1.0)));
    signal.extend(vec![0.0f32; 16_000]);
    signal
}

#[test]
fn the_native_network_matches_onnx_runtime() {
    let (Some(python), Some(library), Some(model), Some(_)) = (
        python(),
        provisioned("ORT_DYLIB_PATH"),
        provisioned("WYOMING_TEST_SILERO_VAD"),
        provisioned("WYOMING_TEST_PIPER_VOICE"),
    ) else {
        return;
    };
    let signal = mixed_signal(&python);
    let (onnx, native) = (SileroModel::open(&library, &model).unwrap(), SileroModel::load(&model).unwrap());
    let (mut a, mut b) = (SileroStream::new(), SileroStream::new());
    let mut worst = 0f32;
    let mut windows = 0;
    for piece in signal.chunks(1_000) {
        let (pa, pb) = (a.push(&onnx, piece).unwrap(), b.push(&native, piece).unwrap());
        assert_eq!(pa.len(), pb.len());
        for (x, y) in pa.iter().zip(&pb) {
            worst = worst.max((x - y).abs());
            windows += 1;
        }
    }
    println!("{windows} windows, max |ONNX Runtime - native| = {worst:e}");
    assert!(windows > 100);
    assert!(worst < 1e-4, "native Silero differs from ONNX Runtime by {worst}");
}

#[test]
fn missing_files_are_clear_errors() {
    if let Some(model) = provisioned("WYOMING_TEST_SILERO_VAD") {
        let err = SileroModel::load(Path::new("/nonexistent/silero.onnx")).err().unwrap().to_string();
        assert!(err.contains("/nonexistent/silero.onnx"), "{err}");
        // Not a Silero model: a clear error, not a panic.
        let err = SileroModel::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml").as_path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("Cargo.toml"), "{err}");
        assert!(SileroModel::load(&model).is_ok());
    }
    let Some(library) = provisioned("ORT_DYLIB_PATH") else { return };
    let err = SileroModel::open(&library, Path::new("/nonexistent/silero.onnx")).err().unwrap().to_string();
    assert!(err.contains("/nonexistent/silero.onnx"), "{err}");
}
