//! The Whisper engine: audio in, text out, several utterances per call.
//!
//! Pure computation over the model (no channels, no sockets): the [`worker`](crate::worker) owns it and
//! feeds it batches. The first 30 s window of every utterance in a batch goes to CTranslate2 in one
//! `generate` call, which is what makes concurrent users cheap; longer audio then follows faster-whisper's
//! seek loop, window after window ([`Seeking`]).

use crate::mel::{LogMel, MelExtractor, WINDOW_FRAMES};
use crate::tokens::{Task, Vocabulary};
use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};
use std::path::Path;

/// faster-whisper's silence rule: a window is silence when `<|nospeech|>` is likely **and** the decode
/// is unsure.
const NO_SPEECH_THRESHOLD: f32 = 0.6;
const LOG_PROB_THRESHOLD: f32 = -1.0;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub device: Device,
    pub device_index: i32,
    pub compute_type: ComputeType,
    pub cpu_threads: usize,
    pub beam_size: usize,
    pub task: Task,
    /// `--initial-prompt`: text the decoder is conditioned on (names, spellings).
    pub initial_prompt: Option<String>,
}

/// Most prompt tokens faster-whisper keeps from an initial prompt (`max_length / 2 - 1`).
const MAX_PREVIOUS_TOKENS: usize = 223;

/// One utterance to transcribe: 16 kHz mono samples in [-1, 1] and its language.
#[derive(Debug, Clone, Default)]
pub struct Utterance {
    pub samples: Vec<f32>,
    /// A language code; ignored by English-only models.
    pub language: Option<String>,
    /// A partial transcript's decode: greedy only, its length bounded by the audio's. Only the final decode's
    /// text is kept, and a temperature fallback costs five more decodes, each up to 448 tokens: on the first
    /// half second of speech that took 7 s on a CPU, and the final transcript waited behind it.
    pub partial: bool,
}

