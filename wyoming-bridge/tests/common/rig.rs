//! The end-to-end rig shared by the pipeline tests and `benches/e2e.rs`: Murmur, our STT and TTS servers,
//! llama.cpp's server on a generated model, the bridge binary, and helpers that read a listener's recording.

use super::{Murmur, Peer, mumble_python, murmurd_available, read_recording};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::audio::{AudioConverter, AudioFormat};
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::{AudioChunk, AudioStart, AudioStop, Event};
use wyoming_tests::*;

pub const BRIDGE: &str = env!("CARGO_BIN_EXE_wyoming-bridge");
pub const MUMBLE: AudioFormat = AudioFormat { rate: 48_000, width: 2, channels: 1 };

/// A binary of another workspace package, built by `cargo test --workspace`.
pub fn sibling(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(BRIDGE).with_file_name(name);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "{} is not built", path.display());
    eprintln!("skipped: {} is not built (cargo test --workspace builds it)", path.display());
    None
}

pub struct Process {
    pub child: ChildGuard,
    log: PathBuf,
}

impl Process {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub async fn spawn(program: &Path, args: &[&str], dir: &Path, name: &str, port: u16) -> Process {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let child = ChildGuard(child);
    wait_for_port(port, Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    Process { child, log }
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub murmur: Murmur,
    pub stt: Option<Process>,
    pub tts: Option<Process>,
    pub llm: Option<Process>,
    stt_bin: PathBuf,
    tts_bin: PathBuf,
    python: PathBuf,
    mumble_python: PathBuf,
    model: PathBuf,
    voice: PathBuf,
    /// Fixed so that a restarted server is found at the same place.
    ports: (u16, u16, u16),
}

impl Rig {
    pub async fn start(slow_llm: bool) -> Option<Rig> {
        let (Some(python), Some(mumble_python), Some(whisper), Some(voice), Some(_)) = (
            python(),
            mumble_python(),
            provisioned("WYOMING_TEST_WHISPER_TINY_EN"),
            provisioned("WYOMING_TEST_PIPER_VOICE"),
            provisioned("ORT_DYLIB_PATH"),
        ) else {
            return None;
        };
        if !murmurd_available() {
            return None;
        }
        let (stt_bin, tts_bin) = (sibling("wyoming-whisper-gpu")?, sibling("wyoming-luxtts")?);
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("tiny.gguf");
        let mut gguf = Command::new(&python);
        gguf.arg(python_script("make_tiny_gguf.py")).arg(&model);
        if slow_llm {
            gguf.arg("--slow");
        }
        assert!(gguf.status().unwrap().success(), "make_tiny_gguf.py failed");
        let murmur = Murmur::start(None).await;
        let mut rig = Rig {
            dir,
            murmur,
            stt: None,
            tts: None,
            llm: None,
            stt_bin,
            tts_bin,
            python,
            mumble_python,
            model,
            voice,
            ports: (free_port(), free_port(), free_port()),
        };
        let whisper = whisper.to_str().unwrap().to_string();
        rig.stt = Some(rig.start_stt(&whisper).await);
        rig.tts = Some(rig.start_tts().await);
        rig.llm = Some(rig.start_llm().await);
        Some(rig)
    }

    /// Our STT server with its early final on (Silero VAD), as it would run in production.
    pub async fn start_stt(&self, model: &str) -> Process {
        let uri = format!("tcp://127.0.0.1:{}", self.ports.0);
        let silero = std::env::var("WYOMING_TEST_SILERO_VAD").unwrap_or_default();
        let mut args = vec!["--uri", &uri, "--model", model];
        if !silero.is_empty() {
            args.extend(["--silero-model", &silero]);
        }
        spawn(&self.stt_bin, &args, self.dir.path(), "stt", self.ports.0).await
    }

