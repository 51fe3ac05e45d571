//! Per-turn latency: the record, its derived metrics, the JSONL log and the `latency` report.
//!
//! The record keeps every timestamp of the seed's `TurnLatency` (same names, epoch seconds, so the
//! Python `analyze_latency.py` still reads our files) and adds what the Python bot could not see
//! (reference `original-bot.md` §14 row 12, `llm-streaming.md` §11): the last voiced packet
//! (`t_speech_end`, so the VAD hangover shows), the first phrase ready (text aggregation), the first
//! audio packet actually sent to Mumble, and barge-in and cancellation times. A timestamp that did
//! not happen is `null`, never `0.0`, so a missing stage cannot pass for a fast one.
//!
//! The headline metric is the user's view, **wall-clock TTFA** = `t_first_audio_sent −
//! t_speech_end`. It is split into consecutive *stages* that add up to it exactly (see
//! [`Stage`]); the bridge's own overhead is what is left after the time spent waiting for the VAD
//! hangover, STT, LLM and TTS.
//!
//! Times are recorded as `std::time::Instant`s by the pipeline and converted once with a
//! [`WallClock`], so a wall-clock jump in the middle of a turn cannot make a stage negative.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod report;

pub use report::{LatencyReport, latency_report, report_from_jsonl, write_report};

/// Converts monotonic instants to epoch seconds, anchored once.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    origin: Instant,
    origin_epoch: f64,
}

impl WallClock {
    pub fn new() -> Self {
        let origin_epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Self { origin: Instant::now(), origin_epoch }
    }

    /// An anchor for tests: `origin` is at `origin_epoch` seconds.
    pub fn anchored(origin: Instant, origin_epoch: f64) -> Self {
        Self { origin, origin_epoch }
    }

    /// The local weekday, hour and minute now, in the machine's time zone (`TZ`, else `/etc/localtime`), for
    /// the LLM's context line; `None` if the C library cannot convert it. Read from the system clock each time,
    /// not from the anchor: a clock set by NTP after start (a board without a clock chip) is right here.
    pub fn local_time_now() -> Option<(&'static str, u32, u32)> {
        const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as libc::time_t;
        // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for the call.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if unsafe { libc::localtime_r(&seconds, &mut tm) }.is_null() {
            return None;
        }
        let day = DAYS.get(usize::try_from(tm.tm_wday).ok()?)?;
        Some((day, u32::try_from(tm.tm_hour).ok()?, u32::try_from(tm.tm_min).ok()?))
    }

    /// Epoch seconds of `at`.
    pub fn epoch(&self, at: Instant) -> f64 {
        if at >= self.origin {
            self.origin_epoch + (at - self.origin).as_secs_f64()
        } else {
            self.origin_epoch - (self.origin - at).as_secs_f64()
        }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

/// One turn. Timestamps are epoch seconds; `None` means "did not happen".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TurnLatency {
    /// `turn_<counter>_<epoch seconds>`, as the Python bot.
    pub turn_id: String,
    /// The speaker's Mumble session, as a string (the Python bot's `user_id`).
    pub user_id: String,
    pub user_name: Option<String>,

    /// First voiced audio of the utterance.
    pub t0_vad_start: Option<f64>,
    /// Last voiced audio (before the hangover).
    pub t_speech_end: Option<f64>,
    /// End of the utterance declared (after the hangover).
    pub t_vad_end: Option<f64>,
    pub t_asr_start: Option<f64>,
    pub t_asr_partial1: Option<f64>,
    pub t_asr_stable1: Option<f64>,
    pub t_asr_final: Option<f64>,
    /// LLM request started (first attempt).
    pub t_llm_start: Option<f64>,
    /// First speakable text from the LLM.
    pub t_llm_first_token: Option<f64>,
    /// The chunker emitted its first phrase.
    pub t_first_phrase: Option<f64>,
    pub t_llm_complete: Option<f64>,
    /// The first phrase was sent to the TTS server.
    pub t_tts_start: Option<f64>,
    pub t_tts_first_audio: Option<f64>,
    /// First PCM handed to the Mumble sink.
    pub t_playback_start: Option<f64>,
    /// First Opus packet written to the Mumble server.
    pub t_first_audio_sent: Option<f64>,
    pub t_playback_end: Option<f64>,
    pub t_llm_early_start: Option<f64>,
    pub t_overlap_start: Option<f64>,
    /// Barge-in confirmed.
    pub t_barge_in: Option<f64>,
    /// The LLM stream was dropped (barge-in, staleness or error).
    pub t_llm_cancelled: Option<f64>,
    /// Playback stopped after a barge-in.
    pub t_audio_stopped: Option<f64>,

    pub transcript_length: usize,
    pub response_length: usize,
    pub audio_duration_ms: f64,
    pub llm_started_early: bool,
    pub stable_chars_at_llm_start: usize,
    pub llm_attempts: u32,
    pub llm_prompt_tokens: Option<u64>,
    pub llm_completion_tokens: Option<u64>,
    pub llm_cached_tokens: Option<u64>,
    pub barged_in: bool,
    pub stale_dropped: bool,
    /// How the turn ended: `spoken`, `barged_in`, `stale`, `filtered`, `error` …
    pub outcome: Option<String>,
    pub error: Option<String>,
}

