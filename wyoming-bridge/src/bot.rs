//! The voice bot's event loop: Mumble events in, turns out.
//!
//! Per speaker, a [`Listener`] finds utterances and streams each to STT while it is spoken. A transcript that
//! passes the respond rules joins the channel-wide history as `Name: text` and starts a [`turn`]; the turn
//! streams LLM → chunker → TTS → Mumble in its own task. Speech from anyone while the bot talks is a
//! barge-in once it has lasted the listener's `min_speech_ms` (so coughs don't count): playback stops within
//! one frame, the turn task is aborted (dropping the LLM and TTS connections), and the history records only
//! what was heard. Every turn writes one JSON line of timestamps. Failures of STT, LLM or TTS are logged and,
//! where a reply was expected, answered with a short fallback phrase; nothing here ends the loop except
//! the Mumble event stream ending.

use crate::audio::AudioSink;
use crate::chunker::ChunkerOptions;
use crate::listen::{Heard, ListenConfig, Listener};
use crate::llm::ChatMessage;
use crate::llm::client::LlmClient;
use crate::mumble::Event;
use crate::stt::SttUtterance;
use crate::turn::{self, TurnPlan, TurnUpdate, heard_part};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, info, warn};
use wyoming_proto::event::SynthesizeVoice;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::vad::silero::SileroModel;

/// Everything the loop needs, resolved from `config.yaml` and flags.
pub struct BotConfig {
    pub stt_uri: WyomingUri,
    pub tts_uri: WyomingUri,
    pub voice: Option<SynthesizeVoice>,
    pub language: Option<String>,
    pub listen: ListenConfig,
    pub silero: Option<Arc<SileroModel>>,
    pub stt_timeout: Duration,
    pub llm: LlmClient,
    pub system_prompt: String,
    pub chunker: ChunkerOptions,
    /// Most user+assistant messages kept in the history.
    pub history_len: usize,
    pub barge_in: bool,
    /// Speech this long while the bot talks is a barge-in (short, so the bot stops quickly; coughs
    /// shorter than this don't count).
    pub barge_in_ms: u32,
    /// Said when a reply was expected but could not be produced.
    pub fallback_phrase: String,
    /// One JSON line per turn is appended here.
    pub latency_log: Option<PathBuf>,
    /// Utterances with fewer words than this are ignored (noise, "uh").
    pub min_words: usize,
    /// When set, only utterances containing it (case-insensitive) get a reply.
    pub wake_word: Option<String>,
    /// The bot's own recent speech is not taken as a question (echo filter).
    pub echo_window: Duration,
}

/// The timestamps of one turn, as a JSON line. Times are milliseconds since the end of the user's speech
/// (negative before it); `None` for stages the turn did not reach.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct TurnLatency {
    pub turn: u64,
    pub user: String,
    pub text: String,
    /// Wall clock of the end of speech (Unix milliseconds).
    pub wall_ms: u64,
    pub speech_start: Option<f64>,
    pub speech_end: f64,
    pub vad_hangover_ms: u32,
    pub vad_end: Option<f64>,
    pub stt_done: Option<f64>,
    pub llm_request: Option<f64>,
    pub llm_first_token: Option<f64>,
    pub first_phrase_ready: Option<f64>,
    pub tts_first_audio: Option<f64>,
    pub first_audio_sent: Option<f64>,
    pub llm_done: Option<f64>,
    pub reply_queued: Option<f64>,
    pub barge_in: Option<f64>,
    pub cancelled: Option<f64>,
    pub failed: Option<String>,
    /// Derived: end of speech → first audio sent to Mumble.
    pub ttfa_ms: Option<f64>,
    pub stt_ms: Option<f64>,
    pub llm_ttft_ms: Option<f64>,
    pub tts_ttfa_ms: Option<f64>,
    pub reply: String,
}

struct Speaker {
    name: String,
    listener: Listener,
    stt: Option<SttUtterance>,
    started: Option<Instant>,
}

/// The reply being produced or played.
struct Turn {
    task: AbortOnDropHandle<()>,
    updates: mpsc::UnboundedReceiver<TurnUpdate>,
    latency: TurnLatency,
    anchor: Instant,
    queued: usize,
    /// Phrases sent to TTS, in order.
    text: String,
    playing_since: Option<Instant>,
    done: bool,
}

struct Transcribed {
    session: u32,
    name: String,
    result: Result<String, String>,
    speech_start: Option<Instant>,
    speech_end: Instant,
    vad_end: Instant,
    hangover_ms: u32,
}

