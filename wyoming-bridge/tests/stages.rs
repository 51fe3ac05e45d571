//! Pipeline stages against real peers: Silero turn detection on real speech, and the TTS client against our
//! TTS server with and without streaming.

mod common;

use common::rig::sibling;
use std::sync::Arc;
use std::time::Duration;
use wyoming_bridge::listen::{Heard, ListenConfig, Listener};
use wyoming_bridge::speak::{Speaker, Spoken};
use wyoming_proto::audio::{AudioConverter, AudioFormat};
use wyoming_tests::*;

/// `text` spoken by piper-tts, at 48 kHz.
fn speech_48k(python: &std::path::Path, text: &str) -> Vec<i16> {
    let dir = tempfile::tempdir().unwrap();
    let wav = synthesize_speech(python, &[text], dir.path()).unwrap().remove(0);
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let spec = reader.spec();
    let pcm: Vec<u8> = reader.samples::<i16>().flat_map(|s| s.unwrap().to_le_bytes()).collect();
    let mut converter = AudioConverter::new(AudioFormat { rate: 48_000, width: 2, channels: 1 });
    let mut out =
        converter.convert(AudioFormat { rate: spec.sample_rate, width: 2, channels: spec.channels }, &pcm).unwrap();
    out.extend(converter.finish());
    out.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

#[test]
fn silero_finds_one_utterance_in_real_speech() {
    let (Some(python), Some(model)) = (python(), provisioned("WYOMING_TEST_SILERO_VAD")) else {
        return;
    };
    // The native network, as the bridge runs it.
    let silero = Arc::new(wyoming_proto::vad::silero::SileroModel::load(&model).unwrap());
    let speech = speech_48k(&python, "Please turn on the lights in the kitchen.");
    let mut pcm = vec![0i16; 48_000];
    pcm.extend(&speech);
    pcm.extend(vec![0i16; 48_000]);
    let mut listener = Listener::new(ListenConfig::default(), Some(silero));
    let heard: Vec<Heard> = pcm.chunks(960).flat_map(|frame| listener.push(frame).unwrap()).collect();
    let starts = heard.iter().filter(|h| **h == Heard::SpeechStarted).count();
    let ends: Vec<u32> = heard
        .iter()
        .filter_map(|h| if let Heard::SpeechEnded { speech_ms, .. } = h { Some(*speech_ms) } else { None })
        .collect();
    let audio_ms: usize = heard.iter().map(|h| if let Heard::Audio(a) = h { a.len() / 32 } else { 0 }).sum();
    let spoken_ms = (speech.len() / 48) as u32;
    eprintln!("speech {spoken_ms} ms: starts {starts}, ends {ends:?}, {audio_ms} ms of audio for STT");
    assert_eq!(starts, 1);
    assert_eq!(ends.len(), 1);
    // Everything between the first and the last voiced window, give or take Silero's windows and piper's
    // leading and trailing silence.
    assert!(ends[0] + 600 >= spoken_ms && ends[0] <= spoken_ms + 300, "{} vs {spoken_ms}", ends[0]);
}

async fn speak_through(tts: &std::path::Path, voice: &std::path::Path, streaming: bool) -> usize {
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let mut command = std::process::Command::new(tts);
    command.arg("--voice").arg(voice).args(["--uri", &uri]).stderr(std::process::Stdio::null());
    if !streaming {
        command.arg("--no-streaming");
    }
    let _server = ChildGuard(command.spawn().unwrap());
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    let mut speaker = Speaker::start(uri.parse().unwrap(), None, true);
    speaker.say("Hello there.".into());
    speaker.say("This is the second phrase.".into());
    speaker.finish();
    let mut samples = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), speaker.audio.recv()).await.unwrap() {
            Some(Ok(Spoken::Audio(pcm))) => samples += pcm.len(),
            Some(Ok(Spoken::Done)) => return samples,
            Some(Err(e)) => panic!("{e}"),
            None => panic!("the speaker ended without Done"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tts_client_streams_and_falls_back_to_one_request_per_phrase() {
    let (Some(voice), Some(_)) = (provisioned("WYOMING_TEST_PIPER_VOICE"), provisioned("ORT_DYLIB_PATH")) else {
        return;
    };
    let Some(tts) = sibling("wyoming-luxtts") else { return };
    let streamed = speak_through(&tts, &voice, true).await;
    let plain = speak_through(&tts, &voice, false).await;
    eprintln!("streamed {streamed} samples, per phrase {plain} samples (48 kHz)");
    // Both say the two phrases: well over a second of 48 kHz audio each, and about the same length.
    assert!(streamed > 48_000 && plain > 48_000);
    let ratio = streamed as f64 / plain as f64;
    assert!((0.8..1.25).contains(&ratio), "{streamed} vs {plain}");
}

/// A TTS server that answers `describe` and then never says anything again (a hung GPU, say): the speaker
/// gives up with an error instead of holding the turn forever. Tokio's clock is paused, so the minute-long
/// stall limit passes at once.
#[tokio::test(start_paused = true)]
async fn a_tts_server_that_hangs_after_the_text_fails_the_reply() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("tcp://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        lines.next_line().await.unwrap(); // describe
        write.write_all(b"{\"type\": \"info\", \"data\": {}}\n").await.unwrap();
        while let Ok(Some(_)) = lines.next_line().await {} // takes the text, answers nothing
    });
    let mut speaker = Speaker::start(uri.parse().unwrap(), None, true);
    speaker.say("Hello there.".into());
    speaker.finish();
    let outcome = tokio::time::timeout(Duration::from_secs(600), speaker.audio.recv()).await;
    match outcome.expect("the speaker waited for ever") {
        Some(Err(e)) => assert!(e.to_string().contains("the next audio"), "{e}"),
        other => panic!("expected an error, got {other:?}"),
    }
}
