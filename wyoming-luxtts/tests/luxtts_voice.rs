//! LuxTTS voices end to end on the random-weight stand-in graphs: `load_voices` (transcription by a Wyoming
//! STT server, the prompt cache and its staleness checks), the `Voice` contract, and start-up errors.

mod luxtts_common;

use luxtts_common::{fixture, write_reference_wav};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wyoming_luxtts::cli::CloneSpec;
use wyoming_luxtts::luxtts::{self, LuxConfig};
use wyoming_luxtts::onnx::{Cancel, Device, SessionOptions, Width};
use wyoming_proto::codec::Limits;
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Transcript};
use wyoming_proto::transport::Listener;
use wyoming_proto::uri::WyomingUri;

/// What the fake STT server saw.
#[derive(Default)]
struct SttLog {
    requests: AtomicUsize,
    audio_bytes: AtomicUsize,
    rate: AtomicUsize,
}

/// A Wyoming STT server that answers every utterance with `text`.
async fn fake_stt(text: &'static str) -> (WyomingUri, Arc<SttLog>) {
    let mut listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).await.unwrap();
    let uri = listener.local_uri();
    let log = Arc::new(SttLog::default());
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(stream)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut conn = Connection::new(stream, Limits::default());
                while let Ok(Some(event)) = conn.read_event().await {
                    match event {
                        Event::AudioStart(start) => seen.rate.store(start.format.rate as usize, Ordering::SeqCst),
                        Event::AudioChunk(chunk) => {
                            seen.audio_bytes.fetch_add(chunk.audio.len(), Ordering::SeqCst);
                        }
                        Event::AudioStop(_) => {
                            seen.requests.fetch_add(1, Ordering::SeqCst);
                            conn.write_event(&Event::Transcript(Transcript::new(text))).await.unwrap();
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (uri, log)
}

fn config(model_dir: &Path, cache_dir: &Path, stt: WyomingUri, ref_duration: f32) -> LuxConfig {
    LuxConfig {
        model_dir: model_dir.to_path_buf(),
        num_steps: 4,
        guidance_scale: 3.0,
        t_shift: 0.5,
        speed: 1.0,
        ref_duration,
        seed: Some(11),
        cache_dir: cache_dir.to_path_buf(),
        stt_uri: stt,
        session: SessionOptions { device: Device::Cpu, intra_threads: 1 },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voices_are_transcribed_cached_and_synthesise() {
    let Some(fx) = fixture() else { return };
    let env = wyoming_luxtts::onnx::runtime(&fx.onnxruntime).unwrap();
    let wav = fx.dir.path().join("ref.wav");
    write_reference_wav(&wav, 4.0, 0.05);
    let cache = fx.dir.path().join("cache");
    let (stt, log) = fake_stt("Testing, one two three.").await;
    let spec = || vec![CloneSpec { name: "ann".into(), reference: wav.clone(), transcript: None }];

    // First load: the transcript comes from STT, over the kept 3 s at 16 kHz 16-bit.
    let voices =
        luxtts::load_voices(env.clone(), config(&fx.model_dir(), &cache, stt.clone(), 3.0), spec()).await.unwrap();
    assert_eq!(log.requests.load(Ordering::SeqCst), 1);
    assert_eq!(log.rate.load(Ordering::SeqCst), 16_000);
    assert_eq!(log.audio_bytes.load(Ordering::SeqCst), 3 * 16_000 * 2);
    assert!(cache.join("ann.luxtts.json").is_file());
    let voice = voices[0].clone();
    assert_eq!(voice.name(), "ann");
    assert_eq!(voice.sample_rate(), 48_000);
    assert_eq!(voice.describe().languages, ["en_US"]);
    assert_eq!(voice.speaker(None).unwrap(), None);
    assert_eq!(voice.speaker(Some("bob")).unwrap(), None, "a speaker is accepted and ignored");

    // The Voice contract: 48 kHz samples in [-1, 1], reproducible with a fixed seed, nothing for nothing.
    let audio = tokio::task::spawn_blocking({
        let voice = voice.clone();
        move || {
            (
                voice.synthesize("Hello there, how are you?", None, Width::Wide, &Cancel::new().unwrap()).unwrap(),
                voice.synthesize("Hello there, how are you?", None, Width::Wide, &Cancel::new().unwrap()).unwrap(),
            )
        }
    })
    .await
    .unwrap();
    assert!(!audio.0.is_empty() && audio.0.len().is_multiple_of(512));
    assert!(audio.0.iter().all(|s| (-1.0..=1.0).contains(s)));
    assert_eq!(audio.0, audio.1, "--seed makes synthesis reproducible");
    let frontend = luxtts::frontend::Frontend::load(&fx.model_dir().join("tokens.txt")).unwrap();
    let numbers: Vec<String> = (1..26).map(|i| (1_000_003 * i).to_string()).collect();
    let long_text = numbers.join(" ");
    let long_tokens = frontend.tokens(&long_text).unwrap().len();
    assert!(long_tokens > luxtts::MAX_PASS_TOKENS, "{long_tokens} tokens");
    let (silent, long, cancelled) = tokio::task::spawn_blocking(move || {
        // Numbers without punctuation normalise to more tokens than one pass takes: several bounded passes.
        let cancelled = Cancel::new().unwrap();
        cancelled.cancel();
        (
            voice.synthesize("  ** ", None, Width::Wide, &Cancel::new().unwrap()).unwrap(),
            voice.synthesize(&long_text, None, Width::Wide, &Cancel::new().unwrap()).unwrap(),
            // A request whose client has gone runs none of the three graphs.
            voice.synthesize("Hello there.", None, Width::Wide, &cancelled),
        )
    })
    .await
    .unwrap();
    assert!(matches!(cancelled, Err(wyoming_luxtts::engine::SynthError::Cancelled)), "{cancelled:?}");
    assert!(silent.is_empty());
    assert!(long.len() > 48_000 && long.iter().all(|s| (-1.0..=1.0).contains(s)));

    // Second load with the same settings: from the cache, no STT request.
    luxtts::load_voices(env.clone(), config(&fx.model_dir(), &cache, stt.clone(), 3.0), spec()).await.unwrap();
    assert_eq!(log.requests.load(Ordering::SeqCst), 1, "the cached prompt is reused");

    // Another ref_duration makes the cache stale: encoded (and transcribed) again.
    luxtts::load_voices(env.clone(), config(&fx.model_dir(), &cache, stt.clone(), 2.5), spec()).await.unwrap();
    assert_eq!(log.requests.load(Ordering::SeqCst), 2, "a stale cache is re-encoded");

    // A transcript on the command line needs no STT at all, even when the server is unreachable.
    let dead: WyomingUri = format!("tcp://127.0.0.1:{}", wyoming_tests::free_port()).parse().unwrap();
    let given = vec![CloneSpec {
        name: "ann".into(),
        reference: wav.clone(),
        transcript: Some("Testing, one two three.".into()),
    }];
    luxtts::load_voices(env.clone(), config(&fx.model_dir(), &cache, dead.clone(), 3.0), given).await.unwrap();
    assert_eq!(log.requests.load(Ordering::SeqCst), 2);

    // Without a transcript and without a reachable STT server, the error says what to do.
    let other_cache = fx.dir.path().join("cache2");
    let err = luxtts::load_voices(env, config(&fx.model_dir(), &other_cache, dead, 3.0), spec()).await.err().unwrap();
    assert!(format!("{err:#}").contains("--voice-transcript ann="), "{err:#}");
}

#[tokio::test]
async fn an_incomplete_model_directory_is_a_clear_error() {
    let Some(fx) = fixture() else { return };
    let env = wyoming_luxtts::onnx::runtime(&fx.onnxruntime).unwrap();
    std::fs::remove_file(fx.model_dir().join("vocos.onnx")).unwrap();
    let stt: WyomingUri = "tcp://127.0.0.1:1".parse().unwrap();
    let spec = vec![CloneSpec { name: "ann".into(), reference: fx.dir.path().join("x.wav"), transcript: None }];
    let err = luxtts::load_voices(env, config(&fx.model_dir(), fx.dir.path(), stt, 5.0), spec).await.err().unwrap();
    let message = format!("{err:#}");
    assert!(message.contains("missing vocos.onnx"), "{message}");
}

#[tokio::test]
async fn corrupt_or_wrong_graphs_are_clear_errors() {
    let Some(fx) = fixture() else { return };
    let env = wyoming_luxtts::onnx::runtime(&fx.onnxruntime).unwrap();
    let stt: WyomingUri = "tcp://127.0.0.1:1".parse().unwrap();
    let spec = || vec![CloneSpec { name: "ann".into(), reference: fx.dir.path().join("x.wav"), transcript: None }];
    let dir = fx.model_dir();

    // A graph with other inputs and outputs in the vocoder's place.
    std::fs::copy(dir.join("text_encoder.onnx"), dir.join("vocos.onnx")).unwrap();
    let err =
        luxtts::load_voices(env.clone(), config(&dir, fx.dir.path(), stt.clone(), 5.0), spec()).await.err().unwrap();
    let message = format!("{err:#}");
    assert!(message.contains("vocos.onnx is not the expected graph") && message.contains("audio_48k"), "{message}");

    // A truncated decoder.
    std::fs::write(dir.join("fm_decoder.onnx"), b"not a model").unwrap();
    let err = luxtts::load_voices(env, config(&dir, fx.dir.path(), stt, 5.0), spec()).await.err().unwrap();
    let message = format!("{err:#}");
    assert!(message.contains("cannot open ONNX model") && message.contains("fm_decoder.onnx"), "{message}");
}
