//! The whole bot with real processes on 127.0.0.1: Murmur, pymumble talkers and a listener, our STT server
//! (Whisper tiny.en), our TTS server (the joe Piper voice), llama.cpp's server (xllamacpp) with a tiny
//! generated GGUF model whose output is forced by a grammar passed through `llm.extra_body`, and the
//! `wyoming-bridge` binary.

mod common;

use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::audio::{AudioConverter, AudioFormat};
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::*;
use wyoming_tests::*;

const BRIDGE: &str = env!("CARGO_BIN_EXE_wyoming-bridge");
const MUMBLE: AudioFormat = AudioFormat { rate: 48_000, width: 2, channels: 1 };

/// A binary of another workspace package, built by `cargo test --workspace`.
fn sibling(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(BRIDGE).with_file_name(name);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "{} is not built", path.display());
    eprintln!("skipped: {} is not built (cargo test --workspace builds it)", path.display());
    None
}

struct Process {
    _child: ChildGuard,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn spawn(program: &Path, args: &[&str], dir: &Path, name: &str, port: u16) -> Process {
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
    Process { _child: child, log }
}

struct Rig {
    dir: tempfile::TempDir,
    murmur: Murmur,
    stt: Option<Process>,
    tts: Option<Process>,
    llm: Option<Process>,
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
    async fn start(slow_llm: bool) -> Option<Rig> {
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

    async fn start_stt(&self, model: &str) -> Process {
        let uri = format!("tcp://127.0.0.1:{}", self.ports.0);
        spawn(
            &self.stt_bin,
            &["--uri", &uri, "--model", model, "--early-final-ms", "0"],
            self.dir.path(),
            "stt",
            self.ports.0,
        )
        .await
    }

    async fn start_tts(&self) -> Process {
        let uri = format!("tcp://127.0.0.1:{}", self.ports.1);
        let voice = self.voice.to_str().unwrap();
        spawn(&self.tts_bin, &["--uri", &uri, "--voice", voice], self.dir.path(), "tts", self.ports.1).await
    }

    async fn start_llm(&self) -> Process {
        let port = self.ports.2.to_string();
        let script = python_script("llm_server.py");
        let args = [script.to_str().unwrap(), self.model.to_str().unwrap(), &port];
        spawn(&self.python, &args, self.dir.path(), "llm", self.ports.2).await
    }

    /// The bridge with `grammar` forcing the LLM's reply.
    async fn bridge(&self, grammar: &str) -> Process {
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
            "bot": {"latency_log": self.dir.path().join("latency.jsonl"), "asr_threshold": 1000},
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
        let process = Process { _child: ChildGuard(child), log };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !process.log().contains("connected to Mumble") {
            assert!(std::time::Instant::now() < deadline, "the bridge did not connect:\n{}", process.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        process
    }

    async fn peer(&self, name: &str) -> Peer {
        Peer::connect(&self.mumble_python, self.murmur.port, name, None).await
    }

    /// `text` spoken by the joe voice (piper-tts), as a 48 kHz PCM file for a pymumble talker.
    fn speech_file(&self, text: &str, name: &str) -> PathBuf {
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

    fn latency_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("latency.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Transcribes 48 kHz PCM with our STT server.
    async fn transcribe(&self, pcm: &[i16]) -> String {
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
fn chunks_of(recording: &Path, session: u32) -> Vec<(f64, Vec<i16>)> {
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
fn audio_of(recording: &Path, session: u32) -> (Vec<i16>, Vec<f64>) {
    let chunks = chunks_of(recording, session);
    (chunks.iter().flat_map(|(_, pcm)| pcm.iter().copied()).collect(), chunks.iter().map(|(t, _)| *t).collect())
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// The session of user `name`, as `peer` sees it.
async fn session_of(peer: &mut Peer, name: &str) -> u32 {
    peer.send(json!({"cmd": "users"}));
    let users = peer.wait_for(|e| e["event"] == "users", Duration::from_secs(10)).await;
    let user = users["users"].as_array().unwrap().iter().find(|u| u["name"] == name);
    user.unwrap_or_else(|| panic!("{name} is not on the server: {users}"))["session"].as_u64().unwrap() as u32
}

/// Waits until `session`'s audio at the listener has started and then been quiet for `quiet`.
async fn wait_for_reply(recording: &Path, session: u32, quiet: Duration, timeout: Duration) {
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

fn words_match(expected: &str, heard: &str) -> f64 {
    let (e, h) = (normalize_words(expected), normalize_words(heard));
    word_errors(&e, &h) as f64 / e.len() as f64
}

const ANSWER: &str = "The capital of France is Paris. It is a beautiful city.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_question_gets_a_spoken_answer_and_two_users_share_the_history() {
    let _serial = serial().await;
    let Some(rig) = Rig::start(false).await else { return };
    let bridge = rig.bridge(&format!("root ::= \"{ANSWER}\"")).await;
    let mut alice = rig.peer("Alice").await;
    let mut carol = rig.peer("Carol").await;
    let mut listener = rig.peer("Bob").await;
    let bot_session = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;

    let question = rig.speech_file("What is the capital of France?", "q1");
    alice.play(&question).await;
    wait_for_reply(&recording, bot_session, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let (reply, _) = audio_of(&recording, bot_session);
    let heard = rig.transcribe(&reply).await;
    eprintln!("the listener heard {heard:?}");
    assert!(words_match(ANSWER, &heard) <= 0.2, "expected {ANSWER:?}, heard {heard:?}");

    // A second user; the history holds both.
    let question = rig.speech_file("And what about the weather today?", "q2");
    carol.play(&question).await;
    let before = audio_of(&recording, bot_session).1.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot_session).1.len() == before {
        assert!(std::time::Instant::now() < deadline, "no second reply:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_reply(&recording, bot_session, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let log = bridge.log();
    let request = log.lines().rfind(|l| l.contains("LLM request")).expect("a logged LLM request");
    assert!(request.contains("Alice: ") && request.contains("Carol: "), "{request}");

    let lines = rig.latency_lines();
    assert_eq!(lines.len(), 2, "one latency line per turn: {lines:?}");
    for line in &lines {
        for key in [
            "t0_vad_start",
            "t_speech_end",
            "t_vad_end",
            "t_asr_final",
            "t_llm_start",
            "t_llm_first_token",
            "t_first_phrase",
            "t_tts_first_audio",
            "t_first_audio_sent",
            "t_llm_complete",
        ] {
            assert!(line[key].is_number(), "{key} missing in {line}");
        }
        assert_eq!(line["outcome"], "spoken", "{line}");
        let ttfa = line["t_first_audio_sent"].as_f64().unwrap() - line["t_speech_end"].as_f64().unwrap();
        eprintln!("{}: TTFA {:.0} ms", line["turn_id"], ttfa * 1000.0);
    }
    // The latency subcommand prints the table and writes the chart.
    let file = rig.dir.path().join("latency.jsonl");
    let out = Command::new(BRIDGE).arg("latency").arg(&file).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{table}");
    assert!(table.contains("p50") && table.contains("p90") && table.contains("p99"), "{table}");
    let svg = std::fs::read_to_string(format!("{}.svg", file.display())).expect("the chart");
    assert!(svg.contains("<svg"), "{svg}");
    alice.quit().await;
    carol.quit().await;
    listener.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_silences_the_bot_and_cancels_the_llm_request() {
    let _serial = serial().await;
    let Some(rig) = Rig::start(true).await else { return };
    let monologue =
        "Let me tell you a very long story about the sea, the wind and the old lighthouse keeper. ".repeat(25);
    let bridge = rig.bridge(&format!("root ::= \"{}\"", monologue.trim())).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot_session = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;

    alice.play(&rig.speech_file("Tell me a story please.", "q1")).await;
    // Let the bot talk for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot_session).1.len() < 100 {
        assert!(std::time::Instant::now() < deadline, "the bot never spoke:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alice_session = session_of(&mut listener, "Alice").await;
    // One word: a barge-in, but not a question (the bot answers utterances of two words or more).
    let stop = rig.speech_file("Stop!", "stop");
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    alice.play(&stop).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The interruption begins with the first chunk of Alice's speech the listener hears.
    let speech_started = chunks_of(&recording, alice_session)
        .into_iter()
        .find(|(t, pcm)| *t > before && rms(pcm) > 1000.0)
        .expect("the listener heard the interruption")
        .0;
    let bot_chunks = chunks_of(&recording, bot_session);
    let after_chunks: Vec<(f64, f64)> = bot_chunks
        .iter()
        .filter(|(t, _)| *t > speech_started)
        .map(|(t, pcm)| ((t - speech_started) * 1000.0, rms(pcm)))
        .collect();
    eprintln!("bot chunks after the interruption (ms, rms): {:?}", &after_chunks[..after_chunks.len().min(20)]);
    // Audible bot audio (decoded silence and the spurt's terminator frames are not "hearing the bot").
    let last = bot_chunks.iter().filter(|(_, pcm)| rms(pcm) > 50.0).map(|(t, _)| *t).fold(0f64, f64::max);
    let heard = bridge.log().lines().filter(|l| l.contains("turn ended early")).collect::<Vec<_>>().join("\n");
    eprintln!("{heard}");
    let after = (last - speech_started) * 1000.0;
    eprintln!("last bot audio {after:.0} ms after the interruption began");
    let barge = bridge.log();
    assert!(after <= 300.0, "the bot kept talking {after:.0} ms into the interruption\n{barge}");
    let llm_log = rig.llm.as_ref().unwrap().log();
    assert!(llm_log.contains("cancel task"), "llama.cpp did not log a cancelled request:\n{llm_log}");
    let line = rig.latency_lines().into_iter().next().expect("a latency line");
    assert!(line["t_barge_in"].is_number() && line["t_llm_cancelled"].is_number(), "{line}");
    assert_eq!(line["outcome"], "barged_in", "{line}");
    alice.quit().await;
    listener.quit().await;
}

impl Rig {
    /// Stops a server (its port stays reserved in `ports` for the restart).
    fn kill(&mut self, which: &str) {
        match which {
            "stt" => self.stt = None,
            "tts" => self.tts = None,
            "llm" => self.llm = None,
            _ => unreachable!(),
        }
    }

    async fn restart(&mut self, which: &str) {
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
async fn ask(rig: &Rig, talker: &mut Peer, recording: &Path, bot: u32, question: &Path) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_survived_and_the_next_turn_works() {
    let _serial = serial().await;
    let Some(mut rig) = Rig::start(false).await else { return };
    let bridge = rig.bridge(&format!("root ::= \"{ANSWER}\"")).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;
    let question = rig.speech_file("What is the capital of France?", "q");
    let answered = |heard: &str| words_match(ANSWER, heard) <= 0.2;
    let apologised = |heard: &str| normalize_words(heard).contains(&"sorry".to_string());

    // The LLM server is down: the bot says its fallback phrase; once it is back, the next turn works.
    rig.kill("llm");
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(apologised(&heard), "LLM down: heard {heard:?}");
    rig.restart("llm").await;
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the LLM restart: heard {heard:?}");

    // The STT server dies while the question is being spoken (and streamed to it).
    let before = audio_of(&recording, bot).0.len();
    alice.send(json!({"cmd": "play", "file": question}));
    tokio::time::sleep(Duration::from_millis(700)).await;
    rig.kill("stt");
    alice.wait_for(|e| e["event"] == "played", Duration::from_secs(30)).await;
    wait_for_reply(&recording, bot, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let reply = audio_of(&recording, bot).0.split_off(before);
    rig.restart("stt").await;
    let heard = rig.transcribe(&reply).await;
    assert!(apologised(&heard), "STT down: heard {heard:?}");
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the STT restart: heard {heard:?}");

    // The TTS server is down: nothing can be said, so the fallback goes out as a text message.
    rig.kill("tts");
    alice.play(&question).await;
    let text = listener.wait_for(|e| e["event"] == "text", Duration::from_secs(30)).await;
    assert!(text["message"].as_str().unwrap_or_default().contains("Sorry"), "{text}");
    rig.restart("tts").await;
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the TTS restart: heard {heard:?}");

    // Murmur restarts: the bridge reconnects and answers the next question.
    alice.quit().await;
    listener.quit().await;
    rig.murmur.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while bridge.log().matches("connected to Mumble").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "no reconnect:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob2.pcm");
    listener.record(&recording).await;
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the Murmur restart: heard {heard:?}");

    let log = bridge.log();
    assert!(!log.contains("panicked"), "{log}");
    alice.quit().await;
    listener.quit().await;
}
