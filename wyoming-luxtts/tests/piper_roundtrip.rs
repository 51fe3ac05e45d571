//! Round trip: 20 sentences synthesised by our TTS server with the joe Piper voice are transcribed by our STT
//! server (wyoming-whisper-gpu, Whisper tiny.en); the word error rate must be at most 10%.
//!
//! The STT binary is found next to ours in the target directory; `cargo test --workspace` (what `make test`
//! runs) builds it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::*;
use wyoming_proto::uri::WyomingUri;
use wyoming_tests::*;

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-luxtts");

/// Written for this test (none was used while developing the engine).
const SENTENCES: &[&str] = &[
    "The train to the city leaves at seven.",
    "Please bring me a glass of cold water.",
    "My sister lives in a small house by the river.",
    "Turn the music down a little.",
    "We should plant more trees in the garden.",
    "The library closes early on Sundays.",
    "Can you check if the oven is still on?",
    "He forgot his umbrella at the office.",
    "The cat is sleeping on the sofa.",
    "Send the report to the whole team.",
    "It was the best holiday we ever had.",
    "Open the window in the living room.",
    "She paints beautiful pictures of the sea.",
    "The children walked to school together.",
    "How much does a new bicycle cost?",
    "Put the books back on the shelf.",
    "The doctor will see you in a moment.",
    "Our neighbours have a friendly dog.",
    "Tomorrow will be warmer than today.",
    "Thank you for calling, have a nice evening.",
];

async fn start(program: &std::path::Path, args: &[&std::ffi::OsStr]) -> (ChildGuard, WyomingUri) {
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let mut command = Command::new(program);
    command.args(args).args(["--uri", &uri]).stdout(Stdio::null()).stderr(Stdio::null());
    let child = ChildGuard(command.spawn().unwrap());
    wait_for_port(port, Duration::from_secs(120)).await.unwrap();
    (child, uri.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sentences_are_understood_by_whisper() {
    let (Some(voice), Some(_), Some(whisper)) = (
        provisioned("WYOMING_TEST_PIPER_VOICE"),
        provisioned("ORT_DYLIB_PATH"),
        provisioned("WYOMING_TEST_WHISPER_TINY_EN"),
    ) else {
        return;
    };
    let stt_bin = PathBuf::from(BIN).with_file_name("wyoming-whisper-gpu");
    if !stt_bin.exists() {
        assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "{} is not built", stt_bin.display());
        eprintln!("skipped: {} is not built (cargo test --workspace builds it)", stt_bin.display());
        return;
    }
    let (_tts, tts_uri) = start(BIN.as_ref(), &["--voice".as_ref(), voice.as_os_str()]).await;
    let (_stt, stt_uri) = start(&stt_bin, &["--model".as_ref(), whisper.as_os_str()]).await;

    let (mut errors, mut words) = (0, 0);
    for sentence in SENTENCES {
        let mut tts = Client::connect(&tts_uri, ClientOptions::default()).await.unwrap();
        tts.send(&Event::Synthesize(Synthesize { text: sentence.to_string(), ..Default::default() })).await.unwrap();
        let mut format = None;
        let mut pcm = Vec::new();
        loop {
            match tts.recv().await.unwrap().expect("audio before close") {
                Event::AudioStart(start) => format = Some(start.format),
                Event::AudioChunk(chunk) => pcm.extend_from_slice(&chunk.audio),
                Event::AudioStop(_) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        let format: AudioFormat = format.expect("audio-start");
        let mut stt = Client::connect(&stt_uri, ClientOptions::default()).await.unwrap();
        stt.send(&Event::Transcribe(Transcribe { language: Some("en".into()), ..Default::default() })).await.unwrap();
        stt.send(&Event::AudioStart(AudioStart::new(format))).await.unwrap();
        for chunk in pcm.chunks(2048) {
            stt.send(&Event::AudioChunk(AudioChunk::new(format, chunk.to_vec()))).await.unwrap();
        }
        stt.send(&Event::AudioStop(AudioStop::default())).await.unwrap();
        let text = stt.recv_until("transcript", |e| if let Event::Transcript(t) = e { Some(t.text) } else { None });
        let text = text.await.unwrap();
        let (reference, heard) = (normalize_words(sentence), normalize_words(&text));
        let e = word_errors(&reference, &heard);
        if e > 0 {
            eprintln!("{sentence:?} was heard as {text:?} ({e} word errors)");
        }
        errors += e;
        words += reference.len();
    }
    let wer = 100.0 * errors as f64 / words as f64;
    eprintln!("round trip WER: {wer:.1}% ({errors}/{words} words)");
    assert!(wer <= 10.0, "WER {wer:.1}%");
}
