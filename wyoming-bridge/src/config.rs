//! The Python bot's `config.yaml`, except `mumble` (see [`crate::cli`]): every section and key that
//! HEAD or 417b0c0 accepts, plus the bridge's own keys, resolved into [`BridgeConfig`] with
//! defaults. This module is the one place that knows each pipeline default ([`defaults`]).
//!
//! Input is the `serde_yaml_ng::Value` from [`crate::cli::load_config`] (`${VAR}` already expanded).
//! Nothing is logged here: unknown and ignored keys come back as [`ConfigWarning`]s for the caller
//! to log once; wrong types are errors.
//!
//! # Deliberate differences from the Python bot (reference `original-bot.md` §14)
//! - **System prompt** (row 5, §2.7): `llm.system_prompt` is honoured (HEAD ignored it). Base prompt:
//!   the `--llm-system-prompt` flag, else `llm.prompt_file` (relative to the config file, then the
//!   working directory), else `llm.system_prompt`, else the Python bot's `prompts/default.md` (or
//!   `.txt`, found the same way), else the voice prompt of the latency plan
//!   ([`defaults::SYSTEM_PROMPT`]); then `llm.personality` (or the soul's `personality.md`) is
//!   appended after a 40 × `=` separator, as before.
//! - **Sampling and timeout** (row 5): `temperature`, `max_tokens`, `top_p`, `top_k`,
//!   `repetition_penalty`, `frequency_penalty`, `presence_penalty`, `timeout` and
//!   `context_messages` are honoured. Voice defaults apply when absent: `max_tokens` 80,
//!   `temperature` 0.3 (the Python bot sent neither); the others are sent only when set.
//! - **Presence, not truthiness** (row 6): `0`, `false` and `0.0` are values, not "use the
//!   default". An empty string (an unset `${VAR}`) still means "use the default", with a warning.
//!   Out-of-range values are warned about.
//! - **Lenient validation** (row 7): unknown sections and keys are warnings, not fatal (`strict`
//!   makes unknown keys errors); a section written with no keys (`models:`) is empty, not a crash;
//!   417b0c0's `stt.provider`/`wyoming_*` keys and `config.min-latency.yaml`'s `pipeline` and
//!   `streaming` sections are accepted.
//! - **VAD timing** (row 8): hangover 600 ms unless `vad.hangover_ms`, `pipeline.silence_threshold_ms`
//!   or `bot.silence_threshold_ms` is in the file (first found wins); maximum utterance
//!   `vad.max_utterance_ms`, `pipeline.max_recording_ms`, `bot.max_recording_ms`, else 30 s (the
//!   documented default; the Python bot's hidden 5 s flush split long questions).
//! - **Barge-in** (row 2): `bot.barge_in_enabled` defaults to **true** (the issue asks for it on by
//!   default; the Python default was false and its code unreachable).
//! - **Echo and utterance filters** (rows 3, 4): `echo_filter_*` and `utterance_*` keys are honoured
//!   (HEAD fixed them); the wake word (`bot.wake_word`) is honoured (only the deprecated pipeline
//!   had it).
//! - **Staleness** (row 9): `bot.max_response_staleness` is measured from the end of the user's
//!   speech, before the first audio only; `0` turns it off. A new question supersedes the reply in
//!   progress, whose playback stops (the Python bot let queued audio play on).
//! - **Continuations** (row 10): a segment cut at the maximum length is answered with the rest of
//!   the sentence, at the end of speech, at 10 words or after `bot.pending_text_timeout`.
//! - **Greetings** (row 24): `bot.greet_on_join` (off by default) greets users who come into the
//!   bot's channel with one LLM sentence; users present at connect are not greeted.
//! - **API key**: `llm.api_key`, else `OPENROUTER_API_KEY`, else `LLM_API_KEY`, held in an
//!   [`ApiKey`] that never prints.
//! - **Multi-persona files** (§2.5) run one bot per persona ([`personas`]); a persona does not answer the
//!   others unless `respond_to_other_personas` is true.
//! - **Everything from the one file** (row 26), relative paths against the file's directory. A
//!   `--config` file that does not exist is an error (row 27); without `--config`, a missing
//!   `./config.yaml` means defaults, as before. The `mumble` section (read in [`crate::cli`]) is as
//!   lenient as the others: `port: "${PORT}"`, `password: 1234`, an empty `host` is `localhost`, and
//!   `user: ""` is the soul's name.
//! - Keys for features the bridge does not have (tools, in-process LuxTTS/NeMo/sherpa settings,
//!   `models.*`, turn prediction, brains other than `llm`, a multi-persona file's `interaction`) are accepted and
//!   reported as ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use crate::chunker::ChunkerOptions;
use crate::llm::{ApiKey, LlmOptions, Sampling};

