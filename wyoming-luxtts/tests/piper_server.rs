//! The TTS server with the real joe Piper voice, as Home Assistant, wyoming-bench and our bridge use it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::*;
use wyoming_proto::uri::WyomingUri;
use wyoming_tests::*;

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-luxtts");
const VOICE: &str = "en_US-joe-medium";
const JOE: AudioFormat = AudioFormat { rate: 22_050, width: 2, channels: 1 };

struct Server {
    child: ChildGuard,
    uri: WyomingUri,
}

fn voice() -> Option<PathBuf> {
    let (voice, _) = (provisioned("WYOMING_TEST_PIPER_VOICE")?, provisioned("ORT_DYLIB_PATH")?);
    Some(voice)
}

async fn start(voice: &std::path::Path, extra: &[&str]) -> Server {
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .arg("--voice")
        .arg(voice)
        .args(["--uri", &uri])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = ChildGuard(child);
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    Server { child, uri: uri.parse().unwrap() }
}

async fn connect(server: &Server) -> Client {
    Client::connect(&server.uri, ClientOptions::default()).await.unwrap()
}

fn synthesize(text: &str, voice: Option<&str>) -> Event {
    Event::Synthesize(Synthesize {
        text: text.into(),
        voice: voice.map(|name| SynthesizeVoice { name: Some(name.into()), ..Default::default() }),
        ..Default::default()
    })
}

/// Sends each of `chunks` as a `synthesize-chunk`.
async fn send_chunks(client: &mut Client, chunks: impl IntoIterator<Item = impl Into<String>>) {
    for text in chunks {
        let chunk = SynthesizeChunk { text: text.into(), ..Default::default() };
        client.send(&Event::SynthesizeChunk(chunk)).await.unwrap();
    }
}

/// Reads events until `last` (inclusive), failing on an `error` event or end of stream.
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

/// The audio of one cycle: checks the sequence is audio-start, audio-chunk+ (one format), audio-stop.
fn one_cycle(events: &[Event]) -> Vec<u8> {
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(types.iter().filter(|t| **t == "audio-start").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "audio-stop").count(), 1, "{types:?}");
    assert_eq!(types.first(), Some(&"audio-start"), "{types:?}");
    let mut pcm = Vec::new();
    for event in events {
        match event {
            Event::AudioStart(start) => assert_eq!(start.format, JOE),
            Event::AudioChunk(chunk) => {
                assert_eq!(chunk.format, JOE);
                pcm.extend_from_slice(&chunk.audio);
            }
            _ => {}
        }
    }
    assert!(pcm.len() > 22_050, "under half a second of audio");
    pcm
}

