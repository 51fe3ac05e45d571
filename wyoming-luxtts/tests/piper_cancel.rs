//! Stopping a Piper synthesis part-way through its one ONNX Runtime run (`onnx::Cancel`), as the server does
//! when a client leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};
use wyoming_luxtts::engine::{SynthError, Voice};
use wyoming_luxtts::onnx::{Cancel, Device, SessionOptions, Width};
use wyoming_luxtts::piper::{PiperVoice, ScaleOverrides};
use wyoming_luxtts::text::espeak;
use wyoming_tests::provisioned;

/// One sentence of about 240 characters without a clause mark: one run of about 15 s of audio, over a second
/// of one core.
const LONG_SENTENCE: &str = "The old lighthouse keeper walked slowly along the narrow path above the sea and \
    looked out over the grey water where the fishing boats were coming home one after another in the fading \
    light of a long and quiet autumn evening by the shore.";

#[test]
fn a_cancelled_synthesis_stops_mid_run_and_the_voice_still_works() {
    let (Some(voice), Some(ort)) = (provisioned("WYOMING_TEST_PIPER_VOICE"), provisioned("ORT_DYLIB_PATH")) else {
        return;
    };
    espeak::init(None).unwrap();
    let env = wyoming_luxtts::onnx::runtime(&ort).unwrap();
    let voice = Arc::new(
        PiperVoice::load(
            env,
            &voice,
            SessionOptions { device: Device::Cpu, intra_threads: 1 },
            // Noise off, so that two runs give the same audio.
            ScaleOverrides { noise_scale: Some(0.0), noise_w: Some(0.0), length_scale: None },
        )
        .unwrap(),
    );
    assert_eq!(voice.phoneme_ids(LONG_SENTENCE).unwrap().len(), 1, "one sentence, so one run");

    // How long the run takes when it is left alone. With one thread, the wide session (opened at load, so
    // not timed here) is a one-thread one.
    let started = Instant::now();
    let whole = voice.synthesize(LONG_SENTENCE, None, Width::Wide, &Cancel::new().unwrap()).unwrap();
    let alone = started.elapsed();
    eprintln!("{:.1} s of audio in {alone:?}", whole.len() as f64 / 22_050.0);
    assert!(alone > Duration::from_millis(400), "the run is too short to stop part-way: {alone:?}");

    // Cancelled a fifth of the way in, it returns Cancelled (it would return the audio if it ran to the end).
    let cancel = Cancel::new().unwrap();
    let running = {
        let (voice, cancel) = (voice.clone(), cancel.clone());
        std::thread::spawn(move || voice.synthesize(LONG_SENTENCE, None, Width::Wide, &cancel))
    };
    std::thread::sleep(alone / 5);
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = running.join().unwrap();
    eprintln!("stopped {:?} after the cancel (the whole run: {alone:?})", cancelled_at.elapsed());
    assert!(matches!(result, Err(SynthError::Cancelled)), "{:?}", result.map(|a| a.len()));

    // Once cancelled, a request's later runs do not start.
    assert!(matches!(voice.synthesize("Hello.", None, Width::Wide, &cancel), Err(SynthError::Cancelled)));
    // The session that was stopped serves the next request, with the same audio as before.
    let again = voice.synthesize(LONG_SENTENCE, None, Width::Wide, &Cancel::new().unwrap()).unwrap();
    assert!(again == whole, "the audio after a cancelled run differs");
}
