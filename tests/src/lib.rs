//! Shared helpers for the cross-crate tests: finding the provisioned Python, running peers as child
//! processes that are killed on drop, and the event catalogue used by the interop tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::event::*;
use wyoming_proto::frame::Frame;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The Python interpreter of the provisioned virtualenv (`make setup`), if there is one with the
/// `wyoming` package. Tests that need it print why they skip when it is missing; CI always has it.
pub fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("WYOMING_RS_PYTHON").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wyoming-rs/venv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import wyoming"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        if std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_some() {
            panic!("the Python test peers are required (WYOMING_RS_REQUIRE_PEERS) but missing: run `make setup`");
        }
        eprintln!("skipped: no Python with the `wyoming` package; run `make setup` (or `make test`)");
    }
    found
}

/// A script under `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    repo_root().join("tests/python").join(name)
}

/// Runs `tests/python/<script>` with `python`, `input` as JSON on its stdin, and returns the JSON it prints.
pub fn python_json(python: &Path, script: &str, input: &impl serde::Serialize) -> serde_json::Value {
    let mut child = Command::new(python)
        .arg(python_script(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    let input = serde_json::to_vec(input).expect("serialisable input");
    std::io::Write::write_all(&mut child.stdin.take().expect("piped stdin"), &input).expect("stdin");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{script} failed");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON: {e}"))
}