fn error_code(event: Option<Event>) -> String {
    match event {
        Some(Event::Error(e)) => e.code.unwrap_or_default(),
        other => panic!("expected an error event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_the_home_assistant_plain_sequence() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let mut client = connect(&server).await;
    let info = client.describe().await.unwrap();
    let program = &info.tts[0];
    assert_eq!(program.artifact.name, "piper");
    assert!(program.supports_synthesize_streaming);
    // The catalogue's voices as wyoming-piper lists them (tests/piper_catalogue.rs), this one among them.
    let joe = program.voices.iter().find(|v| v.artifact.name == VOICE).expect("the voice is listed");
    assert_eq!(joe.languages, ["en_US"]);

    // Home Assistant: synthesize with the voice, read until the first audio-stop. The connection stays open.
    client.send(&synthesize("Hello world. How are you today?", Some(VOICE))).await.unwrap();
    let pcm = one_cycle(&until(&mut client, "audio-stop").await);
    assert!(pcm.len() > 2 * 22_050, "two sentences are over a second");
    // An alias (as wyoming-piper accepts) and no voice at all both give the default voice.
    client.send(&synthesize("Good morning.", Some("en-us-joe-medium"))).await.unwrap();
    one_cycle(&until(&mut client, "audio-stop").await);
    client.send(&synthesize("Good morning.", None)).await.unwrap();
    one_cycle(&until(&mut client, "audio-stop").await);
    assert_eq!(client.describe().await.unwrap(), info);
}

/// Runs of at least `min` zero samples in 16-bit PCM.
fn silent_runs(pcm: &[u8], min: usize) -> usize {
    let (mut runs, mut run) = (0, 0);
    for sample in pcm.chunks_exact(2) {
        run = if sample == [0, 0] { run + 1 } else { 0 };
        runs += usize::from(run == min);
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentence_silence_goes_between_sentences_not_after_the_first_clause() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &["--sentence-silence", "0.4"]).await;
    let mut client = connect(&server).await;
    // Three phrases: "Sure," (cut at the clause), "I can help with that.", "Thanks."
    client.send(&synthesize("Sure, I can help with that. Thanks.", None)).await.unwrap();
    let pcm = one_cycle(&until(&mut client, "audio-stop").await);
    assert_eq!(silent_runs(&pcm, 22_050 * 4 / 10), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_assistant_streaming_sequence_is_one_cycle_then_stopped() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let mut client = connect(&server).await;
    for _ in 0..2 {
        let voice = Some(SynthesizeVoice { name: Some(VOICE.into()), ..Default::default() });
        client
            .send(&Event::SynthesizeStart(SynthesizeStart { voice: voice.clone(), ..Default::default() }))
            .await
            .unwrap();
        send_chunks(&mut client, ["Hello world. ", "How are", " you today?"]).await;
        // The compatibility copy that Home Assistant sends is ignored inside a stream.
        client.send(&synthesize("Hello world. How are you today?", Some(VOICE))).await.unwrap();
        client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
        let events = until(&mut client, "synthesize-stopped").await;
        let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
        assert_eq!(types[types.len() - 2], "audio-stop", "{types:?}");
        one_cycle(&events[..events.len() - 1]);
    }
    // A stream with nothing speakable: only synthesize-stopped.
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    client
        .send(&Event::SynthesizeChunk(SynthesizeChunk { text: "🎉 ** ".into(), ..Default::default() }))
        .await
        .unwrap();
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    let events = until(&mut client, "synthesize-stopped").await;
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_llm_text_gets_audio_before_synthesize_stop() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let (mut reader, writer) = connect(&server).await.into_connection().into_split();
    let reply = "Sure, I can help with that. The weather today is sunny with a light breeze. Have a great day!";
    let words: Vec<&str> = reply.split_inclusive(' ').collect();
    writer.write_event(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    let started = Instant::now();
    // Three "tokens" per chunk, 40 ms apart, like an LLM stream.
    for chunk in words.chunks(3) {
        writer
            .write_event(&Event::SynthesizeChunk(SynthesizeChunk { text: chunk.concat(), ..Default::default() }))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // synthesize-stop is held back until the first audio arrives (or 30 s pass).
    let first_audio = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match reader.read_event().await.unwrap() {
                Some(Event::AudioChunk(_)) => return started.elapsed(),
                Some(Event::Error(e)) => panic!("{e:?}"),
                Some(_) => {}
                None => panic!("closed"),
            }
        }
    })
    .await
    .expect("the first audio-chunk must leave before synthesize-stop is sent");
    eprintln!("first audio after {first_audio:?}, before synthesize-stop");
    writer.write_event(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    let mut bytes = 0;
    loop {
        match reader.read_event().await.unwrap() {
            Some(Event::AudioChunk(c)) => bytes += c.audio.len(),
            Some(Event::SynthesizeStopped(_)) => break,
            Some(_) => {}
            None => panic!("closed before synthesize-stopped"),
        }
    }
    assert!(bytes > 3 * 2 * 22_050, "the rest of the reply follows: {bytes} bytes");
}

/// All the audio of one request, read until `last`.
async fn audio_until(client: &mut Client, last: &str) -> Vec<u8> {
    let events = until(client, last).await;
    events
        .iter()
        .filter_map(|e| if let Event::AudioChunk(c) = e { Some(c.audio.iter().copied()) } else { None })
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_says_exactly_what_the_same_plain_text_says() {
    let Some(voice) = voice() else { return };
    // Without noise, the same phrases give the same samples. A held "." waits up to 2 s here, so that a slow
    // test client cannot pass for an LLM that paused.
    let server = start(&voice, &["--noise-scale", "0", "--noise-w", "0", "--stream-hold-ms", "2000"]).await;
    let mut client = connect(&server).await;
    client.send(&synthesize("What? No way. Say \"hello\"", None)).await.unwrap();
    let plain = audio_until(&mut client, "audio-stop").await;
    // The "!" continues the question released at the end of the first chunk: it must not be read out as
    // "exclamation" at the start of the next phrase. The last phrase is auto-punctuated inside its quotes.
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    send_chunks(&mut client, ["What?", "! No way.", " Say \"hel", "lo\""]).await;
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    let streamed = audio_until(&mut client, "synthesize-stopped").await;
    assert_eq!(streamed.len(), plain.len(), "streamed {} bytes, plain {}", streamed.len(), plain.len());
    assert!(streamed == plain, "same length, different samples");

    // A tokenizer that writes "." as a token of its own, in the middle of an address or a file name: the word
    // is not cut into two sentences.
    let text = "Send it to john.doe@example.com by Friday. Then open config.yaml now.";
    client.send(&synthesize(text, None)).await.unwrap();
    let plain = audio_until(&mut client, "audio-stop").await;
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    send_chunks(
        &mut client,
        ["Send it to john", ".", "doe@example", ".", "com by Friday.", " Then open config.", "yaml now."],
    )
    .await;
    // The last "." waits for more text only for --stream-hold-ms: its sentence is spoken before
    // synthesize-stop is sent.
    let mut streamed = Vec::new();
    let mut audio_stop = false;
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while streamed.len() < plain.len() {
            match client.recv().await.unwrap() {
                Some(Event::AudioChunk(c)) => streamed.extend_from_slice(&c.audio),
                Some(Event::AudioStop(_)) => audio_stop = true,
                Some(Event::Error(e)) => panic!("{e:?}"),
                Some(_) => {}
                None => panic!("closed"),
            }
        }
    })
    .await;
    assert!(waited.is_ok() && !audio_stop, "the stream's audio did not come before synthesize-stop");
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    streamed.extend(audio_until(&mut client, "synthesize-stopped").await);
    assert!(streamed == plain, "streamed {} bytes, plain {}", streamed.len(), plain.len());
}

/// Inline phonemes (`[[ həˈloʊ ]]`, as piper-tts reads them): spoken as piper-tts speaks them (a line break in a
/// block is a space, as wyoming-piper joins lines; emphasis around it is looked through), and a stream whose
/// chunks cut a block (at a `.` inside it, too) says exactly what the plain request says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_phonemes_are_spoken_as_piper_tts_speaks_them() {
    let (Some(voice), Some(espeak_data), Some(python)) = (voice(), provisioned("WYOMING_RS_ESPEAK_DATA"), python())
    else {
        return;
    };
    let text = "Say **[[ hə\nˈloʊ. ]]** to everyone.";
    let reference = tempfile::tempdir().unwrap();
    let mut child = Command::new(&python)
        .arg(python_script("piper_reference.py"))
        .arg(reference.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let as_piper_reads_it = "Say [[ hə ˈloʊ. ]] to everyone.";
    child.stdin.take().unwrap().write_all(serde_json::to_string(&[as_piper_reads_it]).unwrap().as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "piper_reference.py failed");
    let theirs: Vec<f32> = std::fs::read(reference.path().join("000.raw"))
        .unwrap()
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    let espeak_data = espeak_data.to_str().unwrap();
    let deterministic = ["--noise-scale", "0", "--noise-w", "0", "--stream-hold-ms", "2000"];
    let server = start(&voice, &[&deterministic[..], &["--espeak-data", espeak_data]].concat()).await;
    let mut client = connect(&server).await;
    client.send(&synthesize(text, None)).await.unwrap();
    let plain = one_cycle(&until(&mut client, "audio-stop").await);
    let ours: Vec<f32> = plain.chunks(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32767.0).collect();
    assert_eq!(ours.len(), theirs.len(), "sample counts differ");
    let max_diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max_diff < 1e-3, "differs from piper-tts by {max_diff}");

    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    send_chunks(&mut client, ["Say **[[ hə\n", "ˈloʊ. ", "]]** to every", "one."]).await;
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    let streamed = audio_until(&mut client, "synthesize-stopped").await;
    assert!(streamed == plain, "streamed {} bytes, plain {}", streamed.len(), plain.len());

    // A block alone is something to say; an empty one is not.
    client.send(&synthesize("[[ tʃˈiːz ]]", None)).await.unwrap();
    assert!(!one_cycle(&until(&mut client, "audio-stop").await).is_empty());
    client.send(&synthesize("[[ ]]", None)).await.unwrap();
    assert_eq!(error_code(client.recv().await.unwrap()), "EmptyText");
}

/// A client that starts a new stream without stopping the open one, which wyoming-piper allows: the open
/// stream's complete sentence is spoken, its unfinished text is dropped, and only the new stream ends with
/// `synthesize-stopped`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthesize_start_inside_a_stream_replaces_it_as_in_wyoming_piper() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &["--noise-scale", "0", "--noise-w", "0"]).await;
    let mut client = connect(&server).await;
    let mut plain = Vec::new();
    for text in ["The first sentence is here.", "Second stream."] {
        client.send(&synthesize(text, None)).await.unwrap();
        plain.push(audio_until(&mut client, "audio-stop").await);
    }
    let chunk = |text: &str| Event::SynthesizeChunk(SynthesizeChunk { text: text.into(), ..Default::default() });
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    client.send(&chunk("The first sentence is here. And an unfinished")).await.unwrap();
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    client.send(&chunk("Second stream.")).await.unwrap();
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    let events = until(&mut client, "synthesize-stopped").await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type()).filter(|t| *t != "audio-chunk").collect();
    assert_eq!(kinds, ["audio-start", "audio-stop", "audio-start", "audio-stop", "synthesize-stopped"]);
    let cycles: Vec<Vec<u8>> = events
        .split(|e| matches!(e, Event::AudioStop(_)))
        .take(2)
        .map(|cycle| {
            let chunks =
                cycle.iter().filter_map(|e| if let Event::AudioChunk(c) = e { Some(&c.audio[..]) } else { None });
            chunks.flatten().copied().collect()
        })
        .collect();
    assert!(
        cycles[0] == plain[0],
        "the first stream's complete sentence: {} bytes, plain {}",
        cycles[0].len(),
        plain[0].len()
    );
    assert!(cycles[1] == plain[1], "the second stream: {} bytes, plain {}", cycles[1].len(), plain[1].len());
    // Nothing more is pending: the connection serves the next request.
    client.send(&synthesize("That is all for now.", None)).await.unwrap();
    one_cycle(&until(&mut client, "audio-stop").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_others_are_unaffected() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    for (request, code) in [
        (synthesize("", None), "EmptyText"),
        (synthesize("🎉🎉 ✨ <br/> **", None), "EmptyText"),
        (synthesize("Hello.", Some("no-such-voice")), "UnknownVoice"),
        (Event::SynthesizeChunk(SynthesizeChunk { text: "Hi".into(), ..Default::default() }), "ProtocolError"),
        (Event::SynthesizeStop(SynthesizeStop::default()), "ProtocolError"),
    ] {
        let mut client = connect(&server).await;
        client.send(&request).await.unwrap();
        assert_eq!(error_code(client.recv().await.unwrap()), code, "{request:?}");
        assert!(client.recv().await.unwrap().is_none(), "the connection closes after an error");
    }
    // Invalid UTF-8 in an event's data.
    let mut raw = tokio::net::TcpStream::connect(match &server.uri {
        WyomingUri::Tcp { host, port } => format!("{host}:{port}"),
        _ => unreachable!(),
    })
    .await
    .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(b"{\"type\": \"synthesize\", \"data_length\": 14}\n{\"text\": \"\xff\xfe\"}").await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut reply)).await;
    assert!(String::from_utf8_lossy(&reply).contains("\"type\": \"error\""), "{}", String::from_utf8_lossy(&reply));

    // The server is still fine.
    let mut client = connect(&server).await;
    client.send(&synthesize("Still here.", None)).await.unwrap();
    one_cycle(&until(&mut client, "audio-stop").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_after_a_complete_request_does_not_cost_its_audio() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let stream = [
        Event::SynthesizeStart(SynthesizeStart::default()),
        Event::SynthesizeChunk(SynthesizeChunk {
            text: "A complete stream. Its audio is owed.".into(),
            ..Default::default()
        }),
        synthesize("A complete stream. Its audio is owed.", None),
        Event::SynthesizeStop(SynthesizeStop::default()),
    ];
    // Sent back to back, before any audio comes back: a second stop, and a late chunk.
    for extra in [
        Event::SynthesizeStop(SynthesizeStop::default()),
        Event::SynthesizeChunk(SynthesizeChunk { text: "Late.".into(), ..Default::default() }),
    ] {
        let mut client = connect(&server).await;
        for event in stream.iter().chain([&extra]) {
            client.send(event).await.unwrap();
        }
        let events = until(&mut client, "synthesize-stopped").await;
        one_cycle(&events[..events.len() - 1]);
        assert_eq!(error_code(client.recv().await.unwrap()), "ProtocolError", "{extra:?}");
        assert!(client.recv().await.unwrap().is_none(), "the connection closes after the error");
    }
    // A plain request followed by a broken frame.
    let WyomingUri::Tcp { host, port } = &server.uri else { unreachable!() };
    let mut raw = tokio::net::TcpStream::connect(format!("{host}:{port}")).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(b"{\"type\": \"synthesize\", \"data\": {\"text\": \"Said before the garbage.\"}}\nnot json\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), raw.read_to_end(&mut reply)).await.unwrap().unwrap();
    let reply = String::from_utf8_lossy(&reply);
    let (stop, error) = (reply.find("\"type\": \"audio-stop\""), reply.find("\"type\": \"error\""));
    assert!(
        stop.is_some() && error.is_some() && stop < error,
        "audio, then the error: {}",
        reply.chars().take(300).collect::<String>()
    );
}

/// As in wyoming-piper, every voice in the data dirs is listed in `info` and loaded when a request first names
/// it; a voice that is nowhere is an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voices_in_the_data_dir_are_listed_and_loaded_on_first_use() {
    let Some(voice) = voice() else { return };
    let data = tempfile::tempdir().unwrap();
    for name in ["en_US-joe-medium", "en_GB-second-medium"] {
        std::os::unix::fs::symlink(&voice, data.path().join(format!("{name}.onnx"))).unwrap();
        let config = format!("{}.json", voice.display());
        std::os::unix::fs::symlink(config, data.path().join(format!("{name}.onnx.json"))).unwrap();
    }
    let data_dir = data.path().to_str().unwrap();
    let server = start(&voice, &["--data-dir", data_dir, "--local-files-only"]).await;
    let info = connect(&server).await.describe().await.unwrap();
    let names: Vec<&str> = info.tts[0].voices.iter().map(|v| v.artifact.name.as_str()).collect();
    assert_eq!(names.len(), 175, "the catalogue's 174, and the voice that is not in it");
    assert!(names.contains(&"en_GB-second-medium") && names.contains(&"en_US-joe-medium"), "{names:?}");
    assert!(names.is_sorted(), "{names:?}");

    // Two clients name the second voice at once (one load, which both wait for), then one by an alias.
    let ask = |name: &'static str| {
        let server = &server;
        async move {
            let mut client = connect(server).await;
            client.send(&synthesize("The second voice speaks.", Some(name))).await.unwrap();
            one_cycle(&until(&mut client, "audio-stop").await)
        }
    };
    let (a, b) = tokio::join!(ask("en_GB-second-medium"), ask("en_GB-second-medium"));
    assert!(!a.is_empty() && !b.is_empty());
    assert!(!ask("en-gb-second-medium").await.is_empty());

    // A catalogue voice that is not here (and is not downloaded with --local-files-only), under its name and an
    // old one; a name in no catalogue; a path.
    for name in ["en_US-lessac-medium", "en-us-lessac-medium", "en_US-nowhere-medium", "/etc/passwd"] {
        let mut client = connect(&server).await;
        client.send(&synthesize("Hello.", Some(name))).await.unwrap();
        assert_eq!(error_code(client.recv().await.unwrap()), "UnknownVoice", "{name}");
    }
}