pub struct Bot {
    config: BotConfig,
    sink: AudioSink,
    text_out: mpsc::UnboundedSender<String>,
    speakers: HashMap<u32, Speaker>,
    history: Vec<ChatMessage>,
    turn: Option<Turn>,
    turns: u64,
    /// What the bot said recently, for the echo filter.
    recent_speech: Vec<(Instant, String)>,
    transcripts_tx: mpsc::UnboundedSender<Transcribed>,
    transcripts: mpsc::UnboundedReceiver<Transcribed>,
}

impl Bot {
    /// `text_out` carries text messages for the channel (fallbacks when the TTS is down).
    pub fn new(config: BotConfig, sink: AudioSink, text_out: mpsc::UnboundedSender<String>) -> Self {
        let (transcripts_tx, transcripts) = mpsc::unbounded_channel();
        Bot {
            config,
            sink,
            text_out,
            speakers: HashMap::new(),
            history: Vec::new(),
            turn: None,
            turns: 0,
            recent_speech: Vec::new(),
            transcripts_tx,
            transcripts,
        }
    }

    /// The history the next request would carry (for tests and logs).
    pub fn history(&self) -> &[ChatMessage] {
        &self.history
    }

    /// Runs until the Mumble event stream ends.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                Some(t) = self.transcripts.recv() => self.on_transcript(t),
                update = next_update(&mut self.turn) => self.on_update(update),
            }
        }
        self.cancel_turn("shutdown");
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Voice(frame) => {
                let speaker = self.speakers.entry(frame.session).or_insert_with(|| Speaker {
                    name: frame.name.clone(),
                    listener: Listener::new(self.config.listen.clone(), self.config.silero.clone()),
                    stt: None,
                    started: None,
                });
                match speaker.listener.push(&frame.pcm) {
                    Ok(heard) => {
                        let speech_ms = speaker.listener.speech_ms();
                        if self.config.barge_in && speech_ms >= self.config.barge_in_ms && self.bot_is_speaking() {
                            info!(user = %frame.name, speech_ms, "barge-in: stopping playback");
                            self.barge_in();
                        }
                        self.on_heard(frame.session, heard);
                    }
                    Err(e) => warn!(user = %frame.name, "{e}"),
                }
            }
            Event::VoiceEnd { session, .. } => {
                if let Some(speaker) = self.speakers.get_mut(&session) {
                    let heard = speaker.listener.flush();
                    self.on_heard(session, heard);
                }
            }
            Event::UserLeft { session, name } => {
                info!(%name, "left");
                self.speakers.remove(&session);
            }
            Event::Text(message) => {
                let name = message.sender.clone().unwrap_or_else(|| "Someone".into());
                info!(%name, text = %message.text, "text message");
                let now = Instant::now();
                self.on_transcript(Transcribed {
                    session: message.actor.unwrap_or(0),
                    name,
                    result: Ok(message.text),
                    speech_start: None,
                    speech_end: now,
                    vad_end: now,
                    hangover_ms: 0,
                });
            }
            Event::Connected(c) => info!(session = c.session, "connected to Mumble"),
            Event::Disconnected { reason, retry_in } => {
                warn!(%reason, ?retry_in, "Mumble connection lost; reconnecting");
                self.cancel_turn("disconnected");
                self.speakers.clear();
            }
            Event::UserJoined { .. } | Event::UserMoved { .. } => {}
        }
    }

    fn on_heard(&mut self, session: u32, heard: Vec<Heard>) {
        for h in heard {
            let Some(speaker) = self.speakers.get_mut(&session) else { return };
            match h {
                Heard::SpeechStarted => {
                    speaker.started = Some(Instant::now());
                    speaker.stt = Some(SttUtterance::start(
                        self.config.stt_uri.clone(),
                        self.config.language.clone(),
                        self.config.stt_timeout,
                    ));
                }
                Heard::Audio(pcm) => {
                    if let Some(stt) = &speaker.stt {
                        stt.push(pcm);
                    }
                }
                Heard::SpeechEnded { speech_ms, hangover_ms, cut } => {
                    let vad_end = Instant::now();
                    let speech_end = vad_end - Duration::from_millis(hangover_ms as u64);
                    let speech_start = speaker.started.take();
                    let Some(stt) = speaker.stt.take() else { continue };
                    if cut {
                        info!(user = %speaker.name, speech_ms, "utterance cut at the maximum length");
                    }
                    let (tx, name) = (self.transcripts_tx.clone(), speaker.name.clone());
                    tokio::spawn(async move {
                        let result = stt.finish().await.map_err(|e| e.to_string());
                        let _ = tx.send(Transcribed {
                            session,
                            name,
                            result,
                            speech_start,
                            speech_end,
                            vad_end,
                            hangover_ms,
                        });
                    });
                }
            }
        }
    }

    fn bot_is_speaking(&self) -> bool {
        self.turn.is_some() || self.sink.is_playing()
    }

    fn barge_in(&mut self) {
        let unplayed = self.sink.queued();
        self.sink.stop();
        if let Some(turn) = &mut self.turn {
            turn.latency.barge_in = Some(ms_since(turn.anchor, Instant::now()));
        }
        self.end_turn("barge-in", unplayed);
    }

    /// Ends the current turn (see [`Bot::end_turn`]) with whatever the sink still holds unplayed.
    fn cancel_turn(&mut self, why: &str) {
        let unplayed = self.sink.queued();
        self.end_turn(why, unplayed);
    }

    /// Ends the current turn: aborts its task and records what was heard (all it queued but `unplayed`).
    fn end_turn(&mut self, why: &str, unplayed: Duration) {
        let Some(mut turn) = self.turn.take() else { return };
        let now = Instant::now();
        drop(turn.task);
        if !turn.done {
            turn.latency.cancelled = Some(ms_since(turn.anchor, now));
        }
        let played = turn.queued.saturating_sub((unplayed.as_secs_f64() * 48_000.0) as usize);
        let heard = heard_part(&turn.text, played, turn.queued.max(1));
        info!(why, heard = %heard, "turn ended early");
        turn.latency.reply = heard.clone();
        if !heard.is_empty() {
            self.remember_bot(heard);
        }
        self.write_latency(&turn.latency);
    }

    fn on_transcript(&mut self, t: Transcribed) {
        let text = match t.result {
            Ok(text) => text,
            Err(e) => {
                warn!(user = %t.name, "STT failed: {e}");
                self.say_fallback();
                return;
            }
        };
        let text = text.trim().to_string();
        if let Some(reason) = self.ignore_reason(&text) {
            info!(user = %t.name, %text, reason, "not answering");
            return;
        }
        let _ = t.session;
        info!(user = %t.name, %text, "heard");
        self.cancel_turn("new question");
        self.push_history(ChatMessage::user(format!("{}: {text}", t.name)));
        self.turns += 1;
        let anchor = t.speech_end;
        let latency = TurnLatency {
            turn: self.turns,
            user: t.name.clone(),
            text: text.clone(),
            wall_ms: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
                - anchor.elapsed().as_millis() as u64,
            speech_start: t.speech_start.map(|s| ms_since(anchor, s)),
            speech_end: 0.0,
            vad_hangover_ms: t.hangover_ms,
            vad_end: Some(ms_since(anchor, t.vad_end)),
            stt_done: Some(ms_since(anchor, Instant::now())),
            llm_request: Some(ms_since(anchor, Instant::now())),
            ..Default::default()
        };
        self.start_turn(latency, anchor);
    }

    fn start_turn(&mut self, latency: TurnLatency, anchor: Instant) {
        let mut messages = vec![ChatMessage::system(self.config.system_prompt.clone())];
        messages.extend(self.history.iter().cloned());
        debug!(history = ?self.history.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), "LLM request");
        let plan = TurnPlan {
            llm: self.config.llm.clone(),
            messages,
            chunker: self.config.chunker.clone(),
            tts_uri: self.config.tts_uri.clone(),
            voice: self.config.voice.clone(),
        };
        let (tx, updates) = mpsc::unbounded_channel();
        let task = AbortOnDropHandle::new(tokio::spawn(turn::run(plan, self.sink.clone(), tx)));
        self.turn = Some(Turn {
            task,
            updates,
            latency,
            anchor,
            queued: 0,
            text: String::new(),
            playing_since: None,
            done: false,
        });
    }

    fn on_update(&mut self, update: Option<TurnUpdate>) {
        let Some(turn) = &mut self.turn else { return };
        let Some(update) = update else {
            // The task ended without Done (it failed): the turn is over.
            let turn = self.turn.take().expect("checked");
            self.write_latency(&turn.latency);
            return;
        };
        let at = |i: Instant| Some(ms_since(turn.anchor, i));
        match update {
            TurnUpdate::LlmFirstToken(i) => turn.latency.llm_first_token = at(i),
            TurnUpdate::Phrase { at: i, text } => {
                if turn.latency.first_phrase_ready.is_none() {
                    turn.latency.first_phrase_ready = at(i);
                }
                if !turn.text.is_empty() {
                    turn.text.push(' ');
                }
                turn.text.push_str(&text);
            }
            TurnUpdate::TtsFirstAudio(i) => turn.latency.tts_first_audio = at(i),
            TurnUpdate::FirstAudioSent(i) => {
                turn.latency.first_audio_sent = at(i);
                turn.playing_since = Some(i);
            }
            TurnUpdate::Queued { samples } => turn.queued = samples,
            TurnUpdate::LlmDone(i) => turn.latency.llm_done = at(i),
            TurnUpdate::Done { text, at: i } => {
                turn.latency.reply_queued = at(i);
                turn.done = true;
                let _ = text;
                let turn = self.turn.take().expect("checked");
                let spoken = turn.text.clone();
                let mut latency = turn.latency;
                latency.reply = spoken.clone();
                if spoken.is_empty() {
                    warn!("the LLM's reply had nothing to say");
                } else {
                    self.remember_bot(spoken);
                }
                self.write_latency(&latency);
            }
            TurnUpdate::Failed { stage, error, spoken } => {
                warn!(stage, %error, "reply failed");
                turn.latency.failed = Some(format!("{stage}: {error}"));
                if !spoken {
                    let turn = self.turn.take().expect("checked");
                    self.write_latency(&turn.latency);
                    self.say_fallback();
                }
            }
        }
    }

    fn remember_bot(&mut self, text: String) {
        self.recent_speech.push((Instant::now(), text.clone()));
        self.push_history(ChatMessage::assistant(text));
    }

    fn push_history(&mut self, message: ChatMessage) {
        self.history.push(message);
        let excess = self.history.len().saturating_sub(self.config.history_len);
        self.history.drain(..excess);
    }

    /// Why an utterance gets no reply, if it does not.
    fn ignore_reason(&mut self, text: &str) -> Option<&'static str> {
        let words: Vec<String> = normalized_words(text);
        if words.len() < self.config.min_words.max(1) {
            return Some("too short");
        }
        let window = self.config.echo_window;
        self.recent_speech.retain(|(at, _)| at.elapsed() < window);
        let is_echo = self.recent_speech.iter().any(|(_, said)| {
            let said = normalized_words(said);
            let overlap = words.iter().filter(|w| said.contains(w)).count();
            overlap * 10 >= words.len() * 8
        });
        if is_echo {
            return Some("echo of the bot's own speech");
        }
        if let Some(wake) = &self.config.wake_word {
            let wake = normalized_words(wake).join(" ");
            if !words.join(" ").contains(&wake) {
                return Some("no wake word");
            }
        }
        None
    }

    /// Says the fallback phrase (or writes it, when the TTS cannot be reached).
    fn say_fallback(&mut self) {
        let phrase = self.config.fallback_phrase.clone();
        if phrase.is_empty() {
            return;
        }
        let (sink, uri, voice, text_out) =
            (self.sink.clone(), self.config.tts_uri.clone(), self.config.voice.clone(), self.text_out.clone());
        tokio::spawn(async move {
            let mut speaker = crate::speak::Speaker::start(uri, voice);
            speaker.say(phrase.clone());
            speaker.finish();
            let mut any = false;
            while let Some(audio) = speaker.audio.recv().await {
                match audio {
                    Ok(crate::speak::Spoken::Audio(pcm)) => {
                        any = true;
                        sink.play(&pcm);
                    }
                    Ok(crate::speak::Spoken::Done) => break,
                    Err(e) => {
                        warn!("cannot say the fallback phrase: {e}");
                        break;
                    }
                }
            }
            if any {
                sink.finish();
            } else {
                let _ = text_out.send(phrase);
            }
        });
    }

    fn write_latency(&self, latency: &TurnLatency) {
        let mut latency = latency.clone();
        latency.ttfa_ms = latency.first_audio_sent;
        latency.stt_ms = latency.stt_done.zip(latency.vad_end).map(|(d, v)| d - v);
        latency.llm_ttft_ms = latency.llm_first_token.zip(latency.llm_request).map(|(t, r)| t - r);
        latency.tts_ttfa_ms = latency.tts_first_audio.zip(latency.first_phrase_ready).map(|(a, p)| a - p);
        info!(
            turn = latency.turn,
            ttfa_ms = ?latency.ttfa_ms.map(|v| v.round()),
            stt_ms = ?latency.stt_ms.map(|v| v.round()),
            llm_ttft_ms = ?latency.llm_ttft_ms.map(|v| v.round()),
            tts_ttfa_ms = ?latency.tts_ttfa_ms.map(|v| v.round()),
            "turn latency"
        );
        let Some(path) = &self.config.latency_log else { return };
        let line = match serde_json::to_string(&latency) {
            Ok(line) => line,
            Err(e) => return warn!("latency log: {e}"),
        };
        let written =
            std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            warn!(path = %path.display(), "cannot write the latency log: {e}");
        }
    }
}

async fn next_update(turn: &mut Option<Turn>) -> Option<TurnUpdate> {
    match turn {
        Some(t) => t.updates.recv().await,
        None => std::future::pending().await,
    }
}

fn ms_since(anchor: Instant, at: Instant) -> f64 {
    if at >= anchor { (at - anchor).as_secs_f64() * 1000.0 } else { -((anchor - at).as_secs_f64() * 1000.0) }
}

fn normalized_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>())
        .filter(|w| !w.is_empty())
        .collect()
}
