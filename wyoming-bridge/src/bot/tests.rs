//! The event loop against in-process fakes: an LLM that answers scripted SSE replies, Wyoming TTS and STT
//! servers that record what they are asked, and a real paced sink. The real peers are in
//! `tests/pipeline_e2e.rs`; these cover the loop's own rules (superseding, staleness, the continuation rule,
//! greetings, text replies, padding) where timing must be controlled.

use super::*;
use crate::audio::sender::spawn_sender;
use crate::chunker::ChunkerOptions;
use crate::history::ChannelHistory;
use crate::llm::{LlmOptions, Sampling};
use crate::mumble::{Connected, TextMessage, VoiceFrame};
use serde_json::{Map, Value};
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::event::{
    AudioChunk, AudioStart, AudioStop, Event as Wy, Info, SynthesizeStopped, Transcript, TtsProgram,
};
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;

#[test]
fn an_interrupted_reply_keeps_the_words_played() {
    let phrases = vec!["The capital of France is Paris.".to_string(), "It is on the Seine.".to_string()];
    assert_eq!(heard(&phrases, 1.0).text, "The capital of France is Paris. It is on the Seine.");
    let half = heard(&phrases, 0.5);
    assert!(half.interrupted && half.text.starts_with("The capital of France"), "{half:?}");
    assert!(heard(&phrases, 0.0).text.is_empty());
}

/// One scripted LLM answer.
#[derive(Clone)]
struct Reply {
    delay: Duration,
    text: &'static str,
}

/// A reply that is all reasoning, cut at `max_tokens` before any answer text.
const THINKS_UNTIL_MAX_TOKENS: &str = "@length";

fn reply(text: &'static str) -> Reply {
    Reply { delay: Duration::ZERO, text }
}

/// Serves `replies` in order (the last one again for later requests) and records each request's body.
async fn fake_llm(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorded = requests.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let r = replies[n.min(replies.len() - 1)].clone();
            n += 1;
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                            .unwrap_or(0usize);
                        break (at + 4, length);
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                while buf.len() < head_end + length {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                recorded.lock().unwrap().push(serde_json::from_slice(&buf[head_end..head_end + length]).unwrap());
                tokio::time::sleep(r.delay).await;
                let mut body = String::new();
                if r.text == THINKS_UNTIL_MAX_TOKENS {
                    let thinking =
                        serde_json::json!({"choices": [{"index": 0, "delta": {"reasoning_content": "Hmm"}}]});
                    let cut = serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]});
                    body.push_str(&format!("data: {thinking}\n\ndata: {cut}\n\n"));
                } else {
                    for word in r.text.split_inclusive(' ') {
                        let delta = serde_json::json!({"choices": [{"index": 0, "delta": {"content": word}}]});
                        body.push_str(&format!("data: {delta}\n\n"));
                    }
                }
                body.push_str("data: [DONE]\n\n");
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, requests)
}

const TTS_FORMAT: AudioFormat = AudioFormat { rate: 16_000, width: 2, channels: 1 };

/// A Wyoming TTS server that answers every phrase with 10 ms of tone per character and records the events
/// it was sent, as `type: text`.
async fn fake_tts(streaming: bool) -> (WyomingUri, Arc<Mutex<Vec<String>>>) {
    fake_tts_failing(streaming, usize::MAX).await
}