/// The consecutive stages of wall-clock TTFA, in order. Each runs from the previous stage's end
/// (or `t_speech_end`) to its own timestamp; a missing timestamp folds its stage into the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `t_speech_end → t_vad_end`: waiting to be sure the user stopped.
    Hangover,
    /// `→ t_asr_final`: the STT server finishing after the end of speech.
    Stt,
    /// `→ t_llm_start`: filters, history, request building (bridge).
    Decide,
    /// `→ t_llm_first_token`.
    LlmFirstToken,
    /// `→ t_first_phrase`: waiting for enough text to speak.
    Aggregation,
    /// `→ t_tts_first_audio`.
    Tts,
    /// `→ t_first_audio_sent`: resampling, Opus, pacing (bridge).
    Playout,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Hangover,
        Stage::Stt,
        Stage::Decide,
        Stage::LlmFirstToken,
        Stage::Aggregation,
        Stage::Tts,
        Stage::Playout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Hangover => "vad_hangover",
            Stage::Stt => "stt",
            Stage::Decide => "decide",
            Stage::LlmFirstToken => "llm_ttft",
            Stage::Aggregation => "aggregation",
            Stage::Tts => "tts",
            Stage::Playout => "playout",
        }
    }

    fn end(self, t: &TurnLatency) -> Option<f64> {
        match self {
            Stage::Hangover => t.t_vad_end,
            Stage::Stt => t.t_asr_final,
            Stage::Decide => t.t_llm_start,
            Stage::LlmFirstToken => t.t_llm_first_token,
            Stage::Aggregation => t.t_first_phrase,
            Stage::Tts => t.t_tts_first_audio,
            Stage::Playout => t.t_first_audio_sent,
        }
    }
}

/// Derived metrics in milliseconds; `None` when an endpoint is missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metrics {
    /// Wall-clock TTFA: end of speech → first audio sent to Mumble.
    pub ttfa_ms: Option<f64>,
    /// The Python bot's TTFA: `t_vad_end → t_tts_first_audio`.
    pub total_ttfa_ms: Option<f64>,
    /// The seed plan's sum `asr_ms + llm_ttft_ms + tts_ttfa_ms`.
    pub ttfa_sum_ms: Option<f64>,
    pub vad_duration_ms: Option<f64>,
    pub vad_hangover_ms: Option<f64>,
    pub asr_ms: Option<f64>,
    pub asr_ttfp_ms: Option<f64>,
    pub asr_ttfs_ms: Option<f64>,
    pub llm_ttft_ms: Option<f64>,
    pub llm_total_ms: Option<f64>,
    pub text_aggregation_ms: Option<f64>,
    pub tts_ttfa_ms: Option<f64>,
    pub playout_ms: Option<f64>,
    /// TTFA minus the time spent waiting on the hangover, STT, LLM and TTS.
    pub bridge_overhead_ms: Option<f64>,
    pub total_turn_ms: Option<f64>,
    pub llm_overlap_ms: Option<f64>,
    pub bargein_to_llm_dropped_ms: Option<f64>,
    pub bargein_to_audio_stopped_ms: Option<f64>,
    /// The [`Stage`]s of `ttfa_ms`, by name, in order (empty unless `ttfa_ms` is known).
    pub stages: serde_json::Map<String, serde_json::Value>,
}

fn ms(from: Option<f64>, to: Option<f64>) -> Option<f64> {
    Some(((to? - from?) * 1000.0 * 10.0).round() / 10.0)
}

impl TurnLatency {
    /// The stage breakdown of wall-clock TTFA; empty when either end is missing.
    pub fn stages(&self) -> Vec<(Stage, f64)> {
        let (Some(start), Some(end)) = (self.t_speech_end, self.t_first_audio_sent) else {
            return Vec::new();
        };
        let mut cursor = start;
        let mut out = Vec::new();
        for stage in Stage::ALL {
            let Some(at) = stage.end(self) else { continue };
            // Clamped: an early final can come before `t_vad_end`; it then costs nothing.
            let at = at.min(end);
            out.push((stage, ((at - cursor).max(0.0) * 10_000.0).round() / 10.0));
            cursor = cursor.max(at);
        }
        out
    }