/// `--voice` may name a custom voice by its config's `dataset` ("joe" for the joe config), as wyoming-piper
/// allows; without that the server would not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_flag_accepts_a_custom_voices_dataset() {
    let Some(voice) = voice() else { return };
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&voice, data.path().join("en_GB-second-medium.onnx")).unwrap();
    let config = format!("{}.json", voice.display());
    std::os::unix::fs::symlink(config, data.path().join("en_GB-second-medium.onnx.json")).unwrap();
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args(["--voice", "joe", "--data-dir", data.path().to_str().unwrap(), "--local-files-only", "--uri", &uri])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child: ChildGuard(child), uri: uri.parse().unwrap() };
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    let mut client = connect(&server).await;
    client.send(&synthesize("The default voice.", None)).await.unwrap();
    assert!(!one_cycle(&until(&mut client, "audio-stop").await).is_empty());
}

/// A voice given to `--voice` as a path answers to that path too: wyoming-piper lists it under the path, so a
/// client moving over may have stored it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_given_as_a_path_answers_to_the_path() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let mut client = connect(&server).await;
    client.send(&synthesize("By its path.", Some(voice.to_str().unwrap()))).await.unwrap();
    assert!(!one_cycle(&until(&mut client, "audio-stop").await).is_empty());
}

/// An Arabic voice (the joe model with an Arabic config) speaks Arabic text, plain and streamed, with piper-tts's
/// diacritization model found beside `--espeak-data` (the piper-tts package), as `make run` passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arabic_voice_speaks_with_its_short_vowels() {
    let Some(espeak_data) = provisioned("WYOMING_RS_ESPEAK_DATA") else { return };
    assert!(espeak_data.join("tashkeel/model.onnx").is_file(), "piper-tts ships its tashkeel model");
    let arabic = |config: &mut serde_json::Value| {
        config["espeak"]["voice"] = "ar".into();
        config["language"]["code"] = "ar_JO".into();
    };
    speaks_plain_and_streamed("ar_JO-test-medium", arabic, "مرحبا بكم في بيتنا. كم الساعة الآن؟").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hebrew_voice_speaks_with_its_vowel_points() {
    let Some(espeak_data) = provisioned("WYOMING_RS_ESPEAK_DATA") else { return };
    assert!(espeak_data.join("hebrew/nakdimon.onnx").is_file(), "piper-tts ships its Nakdimon model");
    let hebrew = |config: &mut serde_json::Value| {
        config["phoneme_type"] = "hebrew".into();
        config["language"]["code"] = "he_IL".into();
    };
    speaks_plain_and_streamed("he_IL-test-medium", hebrew, "שלום עולם, מה שלומך היום? הילדים הלכו לבית הספר.").await;
}