/// [`fake_tts`], answering a stream's chunks after the first `fail_after` with an `error` event.
async fn fake_tts_failing(streaming: bool, fail_after: usize) -> (WyomingUri, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = Server::bind(&"tcp://127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await.unwrap();
    let uri = server.local_uri();
    let recorded = log.clone();
    let handler = move |mut conn: wyoming_proto::connection::Connection, _shutdown: Shutdown| {
        let log = recorded.clone();
        async move {
            let audio = |text: &str| {
                let samples = text.chars().count() * 160;
                let pcm: Vec<u8> =
                    (0..samples).flat_map(|i| (((i as f32 * 0.1).sin() * 8000.0) as i16).to_le_bytes()).collect();
                Wy::AudioChunk(AudioChunk::new(TTS_FORMAT, pcm))
            };
            while let Some(event) = conn.read_event().await? {
                match event {
                    Wy::Describe(_) => {
                        let program = TtsProgram { supports_synthesize_streaming: streaming, ..Default::default() };
                        conn.write_event(&Wy::Info(Info { tts: vec![program], ..Default::default() })).await?;
                    }
                    Wy::Synthesize(s) => {
                        log.lock().unwrap().push(format!("synthesize: {}", s.text));
                        conn.write_event(&Wy::AudioStart(AudioStart::new(TTS_FORMAT))).await?;
                        conn.write_event(&audio(&s.text)).await?;
                        conn.write_event(&Wy::AudioStop(AudioStop::default())).await?;
                    }
                    Wy::SynthesizeStart(_) => {
                        log.lock().unwrap().push("synthesize-start".into());
                        conn.write_event(&Wy::AudioStart(AudioStart::new(TTS_FORMAT))).await?;
                    }
                    Wy::SynthesizeChunk(c) => {
                        let chunks = {
                            let mut log = log.lock().unwrap();
                            log.push(format!("synthesize-chunk: {}", c.text.trim()));
                            log.iter().filter(|e| e.starts_with("synthesize-chunk")).count()
                        };
                        if chunks > fail_after {
                            let error =
                                wyoming_proto::event::ErrorEvent { text: "out of memory".into(), ..Default::default() };
                            conn.write_event(&Wy::Error(error)).await?;
                            continue;
                        }
                        conn.write_event(&audio(&c.text)).await?;
                    }
                    Wy::SynthesizeStop(_) => {
                        conn.write_event(&Wy::AudioStop(AudioStop::default())).await?;
                        conn.write_event(&Wy::SynthesizeStopped(SynthesizeStopped::default())).await?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
    };
    tokio::spawn(server.serve(handler, Shutdown::new()));
    (uri, log)
}

/// A Wyoming STT server that answers the n-th request with `transcripts[n]`.
async fn fake_stt(transcripts: Vec<&'static str>) -> WyomingUri {
    let server = Server::bind(&"tcp://127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await.unwrap();
    let uri = server.local_uri();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handler = move |mut conn: wyoming_proto::connection::Connection, _shutdown: Shutdown| {
        let (next, transcripts) = (next.clone(), transcripts.clone());
        async move {
            while let Some(event) = conn.read_event().await? {
                if let Wy::AudioStop(_) = event {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let text = transcripts.get(n).copied().unwrap_or("");
                    conn.write_event(&Wy::Transcript(Transcript::new(text))).await?;
                }
            }
            Ok(())
        }
    };
    tokio::spawn(server.serve(handler, Shutdown::new()));
    uri
}

fn config(llm_url: &str, tts_uri: WyomingUri, stt_uri: WyomingUri, dir: &std::path::Path) -> BotConfig {
    let llm = LlmClient::new(LlmOptions {
        endpoint: llm_url.to_string(),
        model: "test".into(),
        api_key: None,
        sampling: Sampling::default(),
        extra_body: Map::new(),
        stream: true,
        include_usage: false,
        connect_timeout: Duration::from_secs(2),
        first_token_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        retry_backoff: Duration::from_millis(50),
        starts_in_think: false,
    })
    .unwrap();
    BotConfig {
        ignore_users: Vec::new(),
        claims: None,
        stt_uri,
        tts_uri,
        voice: None,
        language: None,
        listen: ListenConfig { hangover_ms: 200, min_speech_ms: 100, max_utterance_ms: 1000, ..Default::default() },
        silero: None,
        stt_timeout: Duration::from_secs(5),
        stability: (2, 10),
        llm,
        system_prompt: "Be brief.".into(),
        chunker: ChunkerOptions::default(),
        history: ChannelHistory::new(20, 50, Duration::from_secs(300)),
        barge_in: true,
        barge_in_ms: 300,
        fallback_phrase: "Sorry, something went wrong.".into(),
        latency_log: Some(dir.join("latency.jsonl")),
        respond: RespondRules { echo_filter: false, utterance: None, wake_word: None },
        echo_decay: Duration::from_secs(10),
        staleness: None,
        pending_text_timeout: Duration::from_millis(400),
        continuation_words: 10,
        tts_streaming: true,
        pad_min_chars: 0,
        text_reply: false,
        greet_on_join: false,
    }
}

/// A running bot: its event input, its sink (paced in real time, frames discarded) and text output.
struct Running {
    events: mpsc::Sender<Event>,
    sink: AudioSink,
    text: mpsc::UnboundedReceiver<TextOut>,
    dir: tempfile::TempDir,
    _link: watch::Sender<Option<crate::audio::sender::VoiceLink>>,
    _bot: AbortOnDropHandle<()>,
}

impl Running {
    fn start(make: impl FnOnce(&std::path::Path) -> BotConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let (link_tx, link) = watch::channel(None);
        let sink = spawn_sender(link).unwrap();
        let (text_tx, text) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(1000);
        let bot = Bot::new(make(dir.path()), sink.clone(), text_tx);
        let bot = AbortOnDropHandle::new(tokio::spawn(bot.run(events_rx)));
        Running { events, sink, text, dir, _link: link_tx, _bot: bot }
    }

    async fn type_text(&self, text: &str) {
        self.send_text(text, false).await;
    }

    async fn send_text(&self, text: &str, private: bool) {
        let message = TextMessage { actor: Some(7), sender: Some("Alice".into()), text: text.into(), private };
        self.events.send(Event::Text(message)).await.unwrap();
    }

    fn latency_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("latency.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Waits until `check` holds, for up to `within`.
    async fn wait_for(&self, within: Duration, what: &str, check: impl Fn(&Running) -> bool) {
        let deadline = Instant::now() + within;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The user messages of a request, without the context line in front of the newest one.
fn user_messages(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .map(|text| match text.split_once(")\n") {
            Some((context, rest)) if context.starts_with("(Current time: ") => rest.to_string(),
            _ => text.to_string(),
        })
        .collect()
}

const LONGER: &str = "This is a long answer that goes on and on for quite a while, so that there is plenty of audio \
    queued in the sink. It has a second sentence too, which also takes its time to be spoken aloud. And a third \
    one, because some answers are longer than others, and the bot must keep talking until it is done with them.";

const LONG: &str = "This is a long answer that goes on and on for quite a while, so that there is plenty of audio \
    queued in the sink. It has a second sentence too, which also takes its time to be spoken aloud.";

#[tokio::test]
async fn a_new_question_stops_the_reply_in_progress() {
    let (llm, requests) = fake_llm(vec![reply(LONG), Reply { delay: Duration::from_millis(600), text: "Yes." }]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    bot.type_text("Tell me something long.").await;
    bot.wait_for(Duration::from_secs(10), "the long reply", |b| b.sink.queued() > Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    bot.type_text("Actually, is it raining?").await;
    // The old reply's audio is dropped at once, before the new answer (600 ms away) is queued.
    bot.wait_for(Duration::from_millis(400), "the old reply to stop", |b| b.sink.queued() < Duration::from_millis(100))
        .await;
    bot.wait_for(Duration::from_secs(10), "two latency lines", |b| b.latency_lines().len() == 2).await;
    let lines = bot.latency_lines();
    assert_eq!(lines[0]["outcome"], "cancelled", "{}", lines[0]);
    assert_eq!(lines[1]["outcome"], "spoken", "{}", lines[1]);
    // The history records only what was heard of the first reply.
    let requests = requests.lock().unwrap();
    let assistant: Vec<&str> = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(assistant.len(), 1, "{assistant:?}");
    assert!(assistant[0].len() < LONG.len() / 2, "the cut reply is in the history whole: {assistant:?}");
}

#[tokio::test]
async fn a_reply_is_spoken_and_the_turn_ends_when_its_audio_has_played() {
    let (llm, _) = fake_llm(vec![reply("Paris is the capital.")]).await;
    let (tts, log) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    bot.type_text("What is the capital of France?").await;
    bot.wait_for(Duration::from_secs(10), "audio", |b| b.sink.is_playing()).await;
    let started = Instant::now();
    bot.wait_for(Duration::from_secs(10), "the latency line", |b| !b.latency_lines().is_empty()).await;
    assert!(!bot.sink.is_playing(), "the turn ended before its audio had played");
    // 21 characters of 10 ms each.
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    let line = &bot.latency_lines()[0];
    assert_eq!(line["outcome"], "spoken", "{line}");
    assert!(line["t_playback_end"].as_f64().unwrap() >= line["t_first_audio_sent"].as_f64().unwrap(), "{line}");
    assert!(log.lock().unwrap().contains(&"synthesize-chunk: Paris is the capital.".to_string()));
}

#[tokio::test]
async fn a_reply_not_audible_within_the_staleness_limit_is_dropped() {
    let (llm, _) = fake_llm(vec![Reply { delay: Duration::from_millis(800), text: "Too late." }]).await;
    let (tts, log) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let bot =
        Running::start(|dir| BotConfig { staleness: Some(Duration::from_millis(300)), ..config(&llm, tts, stt, dir) });
    bot.type_text("What time is it?").await;
    bot.wait_for(Duration::from_secs(5), "the latency line", |b| !b.latency_lines().is_empty()).await;
    let line = &bot.latency_lines()[0];
    assert_eq!(line["outcome"], "stale", "{line}");
    assert_eq!(line["stale_dropped"], true, "{line}");
    assert!(line["t_llm_cancelled"].is_number(), "{line}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let log = log.lock().unwrap();
    assert!(!bot.sink.is_playing() && !log.iter().any(|e| e.starts_with("synthesize-chunk")), "spoken: {log:?}");
}

#[tokio::test]
async fn a_reply_already_playing_is_never_dropped_for_age() {
    let (llm, _) = fake_llm(vec![reply(LONGER)]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    // 2 s: this reply's first audio comes within milliseconds; its 3.8 s of audio play on well past the limit.
    let bot =
        Running::start(|dir| BotConfig { staleness: Some(Duration::from_secs(2)), ..config(&llm, tts, stt, dir) });
    bot.type_text("Tell me something long.").await;
    bot.wait_for(Duration::from_secs(10), "the latency line", |b| !b.latency_lines().is_empty()).await;
    assert_eq!(bot.latency_lines()[0]["outcome"], "spoken");
}

#[tokio::test]
async fn padding_and_plain_synthesis_follow_the_tts_settings() {
    let (llm, requests) = fake_llm(vec![reply("Hi."), reply("Sure.")]).await;
    let (tts, log) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let bot =
        Running::start(|dir| BotConfig { pad_min_chars: 10, tts_streaming: false, ..config(&llm, tts, stt, dir) });
    bot.type_text("Hello bot.").await;
    bot.wait_for(Duration::from_secs(10), "the first turn", |b| !b.latency_lines().is_empty()).await;
    bot.type_text("Can you help?").await;
    bot.wait_for(Duration::from_secs(10), "the second turn", |b| b.latency_lines().len() == 2).await;
    // A plain `synthesize` per phrase although the server streams; the TTS sees the padding…
    assert_eq!(
        *log.lock().unwrap(),
        [format!("synthesize: Hi.{}", "...".repeat(3)), format!("synthesize: Sure.{}", "...".repeat(2))]
    );
    // …the history does not.
    let second = &requests.lock().unwrap()[1];
    let assistant = second["messages"].as_array().unwrap().iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(assistant["content"], "Hi.");
}

#[tokio::test]
async fn text_questions_get_a_text_reply_when_asked() {
    let (llm, _) = fake_llm(vec![reply("It is sunny.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let mut bot = Running::start(|dir| BotConfig { text_reply: true, ..config(&llm, tts, stt, dir) });
    bot.type_text("How is the weather?").await;
    let text = tokio::time::timeout(Duration::from_secs(10), bot.text.recv()).await.unwrap().unwrap();
    assert_eq!(text, TextOut { to: TextTarget::CurrentChannel, text: "It is sunny.".into() });
    assert!(!bot.sink.is_playing(), "the text goes out once the spoken reply has played");
    // A private message gets its text reply privately.
    bot.send_text("And tomorrow?", true).await;
    let text = tokio::time::timeout(Duration::from_secs(10), bot.text.recv()).await.unwrap().unwrap();
    assert_eq!(text, TextOut { to: TextTarget::User(7), text: "It is sunny.".into() });
}

/// An LLM endpoint that answers every request, after `delay`, with 400 Bad Request.
async fn failing_llm(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            tokio::time::sleep(delay).await;
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").await;
        }
    });
    url
}

#[tokio::test]
async fn a_failed_reply_says_the_fallback_and_the_next_question_stops_it() {
    // Every request fails, so each question gets the fallback phrase; late enough that the first fallback is
    // seen to stop before the second one starts.
    let url = failing_llm(Duration::from_millis(600)).await;
    let (tts, log) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let long_fallback = "I am sorry, something went wrong on my side, please ask me again in a little while.";
    let bot = Running::start(|dir| BotConfig { fallback_phrase: long_fallback.into(), ..config(&url, tts, stt, dir) });
    bot.type_text("Hello?").await;
    bot.wait_for(Duration::from_secs(10), "the fallback", |b| b.sink.queued() > Duration::from_millis(300)).await;
    bot.type_text("Are you there?").await;
    bot.wait_for(Duration::from_millis(400), "the fallback to stop", |b| b.sink.queued() < Duration::from_millis(100))
        .await;
    let chunks = || log.lock().unwrap().iter().filter(|e| e.starts_with("synthesize-chunk")).count();
    bot.wait_for(Duration::from_secs(10), "the second fallback", |b| chunks() == 2 && b.sink.queued() > Duration::ZERO)
        .await;
}

#[tokio::test]
async fn after_a_tts_failure_the_phrases_never_synthesised_are_not_recorded_as_heard() {
    let (llm, requests) = fake_llm(vec![reply(LONG), reply("Sure.")]).await;
    let (tts, _) = fake_tts_failing(true, 1).await;
    let stt = fake_stt(vec![]).await;
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    bot.type_text("Tell me something long.").await;
    bot.wait_for(Duration::from_secs(10), "the failed turn", |b| !b.latency_lines().is_empty()).await;
    assert_eq!(bot.latency_lines()[0]["outcome"], "error");
    bot.type_text("Go on.").await;
    bot.wait_for(Duration::from_secs(10), "the second request", |_| requests.lock().unwrap().len() == 2).await;
    let second = &requests.lock().unwrap()[1];
    let assistant = second["messages"].as_array().unwrap().iter().find(|m| m["role"] == "assistant").unwrap();
    // The first phrase ("This is a long answer that goes on and on for quite a while,") at most.
    let content = assistant["content"].as_str().unwrap();
    assert!(content.len() <= 64, "the history holds what the TTS never said: {content:?}");
}

#[tokio::test]
async fn with_the_llm_and_the_tts_down_a_private_question_gets_its_fallback_privately() {
    let url = failing_llm(Duration::ZERO).await;
    // Nothing listens on the TTS port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tts: WyomingUri = format!("tcp://{}", closed.local_addr().unwrap()).parse().unwrap();
    drop(closed);
    let stt = fake_stt(vec![]).await;
    let mut bot = Running::start(|dir| config(&url, tts, stt, dir));
    bot.send_text("Are you there?", true).await;
    let text = tokio::time::timeout(Duration::from_secs(10), bot.text.recv()).await.unwrap().unwrap();
    assert_eq!(text, TextOut { to: TextTarget::User(7), text: "Sorry, something went wrong.".into() });
}

/// 20 ms frames of a loud tone from session 7.
fn tone(ms: usize) -> Vec<Event> {
    let frame: Vec<i16> = (0..960).map(|i| ((i as f32 * 0.0576).sin() * 6000.0) as i16).collect();
    (0..ms / 20)
        .map(|_| Event::Voice(VoiceFrame { session: 7, name: "Alice".into(), pcm: frame.clone(), concealed: false }))
        .collect()
}

fn silence(ms: usize) -> Vec<Event> {
    (0..ms / 20)
        .map(|_| Event::Voice(VoiceFrame { session: 7, name: "Alice".into(), pcm: vec![0; 960], concealed: false }))
        .collect()
}

async fn send_all(bot: &Running, events: Vec<Event>) {
    for event in events {
        bot.events.send(event).await.unwrap();
    }
}

#[tokio::test]
async fn an_utterance_cut_at_the_maximum_length_is_answered_with_its_continuation() {
    let (llm, requests) = fake_llm(vec![reply("Nice.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec!["so I was thinking", "about the weather"]).await;
    let bot =
        Running::start(|dir| BotConfig { pending_text_timeout: Duration::from_secs(1), ..config(&llm, tts, stt, dir) });
    // 1.5 s of speech: cut at 1 s, the rest ends in silence.
    send_all(&bot, tone(1000)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    send_all(&bot, tone(500)).await;
    send_all(&bot, silence(400)).await;
    bot.wait_for(Duration::from_secs(10), "the turn", |b| !b.latency_lines().is_empty()).await;
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1, "one question, one request");
    assert_eq!(user_messages(&requests[0]).last().unwrap(), "Alice: so I was thinking about the weather");
}

/// The continuation timer (400 ms here) does not run while the speaker is still talking: 2.5 s of speech, cut
/// twice at 1 s, is one question.
#[tokio::test]
async fn the_continuation_timer_waits_while_the_speaker_talks_on() {
    let (llm, requests) = fake_llm(vec![reply("Nice.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec!["so I was thinking", "about the weather", "in Paris"]).await;
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    for event in tone(2500).into_iter().chain(silence(400)) {
        bot.events.send(event).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.wait_for(Duration::from_secs(10), "the turn", |b| !b.latency_lines().is_empty()).await;
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1, "one question, one request: {:?}", *requests);
    assert_eq!(user_messages(&requests[0]).last().unwrap(), "Alice: so I was thinking about the weather in Paris");
}

#[tokio::test]
async fn a_cut_utterance_without_a_continuation_is_answered_after_the_timeout() {
    let (llm, requests) = fake_llm(vec![reply("Go on.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec!["so I was thinking"]).await;
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    send_all(&bot, tone(1000)).await;
    send_all(&bot, silence(400)).await;
    let sent = Instant::now();
    bot.wait_for(Duration::from_secs(10), "the request", |_| !requests.lock().unwrap().is_empty()).await;
    // pending_text_timeout is 400 ms.
    assert!(sent.elapsed() >= Duration::from_millis(300), "answered before the timeout: {:?}", sent.elapsed());
    assert_eq!(user_messages(&requests.lock().unwrap()[0]).last().unwrap(), "Alice: so I was thinking");
}

#[tokio::test]
async fn a_user_coming_into_the_channel_is_greeted_outside_the_history() {
    let (llm, requests) = fake_llm(vec![reply("Hey Carol, welcome!"), reply("Hi Dave!"), reply("Fine.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let bot = Running::start(|dir| BotConfig { greet_on_join: true, ..config(&llm, tts, stt, dir) });
    let connected = Connected { session: 1, channel_id: 0, max_bandwidth: None, welcome_text: String::new() };
    bot.events.send(Event::Connected(connected)).await.unwrap();
    // Announced at connect, in the bot's channel: not greeted. Then the bot moves to channel 5.
    let bob = Event::UserJoined { session: 2, name: "Bob".into(), channel_id: 0, present_at_connect: true };
    bot.events.send(bob).await.unwrap();
    bot.events.send(Event::UserMoved { session: 1, name: "VoiceBot".into(), from: 0, to: 5 }).await.unwrap();
    // Someone moves into another channel: not greeted. Carol moves into ours.
    bot.events.send(Event::UserMoved { session: 2, name: "Bob".into(), from: 0, to: 6 }).await.unwrap();
    bot.events.send(Event::UserMoved { session: 3, name: "Carol".into(), from: 0, to: 5 }).await.unwrap();
    bot.wait_for(Duration::from_secs(10), "Carol's greeting", |b| !b.latency_lines().is_empty()).await;
    // Dave connects straight into our channel.
    let dave = Event::UserJoined { session: 4, name: "Dave".into(), channel_id: 5, present_at_connect: false };
    bot.events.send(dave).await.unwrap();
    bot.wait_for(Duration::from_secs(10), "Dave's greeting", |b| b.latency_lines().len() == 2).await;
    bot.type_text("How are you?").await;
    bot.wait_for(Duration::from_secs(10), "the answer", |b| b.latency_lines().len() == 3).await;
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 3, "two greetings (Carol, Dave), one answer");
    assert!(user_messages(&requests[0])[0].contains("Carol"), "{}", requests[0]);
    assert!(user_messages(&requests[1])[0].contains("Dave"), "{}", requests[1]);
    let answer = requests[2]["messages"].as_array().unwrap();
    assert!(answer.iter().all(|m| m["role"] != "assistant"), "the greeting is in the history: {answer:?}");
    // The context line, in front of the question: who is in the channel, and who came in within the minute.
    let question = answer.last().unwrap()["content"].as_str().unwrap();
    let (context, rest) = question.split_once(")\n").unwrap();
    assert_eq!(rest, "Alice (text): How are you?");
    assert!(context.starts_with("(Current time: It's "), "{context}");
    assert!(
        context.ends_with(" | Channel: Users in channel: Carol, Dave. | Recent: Carol just joined, Dave just joined"),
        "{context}"
    );
    assert_eq!(answer.iter().filter(|m| m["role"] == "system").count(), 1);
}

#[tokio::test]
async fn a_typed_message_is_never_taken_for_an_echo() {
    let (llm, requests) = fake_llm(vec![reply("The capital of France is Paris.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let rules = RespondRules { echo_filter: true, utterance: None, wake_word: None };
    let bot = Running::start(|dir| BotConfig { respond: rules, ..config(&llm, tts, stt, dir) });
    bot.type_text("What is the capital of France?").await;
    bot.wait_for(Duration::from_secs(10), "the first turn", |b| !b.latency_lines().is_empty()).await;
    bot.type_text("The capital of France is Paris?").await;
    bot.wait_for(Duration::from_secs(10), "the second request", |_| requests.lock().unwrap().len() == 2).await;
}

/// The other personas of a multi-persona file are neither heard nor answered, by voice or by text.
#[tokio::test]
async fn the_other_personas_are_not_answered() {
    let (llm, requests) = fake_llm(vec![reply("Hello there.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec!["what is the weather like today"]).await;
    let bot = Running::start(|dir| BotConfig { ignore_users: vec!["Alice".into()], ..config(&llm, tts, stt, dir) });
    send_all(&bot, tone(900).into_iter().chain(silence(400)).collect()).await;
    bot.type_text("What is the weather like today?").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(requests.lock().unwrap().is_empty(), "answered another persona: {:?}", requests.lock().unwrap());
    // Someone else is.
    let message =
        TextMessage { actor: Some(8), sender: Some("Bob".into()), text: "Hi bot, how are you?".into(), private: false };
    bot.events.send(Event::Text(message)).await.unwrap();
    bot.wait_for(Duration::from_secs(10), "the answer to Bob", |_| requests.lock().unwrap().len() == 1).await;
}

/// The meaningful-utterance filter is for speech (coughs, fillers, mis-heard noise): a typed "thanks" or "ok" is
/// answered, as the Python bot answered every non-empty text message, while the same word spoken is not.
#[tokio::test]
async fn a_typed_one_word_message_is_answered() {
    let (llm, requests) = fake_llm(vec![reply("You're welcome.")]).await;
    let (tts, _) = fake_tts(true).await;
    let stt = fake_stt(vec!["ok"]).await;
    let utterance = Some(crate::respond::UtteranceRules { min_words: 2, min_chars: 5, hallucination_filter: true });
    let rules = RespondRules { echo_filter: true, utterance, wake_word: None };
    let bot = Running::start(|dir| BotConfig { respond: rules, ..config(&llm, tts, stt, dir) });
    send_all(&bot, tone(900).into_iter().chain(silence(400)).collect()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(requests.lock().unwrap().is_empty(), "a spoken 'ok' was answered");
    bot.type_text("ok").await;
    bot.wait_for(Duration::from_secs(10), "the answer", |_| requests.lock().unwrap().len() == 1).await;
    assert_eq!(user_messages(&requests.lock().unwrap()[0]).last().unwrap(), "Alice (text): ok");
}

/// With the STT server down, a question gets the fallback phrase; a cough does not, and neither does every
/// later utterance.
#[tokio::test]
async fn stt_failures_get_one_fallback_for_a_question_not_for_every_noise() {
    let (llm, _) = fake_llm(vec![reply("Unused.")]).await;
    let (tts, log) = fake_tts(true).await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stt: WyomingUri = format!("tcp://{}", closed.local_addr().unwrap()).parse().unwrap();
    drop(closed);
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    let chunks = || log.lock().unwrap().iter().filter(|e| e.starts_with("synthesize-chunk")).count();
    send_all(&bot, tone(200).into_iter().chain(silence(400)).collect()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(chunks(), 0, "a cough got the fallback");
    send_all(&bot, tone(900).into_iter().chain(silence(400)).collect()).await;
    bot.wait_for(Duration::from_secs(10), "the fallback", |_| chunks() == 1).await;
    bot.wait_for(Duration::from_secs(10), "the fallback to end", |b| !b.sink.is_playing()).await;
    send_all(&bot, tone(900).into_iter().chain(silence(400)).collect()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(chunks(), 1, "the fallback again within the interval");
}

/// A reasoning model that spends every token thinking leaves nothing to say: the fallback phrase is said, not
/// silence.
#[tokio::test]
async fn a_reply_cut_at_max_tokens_before_any_text_says_the_fallback() {
    let (llm, _) = fake_llm(vec![reply(THINKS_UNTIL_MAX_TOKENS)]).await;
    let (tts, log) = fake_tts(true).await;
    let stt = fake_stt(vec![]).await;
    let bot = Running::start(|dir| config(&llm, tts, stt, dir));
    bot.type_text("What is the meaning of life?").await;
    let said = || log.lock().unwrap().iter().any(|e| e.contains("Sorry, something went wrong."));
    bot.wait_for(Duration::from_secs(10), "the fallback phrase", |_| said()).await;
    bot.wait_for(Duration::from_secs(10), "the turn", |b| !b.latency_lines().is_empty()).await;
    let line = &bot.latency_lines()[0];
    assert_eq!(line["outcome"], "error", "{line}");
    assert!(line["error"].as_str().unwrap().contains("max_tokens"), "{line}");
}