mod personas;
mod read;
mod soul;

pub use personas::{Persona, is_multi_persona, split_personas};
pub use soul::Soul;

/// Every pipeline default, in one place.
pub mod defaults {
    pub const LLM_ENDPOINT: &str = "http://localhost:11434/v1/chat/completions";
    pub const LLM_MODEL: &str = "llama3.2:3b";
    /// Voice replies are one or two sentences (the latency plan's 80).
    pub const MAX_TOKENS: u32 = 80;
    /// Consistent, on-topic replies (the latency plan's 0.3).
    pub const TEMPERATURE: f64 = 0.3;
    /// `llm.timeout`: first token within this (the Python per-request timeout).
    pub const LLM_TIMEOUT_S: f64 = 30.0;
    pub const LLM_CONNECT_TIMEOUT_S: f64 = 3.0;
    pub const LLM_IDLE_TIMEOUT_S: f64 = 10.0;
    /// The Python bot's first retry delay.
    pub const LLM_RETRY_BACKOFF_MS: u64 = 500;
    pub const CONTEXT_MESSAGES: usize = 20;
    pub const HISTORY_MAX_ENTRIES: usize = 50;
    pub const CONVERSATION_TIMEOUT_S: f64 = 300.0;
    /// The voice system prompt of the latency plan (seed, Phase 3).
    pub const SYSTEM_PROMPT: &str = "You are a voice assistant in a Mumble chat. Follow these rules strictly:\n\n\
        1. Respond in 1-2 short sentences maximum\n\
        2. Never use bullet points, lists, or formatting\n\
        3. Never use emojis or special characters\n\
        4. Speak naturally as if in conversation\n\
        5. If uncertain, give a brief acknowledgment\n\
        6. Avoid technical jargon unless asked";
    pub const PERSONALITY_SEPARATOR: &str = "\n\n========================================\n\n";
    pub const STT_HOST: &str = "localhost";
    pub const STT_PORT: u16 = 10300;
    pub const STT_LANGUAGE: &str = "en";
    pub const STT_TIMEOUT_S: f64 = 15.0;
    pub const STABILITY_WINDOW: usize = 2;
    pub const MIN_STABLE_CHARS: usize = 10;
    pub const TTS_HOST: &str = "localhost";
    /// The project's TTS server (and `wyoming-piper`) listens here.
    pub const TTS_PORT: u16 = 10200;
    pub const RMS_THRESHOLD: u32 = 2000;
    pub const SILERO_THRESHOLD: f32 = 0.5;
    pub const HANGOVER_MS: u32 = 600;
    pub const MIN_SPEECH_MS: u32 = 300;
    pub const MAX_UTTERANCE_MS: u32 = 30_000;
    /// Long enough that a click or a short cough does not stop the bot, short enough that it stops within
    /// 300 ms of the interruption at the listener (measured: 160 ms; with 150 ms it was 330 ms).
    pub const BARGE_IN_MS: u32 = 100;
    pub const FALLBACK_PHRASE: &str = "Sorry, I can't answer that right now.";
    pub const ECHO_DECAY_S: f64 = 3.0;
    pub const MIN_WORDS: usize = 2;
    pub const MIN_CHARS: usize = 5;
    pub const STALENESS_S: f64 = 5.0;
    /// The Python bot's continuation rule: respond after this long without more text…
    pub const PENDING_TEXT_TIMEOUT_S: f64 = 1.5;
    /// …or once the pending text has this many words.
    pub const CONTINUATION_WORDS: usize = 10;
}