/// Without Nakdimon's model, Hebrew written without vowel points is an error (the rules would read only
/// consonants: near-silence), and pointed Hebrew is still spoken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hebrew_voice_without_nakdimon_says_why_not() {
    let Some(voice) = voice() else { return };
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&voice, data.path().join("he_IL-test-medium.onnx")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", voice.display())).unwrap()).unwrap();
    config["phoneme_type"] = "hebrew".into();
    std::fs::write(data.path().join("he_IL-test-medium.onnx.json"), config.to_string()).unwrap();
    // No --espeak-data, so no hebrew/ beside it.
    let server = start(&voice, &["--data-dir", data.path().to_str().unwrap(), "--local-files-only"]).await;
    let mut client = connect(&server).await;
    client.send(&synthesize("שלום עולם", Some("he_IL-test-medium"))).await.unwrap();
    assert_eq!(error_code(client.recv().await.unwrap()), "SynthesisError");
    let mut client = connect(&server).await;
    client.send(&synthesize("שָׁלוֹם עוֹלָם, מָה שְׁלוֹמְךָ", Some("he_IL-test-medium"))).await.unwrap();
    one_cycle(&until(&mut client, "audio-stop").await);
}

/// The joe model under `name` in a data dir, its config edited by `edit`, speaks `text` in a plain request and
/// in a stream of words, with piper-tts's espeak-ng data and diacritization models.
async fn speaks_plain_and_streamed(name: &str, edit: impl Fn(&mut serde_json::Value), text: &str) {
    let (Some(voice), Some(espeak_data)) = (voice(), provisioned("WYOMING_RS_ESPEAK_DATA")) else { return };
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&voice, data.path().join(format!("{name}.onnx"))).unwrap();
    let config = std::fs::read_to_string(format!("{}.json", voice.display())).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    edit(&mut config);
    std::fs::write(data.path().join(format!("{name}.onnx.json")), config.to_string()).unwrap();
    let (data_dir, espeak_data) = (data.path().to_str().unwrap(), espeak_data.to_str().unwrap());
    let server = start(&voice, &["--data-dir", data_dir, "--local-files-only", "--espeak-data", espeak_data]).await;
    let mut client = connect(&server).await;
    client.send(&synthesize(text, Some(name))).await.unwrap();
    let plain = one_cycle(&until(&mut client, "audio-stop").await);
    assert!(plain.len() > 22_050, "at least half a second of speech: {} bytes", plain.len());
    let mut client = connect(&server).await;
    let voice = SynthesizeVoice { name: Some(name.into()), ..Default::default() };
    client.send(&Event::SynthesizeStart(SynthesizeStart { voice: Some(voice), ..Default::default() })).await.unwrap();
    send_chunks(&mut client, text.split(' ').map(|word| format!("{word} "))).await;
    client.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    assert!(!one_cycle(&until(&mut client, "audio-stop").await).is_empty());
}

