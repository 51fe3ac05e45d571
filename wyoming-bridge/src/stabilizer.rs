//! The transcript stabiliser: partial STT transcripts in, a growing *stable prefix* out.
//!
//! Streaming recognisers revise their partials ("I want" → "I wanna go" → "I want to go"). Text
//! that the last `window` partials agree on is unlikely to change, so it can be acted on early (the
//! seed plan's Phase 1.2: start the LLM, or decide "not an echo", before the final transcript).
//!
//! Differences from the seed's Python sketch, on purpose:
//! - Agreement is per **word**, compared after normalisation (case and surrounding punctuation), so
//!   "hello" → "Hello," does not reset stability; the emitted words are the newest partial's.
//! - The newest partial's last word is never stable: it may be cut mid-word.
//! - The stable prefix is **monotonic**: once emitted it is never retracted or re-emitted (the
//!   sketch lowered its emitted length when partials diverged and then emitted text twice). If
//!   the final transcript contradicts it, [`Finalized::Diverged`] says so and the caller decides
//!   (for example restart an early LLM request).
//! - Nothing is emitted before `min_stable_chars` (417b0c0's `stt.streaming_min_stable_chars`).

use std::collections::VecDeque;

/// What one partial changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StableUpdate {
    /// Newly stable text (with a leading space when it continues earlier stable text); may be empty.
    pub stable_delta: String,
    /// The rest of the newest partial, which may still change.
    pub unstable_tail: String,
}

/// How the final transcript relates to what was already declared stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finalized {
    /// The final transcript starts with the stable words; `remainder` is the rest (leading space
    /// included when both parts are non-empty).
    Extends { remainder: String },
    /// The final transcript changed a word already declared stable.
    Diverged { final_text: String, stable: String },
}

/// Stabiliser for one utterance. Call [`TranscriptStabilizer::reset`] (or make a new one) per turn.
#[derive(Debug, Clone)]
pub struct TranscriptStabilizer {
    window: usize,
    min_stable_chars: usize,
    history: VecDeque<Vec<String>>,
    /// Stable words, as spelled in the partial that made them stable.
    stable: Vec<String>,
}

impl TranscriptStabilizer {
    /// `window`: how many consecutive partials must agree (at least 1; the Python default is 2).
    pub fn new(window: usize, min_stable_chars: usize) -> Self {
        Self { window: window.max(1), min_stable_chars, history: VecDeque::new(), stable: Vec::new() }
    }

    /// The stable text so far.
    pub fn stable(&self) -> String {
        self.stable.join(" ")
    }

    /// Takes the next partial transcript (the whole text so far, as Wyoming `transcript-chunk`
    /// accumulations or sherpa partials give it).
    pub fn update(&mut self, partial: &str) -> StableUpdate {
        let words: Vec<String> = partial.split_whitespace().map(str::to_owned).collect();
        self.history.push_back(words.clone());
        while self.history.len() > self.window {
            self.history.pop_front();
        }
        let mut delta = Vec::new();
        if self.history.len() >= self.window {
            let agreed = self.agreed_words();
            // The newest partial's last word may be unfinished; every earlier word is followed by
            // another, so it is complete.
            let complete = words.len().saturating_sub(1);
            let candidate = agreed.min(complete);
            let consistent = self.stable.len() <= candidate
                && self.stable.iter().zip(&words).all(|(a, b)| normalise(a) == normalise(b));
            if consistent && candidate > self.stable.len() {
                let chars: usize = words[..candidate].iter().map(|w| w.chars().count() + 1).sum::<usize>();
                if chars > self.min_stable_chars {
                    delta = words[self.stable.len()..candidate].to_vec();
                    self.stable.extend(delta.iter().cloned());
                }
            }
        }
        let stable_in_partial = self.stable.len().min(words.len());
        let mut stable_delta = delta.join(" ");
        if !stable_delta.is_empty() && self.stable.len() > delta.len() {
            stable_delta.insert(0, ' ');
        }
        StableUpdate { stable_delta, unstable_tail: words[stable_in_partial..].join(" ") }
    }

    /// Takes the final transcript; returns what to add to the stable text. Resets for the next turn.
    pub fn finalize(&mut self, final_text: &str) -> Finalized {
        let words: Vec<&str> = final_text.split_whitespace().collect();
        let stable = self.stable();
        let extends = self.stable.len() <= words.len()
            && self.stable.iter().zip(&words).all(|(a, b)| normalise(a) == normalise(b));
        let result = if extends {
            let mut remainder = words[self.stable.len()..].join(" ");
            if !remainder.is_empty() && !self.stable.is_empty() {
                remainder.insert(0, ' ');
            }
            Finalized::Extends { remainder }
        } else {
            Finalized::Diverged { final_text: words.join(" "), stable }
        };
        self.reset();
        result
    }