/// A config problem that does not stop the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// `section.key` (or `section`).
    pub key: String,
    pub kind: WarningKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Not a key of either Python version nor of the bridge (probably a typo).
    Unknown,
    /// A valid Python-bot key for a feature the bridge does not have.
    Ignored,
    /// A value outside its sensible range, or empty.
    Suspicious,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("unknown config keys (strict mode): {0}")]
    Strict(String),
}

/// Which VAD finds utterances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEngine {
    /// Silero when a model and ONNX Runtime are available, else RMS.
    Auto,
    Silero,
    /// The Python bot's int16 RMS threshold.
    Rms,
}

/// Everything resolved. Durations are `Duration`s; paths are absolute or as given.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub llm: LlmOptions,
    /// The assembled system prompt (one system message).
    pub system_prompt: String,
    pub stt: SttConfig,
    pub tts: TtsConfig,
    pub vad: VadConfig,
    pub respond: RespondConfig,
    pub history: HistoryConfig,
    pub chunker: ChunkerOptions,
    /// Barge-in: speech this long while the bot talks stops it.
    pub barge_in: Option<Duration>,
    /// Said when a reply was expected but could not be produced.
    pub fallback_phrase: String,
    pub latency_log: Option<PathBuf>,
    /// Greet users who join the channel (417b0c0 did, with an LLM call).
    pub greet_on_join: bool,
    /// Also answer text messages in text (speech is always used, as before).
    pub text_reply: bool,
    pub soul: Option<Soul>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SttConfig {
    pub host: String,
    pub port: u16,
    pub language: Option<String>,
    /// For the transcript after the end of speech.
    pub timeout: Duration,
    pub stability_window: usize,
    pub min_stable_chars: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TtsConfig {
    pub host: String,
    pub port: u16,
    pub voice: Option<String>,
    pub speaker: Option<String>,
    /// `None`: use streaming synthesis when the server's `info` says it supports it.
    pub streaming: Option<bool>,
    /// Pad phrases shorter than this with `...` (0: off; the Python bot used 20 for LuxTTS).
    pub pad_min_chars: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    pub engine: VadEngine,
    pub silero_model: Option<PathBuf>,
    pub silero_threshold: f32,
    /// `bot.asr_threshold`: int16 RMS of a 20 ms frame.
    pub rms_threshold: u32,
    pub hangover_ms: u32,
    pub min_speech_ms: u32,
    pub max_utterance_ms: u32,
}

/// The decide-to-respond rules (see [`crate::respond`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RespondConfig {
    pub echo_filter: bool,
    pub echo_decay: Duration,
    pub utterance_filter: bool,
    pub min_words: usize,
    pub min_chars: usize,
    pub wake_word: Option<String>,
    /// Drop transcripts that are well-known Whisper hallucinations ("Thank you.").
    pub hallucination_filter: bool,
    /// A reply not yet audible this long after the end of the user's speech is dropped.
    pub max_response_staleness: Duration,
    pub pending_text_timeout: Duration,
    pub continuation_words: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// Messages sent with each request.
    pub context_messages: usize,
    pub max_entries: usize,
    pub max_age: Duration,
}

/// Values given on the command line, which win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub llm_endpoint: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key: Option<String>,
    pub llm_system_prompt: Option<String>,
    pub personality: Option<String>,
    pub asr_threshold: Option<u32>,
    pub stt_host: Option<String>,
    pub stt_port: Option<u16>,
}