/// A `--voice` file stored under an old spelling of a catalogue voice is that voice (listed once, not loaded a
/// second time), and a voice given by a path outside the data dirs does not hide a data-dir voice whose name
/// differs from it only in case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_voices_under_other_spellings_neither_double_nor_hide_voices() {
    let Some(voice) = voice() else { return };
    let (data, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = std::fs::read_to_string(format!("{}.json", voice.display())).unwrap();
    let link = |dir: &std::path::Path, name: &str, length_scale: f64| {
        std::os::unix::fs::symlink(&voice, dir.join(format!("{name}.onnx"))).unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
        config["inference"]["length_scale"] = length_scale.into();
        std::fs::write(dir.join(format!("{name}.onnx.json")), config.to_string()).unwrap();
    };
    link(data.path(), "en-us-lessac-medium", 1.0);
    link(data.path(), "dd", 2.0);
    link(outside.path(), "DD", 1.0);
    let outside_dd = outside.path().join("DD.onnx");
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let data_dir = data.path().to_str().unwrap();
    let args = ["--voice", "en-us-lessac-medium", "--voice", outside_dd.to_str().unwrap(), "--data-dir", data_dir];
    let deterministic = ["--noise-scale", "0", "--noise-w", "0"]; // so that one voice gives one length
    let child =
        Command::new(BIN).args(args).args(deterministic).args(["--local-files-only", "--uri", &uri]).spawn().unwrap();
    let server = Server { child: ChildGuard(child), uri: uri.parse().unwrap() };
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    let info = connect(&server).await.describe().await.unwrap();
    let names: Vec<&str> = info.tts[0].voices.iter().map(|v| v.artifact.name.as_str()).collect();
    assert!(names.contains(&"en-us-lessac-medium") && !names.contains(&"en_US-lessac-medium"), "listed once");
    assert!(names.contains(&"DD") && names.contains(&"dd"), "{names:?}");
    let bytes = |name: &'static str| {
        let server = &server;
        async move {
            let mut client = connect(server).await;
            client.send(&synthesize("Which voice is this?", Some(name))).await.unwrap();
            one_cycle(&until(&mut client, "audio-stop").await).len()
        }
    };
    let (old, new) = (bytes("en-us-lessac-medium").await, bytes("en_US-lessac-medium").await);
    assert_eq!(old, new, "the catalogue name is the voice loaded at start");
    let (outside, inside) = (bytes("DD").await, bytes("dd").await);
    assert!(inside as f64 > 1.5 * outside as f64, "dd is the data dir's slower voice: {inside} against {outside}");
}

