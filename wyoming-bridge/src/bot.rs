//! The voice bot's event loop: Mumble events in, turns out.
//!
//! Per speaker, a [`Listener`] finds utterances and streams each to STT while it is spoken. A transcript that
//! passes the respond rules ([`crate::respond`]) joins the channel-wide [`ChannelHistory`] as `Name: text` and
//! starts a [`turn`]; the turn streams LLM → chunker → TTS → Mumble in its own task. Speech from anyone while
//! the bot is audible is a barge-in once it has lasted `barge_in_ms` (so clicks and short coughs don't count):
//! playback stops within one frame, the turn task is aborted (dropping the LLM and TTS connections, so the
//! servers stop working on it), and the history and echo filter keep only what was heard. Every turn writes
//! one [`TurnLatency`] JSON line. Failures of STT, LLM or TTS are logged and, where a reply was expected,
//! answered with a short fallback phrase (or a text message when the TTS itself is down); nothing here ends
//! the loop except the Mumble event stream ending.
//!
//! A turn lasts until its audio has played out, not just until it is queued, so that whatever ends it early
//! knows what was heard. A new question supersedes the reply in progress: its playback stops where it is, as
//! for a barge-in (the old reply would otherwise play on, and the answer queue up behind it). A reply not yet
//! audible `max_response_staleness` after the end of the question is dropped. A segment cut at the maximum
//! utterance length waits for the rest of the sentence (the continuation rule, [`PendingText`]).

use crate::audio::AudioSink;
use crate::chunker::ChunkerOptions;
use crate::history::{self, ChannelHistory, Entry, PhrasePlayback, SpokenText, spoken_text};
use crate::latency::{LatencyLog, TurnLatency, WallClock};
use crate::listen::{Heard, ListenConfig, Listener};
use crate::llm::{ChatMessage, LlmClient};
use crate::mumble::{Event, TextTarget};
use crate::respond::{self, EchoFilter, PendingText, RespondRules};
use crate::sanitize::pad_for_tts;
use crate::speak::{Speaker as TtsSpeaker, Spoken};
use crate::stabilizer::TranscriptStabilizer;
use crate::stt::{SttResult, SttUtterance};
use crate::turn::{self, TurnPlan, TurnUpdate, sleep_until};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, info, warn};
use wyoming_proto::event::SynthesizeVoice;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::vad::silero::SileroModel;

/// Everything the loop needs, resolved from `config.yaml` ([`crate::config`]) and loaded.
pub struct BotConfig {
    /// Users the bot neither listens to nor answers: the other personas of a multi-persona file.
    pub ignore_users: Vec<String>,
    /// With several personas: which of them answers an utterance.
    pub claims: Option<respond::PersonaClaims>,
    pub stt_uri: WyomingUri,
    pub tts_uri: WyomingUri,
    pub voice: Option<SynthesizeVoice>,
    pub language: Option<String>,
    pub listen: ListenConfig,
    pub silero: Option<Arc<SileroModel>>,
    pub stt_timeout: Duration,
    /// `stt.streaming_stability_window` and `stt.streaming_min_stable_chars`.
    pub stability: (usize, usize),
    pub llm: LlmClient,
    pub system_prompt: String,
    pub chunker: ChunkerOptions,
    /// The channel's conversation journal (sizes from the config).
    pub history: ChannelHistory,
    pub barge_in: bool,
    /// Speech this long while the bot talks is a barge-in.
    pub barge_in_ms: u32,
    /// Said when a reply was expected but could not be produced.
    pub fallback_phrase: String,
    /// One JSON line per turn is appended here.
    pub latency_log: Option<PathBuf>,
    /// Echo filter, wake word, meaningful-utterance filter.
    pub respond: RespondRules,
    /// How long the bot's own speech is remembered by the echo filter.
    pub echo_decay: Duration,
    /// A reply not audible this long after the end of the question is dropped (`None`: never).
    pub staleness: Option<Duration>,
    /// The continuation rule: a cut segment's text waits this long for more…
    pub pending_text_timeout: Duration,
    /// …or until it has this many words.
    pub continuation_words: usize,
    /// `tts.streaming`: `false` never uses streaming synthesis.
    pub tts_streaming: bool,
    /// `tts.pad_min_chars` (0: off).
    pub pad_min_chars: usize,
    /// Typed questions are also answered in text.
    pub text_reply: bool,
    /// Greet users who come into the bot's channel.
    pub greet_on_join: bool,
}

