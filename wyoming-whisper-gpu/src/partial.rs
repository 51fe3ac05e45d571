//! Partial transcripts as deltas that never need taking back.
//!
//! Wyoming's `transcript-chunk` carries a delta, so text once sent cannot be corrected. Each partial
//! decode re-reads the whole utterance and may revise its last words; only the words on which two
//! consecutive hypotheses agree (their common word prefix) are treated as stable and sent. The final
//! transcript then adds whatever it has beyond the sent words. When the final decode spells the sent words
//! differently (Whisper capitalises a first word once it hears the whole sentence), the words after them
//! are still sent, so the deltas read as the final text up to case and punctuation.

/// The stable-prefix state of one utterance.
#[derive(Debug, Default)]
pub struct PartialTranscript {
    previous: Option<String>,
    /// Text already sent as `transcript-chunk`s.
    sent: String,
}

impl PartialTranscript {
    /// A new hypothesis of the whole utterance so far; returns the newly stable text to send, if any.
    pub fn update(&mut self, hypothesis: &str) -> Option<String> {
        let stable = match &self.previous {
            Some(previous) => common_word_prefix(previous, hypothesis),
            None => String::new(),
        };
        self.previous = Some(hypothesis.to_string());
        self.advance(&stable)
    }

    /// The final text; returns what is left to send as a last chunk. Nothing when the final text
    /// contradicts the sent words: the full `transcript` event carries the truth.
    pub fn finish(&mut self, final_text: &str) -> Option<String> {
        if final_text.starts_with(self.sent.as_str()) {
            return self.advance(final_text);
        }
        let sent = word_spans(&self.sent);
        let spans = word_spans(final_text);
        let agree = sent.len() <= spans.len()
            && sent
                .iter()
                .zip(&spans)
                .all(|(&(a0, a1), &(b0, b1))| loose(&self.sent[a0..a1]) == loose(&final_text[b0..b1]));
        if !agree || sent.len() == spans.len() {
            return None;
        }
        let from = sent.last().map_or(0, |_| spans[sent.len() - 1].1);
        let delta = final_text[from..].to_string();
        self.sent.push_str(&delta);
        Some(delta)
    }

    #[cfg(test)]
    pub fn sent(&self) -> &str {
        &self.sent
    }

    fn advance(&mut self, stable: &str) -> Option<String> {
        let delta = stable.strip_prefix(self.sent.as_str())?;
        if delta.is_empty() {
            return None;
        }
        self.sent.push_str(delta);
        Some(delta.to_string())
    }
}

/// The longest prefix of `a` made of whole words that `b` also starts with (words compared exactly,
/// spacing taken from `a`).
fn common_word_prefix(a: &str, b: &str) -> String {
    let mut end = 0;
    let mut a_words = word_spans(a);
    let mut b_words = word_spans(b).into_iter();
    for (_, stop) in a_words.drain(..) {
        match b_words.next() {
            Some((_, b_stop)) if a[..stop] == b[..b_stop] => end = stop,
            _ => break,
        }
    }
    a[..end].to_string()
}

/// A word compared without case or punctuation.
fn loose(word: &str) -> String {
    word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Byte ranges of the words of `s`.
fn word_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(st)) => {
                spans.push((st, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        spans.push((st, s.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_agreed_words_are_sent() {
        let mut p = PartialTranscript::default();
        assert_eq!(p.update(" Turn on"), None, "one hypothesis is not stable yet");
        assert_eq!(p.update(" Turn on the"), Some(" Turn on".into()));
        assert_eq!(p.update(" Turn on the light"), Some(" the".into()));
        // A revision of the unsent tail is fine.
        assert_eq!(p.update(" Turn on the lights in"), None);
        assert_eq!(p.finish(" Turn on the lights in the kitchen."), Some(" lights in the kitchen.".into()));
        assert_eq!(p.sent(), " Turn on the lights in the kitchen.");
    }

    #[test]
    fn a_final_that_contradicts_what_was_sent_adds_nothing() {
        let mut p = PartialTranscript::default();
        p.update(" Turn of the");
        p.update(" Turn of the");
        assert_eq!(p.sent(), " Turn of the");
        assert_eq!(p.finish(" Turn off the lights."), None);
    }

    #[test]
    fn a_final_that_only_recapitalises_still_completes_the_stream() {
        let mut p = PartialTranscript::default();
        p.update(" the quick");
        p.update(" the quick brown");
        assert_eq!(p.sent(), " the quick");
        assert_eq!(p.finish(" The quick brown fox."), Some(" brown fox.".into()));
        assert_eq!(p.sent(), " the quick brown fox.");
    }

    #[test]
    fn a_word_that_grew_is_not_stable() {
        assert_eq!(common_word_prefix(" Turn on the light", " Turn on the lights"), " Turn on the");
        assert_eq!(common_word_prefix("", " x"), "");
    }

    proptest! {
        #[test]
        fn sent_text_is_always_a_prefix_of_every_later_agreement(hyps in prop::collection::vec("( [a-c]{1,2}){0,5}", 1..8)) {
            let mut p = PartialTranscript::default();
            let mut sent = String::new();
            for h in &hyps {
                if let Some(delta) = p.update(h) {
                    sent.push_str(&delta);
                }
                prop_assert_eq!(p.sent(), sent.as_str());
                prop_assert!(h.starts_with(&sent) || hyps.iter().any(|x| x.starts_with(&sent)));
            }
        }
    }
}
