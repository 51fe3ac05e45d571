//! The TTS server with the LuxTTS engine on the random-weight stand-in graphs, driven as Home Assistant
//! drives it: `describe`, plain `synthesize`, and the streaming synthesize-start/-chunk/-stop sequence with
//! audio leaving before `synthesize-stop`. (The audio is noise from random weights; what is tested is the
//! server: 48 kHz format, event order, streaming.)

mod luxtts_common;

use luxtts_common::{Fixture, fixture, write_reference_wav};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::*;
use wyoming_proto::uri::WyomingUri;
use wyoming_tests::{ChildGuard, free_port, wait_for_port};

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-luxtts");
const LUX: AudioFormat = AudioFormat { rate: 48_000, width: 2, channels: 1 };

struct Server {
    _child: ChildGuard,
    uri: WyomingUri,
}

async fn start(fx: &Fixture) -> Server {
    let wav = fx.dir.path().join("ref.wav");
    write_reference_wav(&wav, 3.0, 0.05);
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .arg("--model")
        .arg(fx.model_dir())
        .arg("--voice")
        .arg(format!("ref={}", wav.display()))
        .args(["--voice-transcript", "ref=The quick brown fox jumps over the lazy dog."])
        .arg("--data-dir")
        .arg(fx.dir.path())
        .args(["--seed", "3", "--uri", &uri])
        .env("ORT_DYLIB_PATH", &fx.onnxruntime)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = ChildGuard(child);
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    Server { _child: child, uri: uri.parse().unwrap() }
}

async fn until(client: &mut Client, last: &str) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = client.recv().await.unwrap().unwrap_or_else(|| panic!("closed before {last}: {events:?}"));
        if let Event::Error(e) = &event {
            panic!("error event: {e:?}");
        }
        let done = event.event_type() == last;
        events.push(event);
        if done {
            return events;
        }
    }
}

/// Checks audio-start, audio-chunk+ at 48 kHz 16-bit mono, audio-stop; returns the PCM.
fn one_cycle(events: &[Event]) -> Vec<u8> {
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(types.first(), Some(&"audio-start"), "{types:?}");
    assert_eq!(types.last(), Some(&"audio-stop"), "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "audio-start").count(), 1, "{types:?}");
    let mut pcm = Vec::new();
    for event in events {
        match event {
            Event::AudioStart(start) => assert_eq!(start.format, LUX),
            Event::AudioChunk(chunk) => {
                assert_eq!(chunk.format, LUX);
                pcm.extend_from_slice(&chunk.audio);
            }
            _ => {}
        }
    }
    // At least the minimum of 30 frames (512 samples each at 48 kHz) per phrase.
    assert!(pcm.len() >= 2 * 30 * 512, "{} bytes", pcm.len());
    pcm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_sequences_against_the_luxtts_engine() {
    let Some(fx) = fixture() else { return };
    let server = start(&fx).await;
    let mut client = Client::connect(&server.uri, ClientOptions::default()).await.unwrap();
    let info = client.describe().await.unwrap();
    let program = &info.tts[0];
    assert_eq!(program.artifact.name, "luxtts");
    assert!(program.supports_synthesize_streaming);
    assert_eq!(program.voices[0].artifact.name, "ref");
    assert_eq!(program.voices[0].languages, ["en_US"]);

    // Plain synthesize, as Home Assistant sends without streaming.
    client
        .send(&Event::Synthesize(Synthesize { text: "Hello world. How are you?".into(), ..Default::default() }))
        .await
        .unwrap();
    one_cycle(&until(&mut client, "audio-stop").await);

    // Streaming: one audio cycle, then synthesize-stopped.
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    for text in ["Hello world. ", "How are", " you today?"] {
        client
            .send(&Event::SynthesizeChunk(SynthesizeChunk { text: text.into(), ..Default::default() }))
            .await
            .unwrap();
    }
    client
        .send(&Event::Synthesize(Synthesize { text: "Hello world. How are you today?".into(), ..Default::default() }))
        .await
        .unwrap();
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    let events = until(&mut client, "synthesize-stopped").await;
    one_cycle(&events[..events.len() - 1]);

    // Text only in a script this engine does not speak is an error, not an empty cycle.
    let mut client = Client::connect(&server.uri, ClientOptions::default()).await.unwrap();
    client.send(&Event::Synthesize(Synthesize { text: "你好，世界。".into(), ..Default::default() })).await.unwrap();
    match client.recv().await.unwrap() {
        Some(Event::Error(e)) => assert_eq!(e.code.as_deref(), Some("EmptyText"), "{e:?}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_text_gets_audio_before_synthesize_stop() {
    let Some(fx) = fixture() else { return };
    let server = start(&fx).await;
    let client = Client::connect(&server.uri, ClientOptions::default()).await.unwrap();
    let (mut reader, writer) = client.into_connection().into_split();
    writer.write_event(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    let started = Instant::now();
    for chunk in ["Sure, I can ", "help with that. ", "The weather is ", "sunny today."] {
        writer
            .write_event(&Event::SynthesizeChunk(SynthesizeChunk { text: chunk.into(), ..Default::default() }))
            .await
            .unwrap();
    }
    let first_audio = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match reader.read_event().await.unwrap() {
                Some(Event::AudioStart(start)) => assert_eq!(start.format, LUX),
                Some(Event::AudioChunk(_)) => return started.elapsed(),
                Some(Event::Error(e)) => panic!("{e:?}"),
                Some(_) => {}
                None => panic!("closed"),
            }
        }
    })
    .await
    .expect("the first sentence's audio leaves before synthesize-stop is sent");
    eprintln!("first audio after {first_audio:?}, before synthesize-stop");
    writer.write_event(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    loop {
        match reader.read_event().await.unwrap() {
            Some(Event::SynthesizeStopped(_)) => break,
            Some(Event::Error(e)) => panic!("{e:?}"),
            Some(_) => {}
            None => panic!("closed before synthesize-stopped"),
        }
    }
}