    pub fn metrics(&self) -> Metrics {
        let stages = self.stages();
        let ttfa_ms = ms(self.t_speech_end, self.t_first_audio_sent);
        let asr_ms = ms(self.t_asr_start, self.t_asr_final);
        let llm_ttft_ms = ms(self.t_llm_start, self.t_llm_first_token);
        let tts_ttfa_ms = ms(self.t_tts_start, self.t_tts_first_audio);
        let span = |s: Stage| stages.iter().find(|(st, _)| *st == s).map(|(_, v)| *v);
        let bridge_overhead_ms = (stages.len() == Stage::ALL.len()).then(|| {
            // TTS work is counted from when the phrase was both ready and sent.
            let tts_began = self.t_tts_start.zip(self.t_first_phrase).map(|(a, b)| a.max(b));
            let tts_work = ms(tts_began, self.t_tts_first_audio).unwrap_or(0.0).max(0.0);
            let tts_span = span(Stage::Tts).unwrap_or(0.0);
            let waiting = span(Stage::Hangover).unwrap_or(0.0)
                + span(Stage::Stt).unwrap_or(0.0)
                + span(Stage::LlmFirstToken).unwrap_or(0.0)
                + span(Stage::Aggregation).unwrap_or(0.0)
                + tts_work.min(tts_span);
            let total: f64 = stages.iter().map(|(_, v)| v).sum();
            ((total - waiting).max(0.0) * 10.0).round() / 10.0
        });
        let positive = |v: Option<f64>| v.filter(|v| *v > 0.0);
        Metrics {
            ttfa_ms,
            total_ttfa_ms: ms(self.t_vad_end, self.t_tts_first_audio),
            ttfa_sum_ms: asr_ms.zip(llm_ttft_ms).zip(tts_ttfa_ms).map(|((a, b), c)| a + b + c),
            vad_duration_ms: ms(self.t0_vad_start, self.t_vad_end),
            vad_hangover_ms: ms(self.t_speech_end, self.t_vad_end),
            asr_ms,
            asr_ttfp_ms: ms(self.t_asr_start, self.t_asr_partial1),
            asr_ttfs_ms: ms(self.t_asr_start, self.t_asr_stable1),
            llm_ttft_ms,
            llm_total_ms: ms(self.t_llm_start, self.t_llm_complete),
            text_aggregation_ms: ms(self.t_llm_first_token, self.t_first_phrase),
            tts_ttfa_ms,
            playout_ms: ms(self.t_tts_first_audio, self.t_first_audio_sent),
            bridge_overhead_ms,
            total_turn_ms: ms(self.t0_vad_start, self.t_playback_end),
            llm_overlap_ms: positive(ms(self.t_llm_early_start, self.t_vad_end)),
            bargein_to_llm_dropped_ms: ms(self.t_barge_in, self.t_llm_cancelled),
            bargein_to_audio_stopped_ms: ms(self.t_barge_in, self.t_audio_stopped),
            stages: stages.iter().map(|(s, v)| (s.name().to_owned(), serde_json::Value::from(*v))).collect(),
        }
    }

    /// One JSON object: every field plus a `metrics` object (the Python bot's JSONL shape).
    pub fn to_json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(flatten)]
            turn: &'a TurnLatency,
            metrics: Metrics,
        }
        serde_json::to_string(&Line { turn: self, metrics: self.metrics() }).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The Python bot's log line: `Turn <id>: TTFA=<ms>ms (ASR=<ms>ms, LLM=<ms>ms, TTS=<ms>ms)`,
    /// with TTFA the wall-clock one. Missing values print as `-`.
    pub fn summary_line(&self) -> String {
        let m = self.metrics();
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        format!(
            "Turn {}: TTFA={}ms (ASR={}ms, LLM={}ms, TTS={}ms)",
            self.turn_id,
            f(m.ttfa_ms),
            f(m.asr_ms),
            f(m.llm_ttft_ms),
            f(m.tts_ttfa_ms)
        )
    }
}

/// Errors of the latency log and report.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: no turn records")]
    Empty { path: PathBuf },
}

/// The JSONL file named by `bot.latency_log`: one line per turn, appended and flushed at once so a
/// crash loses at most the turn in progress.
#[derive(Debug)]
pub struct LatencyLog {
    path: PathBuf,
    file: std::fs::File,
}

impl LatencyLog {
    pub fn open(path: &Path) -> Result<Self, LatencyError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| LatencyError::Io { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned(), file })
    }

    pub fn write(&mut self, turn: &TurnLatency) -> Result<(), LatencyError> {
        let mut line = turn.to_json_line();
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(|source| LatencyError::Io { path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests;