/// An utterance whose transcript failed gets the fallback phrase only if it was this long (a question, not a
/// cough), and at most once per [`STT_FALLBACK_INTERVAL`].
const STT_FALLBACK_MIN_SPEECH_MS: u32 = 700;
const STT_FALLBACK_INTERVAL: Duration = Duration::from_secs(20);

/// Words that, said as a barge-in, only mean "stop talking": no reply follows.
const STOP_WORDS: [&str; 9] = ["stop", "wait", "pause", "enough", "quiet", "silence", "shush", "hush", "ok"];

struct Speaker {
    name: String,
    listener: Listener,
    stt: Option<SttUtterance>,
    started: Option<Instant>,
    /// This utterance interrupted the bot.
    barged_in: bool,
    /// Segments whose transcript is awaited.
    transcribing: usize,
}

/// The reply being produced or played.
struct Turn {
    task: AbortOnDropHandle<()>,
    updates: mpsc::UnboundedReceiver<TurnUpdate>,
    latency: TurnLatency,
    /// Samples handed to the sink so far.
    queued: usize,
    /// Phrases sent to TTS, in order.
    phrases: Vec<String>,
    kind: TurnKind,
    /// Dropped unless audible by then.
    stale_at: Option<Instant>,
    /// All audio is queued (the task is done); the turn ends when the sink has played it.
    done: bool,
    /// The TTS failed part-way: the phrases after the audio queued were never synthesised.
    tts_failed: bool,
}

/// A speaking rate of TTS voices, for estimating how much of a reply the audio queued before a TTS failure
/// covers: the estimate is that many characters per second of audio. Below typical voices (Piper's joe speaks
/// 15–17 characters a second), so that the history rather misses a few words that were said than records words
/// that never were.
const CHARS_PER_SECOND: f64 = 12.0;

impl Turn {
    /// The whole reply's audio, in 48 kHz samples: what was queued, unless the TTS failed part-way; then at
    /// least what all its phrases would take at a typical rate, so that phrases never synthesised are not
    /// recorded as heard.
    fn reply_samples(&self) -> usize {
        if !self.tts_failed {
            return self.queued;
        }
        let chars: usize = self.phrases.iter().map(|p| p.chars().count()).sum();
        self.queued.max((chars as f64 / CHARS_PER_SECOND * 48_000.0) as usize)
    }

    /// The fraction of the reply heard once `played` samples have played.
    fn heard_fraction(&self, played: usize) -> f32 {
        match self.reply_samples() {
            0 => 0.0,
            total => played.min(total) as f32 / total as f32,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TurnKind {
    /// An answer to a spoken question.
    Said,
    /// An answer to a text message; a text reply goes to `reply_to`.
    Typed { reply_to: TextTarget },
    /// A greeting for `name`: not recorded in the history, and its fallback is `Hey name!`.
    Greeting { name: String },
}

struct Transcribed {
    session: u32,
    name: String,
    result: Result<SttResult, String>,
    /// A text message, not speech; where a text reply to it goes.
    typed: Option<TextTarget>,
    barged_in: bool,
    /// The segment was cut at the maximum utterance length: more may follow.
    cut: bool,
    speech_ms: u32,
    timing: Timing,
}

pub struct Bot {
    config: BotConfig,
    sink: AudioSink,
    text_out: mpsc::UnboundedSender<TextOut>,
    speakers: HashMap<u32, Speaker>,
    history: ChannelHistory,
    turn: Option<Turn>,
    turns: u64,
    echo: EchoFilter,
    clock: WallClock,
    latency_log: Option<LatencyLog>,
    transcripts_tx: mpsc::UnboundedSender<Transcribed>,
    transcripts: mpsc::UnboundedReceiver<Transcribed>,
    /// Per speaker, text waiting for the rest of a cut utterance.
    pending: HashMap<u32, Waiting>,
    /// A fallback phrase being said (aborted with the playback).
    fallback: Option<AbortOnDropHandle<()>>,
    /// Our session and channel, once connected.
    own: Option<(u32, u32)>,
    /// Everyone on the server: session → (name, channel), for the LLM's context line.
    roster: HashMap<u32, (String, u32)>,
    /// When an STT failure was last answered with the fallback phrase.
    stt_fallback_at: Option<Instant>,
}

impl Bot {
    /// `text_out` carries the bot's text messages: text replies, and the fallback phrase when the TTS is down.
    pub fn new(config: BotConfig, sink: AudioSink, text_out: mpsc::UnboundedSender<TextOut>) -> Self {
        let (transcripts_tx, transcripts) = mpsc::unbounded_channel();
        let latency_log = config.latency_log.as_deref().and_then(|path| match LatencyLog::open(path) {
            Ok(log) => Some(log),
            Err(e) => {
                warn!("latency log off: {e}");
                None
            }
        });
        Bot {
            history: config.history.clone(),
            echo: EchoFilter::new(config.echo_decay),
            config,
            sink,
            text_out,
            speakers: HashMap::new(),
            turn: None,
            turns: 0,
            clock: WallClock::new(),
            latency_log,
            transcripts_tx,
            transcripts,
            pending: HashMap::new(),
            fallback: None,
            own: None,
            roster: HashMap::new(),
            stt_fallback_at: None,
        }
    }

    /// Runs until the Mumble event stream ends.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        loop {
            // Computed before the select, whose branches borrow `self` mutably.
            let (stale_at, pending_at) = (self.stale_deadline(), self.pending_deadline());
            let played_out = played_out(self.turn.as_ref().is_some_and(|t| t.done), self.sink.clone());
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                Some(t) = self.transcripts.recv() => self.on_transcript(t),
                update = next_update(&mut self.turn) => self.on_update(update),
                () = played_out => self.on_played_out(),
                () = sleep_until(stale_at) => self.on_stale(),
                () = sleep_until(pending_at) => self.on_pending_timeout(),
            }
        }
        self.cancel_turn("shutdown");
    }

