//! Turn detection for one speaker: 48 kHz Mumble PCM in, "speech started", 16 kHz audio to stream to STT,
//! and "speech ended" out.
//!
//! Silero VAD (16 kHz, 512-sample windows) decides when available; otherwise the Python bot's RMS threshold
//! does (a window is speech when its RMS is above it). Speech must last `min_speech_ms` to count (coughs and
//! clicks don't), a turn ends after `hangover_ms` of silence, and an utterance is cut at `max_utterance_ms`.
//! A short pre-roll before the detected start is kept, so the first syllable reaches STT.
//!
//! Pure apart from the Silero model call: the clock is the audio itself (sample counts), so tests feed
//! PCM and never sleep.

use std::collections::VecDeque;
use std::sync::Arc;
use wyoming_proto::audio::{AudioConverter, AudioFormat, pcm_to_f32};
use wyoming_proto::vad::silero::{SileroModel, SileroStream};
use wyoming_proto::vad::{EndpointConfig, Endpointer, VadEvent, WINDOW};

const MUMBLE: AudioFormat = AudioFormat { rate: 48_000, width: 2, channels: 1 };
pub const STT_FORMAT: AudioFormat = AudioFormat { rate: 16_000, width: 2, channels: 1 };
const SAMPLES_PER_MS: usize = 16;

#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Silero speech probability threshold.
    pub threshold: f32,
    /// RMS (of 16-bit samples) above which a window is speech, when Silero is not available.
    pub rms_threshold: f32,
    /// Silence that ends a turn.
    pub hangover_ms: u32,
    /// Speech shorter than this is ignored.
    pub min_speech_ms: u32,
    /// An utterance is cut (and ended) at this length.
    pub max_utterance_ms: u32,
    /// Audio before the detected start that is sent to STT too.
    pub pre_roll_ms: u32,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            threshold: 0.5,
            rms_threshold: 500.0,
            hangover_ms: 600,
            min_speech_ms: 250,
            max_utterance_ms: 30_000,
            pre_roll_ms: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// Speech has lasted `min_speech_ms`: a real utterance began (the moment barge-in counts from).
    SpeechStarted,
    /// 16 kHz 16-bit mono PCM of the utterance, in order, starting with the pre-roll.
    Audio(Vec<u8>),
    /// The turn ended. `speech_ms` is the utterance's length up to the last speech; `hangover_ms` is the
    /// silence waited for after it.
    SpeechEnded { speech_ms: u32, hangover_ms: u32, cut: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("voice activity detection failed: {0}")]
    Vad(String),
}

/// Decides speech or not for each 512-sample window.
enum Detector {
    Silero { model: Arc<SileroModel>, stream: SileroStream },
    Rms { threshold: f32, pending: Vec<f32> },
}

impl Detector {
    fn probabilities(&mut self, samples: &[f32]) -> Result<Vec<f32>, ListenError> {
        match self {
            Detector::Silero { model, stream } => {
                stream.push(model, samples).map_err(|e| ListenError::Vad(e.to_string()))
            }
            Detector::Rms { threshold, pending } => {
                pending.extend_from_slice(samples);
                let mut out = Vec::new();
                while pending.len() >= WINDOW {
                    let window: Vec<f32> = pending.drain(..WINDOW).collect();
                    let rms = (window.iter().map(|s| s * s).sum::<f32>() / WINDOW as f32).sqrt() * 32768.0;
                    out.push(if rms >= *threshold { 1.0 } else { 0.0 });
                }
                Ok(out)
            }
        }
    }
}

pub struct Listener {
    config: ListenConfig,
    converter: AudioConverter,
    detector: Detector,
    endpointer: Endpointer,
    /// 16 kHz PCM not yet judged by the detector, aligned with its windows.
    unjudged: VecDeque<u8>,
    /// The last `pre_roll_ms` of audio while not in an utterance.
    pre_roll: VecDeque<u8>,
    /// Inside an utterance: samples since its start (pre-roll excluded).
    utterance: Option<Utterance>,
}

