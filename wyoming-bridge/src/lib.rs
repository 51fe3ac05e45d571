//! `wyoming-bridge`: the Mumble voice bot (Mumble ↔ STT ↔ LLM ↔ TTS).
//!
//! # Layout
//! - [`mumble`]: our own Mumble client. A sans-IO core (varint, voice packets, control framing,
//!   protobuf messages, channel/user state, the client state machine) under a thin tokio layer (TLS
//!   trust, one connection, the reconnecting [`mumble::MumbleClient`]).
//! - [`audio`]: Opus both ways at 48 kHz mono: per-speaker decoding with loss concealment and
//!   talk-spurt ends, and the paced [`audio::AudioSink`] with its playout queue.
//! - [`cli`]: the command line and the `mumble` section of `config.yaml`.
//! - [`llm`]: the streaming chat-completions client (SSE, think filter, timeouts, one retry, drop
//!   to cancel). [`chunker`]: LLM text → speakable phrases, the first one early. [`sanitize`]: text
//!   made speakable (markdown, emoji, URLs, code). [`stabilizer`]: the stable prefix of partial
//!   transcripts. [`latency`]: the per-turn record, JSONL log and `latency` report (table, SVG).
//! - [`config`]: the rest of the Python bot's `config.yaml` (llm, stt, tts, vad, bot, streaming, soul…)
//!   with defaults, warnings for unknown keys, and its quirks fixed (listed in the module docs).
//!   [`history`]: the channel-wide history (`Name: text`, what was really spoken on barge-in).
//!   [`respond`]: whether to answer (echo filter, meaningful utterance, wake word, continuations).
//! - [`listen`]: per-speaker turn detection (Silero VAD or RMS). [`stt`]: one utterance streamed to the
//!   Wyoming STT server. [`speak`]: phrases to the Wyoming TTS server, 48 kHz audio back.
//! - [`bot`]: the event loop (speakers, turns, barge-in, history, latency log); [`turn`]: one reply,
//!   LLM → chunker → TTS → Mumble, as a task.
//! - [`echo`]: `mumble-echo`, which plays back what it hears: the quickest check of a server setup.
//!
//! The interface for the voice pipeline is small: [`mumble::MumbleClient::start`] gives a stream of
//! [`mumble::Event`]s (per-user PCM frames with the speaker's session and name, talk-spurt ends,
//! users joining and leaving, text messages), an [`audio::AudioSink`] that plays PCM with real-time
//! pacing and stops within one frame, and `send_text`.

pub mod audio;
pub mod bot;
pub mod chunker;
pub mod cli;
pub mod config;
pub mod echo;
pub mod history;
pub mod latency;
pub mod listen;
pub mod llm;
pub mod mumble;
pub mod respond;
pub mod sanitize;
pub mod speak;
pub mod stabilizer;
pub mod stt;
pub mod turn;