/// How to parse.
pub struct ParseOptions<'a> {
    /// The config file's directory: relative paths (prompt file, personality, soul) start here.
    pub base_dir: &'a Path,
    /// Environment lookup (API key fallbacks), injectable for tests.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Unknown keys are errors instead of warnings.
    pub strict: bool,
    pub overrides: Overrides,
}

/// Resolves the file (or defaults when `None`). Returns the config and the warnings to log.
pub fn parse_config(
    file: Option<&Value>,
    options: &ParseOptions<'_>,
) -> Result<(BridgeConfig, Vec<ConfigWarning>), ConfigError> {
    let empty = Mapping::new();
    let root = match file {
        None | Some(Value::Null) => &empty,
        Some(Value::Mapping(map)) => map,
        Some(_) => return Err(invalid("config", "the top level must be a mapping of sections")),
    };
    let mut r = read::Reader::new(root);
    r.check_keys()?;
    if options.strict {
        let unknown: Vec<String> =
            r.warnings.iter().filter(|w| w.kind == WarningKind::Unknown).map(|w| w.key.clone()).collect();
        if !unknown.is_empty() {
            return Err(ConfigError::Strict(unknown.join(", ")));
        }
    }
    let soul = match r.string("soul", "")? {
        Some(name) => soul::load(options.base_dir, &name, &mut r.warnings)?,
        None => None,
    };
    let config = resolve(&mut r, options, soul)?;
    Ok((config, r.warnings))
}