/// CPU seconds the process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// CPU seconds the process uses in the next `span`.
async fn cpu_used_during(pid: u32, span: Duration) -> f64 {
    let before = cpu_seconds(pid);
    tokio::time::sleep(span).await;
    cpu_seconds(pid) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_text_streams_and_a_client_that_leaves_stops_its_synthesis() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let pid = server.child.0.id();
    let sentence = "This is a long text that keeps going, sentence after sentence, for a very long time. ";
    let text = sentence.repeat(100_000 / sentence.len() + 1);
    assert!(text.len() > 100_000);
    let mut client = connect(&server).await;
    let started = Instant::now();
    client.send(&synthesize(&text, None)).await.unwrap();
    client.recv_until("audio-chunk", |e| matches!(e, Event::AudioChunk(_)).then_some(())).await.unwrap();
    let first_audio = started.elapsed();
    eprintln!("100 KB of text: first audio after {first_audio:?}");
    assert!(first_audio < Duration::from_secs(10), "the first audio does not wait for the whole text");
    drop(client);
    // The phrase in progress may finish; after that the server is idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_used_during(pid, Duration::from_secs(2)).await;
    eprintln!("CPU used in the 2 s after the client left: {used:.2} s");
    assert!(used < 0.3, "synthesis went on after the client left: {used} CPU seconds in 2 s");
}