struct Utterance {
    /// Confirmed by `min_speech_ms` of speech.
    confirmed: bool,
    /// Audio held back until confirmation (a cough that never confirms is dropped).
    held: Vec<u8>,
    samples: usize,
    speech_samples: usize,
}

impl Listener {
    /// Uses Silero when `model` is given, else the RMS threshold.
    pub fn new(config: ListenConfig, model: Option<Arc<SileroModel>>) -> Self {
        let detector = match model {
            Some(model) => Detector::Silero { model, stream: SileroStream::new() },
            None => Detector::Rms { threshold: config.rms_threshold, pending: Vec::new() },
        };
        let endpointer =
            Endpointer::new(EndpointConfig { threshold: config.threshold, silence_ms: config.hangover_ms });
        Listener {
            config,
            converter: AudioConverter::new(STT_FORMAT),
            detector,
            endpointer,
            unjudged: VecDeque::new(),
            pre_roll: VecDeque::new(),
            utterance: None,
        }
    }

    /// Whether an utterance is in progress (confirmed or not).
    pub fn in_utterance(&self) -> bool {
        self.utterance.is_some()
    }

    /// Speech heard so far in the current utterance, confirmed or not (what barge-in confirmation counts).
    pub fn speech_ms(&self) -> u32 {
        self.utterance.as_ref().map_or(0, |u| (u.speech_samples / SAMPLES_PER_MS) as u32)
    }

    /// Feeds Mumble PCM (48 kHz mono).
    pub fn push(&mut self, pcm: &[i16]) -> Result<Vec<Heard>, ListenError> {
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let converted = self.converter.convert(MUMBLE, &bytes).map_err(|e| ListenError::Vad(e.to_string()))?;
        let samples = pcm_to_f32(&converted, 2).map_err(|e| ListenError::Vad(e.to_string()))?;
        let probabilities = self.detector.probabilities(&samples)?;
        self.unjudged.extend(converted);
        let mut out = Vec::new();
        for p in probabilities {
            let window: Vec<u8> = self.unjudged.drain(..(WINDOW * 2).min(self.unjudged.len())).collect();
            let event = self.endpointer.push(p);
            self.window(window, p >= self.config.threshold, event, &mut out);
        }
        Ok(out)
    }

    /// Ends the utterance now (the speaker left, or the talk spurt ended without trailing silence).
    pub fn flush(&mut self) -> Vec<Heard> {
        let mut out = Vec::new();
        if let Some(u) = self.utterance.take().filter(|u| u.confirmed) {
            out.push(Heard::SpeechEnded {
                speech_ms: (u.speech_samples / SAMPLES_PER_MS) as u32,
                hangover_ms: ((u.samples - u.speech_samples) / SAMPLES_PER_MS) as u32,
                cut: false,
            });
        }
        self.reset();
        out
    }

    fn reset(&mut self) {
        self.endpointer =
            Endpointer::new(EndpointConfig { threshold: self.config.threshold, silence_ms: self.config.hangover_ms });
        self.pre_roll.clear();
    }