fn resolve(r: &mut read::Reader<'_>, o: &ParseOptions<'_>, soul: Option<Soul>) -> Result<BridgeConfig, ConfigError> {
    let ov = &o.overrides;
    // The soul's `llm` map fills keys the file does not set (CLI > file > soul > default).
    let soul_llm = soul.as_ref().map(|s| s.llm.clone()).unwrap_or_default();
    r.set_fallback("llm", soul_llm);

    let api_key = ov
        .llm_api_key
        .clone()
        .or(r.string("llm", "api_key")?)
        .and_then(ApiKey::new)
        .or_else(|| (o.env)("OPENROUTER_API_KEY").and_then(ApiKey::new))
        .or_else(|| (o.env)("LLM_API_KEY").and_then(ApiKey::new));
    let temperature = r.f64("llm", "temperature")?.unwrap_or(defaults::TEMPERATURE);
    r.range("llm", "temperature", temperature, 0.0, 2.0);
    let max_tokens = r.u64("llm", "max_tokens")?.map_or(defaults::MAX_TOKENS, |v| v.min(u32::MAX as u64) as u32);
    if max_tokens == 0 {
        r.suspicious("llm.max_tokens", "0 tokens allows no reply");
    }
    let sampling = Sampling {
        max_tokens: Some(max_tokens),
        temperature: Some(temperature),
        top_p: r.f64("llm", "top_p")?,
        top_k: r.i64("llm", "top_k")?,
        repetition_penalty: r.f64("llm", "repetition_penalty")?,
        frequency_penalty: r.f64("llm", "frequency_penalty")?,
        presence_penalty: r.f64("llm", "presence_penalty")?,
        seed: r.i64("llm", "seed")?,
    };
    if let Some(top_p) = sampling.top_p {
        r.range("llm", "top_p", top_p, 0.0, 1.0);
    }
    let timeout = r.f64("llm", "timeout")?.unwrap_or(defaults::LLM_TIMEOUT_S);
    r.range("llm", "timeout", timeout, 0.5, 600.0);
    let llm = LlmOptions {
        endpoint: ov
            .llm_endpoint
            .clone()
            .or(r.string("llm", "endpoint")?)
            .unwrap_or_else(|| defaults::LLM_ENDPOINT.into()),
        model: ov.llm_model.clone().or(r.string("llm", "model")?).unwrap_or_else(|| defaults::LLM_MODEL.into()),
        api_key,
        sampling,
        extra_body: r.json_map("llm", "extra_body")?,
        stream: r.bool("llm", "stream")?.unwrap_or(true),
        include_usage: r.bool("llm", "include_usage")?.unwrap_or(true),
        connect_timeout: seconds(r.f64("llm", "connect_timeout")?.unwrap_or(defaults::LLM_CONNECT_TIMEOUT_S)),
        first_token_timeout: seconds(timeout),
        idle_timeout: seconds(r.f64("llm", "idle_timeout")?.unwrap_or(defaults::LLM_IDLE_TIMEOUT_S)),
        retry_backoff: Duration::from_millis(defaults::LLM_RETRY_BACKOFF_MS),
        starts_in_think: r.bool("llm", "starts_in_think")?.unwrap_or(false),
    };
    let system_prompt = system_prompt(r, o, soul.as_ref())?;

    let provider = r.string("stt", "provider")?;
    if let Some(p) = provider.as_deref().filter(|p| !matches!(*p, "wyoming" | "wyoming_streaming")) {
        r.ignored("stt.provider", &format!("{p:?} is not available; the bridge always uses a Wyoming STT server"));
    }
    let stt = SttConfig {
        host: ov.stt_host.clone().or(r.string("stt", "wyoming_host")?).unwrap_or_else(|| defaults::STT_HOST.into()),
        port: ov.stt_port.map_or(r.port("stt", "wyoming_port")?, Some).unwrap_or(defaults::STT_PORT),
        language: match r.string("stt", "language")? {
            Some(l) if l == "auto" => None,
            Some(l) => Some(l),
            None => Some(defaults::STT_LANGUAGE.into()),
        },
        timeout: seconds(r.f64("stt", "timeout")?.unwrap_or(defaults::STT_TIMEOUT_S)),
        stability_window: r
            .u64("stt", "streaming_stability_window")?
            .map_or(defaults::STABILITY_WINDOW, |v| v as usize),
        min_stable_chars: r
            .u64("stt", "streaming_min_stable_chars")?
            .map_or(defaults::MIN_STABLE_CHARS, |v| v as usize),
    };
    let tts = TtsConfig {
        host: r.string("tts", "wyoming_host")?.unwrap_or_else(|| defaults::TTS_HOST.into()),
        port: r.port("tts", "wyoming_port")?.unwrap_or(defaults::TTS_PORT),
        voice: r.string("tts", "voice")?,
        speaker: r.string("tts", "speaker")?,
        streaming: r.bool("tts", "streaming")?,
        pad_min_chars: r.u64("tts", "pad_min_chars")?.map_or(0, |v| v as usize),
    };
    let engine = match r.string("vad", "engine")?.as_deref() {
        None | Some("auto") => VadEngine::Auto,
        Some("silero") => VadEngine::Silero,
        Some("rms") => VadEngine::Rms,
        Some(other) => return Err(invalid("vad.engine", &format!("must be auto, silero or rms, not {other:?}"))),
    };
    let silero_threshold = r.f64("vad", "threshold")?.map_or(defaults::SILERO_THRESHOLD, |v| v as f32);
    r.range("vad", "threshold", silero_threshold as f64, 0.05, 0.95);
    let first_ms = |r: &mut read::Reader<'_>, keys: &[(&str, &str)]| -> Result<Option<u32>, ConfigError> {
        for (section, key) in keys {
            if let Some(v) = r.u64(section, key)? {
                return Ok(Some(v.min(u32::MAX as u64) as u32));
            }
        }
        Ok(None)
    };
    let hangover_ms =
        first_ms(r, &[("vad", "hangover_ms"), ("pipeline", "silence_threshold_ms"), ("bot", "silence_threshold_ms")])?
            .unwrap_or(defaults::HANGOVER_MS);
    let max_utterance_ms =
        first_ms(r, &[("vad", "max_utterance_ms"), ("pipeline", "max_recording_ms"), ("bot", "max_recording_ms")])?
            .unwrap_or(defaults::MAX_UTTERANCE_MS);
    r.range("vad", "hangover_ms", hangover_ms as f64, 100.0, 5000.0);
    let vad = VadConfig {
        engine,
        silero_model: r.path("vad", "silero_model", o.base_dir)?,
        silero_threshold,
        rms_threshold: ov
            .asr_threshold
            .map_or(r.u64("bot", "asr_threshold")?.map(|v| v as u32), Some)
            .unwrap_or(defaults::RMS_THRESHOLD),
        hangover_ms,
        min_speech_ms: first_ms(r, &[("vad", "min_speech_ms")])?.unwrap_or(defaults::MIN_SPEECH_MS),
        max_utterance_ms,
    };
    if engine == VadEngine::Silero && vad.silero_model.is_none() {
        return Err(invalid("vad.engine", "silero needs vad.silero_model"));
    }
    let respond = RespondConfig {
        echo_filter: r.bool("bot", "echo_filter_enabled")?.unwrap_or(true),
        echo_decay: seconds(r.f64("bot", "echo_filter_decay")?.unwrap_or(defaults::ECHO_DECAY_S)),
        utterance_filter: r.bool("bot", "utterance_filter_enabled")?.unwrap_or(true),
        min_words: r.u64("bot", "utterance_min_words")?.map_or(defaults::MIN_WORDS, |v| v as usize),
        min_chars: r.u64("bot", "utterance_min_chars")?.map_or(defaults::MIN_CHARS, |v| v as usize),
        wake_word: r.string("bot", "wake_word")?,
        hallucination_filter: r.bool("bot", "hallucination_filter")?.unwrap_or(false),
        max_response_staleness: seconds(r.f64("bot", "max_response_staleness")?.unwrap_or(defaults::STALENESS_S)),
        pending_text_timeout: seconds(
            r.f64("bot", "pending_text_timeout")?.unwrap_or(defaults::PENDING_TEXT_TIMEOUT_S),
        ),
        continuation_words: defaults::CONTINUATION_WORDS,
    };
    r.range("bot", "asr_threshold", vad.rms_threshold as f64, 100.0, 20000.0);
    let history = HistoryConfig {
        context_messages: r.u64("llm", "context_messages")?.map_or(defaults::CONTEXT_MESSAGES, |v| v as usize),
        max_entries: defaults::HISTORY_MAX_ENTRIES,
        max_age: seconds(r.f64("bot", "conversation_timeout")?.unwrap_or(defaults::CONVERSATION_TIMEOUT_S)),
    };
    // 0 still sends the question itself: no history.
    r.range("llm", "context_messages", history.context_messages as f64, 1.0, 200.0);
    let chunker_defaults = ChunkerOptions::default();
    let ms = |v: u64| Duration::from_millis(v);
    let chunker = ChunkerOptions {
        first_min_chars: r
            .u64("streaming", "first_phrase_min_chars")?
            .map_or(chunker_defaults.first_min_chars, |v| v as usize),
        first_max_chars: positive(r.u64("streaming", "first_phrase_max_chars")?, "streaming.first_phrase_max_chars")?
            .map_or(chunker_defaults.first_max_chars, |v| v as usize),
        first_timeout: r.u64("streaming", "first_phrase_timeout_ms")?.map_or(chunker_defaults.first_timeout, ms),
        min_chars: r.u64("streaming", "phrase_min_chars")?.map_or(chunker_defaults.min_chars, |v| v as usize),
        max_chars: positive(r.u64("streaming", "phrase_max_chars")?, "streaming.phrase_max_chars")?
            .map_or(chunker_defaults.max_chars, |v| v as usize),
        stall_timeout: r.u64("streaming", "phrase_timeout_ms")?.map_or(chunker_defaults.stall_timeout, ms),
        speech: Default::default(),
    };
    let barge_in_enabled = r.bool("bot", "barge_in_enabled")?.unwrap_or(true);
    let barge_in_ms = r.u64("bot", "barge_in_ms")?.map_or(defaults::BARGE_IN_MS as u64, |v| v);
    let soul_fallback = soul.as_ref().and_then(|s| s.fallback_errors.first().cloned());
    Ok(BridgeConfig {
        llm,
        system_prompt,
        stt,
        tts,
        vad,
        respond,
        history,
        chunker,
        barge_in: barge_in_enabled.then(|| ms(barge_in_ms)),
        fallback_phrase: r
            .string("bot", "fallback_phrase")?
            .or(soul_fallback)
            .unwrap_or_else(|| defaults::FALLBACK_PHRASE.into()),
        latency_log: r.path("bot", "latency_log", o.base_dir)?,
        greet_on_join: r.bool("bot", "greet_on_join")?.unwrap_or(false),
        text_reply: r.bool("bot", "text_reply")?.unwrap_or(false),
        soul,
    })
}