/// A child process killed when dropped, so a failing test never leaves peers running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    // Never the same port twice in one test process: tests run in parallel, and the kernel may hand a port
    // just released to the next asker, so two servers would race for it (one fails to bind, and a test talks to
    // another test's server).
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("nothing listening on port {port} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `GET path` on 127.0.0.1:`port` answers 200. An HTTP server may listen before it can serve:
/// llama.cpp's answers 503 ("Loading model") until its model is loaded.
pub async fn wait_for_http_ok(port: u16, path: &str, timeout: Duration) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = Instant::now();
    let mut last = String::from("no answer");
    loop {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut response = Vec::new();
            let answered = async {
                stream.write_all(request.as_bytes()).await?;
                stream.read_to_end(&mut response).await
            };
            if tokio::time::timeout(Duration::from_secs(5), answered).await.is_ok_and(|r| r.is_ok()) {
                let head = String::from_utf8_lossy(&response);
                let status = head.lines().next().unwrap_or_default().to_string();
                if status.split_whitespace().nth(1) == Some("200") {
                    return Ok(());
                }
                last = status;
            }
        }
        if start.elapsed() > timeout {
            anyhow::bail!("GET {path} on port {port} not 200 after {timeout:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn s(text: &str) -> String {
    text.to_string()
}

fn artifact(name: &str, description: Option<&str>, version: Option<&str>) -> Artifact {
    Artifact {
        name: s(name),
        attribution: Attribution::new("rhasspy", "https://github.com/rhasspy/piper"),
        installed: true,
        description: description.map(s),
        version: version.map(s),
    }
}

/// One event of every type in the 1.10.2 catalogue, with every field set somewhere, in the shape the
/// Python typed classes write (so that Python re-encodes them to the same bytes), plus an unknown type.
pub fn catalogue() -> Vec<Event> {
    let fmt = AudioFormat { rate: 22050, width: 2, channels: 1 };
    let voice =
        SynthesizeVoice { name: Some(s("fr_FR-upmc-medium")), speaker: Some(s("pierre")), ..Default::default() };
    let context = serde_json::json!({"conversation_id": "abc", "nested": {"n": [1, 2.5, null, true]}});
    let model = |name: &str| LanguageModel {
        artifact: artifact(name, Some(name), None),
        languages: vec![s("en"), s("de")],
        extra: Extra::new(),
    };
    let info = Info {
        asr: vec![AsrProgram {
            supports_transcript_streaming: true,
            requires_external_vad: false,
            prefers_auto_gain_enabled: false,
            prefers_noise_reduction_enabled: true,
            ..AsrProgram::new(
                artifact("faster-whisper", Some("Faster Whisper"), Some("3.8.1")),
                vec![AsrModel {
                    artifact: artifact("tiny-int8", None, Some("1.2.1")),
                    languages: vec![s("en")],
                    extra: Extra::new(),
                }],
            )
        }],
        tts: vec![TtsProgram {
            artifact: artifact("piper", Some("A fast, local, neural text to speech engine"), Some("2.5.2")),
            voices: vec![
                TtsVoice {
                    artifact: artifact("en_US-lessac-medium", Some("lessac (medium)"), None),
                    languages: vec![s("en_US")],
                    speakers: None,
                    extra: Extra::new(),
                },
                TtsVoice {
                    artifact: artifact("fr_FR-upmc-medium", Some("upmc (medium)"), None),
                    languages: vec![s("fr_FR")],
                    speakers: Some(vec![
                        TtsVoiceSpeaker { name: s("jessica"), extra: Extra::new() },
                        TtsVoiceSpeaker { name: s("pierre"), extra: Extra::new() },
                    ]),
                    extra: Extra::new(),
                },
            ],
            supports_synthesize_streaming: true,
            extra: Extra::new(),
        }],
        handle: vec![HandleProgram {
            artifact: artifact("handler", None, None),
            models: vec![model("h")],
            supports_handled_streaming: true,
            supports_home_control: true,
            extra: Extra::new(),
        }],
        intent: vec![IntentProgram {
            artifact: artifact("intents", None, None),
            models: vec![model("i")],
            extra: Extra::new(),
        }],
        wake: vec![WakeProgram {
            artifact: artifact("openwakeword", None, None),
            models: vec![WakeModel {
                artifact: artifact("ok_nabu", None, None),
                languages: vec![s("en")],
                phrase: Some(s("okay nabu")),
                extra: Extra::new(),
            }],
            extra: Extra::new(),
        }],
        mic: vec![MicProgram {
            artifact: artifact("mic", None, None),
            mic_format: AudioFormat { rate: 16000, width: 2, channels: 1 },
            extra: Extra::new(),
        }],
        snd: vec![SndProgram {
            artifact: artifact("snd", None, None),
            snd_format: AudioFormat { rate: 22050, width: 2, channels: 2 },
            extra: Extra::new(),
        }],
        satellite: Some(Satellite {
            artifact: artifact("satellite", None, None),
            area: Some(s("Kitchen")),
            has_vad: Some(true),
            active_wake_words: Some(vec![s("ok_nabu")]),
            max_active_wake_words: Some(2),
            supports_trigger: Some(false),
            extra: Extra::new(),
        }),
        extra: Extra::new(),
    };
    let payload: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    vec![
        Event::Describe(Describe::default()),
        Event::Info(info),
        Event::Info(Info::default()),
        Event::SelectProgram(SelectProgram { name: s("faster-whisper"), extra: Extra::new() }),
        Event::AudioStart(AudioStart { timestamp: Some(0), ..AudioStart::new(fmt) }),
        Event::AudioChunk(AudioChunk { timestamp: Some(1230), ..AudioChunk::new(fmt, payload) }),
        Event::AudioChunk(AudioChunk::new(
            AudioFormat { rate: 48000, width: 4, channels: 2 },
            vec![0u8, 1, 2, 3, 4, 5, 6, 7],
        )),
        Event::AudioChunk(AudioChunk::new(fmt, Vec::new())),
        Event::AudioStop(AudioStop { timestamp: Some(2890), extra: Extra::new() }),
        Event::AudioStop(AudioStop::default()),
        Event::Transcribe(Transcribe::default()),
        Event::Transcribe(Transcribe {
            name: Some(s("tiny-int8")),
            language: Some(s("en")),
            context: Some(context.clone()),
            vad_sensitivity: Some(s("relaxed")),
            transcript_names: Some(vec![s("Kitchen Lamp")]),
            transcript_terms: Some(vec![s("thermostat")]),
            extra: Extra::new(),
        }),
        Event::Transcript(Transcript::new(" Turn on the living room lamp.")),
        Event::Transcript(Transcript {
            language: Some(s("de")),
            context: Some(context.clone()),
            ..Transcript::new("Grüße, 東京 \"quoted\"\n")
        }),
        Event::TranscriptStart(TranscriptStart::default()),
        Event::TranscriptStart(TranscriptStart {
            language: Some(s("en")),
            context: Some(context.clone()),
            extra: Extra::new(),
        }),
        Event::TranscriptChunk(TranscriptChunk { text: s("Turn on"), extra: Extra::new() }),
        Event::TranscriptStop(TranscriptStop::default()),
        Event::Synthesize(Synthesize::new("Hello world. How are you today?")),
        Event::Synthesize(Synthesize {
            voice: Some(voice.clone()),
            text_format: Some(s("ssml")),
            context: Some(context.clone()),
            ..Synthesize::new("<speak>Bonjour</speak>")
        }),
        Event::Synthesize(Synthesize {
            voice: Some(SynthesizeVoice { language: Some(s("fr_FR")), ..Default::default() }),
            ..Synthesize::new("Bonjour")
        }),
        Event::SynthesizeStart(SynthesizeStart::default()),
        Event::SynthesizeStart(SynthesizeStart {
            voice: Some(voice),
            text_format: Some(s("text")),
            context: Some(context),
            extra: Extra::new(),
        }),
        Event::SynthesizeChunk(SynthesizeChunk { text: s("Hello world. "), extra: Extra::new() }),
        Event::SynthesizeStop(SynthesizeStop::default()),
        Event::SynthesizeStopped(SynthesizeStopped::default()),
        Event::Error(ErrorEvent { text: s(""), code: Some(s("AssertionError")), extra: Extra::new() }),
        Event::Error(ErrorEvent { text: s("no code"), code: None, extra: Extra::new() }),
        Event::Ping(Ping { text: Some(s("abc")), extra: Extra::new() }),
        Event::Ping(Ping::default()),
        Event::Pong(Pong { text: Some(s("abc")), extra: Extra::new() }),
        Event::Pong(Pong::default()),
        Event::VoiceStarted(VoiceStarted { timestamp: Some(1230), extra: Extra::new() }),
        Event::VoiceStopped(VoiceStopped { timestamp: Some(2890), extra: Extra::new() }),
        Event::VoiceStopped(VoiceStopped::default()),
        Event::Unknown(
            Frame::new("detection")
                .with_data(
                    serde_json::json!({"name": "ok_nabu", "timestamp": 5}).as_object().cloned().unwrap_or_default(),
                )
                .with_payload(vec![9u8, 8, 7]),
        ),
    ]
}

/// A provisioned model or library path from the environment (`make setup`), or `None` with a printed
/// reason; under `WYOMING_RS_REQUIRE_PEERS` (as `make test` runs) a missing one fails the test.
pub fn provisioned(var: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var).map(PathBuf::from);
    if found.is_none() {
        assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "{var} is not set: run `make setup`");
        eprintln!("skipped: {var} is not set; run `make setup`");
    }
    found
}

/// Speech for `sentences`, synthesised by the Python `piper-tts` engine with the provisioned voice:
/// one 22,050 Hz 16-bit mono WAV per sentence, in `dir`.
pub fn synthesize_speech(python: &Path, sentences: &[&str], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use std::io::Write;
    let mut child = Command::new(python).arg(python_script("synthesize.py")).arg(dir).stdin(Stdio::piped()).spawn()?;
    child.stdin.take().expect("piped stdin").write_all(serde_json::to_string(sentences)?.as_bytes())?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "synthesize.py failed: {status}");
    Ok((0..sentences.len()).map(|i| dir.join(format!("{i:03}.wav"))).collect())
}

/// Words for comparing transcripts: lower case, punctuation dropped.
pub fn normalize_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['-', '—'], " ")
        .split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word errors (substitutions + insertions + deletions) between a reference and a hypothesis.
pub fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut row = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            row[j + 1] = (prev[j] + usize::from(r != h)).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[hypothesis.len()]
}