    /// When the turn in progress goes stale, if it is not audible yet.
    fn stale_deadline(&self) -> Option<Instant> {
        self.turn.as_ref().filter(|t| t.latency.t_first_audio_sent.is_none()).and_then(|t| t.stale_at)
    }

    /// The earliest continuation deadline of a speaker who is silent: while someone is still speaking, or their
    /// last segment is still being transcribed, the rest of their sentence is on its way.
    fn pending_deadline(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter(|(session, _)| self.speakers.get(session).is_none_or(|s| s.stt.is_none() && s.transcribing == 0))
            .filter_map(|(_, w)| w.text.deadline())
            .min()
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Voice(frame) if self.ignores(&frame.name) => {}
            Event::Text(message) if message.sender.as_deref().is_some_and(|s| self.ignores(s)) => {}
            Event::Voice(frame) => {
                let speaker = self.speakers.entry(frame.session).or_insert_with(|| Speaker {
                    name: frame.name.clone(),
                    listener: Listener::new(self.config.listen.clone(), self.config.silero.clone()),
                    stt: None,
                    started: None,
                    barged_in: false,
                    transcribing: 0,
                });
                match speaker.listener.push(&frame.pcm) {
                    Ok(heard) => {
                        let speech_ms = speaker.listener.speech_ms();
                        // Only while the bot is audible: someone talking while it is still thinking is a new
                        // or continued question, which replaces the pending turn when its transcript arrives.
                        let speaking = self.sink.is_playing() || self.turn.as_ref().is_some_and(|t| t.queued > 0);
                        if self.config.barge_in && speech_ms >= self.config.barge_in_ms && speaking {
                            info!(user = %frame.name, speech_ms, "barge-in: stopping playback");
                            speaker.barged_in = true;
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
            Event::UserJoined { session, name, channel_id, present_at_connect } => {
                self.roster.insert(session, (name.clone(), channel_id));
                // Users already there when the bot connects are not greeted, nor news, one by one; nor are the
                // other personas.
                if !present_at_connect && self.in_our_channel(session, channel_id) && !self.ignores(&name) {
                    self.greet(session, &name);
                    self.history.push(Entry::Joined { name }, Instant::now());
                }
            }
            Event::UserLeft { session, name } => {
                info!(%name, "left");
                self.speakers.remove(&session);
                self.pending.remove(&session);
                if let Some((_, channel)) = self.roster.remove(&session)
                    && self.in_our_channel(session, channel)
                    && !self.ignores(&name)
                {
                    self.history.push(Entry::Left { name }, Instant::now());
                }
            }
            Event::Text(message) => {
                let name = message.sender.clone().unwrap_or_else(|| "Someone".into());
                info!(%name, text = %message.text, "text message");
                let now = Instant::now();
                self.on_transcript(Transcribed {
                    session: message.actor.unwrap_or(0),
                    name,
                    result: Ok(SttResult { text: message.text, first_partial: None, first_stable: None }),
                    // A private message is answered privately.
                    typed: Some(match (message.private, message.actor) {
                        (true, Some(actor)) => TextTarget::User(actor),
                        _ => TextTarget::CurrentChannel,
                    }),
                    barged_in: false,
                    cut: false,
                    speech_ms: 0,
                    timing: Timing { speech_start: None, speech_end: now, vad_end: now, stt_done: now },
                });
            }
            Event::Connected(c) => {
                info!(session = c.session, "connected to Mumble");
                self.own = Some((c.session, c.channel_id));
            }
            Event::Disconnected { reason, retry_in } => {
                warn!(%reason, ?retry_in, "Mumble connection lost; reconnecting");
                self.cancel_turn("disconnected");
                self.speakers.clear();
                self.pending.clear();
                self.own = None;
                // The server announces everyone again after the reconnect.
                self.roster.clear();
            }
            Event::UserMoved { session, name, from, to } => {
                self.roster.insert(session, (name.clone(), to));
                match self.own {
                    Some((own, _)) if own == session => self.own = Some((own, to)),
                    _ if self.ignores(&name) => {}
                    Some((_, ours)) if ours == to => {
                        self.greet(session, &name);
                        self.history.push(Entry::Joined { name }, Instant::now());
                    }
                    Some((_, ours)) if ours == from => self.history.push(Entry::Left { name }, Instant::now()),
                    _ => {}
                }
            }
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
                        TranscriptStabilizer::new(self.config.stability.0, self.config.stability.1),
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
                    let barged_in = std::mem::take(&mut speaker.barged_in);
                    let Some(stt) = speaker.stt.take() else { continue };
                    if cut {
                        info!(user = %speaker.name, speech_ms, "utterance cut at the maximum length");
                    }
                    let (tx, name) = (self.transcripts_tx.clone(), speaker.name.clone());
                    speaker.transcribing += 1;
                    tokio::spawn(async move {
                        let result = stt.finish().await.map_err(|e| e.to_string());
                        let _ = tx.send(Transcribed {
                            session,
                            name,
                            result,
                            typed: None,
                            barged_in,
                            cut,
                            speech_ms,
                            timing: Timing { speech_start, speech_end, vad_end, stt_done: Instant::now() },
                        });
                    });
                }
            }
        }
    }

    fn barge_in(&mut self) {
        let now = Instant::now();
        let unplayed = self.silence();
        if let Some(turn) = &mut self.turn {
            turn.latency.t_barge_in = Some(self.clock.epoch(now));
            turn.latency.t_audio_stopped = Some(self.clock.epoch(Instant::now()));
            turn.latency.barged_in = true;
        }
        self.end_turn("barge-in", unplayed);
    }

    fn fallback_running(&self) -> bool {
        self.fallback.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// Stops the bot's voice: the sink's queue and a fallback phrase in flight. Returns what was unplayed.
    fn silence(&mut self) -> Duration {
        let unplayed = self.sink.queued();
        self.sink.stop();
        self.fallback = None;
        unplayed
    }

    /// Ends the current turn early (its playback stops), with whatever the sink still held unplayed.
    fn cancel_turn(&mut self, why: &str) {
        let unplayed = self.silence();
        self.end_turn(why, unplayed);
    }

    /// Aborts the turn's task (which closes its LLM and TTS connections) and records what was heard: all it
    /// queued but `unplayed`.
    fn end_turn(&mut self, why: &str, unplayed: Duration) {
        let Some(mut turn) = self.turn.take() else { return };
        let now = Instant::now();
        let played = turn.queued.saturating_sub((unplayed.as_secs_f64() * 48_000.0) as usize);
        let spoken = heard(&turn.phrases, turn.heard_fraction(played));
        drop(turn.task);
        if turn.latency.t_llm_complete.is_none() {
            turn.latency.t_llm_cancelled = Some(self.clock.epoch(now));
        }
        let outcome = if turn.latency.barged_in {
            "barged_in"
        } else if why == "stale" {
            turn.latency.stale_dropped = true;
            warn!(
                limit = ?self.config.staleness.unwrap_or_default(),
                "reply dropped: not audible within max_response_staleness of the end of the question"
            );
            "stale"
        } else {
            "cancelled"
        };
        info!(why, heard = %spoken.text, "turn ended early");
        turn.latency.outcome = Some(outcome.into());
        if turn.latency.t_first_audio_sent.is_some() {
            turn.latency.t_playback_end = Some(self.clock.epoch(now));
            turn.latency.t_audio_stopped.get_or_insert(self.clock.epoch(now));
        }
        self.finish_turn(turn.latency, &turn.kind, spoken, now);
    }

    /// Records a finished turn: history, echo filter, latency line.
    fn finish_turn(&mut self, mut latency: TurnLatency, kind: &TurnKind, spoken: SpokenText, now: Instant) {
        latency.response_length = spoken.text.chars().count();
        if !spoken.text.is_empty() {
            self.echo.record_spoken(&spoken.text, now);
        }
        // Greetings stay out of the conversation, as in the Python bot.
        if !matches!(kind, TurnKind::Greeting { .. }) {
            self.history.push_bot(&spoken, now);
        }
        info!("{}", latency.summary_line());
        if let Some(Err(e)) = self.latency_log.as_mut().map(|log| log.write(&latency)) {
            warn!("latency log: {e}");
        }
    }

    /// The staleness deadline passed: the reply is dropped unless its first audio went out meanwhile (an update
    /// not yet read), since a reply already playing is never cut for age.
    fn on_stale(&mut self) {
        while let Some(update) = self.turn.as_mut().and_then(|t| t.updates.try_recv().ok()) {
            self.on_update(Some(update));
        }
        if self.stale_deadline().is_some_and(|at| at <= Instant::now()) {
            self.cancel_turn("stale");
        }
    }

    /// The turn's audio has all been played: it ends as spoken.
    fn on_played_out(&mut self) {
        let Some(mut turn) = self.turn.take() else { return };
        let now = Instant::now();
        // A reply whose LLM or TTS failed after speaking keeps its `error` outcome (set with `Failed`).
        turn.latency.outcome.get_or_insert_with(|| "spoken".into());
        turn.latency.t_playback_end = Some(self.clock.epoch(now));
        let spoken = heard(&turn.phrases, turn.heard_fraction(turn.queued));
        if spoken.text.is_empty() {
            warn!("the LLM's reply had nothing to say");
        }
        // Only a reply spoken in full (a TTS failure leaves a fragment).
        if let TurnKind::Typed { reply_to } = turn.kind
            && self.config.text_reply
            && !spoken.text.is_empty()
            && !spoken.interrupted
        {
            let _ = self.text_out.send(TextOut { to: reply_to, text: spoken.text.clone() });
        }
        self.finish_turn(turn.latency, &turn.kind, spoken, now);
    }

    /// Text whose continuation timer ran out is answered.
    fn on_pending_timeout(&mut self) {
        let Some(due) = self.pending_deadline().filter(|at| *at <= Instant::now()) else { return };
        let Some(session) = self.pending.iter().find(|(_, w)| w.text.deadline() == Some(due)).map(|(s, _)| *s) else {
            return;
        };
        let Some(mut waiting) = self.pending.remove(&session) else { return };
        let Some(text) = waiting.text.poll(due) else { return };
        info!(user = %waiting.name, %text, "no more speech after a cut utterance; answering");
        let question =
            Question { session, name: waiting.name, text, first_partial: None, first_stable: None, typed: None };
        self.answer(question, waiting.timing);
    }

    /// Whether `name` is one of the users the bot ignores (the other personas).
    fn ignores(&self, name: &str) -> bool {
        self.config.ignore_users.iter().any(|u| u == name)
    }

    /// Whether `session`, in `channel`, is someone else in the bot's channel.
    fn in_our_channel(&self, session: u32, channel: u32) -> bool {
        self.own.is_some_and(|(own, ours)| ours == channel && own != session)
    }

    /// The Python bot's context line (reference `original-bot.md` §8.2): the local time to the minute, who is in
    /// the channel, and up to three joins or leaves of the last minute. It goes in front of the newest user
    /// message, so the system prompt and older history stay a stable prefix for the LLM server's cache.
    fn context_line(&self, now: Instant) -> String {
        let clock = match WallClock::local_time_now() {
            Some((day, hour, minute)) => history::describe_time(day, hour, minute),
            None => "unknown".to_owned(),
        };
        let mut users: Vec<String> = match self.own {
            Some((own, ours)) => self
                .roster
                .iter()
                .filter(|&(&session, &(_, channel))| channel == ours && session != own)
                .map(|(_, (name, _))| name.clone())
                .collect(),
            None => Vec::new(),
        };
        users.sort_unstable();
        let recent = self.history.recent_presence(Duration::from_secs(60), now);
        let recent = &recent[recent.len().saturating_sub(3)..];
        history::context_line(&clock, &users, recent)
    }

    /// Greets `name`, who came into our channel, unless the bot is busy.
    fn greet(&mut self, session: u32, name: &str) {
        if !self.config.greet_on_join {
            return;
        }
        if self.turn.is_some() || self.sink.is_playing() || self.fallback_running() {
            info!(user = %name, "joined while the bot is talking; no greeting");
            return;
        }
        info!(user = %name, "greeting");
        let now = Instant::now();
        let mut messages = self.history.messages(&self.config.system_prompt, None, now);
        messages.truncate(1);
        messages.push(ChatMessage::user(format!(
            "{name} just came into the voice channel. Greet them by name in one short, casual sentence."
        )));
        self.turns += 1;
        let latency = TurnLatency {
            turn_id: format!("turn_{}_{}", self.turns, self.clock.epoch(now) as u64),
            user_id: session.to_string(),
            user_name: Some(name.to_string()),
            t_llm_start: Some(self.clock.epoch(now)),
            ..Default::default()
        };
        self.start_turn(latency, messages, TurnKind::Greeting { name: name.to_string() }, None);
    }

    fn on_transcript(&mut self, t: Transcribed) {
        if let Some(speaker) = self.speakers.get_mut(&t.session).filter(|_| t.typed.is_none()) {
            speaker.transcribing = speaker.transcribing.saturating_sub(1);
        }
        let (text, first_partial, first_stable) = match t.result {
            Ok(r) => (r.text, r.first_partial, r.first_stable),
            Err(e) => {
                warn!(user = %t.name, "STT failed: {e}");
                // Only for what sounds like a question, once in a while, and not over a reply or another fallback:
                // with the STT server down, every cough would otherwise get an apology.
                let now = Instant::now();
                let question = t.speech_ms >= STT_FALLBACK_MIN_SPEECH_MS;
                let quiet = self.turn.is_none() && !self.fallback_running() && !self.sink.is_playing();
                let recent = self.stt_fallback_at.is_some_and(|at| now.duration_since(at) < STT_FALLBACK_INTERVAL);
                if question && quiet && !recent {
                    self.stt_fallback_at = Some(now);
                    self.say_fallback(self.config.fallback_phrase.clone(), TextTarget::CurrentChannel);
                }
                return;
            }
        };
        let now = Instant::now();
        let words = respond::normalise_words(&text);
        if t.barged_in && !words.is_empty() && words.iter().all(|w| STOP_WORDS.contains(&w.as_str())) {
            info!(user = %t.name, %text, "stop command after a barge-in; not answering");
            return;
        }
        let mut timing = t.timing;
        // The continuation rule: a cut segment waits for the rest of the sentence (a speaker who has left cannot
        // go on, so theirs is answered at once).
        let waits = t.typed.is_none()
            && (self.pending.contains_key(&t.session) || (t.cut && self.speakers.contains_key(&t.session)));
        let text = if waits {
            let (timeout, words) = (self.config.pending_text_timeout, self.config.continuation_words);
            let waiting = self.pending.entry(t.session).or_insert_with(|| Waiting {
                text: PendingText::new(timeout, words),
                name: t.name.clone(),
                timing,
            });
            // The question started with its first segment and ended with this one.
            waiting.timing = Timing { speech_start: waiting.timing.speech_start, ..timing };
            match waiting.text.push(&text, !t.cut, now) {
                Some(text) => {
                    timing = self.pending.remove(&t.session).map_or(timing, |w| w.timing);
                    text
                }
                None => {
                    info!(user = %t.name, %text, "utterance cut at the maximum length; waiting for the rest");
                    return;
                }
            }
        } else {
            text
        };
        let question = Question { session: t.session, name: t.name, text, first_partial, first_stable, typed: t.typed };
        self.answer(question, timing);
    }

    /// Applies the respond rules and, if the question passes, supersedes the reply in progress with a new turn.
    fn answer(&mut self, q: Question, timing: Timing) {
        let now = Instant::now();
        // A typed message cannot be an echo of the bot's voice, nor a cough or a mis-heard noise: only the wake
        // word applies to it, and "thanks" is answered as the Python bot answered every non-empty message.
        let typed = q.typed.is_some();
        let rules = RespondRules {
            echo_filter: self.config.respond.echo_filter && !typed,
            utterance: self.config.respond.utterance.clone().filter(|_| !typed),
            ..self.config.respond.clone()
        };
        let text = match respond::decide(&q.text, &rules, &mut self.echo, now) {
            Ok(text) => text,
            Err(reason) => {
                info!(user = %q.name, text = %q.text, reason = reason.as_str(), "not answering");
                return;
            }
        };
        if let Some(claims) = &self.config.claims
            && !claims.claims.claim(claims, &q.name, &text, now)
        {
            info!(user = %q.name, %text, "another persona answers");
            return;
        }
        info!(user = %q.name, %text, "heard");
        // Whatever is still playing (a reply, a fallback phrase) stops: the answer must not queue up behind it.
        self.cancel_turn("new question");
        if q.typed.is_some() {
            self.history.push_typed(&q.name, &text, now);
        } else {
            self.history.push_said(&q.name, &text, now);
        }
        self.turns += 1;
        let clock = self.clock;
        let latency = TurnLatency {
            turn_id: format!("turn_{}_{}", self.turns, clock.epoch(now) as u64),
            user_id: q.session.to_string(),
            user_name: Some(q.name.clone()),
            t0_vad_start: timing.speech_start.map(|s| clock.epoch(s)),
            t_speech_end: Some(clock.epoch(timing.speech_end)),
            t_vad_end: Some(clock.epoch(timing.vad_end)),
            t_asr_start: timing.speech_start.map(|s| clock.epoch(s)),
            t_asr_partial1: q.first_partial.map(|i| clock.epoch(i)),
            t_asr_stable1: q.first_stable.map(|i| clock.epoch(i)),
            t_asr_final: Some(clock.epoch(timing.stt_done)),
            t_llm_start: Some(clock.epoch(now)),
            transcript_length: text.chars().count(),
            ..Default::default()
        };
        let now = Instant::now();
        let context = self.context_line(now);
        let messages = self.history.messages(&self.config.system_prompt, Some(&context), now);
        let kind = match q.typed {
            Some(reply_to) => TurnKind::Typed { reply_to },
            None => TurnKind::Said,
        };
        let stale_at = self.config.staleness.map(|limit| timing.speech_end + limit);
        self.start_turn(latency, messages, kind, stale_at);
    }

    fn start_turn(
        &mut self,
        latency: TurnLatency,
        messages: Vec<ChatMessage>,
        kind: TurnKind,
        stale_at: Option<Instant>,
    ) {
        debug!(history = ?messages.iter().skip(1).map(|m| m.content.as_str()).collect::<Vec<_>>(), "LLM request");
        let plan = TurnPlan {
            llm: self.config.llm.clone(),
            messages,
            chunker: self.config.chunker.clone(),
            tts_uri: self.config.tts_uri.clone(),
            voice: self.config.voice.clone(),
            tts_streaming: self.config.tts_streaming,
            pad_min_chars: self.config.pad_min_chars,
        };
        let (tx, updates) = mpsc::unbounded_channel();
        let task = AbortOnDropHandle::new(tokio::spawn(turn::run(plan, self.sink.voice(), tx)));
        self.turn = Some(Turn {
            task,
            updates,
            latency,
            queued: 0,
            phrases: Vec::new(),
            kind,
            stale_at,
            done: false,
            tts_failed: false,
        });
    }

    fn on_update(&mut self, update: Option<TurnUpdate>) {
        let clock = self.clock;
        let Some(turn) = &mut self.turn else { return };
        let Some(update) = update else {
            // The task ended without Done (it failed after speaking): what it queued still plays out.
            turn.latency.outcome = Some("error".into());
            turn.done = true;
            return;
        };
        let at = |i: Instant| Some(clock.epoch(i));
        match update {
            TurnUpdate::LlmFirstToken(i) => turn.latency.t_llm_first_token = at(i),
            TurnUpdate::Phrase { at: i, text } => {
                if turn.latency.t_first_phrase.is_none() {
                    turn.latency.t_first_phrase = at(i);
                    turn.latency.t_tts_start = at(i);
                }
                turn.phrases.push(text);
            }
            TurnUpdate::TtsFirstAudio(i) => turn.latency.t_tts_first_audio = at(i),
            TurnUpdate::FirstAudioSent(i) => {
                turn.latency.t_playback_start = at(i);
                // Handed to the 20 ms pacer, which sends it at its next tick.
                turn.latency.t_first_audio_sent = at(i);
            }
            TurnUpdate::Queued { samples } => {
                turn.queued = samples;
                turn.latency.audio_duration_ms = samples as f64 / 48.0;
            }
            TurnUpdate::LlmDone(i) => turn.latency.t_llm_complete = at(i),
            TurnUpdate::Done { .. } => turn.done = true,
            TurnUpdate::Failed { stage, error, spoken } => {
                warn!(stage, %error, "reply failed");
                turn.latency.error = Some(format!("{stage}: {error}"));
                // After speaking, what was said still plays out; the turn ends as an error all the same.
                turn.latency.outcome = Some("error".into());
                turn.tts_failed |= stage == "tts";
                if !spoken {
                    let mut turn = self.turn.take().expect("checked");
                    turn.latency.outcome = Some("error".into());
                    let (phrase, to) = match &turn.kind {
                        TurnKind::Greeting { name } => (format!("Hey {name}!"), TextTarget::CurrentChannel),
                        TurnKind::Said => (self.config.fallback_phrase.clone(), TextTarget::CurrentChannel),
                        TurnKind::Typed { reply_to } => (self.config.fallback_phrase.clone(), *reply_to),
                    };
                    self.finish_turn(turn.latency, &turn.kind, SpokenText::default(), Instant::now());
                    self.say_fallback(phrase, to);
                }
            }
        }
    }

    /// Says a fallback phrase, or writes it to `to` (where the question came from) when the TTS cannot be
    /// reached. A barge-in or the next question stops it like a reply.
    fn say_fallback(&mut self, phrase: String, to: TextTarget) {
        if phrase.is_empty() {
            return;
        }
        // One voice at a time: whatever is still playing (an earlier fallback) stops first.
        self.silence();
        self.echo.record_spoken(&phrase, Instant::now());
        let (sink, uri, voice, text_out) =
            (self.sink.voice(), self.config.tts_uri.clone(), self.config.voice.clone(), self.text_out.clone());
        let (streaming, pad) = (self.config.tts_streaming, self.config.pad_min_chars);
        self.fallback = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            let mut speaker = TtsSpeaker::start(uri, voice, streaming);
            speaker.say(pad_for_tts(&phrase, pad));
            speaker.finish();
            let mut any = false;
            while let Some(audio) = speaker.audio.recv().await {
                match audio {
                    Ok(Spoken::Audio(pcm)) => {
                        any = true;
                        sink.play(&pcm);
                    }
                    Ok(Spoken::Done) => break,
                    Err(e) => {
                        warn!("cannot say the fallback phrase: {e}");
                        break;
                    }
                }
            }
            if any {
                sink.finish();
            } else {
                let _ = text_out.send(TextOut { to, text: phrase });
            }
        })));
    }
}