/// The base prompt plus the personality (see the module docs for the order).
fn system_prompt(r: &mut read::Reader<'_>, o: &ParseOptions<'_>, soul: Option<&Soul>) -> Result<String, ConfigError> {
    let mut base = o.overrides.llm_system_prompt.clone().filter(|p| !p.trim().is_empty());
    if base.is_none()
        && let Some(file) = r.string("llm", "prompt_file")?
    {
        match read_relative(o.base_dir, &file) {
            Some(text) => base = Some(text),
            None => r.suspicious("llm.prompt_file", &format!("{file} not found; using the system prompt")),
        }
    }
    let base = match base {
        Some(b) => b,
        None => match r.string("llm", "system_prompt")? {
            Some(prompt) => prompt,
            // The Python bot's own base prompt file, which its users may have edited.
            None => ["prompts/default.md", "prompts/default.txt"]
                .iter()
                .find_map(|name| read_relative(o.base_dir, name))
                .filter(|text| !text.trim().is_empty())
                .unwrap_or_else(|| defaults::SYSTEM_PROMPT.into()),
        },
    };
    let personality = match o.overrides.personality.clone().or(r.string("llm", "personality")?) {
        Some(name) => {
            let candidates = [
                name.clone(),
                format!("personalities/{name}.md"),
                format!("personalities/{name}.txt"),
                format!("personalities/{name}"),
            ];
            match candidates.iter().find_map(|c| read_relative(o.base_dir, c)) {
                Some(text) => Some(text),
                None => {
                    r.suspicious("llm.personality", &format!("{name} not found"));
                    None
                }
            }
        }
        None => soul.and_then(|s| s.personality.clone()),
    };
    Ok(match personality.filter(|p| !p.trim().is_empty()) {
        Some(p) => format!("{}{}{}", base.trim_end(), defaults::PERSONALITY_SEPARATOR, p.trim()),
        None => base.trim_end().to_owned(),
    })
}

/// A file's text, relative to the config directory first, then the working directory.
fn read_relative(base: &Path, name: &str) -> Option<String> {
    [base.join(name), PathBuf::from(name)].iter().find(|p| p.is_file()).and_then(|p| std::fs::read_to_string(p).ok())
}

/// Longest duration a setting may ask for. Beyond it, deadlines computed as `now + timeout` would overflow
/// (`.inf` or `1e300` in the YAML), and nothing here needs to wait longer.
const MAX_SECONDS: f64 = 86_400.0;

fn seconds(s: f64) -> Duration {
    // A negative value means none.
    Duration::from_secs_f64(if s.is_nan() { 0.0 } else { s.clamp(0.0, MAX_SECONDS) })
}

fn positive(value: Option<u64>, key: &str) -> Result<Option<u64>, ConfigError> {
    match value {
        Some(0) => Err(invalid(key, "must be at least 1")),
        other => Ok(other),
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), message: message.to_owned() }
}

#[cfg(test)]
mod tests;
