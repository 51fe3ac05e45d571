//! Turning per-window speech probabilities into "speech started" and "turn ended" events.
//!
//! The rule is Silero's `VADIterator`: speech starts at a window with probability ≥ `threshold`; while in
//! speech, a window below `threshold − 0.15` marks a tentative end, which any window ≥ `threshold`
//! cancels; once the tentative end is `silence_ms` old, the turn has ended. After an end, new speech
//! starts a new segment (the caller decides whether that means the speaker resumed).

use super::WINDOW;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointConfig {
    /// Probability at or above which a window is speech.
    pub threshold: f32,
    /// Silence after speech that ends a turn, in milliseconds.
    pub silence_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig { threshold: 0.5, silence_ms: 300 }
    }
}

/// What the endpointer noticed; positions are in samples (16 kHz) from the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began at `at` (the start of the first speech window).
    SpeechStarted { at: usize },
    /// The turn ended: speech stopped at `speech_end` and has been silent until `at`.
    TurnEnded { speech_end: usize, at: usize },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Silence,
    Speech,
    /// In speech, but quiet since `since`.
    Trailing {
        since: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Endpointer {
    config: EndpointConfig,
    state: State,
    /// Samples consumed so far.
    position: usize,
}

impl Endpointer {
    pub fn new(config: EndpointConfig) -> Self {
        Endpointer { config, state: State::Silence, position: 0 }
    }

    /// Whether the last window left us inside speech (including a not yet confirmed pause).
    pub fn in_speech(&self) -> bool {
        !matches!(self.state, State::Silence)
    }

    /// Samples consumed so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Feeds the probability of the next [`WINDOW`] samples.
    pub fn push(&mut self, probability: f32) -> Option<VadEvent> {
        let start = self.position;
        self.position += WINDOW;
        let speech = probability >= self.config.threshold;
        let quiet = probability < (self.config.threshold - 0.15).max(0.01);
        let silence_samples = self.config.silence_ms as usize * 16;
        match self.state {
            State::Silence if speech => {
                self.state = State::Speech;
                Some(VadEvent::SpeechStarted { at: start })
            }
            State::Silence => None,
            State::Speech if quiet => {
                self.state = State::Trailing { since: start };
                self.check_end(start, silence_samples)
            }
            State::Speech => None,
            State::Trailing { .. } if speech => {
                self.state = State::Speech;
                None
            }
            State::Trailing { since } => self.check_end(since, silence_samples),
        }
    }

    fn check_end(&mut self, since: usize, silence_samples: usize) -> Option<VadEvent> {
        if self.position - since >= silence_samples {
            self.state = State::Silence;
            Some(VadEvent::TurnEnded { speech_end: since, at: self.position })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(probabilities: &[f32], config: EndpointConfig) -> Vec<VadEvent> {
        let mut e = Endpointer::new(config);
        probabilities.iter().filter_map(|p| e.push(*p)).collect()
    }

    #[test]
    fn speech_then_silence_ends_the_turn_after_the_configured_silence() {
        // 3 silent windows, 10 speech windows, then silence. 300 ms = 4800 samples = 9.375 windows -> 10.
        let mut p = vec![0.0; 3];
        p.extend([0.9; 10]);
        p.extend([0.05; 20]);
        let events = run(&p, EndpointConfig::default());
        assert_eq!(
            events,
            [
                VadEvent::SpeechStarted { at: 3 * WINDOW },
                VadEvent::TurnEnded { speech_end: 13 * WINDOW, at: 23 * WINDOW },
            ]
        );
    }

    #[test]
    fn a_short_pause_does_not_end_the_turn() {
        let mut p = vec![0.9; 5];
        p.extend([0.05; 5]); // 160 ms
        p.extend([0.9; 5]);
        p.extend([0.05; 10]);
        let events = run(&p, EndpointConfig::default());
        assert_eq!(
            events,
            [VadEvent::SpeechStarted { at: 0 }, VadEvent::TurnEnded { speech_end: 15 * WINDOW, at: 25 * WINDOW }]
        );
    }

    #[test]
    fn uncertain_windows_neither_start_nor_end_speech() {
        // Between threshold - 0.15 and threshold: no start from silence, no tentative end from speech.
        assert!(run(&[0.4; 50], EndpointConfig::default()).is_empty());
        let mut p = vec![0.9; 2];
        p.extend([0.4; 50]);
        assert_eq!(run(&p, EndpointConfig::default()), [VadEvent::SpeechStarted { at: 0 }]);
    }

    #[test]
    fn speech_after_an_end_starts_again() {
        let mut p = vec![0.9; 2];
        p.extend([0.0; 10]);
        p.extend([0.9; 2]);
        let events = run(&p, EndpointConfig::default());
        assert_eq!(events.len(), 3);
        assert_eq!(events[2], VadEvent::SpeechStarted { at: 12 * WINDOW });
    }

    proptest! {
        #[test]
        fn events_alternate_and_never_point_past_the_stream(p in prop::collection::vec(0.0f32..1.0, 0..400), ms in 0u32..2000) {
            let mut e = Endpointer::new(EndpointConfig { threshold: 0.5, silence_ms: ms });
            let mut last_was_start = false;
            for prob in p {
                match e.push(prob) {
                    Some(VadEvent::SpeechStarted { at }) => {
                        prop_assert!(!last_was_start);
                        prop_assert!(at < e.position());
                        last_was_start = true;
                    }
                    Some(VadEvent::TurnEnded { speech_end, at }) => {
                        prop_assert!(last_was_start);
                        prop_assert!(speech_end <= at && at <= e.position());
                        prop_assert!(at - speech_end >= ms as usize * 16);
                        last_was_start = false;
                    }
                    None => {}
                }
            }
        }
    }
}