/// A text message the bot sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOut {
    pub to: TextTarget,
    pub text: String,
}

/// A cut utterance waiting for its continuation.
struct Waiting {
    text: PendingText,
    name: String,
    /// From the first segment's start to the last one's end.
    timing: Timing,
}

/// A question to answer: a transcript (joined with its continuation) or a text message.
struct Question {
    session: u32,
    name: String,
    text: String,
    first_partial: Option<Instant>,
    first_stable: Option<Instant>,
    /// A text message, not speech; where a text reply to it goes.
    typed: Option<TextTarget>,
}

/// When the question was spoken and transcribed, for the latency line.
#[derive(Debug, Clone, Copy)]
struct Timing {
    speech_start: Option<Instant>,
    speech_end: Instant,
    vad_end: Instant,
    stt_done: Instant,
}

async fn next_update(turn: &mut Option<Turn>) -> Option<TurnUpdate> {
    match turn {
        Some(t) if !t.done => t.updates.recv().await,
        _ => std::future::pending().await,
    }
}

/// Resolves once a done turn's audio has all been sent.
async fn played_out(done: bool, sink: AudioSink) {
    if done { sink.wait_idle().await } else { std::future::pending().await }
}

/// What was heard of a reply's phrases when `fraction` of its queued audio had played (speech is taken as
/// evenly spread over the characters).
fn heard(phrases: &[String], fraction: f32) -> SpokenText {
    let total: usize = phrases.iter().map(|p| p.chars().count()).sum();
    let mut remaining = (total as f32 * fraction.clamp(0.0, 1.0)).round() as usize;
    let playback: Vec<PhrasePlayback> = phrases
        .iter()
        .map(|p| {
            let n = p.chars().count().max(1);
            let played = if remaining >= n { 1.0 } else { remaining as f32 / n as f32 };
            remaining = remaining.saturating_sub(n);
            PhrasePlayback { text: p.clone(), played }
        })
        .collect();
    spoken_text(&playback)
}

#[cfg(test)]
mod tests;