    pub async fn start_tts(&self) -> Process {
        let uri = format!("tcp://127.0.0.1:{}", self.ports.1);
        let voice = self.voice.to_str().unwrap();
        spawn(&self.tts_bin, &["--uri", &uri, "--voice", voice], self.dir.path(), "tts", self.ports.1).await
    }

    pub async fn start_llm(&self) -> Process {
        let port = self.ports.2.to_string();
        let script = python_script("llm_server.py");
        let args = [script.to_str().unwrap(), self.model.to_str().unwrap(), &port];
        let llm = spawn(&self.python, &args, self.dir.path(), "llm", self.ports.2).await;
        // "Back" means serving: llama.cpp listens while it still loads the model (503 until then), and on a
        // loaded machine that took longer than the bridge's one retry.
        wait_for_http_ok(self.ports.2, "/health", Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("llm: {e}\n{}", std::fs::read_to_string(&llm.log).unwrap_or_default()));
        llm
    }

    /// The bridge with `grammar` forcing the LLM's reply.
    pub async fn bridge(&self, grammar: &str) -> Process {
        let config = self.dir.path().join("config.yaml");
        let yaml = json!({
            "mumble": {"host": "127.0.0.1", "port": self.murmur.port, "user": "VoiceBot", "tls": "insecure"},
            "stt": {"wyoming_host": "127.0.0.1", "wyoming_port": self.ports.0},
            "tts": {"wyoming_host": "127.0.0.1", "wyoming_port": self.ports.1},
            "llm": {
                "endpoint": format!("http://127.0.0.1:{}/v1/chat/completions", self.ports.2),
                "model": "tiny-test",
                "max_tokens": 3000,
                "timeout": 10,
                "extra_body": {"grammar": grammar},
            },
            // No staleness limit: on a loaded CI machine a reply may take longer than the 5 s default to be
            // audible, and these tests are about the reply, not the limit (covered in `src/bot/tests.rs`).
            "bot": {
                "latency_log": self.dir.path().join("latency.jsonl"),
                "asr_threshold": 1000,
                "max_response_staleness": 0,
            },
        });
        std::fs::write(&config, serde_json::to_string_pretty(&yaml).unwrap()).unwrap();
        let log = self.dir.path().join("bridge.log");
        let child = Command::new(BRIDGE)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(self.dir.path())
            .env("RUST_LOG", "info,wyoming_bridge::bot=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let process = Process { child: ChildGuard(child), log };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !process.log().contains("connected to Mumble") {
            assert!(std::time::Instant::now() < deadline, "the bridge did not connect:\n{}", process.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        process
    }

    pub async fn peer(&self, name: &str) -> Peer {
        Peer::connect(&self.mumble_python, self.murmur.port, name, None).await
    }

    /// `text` spoken by the joe voice (piper-tts), as a 48 kHz PCM file for a pymumble talker.
    pub fn speech_file(&self, text: &str, name: &str) -> PathBuf {
        let dir = self.dir.path().join(format!("speech-{name}"));
        let wav = synthesize_speech(&self.python, &[text], &dir).unwrap().remove(0);
        let mut reader = hound::WavReader::open(&wav).unwrap();
        let spec = reader.spec();
        let pcm: Vec<u8> = reader.samples::<i16>().flat_map(|s| s.unwrap().to_le_bytes()).collect();
        let format = AudioFormat { rate: spec.sample_rate, width: 2, channels: spec.channels };
        let mut converter = AudioConverter::new(MUMBLE);
        let mut out = converter.convert(format, &pcm).unwrap();
        out.extend(converter.finish());
        // Half a second of silence after the speech, so the bot's VAD sees the end.
        out.extend(vec![0u8; 48_000]);
        let path = dir.join("speech.pcm");
        std::fs::write(&path, out).unwrap();
        path
    }

    pub fn latency_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("latency.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Transcribes 48 kHz PCM with our STT server.
    pub async fn transcribe(&self, pcm: &[i16]) -> String {
        let uri = format!("tcp://127.0.0.1:{}", self.ports.0).parse().unwrap();
        let mut client = Client::connect(&uri, ClientOptions::default()).await.unwrap();
        client.send(&Event::AudioStart(AudioStart::new(MUMBLE))).await.unwrap();
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        for chunk in bytes.chunks(9600) {
            client.send(&Event::AudioChunk(AudioChunk::new(MUMBLE, chunk.to_vec()))).await.unwrap();
        }
        client.send(&Event::AudioStop(AudioStop::default())).await.unwrap();
        client
            .recv_until("transcript", |e| if let Event::Transcript(t) = e { Some(t.text) } else { None })
            .await
            .unwrap()
    }
}

/// The chunks a session sent, from a listener's recording: (arrival time, PCM).
pub fn chunks_of(recording: &Path, session: u32) -> Vec<(f64, Vec<i16>)> {
    let (pcm, chunks) = read_recording(recording);
    let (mut out, mut at) = (Vec::new(), 0usize);
    for chunk in chunks {
        let n = chunk.bytes / 2;
        if at + n > pcm.len() {
            break; // the log line was written before its audio reached the file
        }
        if chunk.session == session {
            out.push((chunk.time, pcm[at..at + n].to_vec()));
        }
        at += n;
    }
    out
}

/// The audio a session sent, and the arrival times of its chunks.
pub fn audio_of(recording: &Path, session: u32) -> (Vec<i16>, Vec<f64>) {
    let chunks = chunks_of(recording, session);
    (chunks.iter().flat_map(|(_, pcm)| pcm.iter().copied()).collect(), chunks.iter().map(|(t, _)| *t).collect())
}

pub fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// The session of user `name`, as `peer` sees it.
pub async fn session_of(peer: &mut Peer, name: &str) -> u32 {
    peer.send(json!({"cmd": "users"}));
    let users = peer.wait_for(|e| e["event"] == "users", Duration::from_secs(10)).await;
    let user = users["users"].as_array().unwrap().iter().find(|u| u["name"] == name);
    user.unwrap_or_else(|| panic!("{name} is not on the server: {users}"))["session"].as_u64().unwrap() as u32
}

/// Waits until `session`'s audio at the listener has started and then been quiet for `quiet`.
pub async fn wait_for_reply(recording: &Path, session: u32, quiet: Duration, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let (_, times) = audio_of(recording, session);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        if times.last().is_some_and(|last| now - last > quiet.as_secs_f64()) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no complete reply from session {session} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn words_match(expected: &str, heard: &str) -> f64 {
    let (e, h) = (normalize_words(expected), normalize_words(heard));
    word_errors(&e, &h) as f64 / e.len() as f64
}

impl Rig {
    /// Stops a server (its port stays reserved in `ports` for the restart).
    pub fn kill(&mut self, which: &str) {
        match which {
            "stt" => self.stt = None,
            "tts" => self.tts = None,
            "llm" => self.llm = None,
            _ => unreachable!(),
        }
    }

    pub async fn restart(&mut self, which: &str) {
        match which {
            "stt" => {
                let model = std::env::var("WYOMING_TEST_WHISPER_TINY_EN").unwrap();
                self.stt = Some(self.start_stt(&model).await);
            }
            "tts" => self.tts = Some(self.start_tts().await),
            "llm" => self.llm = Some(self.start_llm().await),
            _ => unreachable!(),
        }
    }
}

/// Asks a question and returns what the listener heard the bot say in reply, transcribed.
pub async fn ask(rig: &Rig, talker: &mut Peer, recording: &Path, bot: u32, question: &Path) -> String {
    let before = audio_of(recording, bot).0.len();
    talker.play(question).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(recording, bot).0.len() == before {
        assert!(std::time::Instant::now() < deadline, "no reply");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_reply(recording, bot, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let reply = audio_of(recording, bot).0.split_off(before);
    rig.transcribe(&reply).await
}