    pub fn reset(&mut self) {
        self.history.clear();
        self.stable.clear();
    }

    /// How many leading words every partial in the window agrees on.
    fn agreed_words(&self) -> usize {
        let newest = match self.history.back() {
            Some(words) => words,
            None => return 0,
        };
        (0..newest.len())
            .take_while(|&i| {
                self.history.iter().all(|w| w.get(i).is_some_and(|word| normalise(word) == normalise(&newest[i])))
            })
            .count()
    }
}

/// Lower case without surrounding punctuation: "Hello," and "hello" agree.
fn normalise(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stable_after(partials: &[&str], window: usize) -> (String, Vec<StableUpdate>) {
        let mut s = TranscriptStabilizer::new(window, 0);
        let updates: Vec<StableUpdate> = partials.iter().map(|p| s.update(p)).collect();
        (s.stable(), updates)
    }

    #[test]
    fn agreement_of_two_partials_makes_words_stable() {
        let (stable, updates) =
            stable_after(&["what is", "what is the", "what is the weather", "what is the weather like"], 2);
        assert_eq!(updates[0], StableUpdate { stable_delta: String::new(), unstable_tail: "what is".into() });
        assert_eq!(updates[1], StableUpdate { stable_delta: "what is".into(), unstable_tail: "the".into() });
        assert_eq!(updates[2].stable_delta, " the");
        assert_eq!(updates[3].stable_delta, " weather");
        assert_eq!(updates[3].unstable_tail, "like");
        assert_eq!(stable, "what is the weather");
    }

    #[test]
    fn the_last_word_may_be_unfinished() {
        let (stable, _) = stable_after(&["hel", "hel"], 2);
        assert_eq!(stable, "");
        let (stable, _) = stable_after(&["hello wor", "hello world"], 2);
        assert_eq!(stable, "hello");
    }

    #[test]
    fn revisions_are_not_stable() {
        let (stable, _) = stable_after(&["I wanna go", "I want to go", "I want to go home"], 2);
        assert_eq!(stable, "I want to go");
    }

    #[test]
    fn case_and_punctuation_changes_do_not_reset() {
        let (stable, updates) = stable_after(&["hello there", "Hello, there friend"], 2);
        assert_eq!(stable, "Hello, there");
        assert_eq!(updates[1].stable_delta, "Hello, there");
    }

    #[test]
    fn stable_text_is_never_retracted_or_repeated() {
        let mut s = TranscriptStabilizer::new(2, 0);
        s.update("turn on the");
        s.update("turn on the lights");
        assert_eq!(s.stable(), "turn on the");
        // The recogniser changes its mind about a stable word: nothing new is emitted.
        let u = s.update("turn off the lights please");
        assert_eq!(u.stable_delta, "");
        let u = s.update("turn off the lights please now");
        assert_eq!(u.stable_delta, "");
        assert_eq!(s.stable(), "turn on the");
        assert_eq!(
            s.finalize("turn off the lights"),
            Finalized::Diverged { final_text: "turn off the lights".into(), stable: "turn on the".into() }
        );
        assert_eq!(s.stable(), "");
    }

    #[test]
    fn min_stable_chars_delays_the_first_emission() {
        let mut s = TranscriptStabilizer::new(2, 15);
        s.update("hi there you");
        assert_eq!(s.update("hi there you are").stable_delta, "");
        assert_eq!(s.update("hi there you are nice").stable_delta, "hi there you are");
    }

    #[test]
    fn finalize_returns_the_remainder() {
        let mut s = TranscriptStabilizer::new(2, 0);
        s.update("what time");
        s.update("what time is");
        assert_eq!(s.finalize("What time is it?"), Finalized::Extends { remainder: " is it?".into() });
        assert_eq!(s.finalize("fresh start"), Finalized::Extends { remainder: "fresh start".into() });
    }

    #[test]
    fn window_of_one_trusts_each_partial_but_the_last_word() {
        let (stable, _) = stable_after(&["a b c"], 1);
        assert_eq!(stable, "a b");
    }

    proptest! {
        /// Whatever the partials, stable text only grows, and the deltas add up to it.
        #[test]
        fn stable_text_only_grows(
            partials in proptest::collection::vec(proptest::collection::vec("(a|b|c|A,|b\\.)", 0..8), 0..12),
            window in 1usize..4,
        ) {
            let mut s = TranscriptStabilizer::new(window, 0);
            let mut deltas = String::new();
            let mut previous = String::new();
            for words in &partials {
                let update = s.update(&words.join(" "));
                deltas.push_str(&update.stable_delta);
                let stable = s.stable();
                prop_assert!(stable.starts_with(&previous), "{previous:?} -> {stable:?}");
                prop_assert_eq!(&deltas, &stable);
                previous = stable;
            }
        }
    }
}