/// Tokens a partial decode may generate: plenty for fast speech (about 5 tokens a second), where a
/// repetition loop would run on to 448.
const PARTIAL_BASE_TOKENS: usize = 16;
const PARTIAL_TOKENS_PER_SECOND: usize = 8;
/// Whisper's text context, faster-whisper's `max_length`.
const MAX_LENGTH: usize = 448;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("unknown language \"{0}\" for this model")]
    UnknownLanguage(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

pub struct Engine {
    model: Whisper,
    mel: MelExtractor,
    vocab: Vocabulary,
    config: EngineConfig,
    /// The initial prompt's tokens, as the model's token strings.
    previous: Vec<String>,
}

impl Engine {
    /// Loads the model directory. Fails with the directory in the message for a missing or corrupt model.
    pub fn load(dir: &Path, config: EngineConfig) -> anyhow::Result<Engine> {
        let vocab = Vocabulary::load(dir)?;
        let ct2 = Config {
            device: config.device,
            device_indices: vec![config.device_index],
            compute_type: config.compute_type,
            num_threads_per_replica: config.cpu_threads,
            ..Config::default()
        };
        let model =
            Whisper::new(dir, ct2).map_err(|e| anyhow::anyhow!("cannot load Whisper model {}: {e}", dir.display()))?;
        let mel = MelExtractor::new(model.n_mels());
        let previous = match &config.initial_prompt {
            Some(text) => prompt_tokens(dir, text)?,
            None => Vec::new(),
        };
        Ok(Engine { model, mel, vocab, config, previous })
    }

    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Transcribes a batch to the end; one result per utterance, in order.
    #[cfg(test)]
    pub fn transcribe(&self, batch: &[Utterance]) -> Vec<Result<String, EngineError>> {
        self.start(batch)
            .into_iter()
            .map(|progress| match progress? {
                Progress::Done(text) => Ok(text),
                Progress::More(mut rest) => loop {
                    if let Some(text) = self.resume(&mut rest)? {
                        break Ok(text);
                    }
                },
            })
            .collect()
    }

    /// Decodes the first 30 s window of every utterance in a batch, and every window of a partial one: one result
    /// per utterance, in order. A final transcript that goes on (audio over 30 s, or a last segment the model
    /// left unfinished) is [`Progress::More`], for [`Engine::resume`]: the windows after the first depend on the
    /// text before them, so they are decoded one at a time, and the worker can put other requests between them.
    pub fn start(&self, batch: &[Utterance]) -> Vec<Result<Progress, EngineError>> {
        // Resolve languages first so one bad request does not fail the others.
        let languages: Vec<Result<Option<String>, EngineError>> = batch.iter().map(|u| self.language_of(u)).collect();
        let mut mels: Vec<Option<LogMel>> = batch
            .iter()
            .zip(&languages)
            .map(|(u, language)| (language.is_ok() && !u.samples.is_empty()).then(|| self.mel.compute(&u.samples)))
            .collect();
        let mut progress: Vec<Option<Progress>> = batch.iter().map(|_| None).collect();
        let decoded = self
            .start_partials(batch, &languages, &mels, &mut progress)
            .and_then(|()| self.start_finals(batch, &languages, &mut mels, &mut progress));
        match decoded {
            Ok(()) => languages
                .into_iter()
                .zip(progress)
                .map(|(language, p)| language.map(|_| p.unwrap_or_else(|| Progress::Done(String::new()))))
                .collect(),
            Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Decodes the next window of a final transcript; its text once the audio is all decoded.
    pub fn resume(&self, rest: &mut Continuation) -> Result<Option<String>, EngineError> {
        let seeking = &mut rest.0;
        if !seeking.done() {
            tracing::debug!(seek_s = seeking.seek as f32 / 100.0, "next window");
            for decoded in self.decode_windows(vec![seeking.window()], Decode::Final)? {
                seeking.advance(decoded, &self.vocab);
            }
        }
        Ok(seeking.done().then(|| seeking.segments.join(" ")))
    }

    /// Partial transcripts: every 30 s window of every partial utterance in one greedy call.
    fn start_partials(
        &self,
        batch: &[Utterance],
        languages: &[Result<Option<String>, EngineError>],
        mels: &[Option<LogMel>],
        progress: &mut [Option<Progress>],
    ) -> Result<(), EngineError> {
        let mut windows = Vec::new();
        let mut owners = Vec::new();
        let mut seconds = 0.0f32;
        for (i, utterance) in batch.iter().enumerate().filter(|(_, u)| u.partial) {
            let (Some(mel), Ok(language)) = (&mels[i], &languages[i]) else { continue };
            for w in 0..mel.windows() {
                let features = mel.window(w * WINDOW_FRAMES, WINDOW_FRAMES);
                windows.push(Window { features, language: language.clone(), previous: self.previous.clone() });
                owners.push(i);
            }
            seconds = seconds.max((utterance.samples.len() as f32 / 16_000.0).min(30.0));
        }
        if windows.is_empty() {
            return Ok(());
        }
        let mut parts: Vec<Vec<String>> = vec![Vec::new(); batch.len()];
        for (i, (decoded, _)) in owners.into_iter().zip(self.decode_windows(windows, Decode::Partial { seconds })?) {
            parts[i].extend(partial_text(decoded));
        }
        for (i, part) in parts.into_iter().enumerate().filter(|(i, _)| batch[*i].partial) {
            progress[i] = Some(Progress::Done(part.join(" ")));
        }
        Ok(())
    }

    /// The first window of every final transcript, in one call, through faster-whisper's seek loop
    /// ([`Seeking`]).
    fn start_finals(
        &self,
        batch: &[Utterance],
        languages: &[Result<Option<String>, EngineError>],
        mels: &mut [Option<LogMel>],
        progress: &mut [Option<Progress>],
    ) -> Result<(), EngineError> {
        let mut utterances: Vec<(usize, Seeking)> = batch
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.partial)
            .filter_map(|(i, _)| match (mels[i].take(), &languages[i]) {
                (Some(mel), Ok(language)) => Some((i, Seeking::new(mel, language.clone(), self.previous.clone()))),
                _ => None,
            })
            .collect();
        // Under one feature frame of audio: nothing to decode, as in faster-whisper (a window of zeros could
        // come back as a hallucinated "you").
        utterances.retain(|(i, seeking)| {
            if seeking.done() {
                progress[*i] = Some(Progress::Done(String::new()));
            }
            !seeking.done()
        });
        if utterances.is_empty() {
            return Ok(());
        }
        let first: Vec<Window> = utterances.iter().map(|(_, s)| s.window()).collect();
        for ((_, seeking), decoded) in utterances.iter_mut().zip(self.decode_windows(first, Decode::Final)?) {
            seeking.advance(decoded, &self.vocab);
        }
        for (i, seeking) in utterances {
            progress[i] = Some(match seeking.done() {
                true => Progress::Done(seeking.segments.join(" ")),
                false => Progress::More(Continuation(seeking)),
            });
        }
        Ok(())
    }

    fn language_of(&self, utterance: &Utterance) -> Result<Option<String>, EngineError> {
        if !self.vocab.is_multilingual() {
            return Ok(None);
        }
        match &utterance.language {
            Some(code) if self.vocab.knows_language(code) => Ok(Some(code.clone())),
            Some(code) => Err(EngineError::UnknownLanguage(code.clone())),
            None => Ok(None),
        }
    }

    /// Decodes every window in one `generate` call, after detecting the language of those without one. For a
    /// final transcript, windows whose greedy result looks like a hallucination (repetitive or unsure) are
    /// decoded again with faster-whisper's temperature fallback, all of them in one call per temperature, and
    /// the best attempt is kept; a partial one is decoded once ([`Decode::Partial`]). Returns each window's
    /// decode and language.
    fn decode_windows(&self, windows: Vec<Window>, decode: Decode) -> Result<Vec<(Decoded, String)>, EngineError> {
        let n_mels = self.mel.n_mels();
        let mut features: Vec<f32> = windows.iter().flat_map(|w| w.features.iter().copied()).collect();
        let fail = |e: anyhow::Error| EngineError::Inference(e.to_string());
        let view =
            StorageView::new(&[windows.len(), n_mels, WINDOW_FRAMES], &mut features, Device::CPU).map_err(fail)?;
        let needs_detection = self.vocab.is_multilingual() && windows.iter().any(|w| w.language.is_none());
        let encoded;
        let input = if needs_detection {
            encoded = self.model.encode(&view, false).map_err(fail)?;
            &encoded
        } else {
            &view
        };
        let detected = if needs_detection { Some(self.model.detect_language(input).map_err(fail)?) } else { None };
        let languages: Vec<String> = windows
            .iter()
            .enumerate()
            .map(|(w, window)| match &window.language {
                Some(code) => code.clone(),
                None => detected
                    .as_ref()
                    .and_then(|d| d.get(w))
                    .and_then(|d| d.first())
                    .map(|best| best.language.trim_start_matches("<|").trim_end_matches("|>").to_string())
                    .unwrap_or_else(|| "en".to_string()),
            })
            .collect();
        let prompts: Vec<Vec<String>> = windows
            .iter()
            .zip(&languages)
            .map(|(window, language)| self.vocab.prompt(language, self.config.task, &window.previous, true))
            .collect();
        let max_length = decode.max_length(prompts.iter().map(Vec::len).max().unwrap_or(0));
        let greedy = WhisperOptions {
            beam_size: if decode == Decode::Final { self.config.beam_size.max(1) } else { 1 },
            max_length,
            return_scores: true,
            return_no_speech_prob: true,
            ..WhisperOptions::default()
        };
        let results = self.model.generate(input, &prompts, &greedy).map_err(fail)?;
        let mut tried: Vec<Vec<Decoded>> = results.into_iter().map(|r| vec![self.decoded(r, 0.0)]).collect();

        for &temperature in FALLBACK_TEMPERATURES.iter().filter(|_| decode == Decode::Final) {
            let pending: Vec<usize> =
                (0..tried.len()).filter(|&w| tried[w].last().is_some_and(needs_fallback)).collect();
            if pending.is_empty() {
                break;
            }
            tracing::debug!(windows = pending.len(), temperature, "temperature fallback");
            let window_len = n_mels * WINDOW_FRAMES;
            let mut subset: Vec<f32> =
                pending.iter().flat_map(|&w| features[w * window_len..][..window_len].iter().copied()).collect();
            let subset_view =
                StorageView::new(&[pending.len(), n_mels, WINDOW_FRAMES], &mut subset, Device::CPU).map_err(fail)?;
            let subset_prompts: Vec<Vec<String>> = pending.iter().map(|&w| prompts[w].clone()).collect();
            let sampling = WhisperOptions {
                beam_size: 1,
                num_hypotheses: BEST_OF,
                sampling_topk: 0,
                sampling_temperature: temperature,
                return_scores: true,
                return_no_speech_prob: true,
                ..WhisperOptions::default()
            };
            let results = self.model.generate(&subset_view, &subset_prompts, &sampling).map_err(fail)?;
            for (&w, result) in pending.iter().zip(results) {
                tried[w].push(self.decoded(result, temperature));
            }
        }
        Ok(tried.into_iter().map(pick).zip(languages).collect())
    }

    fn decoded(&self, result: ct2rs::sys::WhisperGenerationResult, temperature: f32) -> Decoded {
        let ids = result.sequences_ids.into_iter().next().unwrap_or_default();
        let score = result.scores.first().copied().unwrap_or(0.0);
        // CTranslate2's score is the log-probability normalised by length; faster-whisper averages over
        // length + 1 (the end token), timestamps included.
        let avg_logprob = score * ids.len() as f32 / (ids.len() as f32 + 1.0);
        Decoded {
            // faster-whisper measures the text tokens' text, stripped.
            compression_ratio: compression_ratio(self.vocab.decode(&ids).trim()),
            text: self.vocab.segments_text(&ids),
            ids,
            avg_logprob,
            no_speech_prob: result.no_speech_prob,
            temperature,
        }
    }
}

/// How far [`Engine::start`] got with an utterance.
pub enum Progress {
    Done(String),
    /// More windows to decode, one per [`Engine::resume`].
    More(Continuation),
}

/// A final transcript part-way through its audio.
pub struct Continuation(Seeking);

/// A 30 s window to decode: its features, language (`None`: detect it) and the text it is conditioned on.
struct Window {
    features: Vec<f32>,
    language: Option<String>,
    previous: Vec<String>,
}

/// One utterance through faster-whisper's `generate_segments` (its defaults, as wyoming-faster-whisper uses
/// them): decode the 30 s from `seek`, keep the segments that end at a timestamp pair, and go on from the last
/// timestamp, so that a word is never cut between two windows; each window is conditioned on the text before
/// it (up to 223 tokens), the conditioning starting afresh after a window that needed a fallback hotter than
/// 0.5. The language is detected once, on the first window.
struct Seeking {
    mel: LogMel,
    seek: usize,
    /// Frames of audio: faster-whisper leaves out the last feature frame.
    content_frames: usize,
    language: Option<String>,
    /// The initial prompt's tokens, then every segment's tokens, timestamps included.
    tokens: Vec<String>,
    /// Where the conditioning text starts in `tokens`.
    prompt_from: usize,
    segments: Vec<String>,
}

/// The conditioning on earlier text is dropped after a decode sampled hotter than this.
const PROMPT_RESET_ON_TEMPERATURE: f32 = 0.5;

impl Seeking {
    fn new(mel: LogMel, language: Option<String>, initial_prompt: Vec<String>) -> Self {
        let content_frames = mel.frames.saturating_sub(1);
        Seeking { mel, seek: 0, content_frames, language, tokens: initial_prompt, prompt_from: 0, segments: Vec::new() }
    }

    fn done(&self) -> bool {
        self.seek >= self.content_frames
    }

    fn segment_size(&self) -> usize {
        WINDOW_FRAMES.min(self.content_frames.saturating_sub(self.seek))
    }

    fn window(&self) -> Window {
        let previous = &self.tokens[self.prompt_from..];
        Window {
            features: self.mel.window(self.seek, self.segment_size()),
            language: self.language.clone(),
            previous: previous[previous.len().saturating_sub(MAX_PREVIOUS_TOKENS)..].to_vec(),
        }
    }

    fn advance(&mut self, (decoded, language): (Decoded, String), vocab: &Vocabulary) {
        self.language.get_or_insert(language);
        let size = self.segment_size().max(1);
        if is_silent(&decoded) {
            self.seek += size;
            return;
        }
        let (segments, next) = vocab.split_segments(&decoded.ids, size);
        for segment in segments {
            let text = vocab.decode(segment);
            if text.trim().is_empty() {
                continue;
            }
            self.tokens.extend(segment.iter().map(|&id| vocab.token(id).to_string()));
            self.segments.push(text);
        }
        // The seek always moves on, so that a degenerate decode (a pair of zero timestamps) cannot loop.
        self.seek += if next > 0 { next } else { size };
        if decoded.temperature > PROMPT_RESET_ON_TEMPERATURE {
            self.prompt_from = self.tokens.len();
        }
    }
}

/// faster-whisper's fallback (its defaults, which wyoming-faster-whisper keeps): after the greedy or beam
/// decode, sampling at these temperatures, best of five each.
const FALLBACK_TEMPERATURES: [f32; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];
const BEST_OF: usize = 5;
const COMPRESSION_RATIO_THRESHOLD: f32 = 2.4;

/// One decode of one window.
#[derive(Debug, Clone)]
struct Decoded {
    ids: Vec<usize>,
    /// The segments' text, as faster-whisper joins them.
    text: String,
    avg_logprob: f32,
    no_speech_prob: f32,
    compression_ratio: f32,
    /// Sampling temperature (0: the greedy or beam decode).
    temperature: f32,
}

/// Text length over its zlib-compressed length: high for repetition loops. Through zlib itself (`flate2`'s
/// `zlib` backend): the pure-Rust miniz backend compresses short repetitions differently (" Thank you." × 8
/// gives 2.38 there, 4.0 in CPython), which would move faster-whisper's 2.4 threshold.
fn compression_ratio(text: &str) -> f32 {
    use std::io::Write as _;
    if text.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    let compressed = encoder.write_all(text.as_bytes()).and_then(|()| encoder.finish());
    compressed.map_or(0.0, |c| text.len() as f32 / c.len().max(1) as f32)
}

/// How a group of windows is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decode {
    /// As faster-whisper decodes: the text the client keeps.
    Final,
    /// A partial transcript of up to `seconds` of audio per window (see [`Utterance::partial`]).
    Partial { seconds: f32 },
}

impl Decode {
    /// `max_length` for a prompt of `prompt` tokens. The prompt is counted in, whether CTranslate2 counts it
    /// or not: the bound only has to be loose.
    fn max_length(self, prompt: usize) -> usize {
        match self {
            Decode::Final => MAX_LENGTH,
            Decode::Partial { seconds } => {
                let tokens =
                    PARTIAL_BASE_TOKENS + (seconds.max(0.0) * PARTIAL_TOKENS_PER_SECOND as f32).ceil() as usize;
                (prompt + tokens).min(MAX_LENGTH)
            }
        }
    }
}

/// A partial decode's text: none for silence or a repetition loop (where a final would fall back).
fn partial_text(d: Decoded) -> Option<String> {
    (!needs_fallback(&d) && !is_silent(&d)).then_some(d.text)
}

/// faster-whisper's silence rule.
fn is_silent(d: &Decoded) -> bool {
    d.no_speech_prob > NO_SPEECH_THRESHOLD && d.avg_logprob < LOG_PROB_THRESHOLD
}

/// faster-whisper's rule: repetitive or unsure output is decoded again, unless the window is silence.
fn needs_fallback(d: &Decoded) -> bool {
    let suspicious = d.compression_ratio > COMPRESSION_RATIO_THRESHOLD || d.avg_logprob < LOG_PROB_THRESHOLD;
    suspicious && !is_silent(d)
}

/// The accepted attempt, or, if every temperature failed, faster-whisper's choice: the most confident of
/// those that are not repetitive, else the most confident of all.
fn pick(mut attempts: Vec<Decoded>) -> Decoded {
    if attempts.last().is_some_and(|d| !needs_fallback(d)) || attempts.len() == 1 {
        return attempts.pop().expect("at least one decode per window");
    }
    let by_confidence = |a: &&Decoded, b: &&Decoded| a.avg_logprob.total_cmp(&b.avg_logprob);
    let best = attempts
        .iter()
        .filter(|d| d.compression_ratio <= COMPRESSION_RATIO_THRESHOLD)
        .max_by(by_confidence)
        .or_else(|| attempts.iter().max_by(by_confidence))
        .cloned();
    best.expect("at least one decode per window")
}

/// Tokenises an initial prompt as faster-whisper does (`" " + text.strip()`, the last 223 tokens), with
/// the model's own `tokenizer.json`.
fn prompt_tokens(dir: &Path, text: &str) -> anyhow::Result<Vec<String>> {
    let path = dir.join("tokenizer.json");
    let tokenizer = tokenizers::Tokenizer::from_file(&path)
        .map_err(|e| anyhow::anyhow!("--initial-prompt needs the model's tokenizer.json ({}): {e}", path.display()))?;
    let encoding = tokenizer
        .encode(format!(" {}", text.trim()), false)
        .map_err(|e| anyhow::anyhow!("cannot tokenise --initial-prompt: {e}"))?;
    let tokens = encoding.get_tokens();
    Ok(tokens[tokens.len().saturating_sub(MAX_PREVIOUS_TOKENS)..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The provisioned tiny.en model (`make setup`); CI always has it.
    fn tiny_en() -> Option<std::path::PathBuf> {
        wyoming_tests::provisioned("WYOMING_TEST_WHISPER_TINY_EN")
    }

    fn cpu() -> EngineConfig {
        EngineConfig {
            device: Device::CPU,
            device_index: 0,
            compute_type: ComputeType::INT8,
            cpu_threads: 1,
            beam_size: 1,
            task: Task::Transcribe,
            initial_prompt: None,
        }
    }

    #[test]
    fn tiny_en_loads_and_silence_gives_no_text() {
        let Some(dir) = tiny_en() else { return };
        let engine = Engine::load(&dir, cpu()).unwrap();
        assert!(!engine.vocabulary().is_multilingual());
        let batch = [
            Utterance { samples: vec![0.0; 16_000], ..Default::default() },
            Utterance { samples: Vec::new(), language: Some("de".into()), ..Default::default() },
        ];
        let results = engine.transcribe(&batch);
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].as_deref().unwrap().trim(), "");
        assert_eq!(results[1].as_deref().unwrap(), "", "no audio, no text; English-only models ignore the language");
    }

    fn attempt(text: &str, avg_logprob: f32, no_speech_prob: f32) -> Decoded {
        Decoded {
            ids: Vec::new(),
            text: text.into(),
            avg_logprob,
            no_speech_prob,
            compression_ratio: compression_ratio(text),
            temperature: 0.0,
        }
    }

    #[test]
    fn compression_ratio_is_cpython_zlibs() {
        // len(t) / len(zlib.compress(t)) from CPython 3.11, exactly.
        assert_eq!(compression_ratio(" Turn on the lights in the kitchen."), 35.0 / 38.0);
        assert_eq!(compression_ratio(&" Thank you.".repeat(8)), 88.0 / 22.0);
        assert_eq!(compression_ratio(&format!(" {}", "la ".repeat(40))), 121.0 / 14.0);
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn fallback_follows_faster_whisper() {
        assert!(!needs_fallback(&attempt(" Turn on the lights.", -0.3, 0.01)));
        assert!(needs_fallback(&attempt(&" Thank you.".repeat(8), -0.2, 0.01)), "a repetition loop");
        assert!(needs_fallback(&attempt(" Turn on the lights.", -1.4, 0.01)), "unsure");
        assert!(!needs_fallback(&attempt(" you", -1.4, 0.9)), "silence is not decoded again");
        // Accepted on the second try: that one.
        let good = pick(vec![attempt(&" Thank you.".repeat(8), -0.2, 0.0), attempt(" Thank you.", -0.4, 0.0)]);
        assert_eq!(good.text, " Thank you.");
        // All failed: the most confident non-repetitive one, else the most confident.
        let all = vec![
            attempt(&" Thank you.".repeat(8), -0.1, 0.0),
            attempt(" Turn on.", -1.5, 0.0),
            attempt(" Turn off.", -1.2, 0.0),
        ];
        assert_eq!(pick(all).text, " Turn off.");
        let loops = vec![attempt(&" la".repeat(30), -1.3, 0.0), attempt(&" Thank you.".repeat(8), -1.1, 0.0)];
        assert!(pick(loops).text.starts_with(" Thank you."));
    }

    #[test]
    fn a_partial_decode_is_bounded_and_unsure_text_is_dropped() {
        assert_eq!(Decode::Final.max_length(4), 448);
        assert_eq!(Decode::Partial { seconds: 0.5 }.max_length(4), 4 + 16 + 4);
        assert_eq!(Decode::Partial { seconds: 30.0 }.max_length(4), 4 + 16 + 240);
        assert_eq!(Decode::Partial { seconds: 30.0 }.max_length(223), 448);
        // What a final would decode again is dropped from a partial: the next partial or the final will tell.
        assert_eq!(partial_text(attempt(" Turn on the", -0.4, 0.01)).as_deref(), Some(" Turn on the"));
        assert_eq!(partial_text(attempt(&" Thank you.".repeat(8), -0.2, 0.01)), None);
        assert_eq!(partial_text(attempt(" Turn on.", -1.4, 0.01)), None);
        assert_eq!(partial_text(attempt(" you", -1.4, 0.9)), None);
    }

    #[test]
    fn a_missing_or_corrupt_model_is_a_clear_error() {
        let err = Engine::load(Path::new("/nonexistent/model"), cpu()).err().unwrap().to_string();
        assert!(err.contains("/nonexistent/model"), "{err}");
        let Some(dir) = tiny_en() else { return };
        let corrupt = tempfile::tempdir().unwrap();
        for file in ["config.json", "vocabulary.txt"] {
            std::fs::copy(dir.join(file), corrupt.path().join(file)).unwrap();
        }
        std::fs::write(corrupt.path().join("model.bin"), b"not a model").unwrap();
        let err = Engine::load(corrupt.path(), cpu()).err().unwrap().to_string();
        assert!(err.contains("cannot load Whisper model"), "{err}");
    }

    /// The random-weight multilingual model of `tests/python/make_tiny_whisper.py`, generated here.
    fn tiny_multilingual(dir: &Path) -> bool {
        let Some(python) = wyoming_tests::python() else { return false };
        let status = std::process::Command::new(python)
            .arg(wyoming_tests::python_script("make_tiny_whisper.py"))
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "make_tiny_whisper.py failed");
        true
    }

    #[test]
    fn multilingual_models_detect_take_and_refuse_languages() {
        let dir = tempfile::tempdir().unwrap();
        if !tiny_multilingual(dir.path()) {
            return;
        }
        let engine = Engine::load(dir.path(), cpu()).unwrap();
        assert!(engine.vocabulary().is_multilingual());
        assert_eq!(engine.vocabulary().languages(), ["de", "en", "fr"]);
        let audio: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let batch = [
            Utterance { samples: audio.clone(), ..Default::default() }, // detected
            Utterance { samples: audio.clone(), language: Some("de".into()), ..Default::default() }, // given
            Utterance { samples: audio.clone(), language: Some("xx".into()), ..Default::default() }, // unknown
        ];
        let results = engine.transcribe(&batch);
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(results[1].is_ok(), "{:?}", results[1]);
        assert!(matches!(&results[2], Err(EngineError::UnknownLanguage(code)) if code == "xx"), "{:?}", results[2]);

        let translate = Engine::load(dir.path(), EngineConfig { task: Task::Translate, ..cpu() }).unwrap();
        assert!(
            translate.transcribe(&[Utterance { samples: audio, language: Some("fr".into()), ..Default::default() }])[0]
                .is_ok()
        );
    }
}