/// A bridge that hears a barge-in drops its TTS stream while a long sentence is being synthesised: the
/// sentence stops there (its ONNX Runtime run is terminated), so the cores are free for the next reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_stops_the_sentence_in_progress() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let pid = server.child.0.id();
    // About 15 s of speech in one sentence without a clause mark: one run of about a second on both cores.
    let long = "The old lighthouse keeper walked slowly along the narrow path above the sea and looked out over \
                the grey water where the fishing boats were coming home one after another in the fading light of \
                a long and quiet autumn evening by the shore.";
    let mut client = connect(&server).await;
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    let text = format!("Okay. {long} And");
    client.send(&Event::SynthesizeChunk(SynthesizeChunk { text, ..Default::default() })).await.unwrap();
    // "Okay." is spoken; the long sentence is now being synthesised. The client leaves.
    client.recv_until("audio-chunk", |e| matches!(e, Event::AudioChunk(_)).then_some(())).await.unwrap();
    drop(client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let used = cpu_used_during(pid, Duration::from_secs(1)).await;
    eprintln!("CPU used 0.3-1.3 s after the client left: {used:.2} s");
    assert!(used < 0.3, "the sentence went on after the client left: {used} CPU seconds in 1 s");
    // The server is fine, and the session that was stopped is reused.
    let mut client = connect(&server).await;
    client.send(&synthesize(long, None)).await.unwrap();
    assert!(one_cycle(&until(&mut client, "audio-stop").await).len() > 10 * 2 * 22_050);
}

fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

/// A stream whose text comes far faster than it can be spoken (here 960 KB chunks of two-letter sentences): the
/// server reads it only as fast as it synthesises, so TCP holds the client back and memory stays flat, instead
/// of queueing a phrase per sentence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_flooding_text_is_held_back_and_memory_stays_flat() {
    let Some(voice) = voice() else { return };
    let server = start(&voice, &[]).await;
    let pid = server.child.0.id();
    // Memory after a first stream of the same kind (ONNX Runtime's buffers are allocated by then).
    let mut warm = connect(&server).await;
    warm.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    warm.send(&Event::SynthesizeChunk(SynthesizeChunk { text: "Hi. ".repeat(20), ..Default::default() }))
        .await
        .unwrap();
    warm.send(&Event::SynthesizeStop(SynthesizeStop::default())).await.unwrap();
    until(&mut warm, "synthesize-stopped").await;
    let before = rss_mib(pid);
    let mut client = connect(&server).await;
    client.send(&Event::SynthesizeStart(SynthesizeStart::default())).await.unwrap();
    let chunk = "Hi. ".repeat(240_000);
    let mut sent = 0;
    let flood = async {
        for _ in 0..40 {
            client.send(&Event::SynthesizeChunk(SynthesizeChunk { text: chunk.clone(), ..Default::default() })).await?;
            sent += 1;
        }
        Ok::<_, wyoming_proto::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), flood).await;
    let after = rss_mib(pid);
    // The kernel's socket buffers hold a few chunks; the server's memory does not grow. An unbounded phrase queue
    // grew by about 5 MiB a second here.
    eprintln!("{sent} chunks sent in 10 s; RSS {before} MiB before the flood, {after} MiB after");
    assert!(sent < 40, "all 40 chunks (of 240,000 sentences each) taken in 10 s: nothing held the client back");
    assert!(after < before + 20, "memory grew from {before} to {after} MiB");
    // Everyone else is served meanwhile.
    connect(&server).await.describe().await.unwrap();
}

/// SIGTERM lets a running request finish; a second one ends the server at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_without_waiting_for_running_requests() {
    let Some(voice) = voice() else { return };
    let mut server = start(&voice, &[]).await;
    let pid = server.child.0.id().to_string();
    let mut client = connect(&server).await;
    client.send(&synthesize(&"A long text that takes a while to speak. ".repeat(200), None)).await.unwrap();
    client.recv_until("audio-chunk", |e| matches!(e, Event::AudioChunk(_)).then_some(())).await.unwrap();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.child.0.try_wait().unwrap().is_none(), "the running request was not let finish");
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = server.child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after the second signal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(130), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_is_answered_while_four_clients_synthesise() {
    let Some(voice) = voice() else { return };
    let server = std::sync::Arc::new(start(&voice, &[]).await);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = connect(&server).await;
            let text = format!(
                "Client number {i} asks for a fairly long answer, with several clauses. And then another sentence."
            );
            client.send(&synthesize(&text, None)).await.unwrap();
            one_cycle(&until(&mut client, "audio-stop").await).len()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        connect(&server).await.describe().await.unwrap();
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("slowest describe during synthesis: {worst:?}");
    assert!(worst < Duration::from_millis(500), "describe waited {worst:?} behind synthesis");
    for task in tasks {
        assert!(task.await.unwrap() > 22_050 * 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wyoming_bench_tts_runs_both_modes() {
    let (Some(voice), Some(python)) = (voice(), python()) else { return };
    let bench = python.with_file_name("wyoming-bench");
    assert!(bench.exists(), "wyoming-bench is a provisioned peer: run `make setup`");
    let server = start(&voice, &[]).await;
    let WyomingUri::Tcp { port, .. } = &server.uri else { unreachable!() };
    let out = Command::new(bench)
        .args(["tts", &format!("127.0.0.1:{port}"), "--mode", "both", "--rounds", "1", "--warmup", "0"])
        .args(["--texts", "Hello there. How are you?", "The lights are now on in the kitchen."])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("streaming") && stdout.contains("non_streaming"), "{stdout}");
    assert!(!stdout.contains("fail=1") && !stdout.contains("fail=2"), "{stdout}");
}