    fn window(&mut self, window: Vec<u8>, speech: bool, event: Option<VadEvent>, out: &mut Vec<Heard>) {
        let n = window.len() / 2;
        if matches!(event, Some(VadEvent::SpeechStarted { .. })) && self.utterance.is_none() {
            let held: Vec<u8> = self.pre_roll.drain(..).collect();
            self.utterance = Some(Utterance { confirmed: false, held, samples: 0, speech_samples: 0 });
        }
        let Some(u) = self.utterance.as_mut() else {
            self.pre_roll.extend(window);
            let keep = self.config.pre_roll_ms as usize * SAMPLES_PER_MS * 2;
            while self.pre_roll.len() > keep {
                self.pre_roll.pop_front();
            }
            return;
        };
        u.samples += n;
        if speech {
            u.speech_samples = u.samples;
        }
        if u.confirmed {
            out.push(Heard::Audio(window));
        } else {
            u.held.extend(window);
            if u.speech_samples >= self.config.min_speech_ms as usize * SAMPLES_PER_MS {
                u.confirmed = true;
                out.push(Heard::SpeechStarted);
                out.push(Heard::Audio(std::mem::take(&mut u.held)));
            }
        }
        let too_long = u.samples >= self.config.max_utterance_ms as usize * SAMPLES_PER_MS;
        if matches!(event, Some(VadEvent::TurnEnded { .. })) || too_long {
            let u = self.utterance.take().expect("in an utterance");
            if u.confirmed {
                out.push(Heard::SpeechEnded {
                    speech_ms: (u.speech_samples / SAMPLES_PER_MS) as u32,
                    hangover_ms: ((u.samples - u.speech_samples) / SAMPLES_PER_MS) as u32,
                    cut: too_long,
                });
            }
            self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a 300 Hz tone at `amplitude`, 48 kHz.
    fn tone(ms: usize, amplitude: f32) -> Vec<i16> {
        (0..ms * 48).map(|i| ((i as f32 * 300.0 * std::f32::consts::TAU / 48_000.0).sin() * amplitude) as i16).collect()
    }

    fn run(listener: &mut Listener, pcm: &[i16]) -> Vec<Heard> {
        pcm.chunks(960).flat_map(|frame| listener.push(frame).unwrap()).collect()
    }

    fn summary(events: &[Heard]) -> (usize, usize, Vec<(u32, bool)>) {
        let starts = events.iter().filter(|e| **e == Heard::SpeechStarted).count();
        let audio: usize = events.iter().map(|e| if let Heard::Audio(a) = e { a.len() / 2 } else { 0 }).sum();
        let ends = events
            .iter()
            .filter_map(
                |e| if let Heard::SpeechEnded { speech_ms, cut, .. } = e { Some((*speech_ms, *cut)) } else { None },
            )
            .collect();
        (starts, audio, ends)
    }

    #[test]
    fn an_utterance_starts_streams_and_ends_after_the_hangover() {
        let mut l = Listener::new(ListenConfig::default(), None);
        let mut pcm = tone(500, 0.0);
        pcm.extend(tone(1000, 8000.0));
        pcm.extend(tone(1000, 0.0));
        let events = run(&mut l, &pcm);
        let (starts, audio, ends) = summary(&events);
        assert_eq!(starts, 1);
        assert_eq!(ends.len(), 1);
        let speech_ms = ends[0].0;
        assert!((950..=1100).contains(&speech_ms), "{speech_ms}");
        // The audio covers the pre-roll, the speech and the hangover.
        let ms = audio / 16;
        assert!((1800..=2000).contains(&ms), "{ms} ms of audio");
        assert_eq!(events.iter().position(|e| *e == Heard::SpeechStarted), Some(0));
    }

    #[test]
    fn a_cough_is_not_an_utterance() {
        let mut l = Listener::new(ListenConfig::default(), None);
        let mut pcm = tone(100, 8000.0);
        pcm.extend(tone(1500, 0.0));
        assert!(run(&mut l, &pcm).is_empty());
        assert!(!l.in_utterance());
    }

    #[test]
    fn long_speech_is_cut_and_a_new_utterance_follows() {
        let config = ListenConfig { max_utterance_ms: 2000, ..Default::default() };
        let mut l = Listener::new(config, None);
        let events = run(&mut l, &tone(3000, 8000.0));
        let (starts, _, ends) = summary(&events);
        assert_eq!(ends.first().map(|e| e.1), Some(true), "{ends:?}");
        assert_eq!(starts, 2, "speech goes on after the cut");
    }

    #[test]
    fn flush_ends_a_confirmed_utterance() {
        let mut l = Listener::new(ListenConfig::default(), None);
        run(&mut l, &tone(800, 8000.0));
        assert!(matches!(l.flush().as_slice(), [Heard::SpeechEnded { cut: false, .. }]));
        assert!(l.flush().is_empty());
    }
}
