//! LuxTTS's text frontend: sanitise → punctuation map → English normalisation → espeak-ng `en-us` →
//! sentences → one concatenated symbol sequence → `tokens.txt` ids with no framing (reference §3).
//!
//! One deliberate difference from upstream: a text made only of digits and punctuation ("42!") is read
//! ("forty-two!") instead of producing no tokens, because this server normalises the whole text as English
//! (upstream classifies digits as "other" and drops segments without letters).

use crate::text::phoneme_blocks;
use crate::text::phonemes::{self, IdMap};
use crate::text::{espeak, normalize, sanitize};
use std::path::Path;

/// Bumped whenever the frontend's output for the same text may change; encoded voices record it, so their
/// cached prompt tokens are redone.
pub const FRONTEND_VERSION: u32 = 2;

/// The espeak-ng voice of the English branch.
pub const ESPEAK_VOICE: &str = "en-us";

#[derive(Debug, Clone)]
pub struct Frontend {
    ids: IdMap,
}

impl Frontend {
    pub fn new(ids: IdMap) -> Self {
        Frontend { ids }
    }

    /// Reads `tokens.txt` (`symbol<TAB>id` lines).
    pub fn load(tokens_txt: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(tokens_txt)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", tokens_txt.display()))?;
        let ids = IdMap::parse_tokens_txt(&text).map_err(|e| anyhow::anyhow!("{}: {e}", tokens_txt.display()))?;
        anyhow::ensure!(!ids.is_empty(), "{} holds no tokens", tokens_txt.display());
        Ok(Frontend { ids })
    }

    /// Ids of the symbols a long token sequence may be cut after: space and clause punctuation.
    pub fn break_ids(&self) -> Vec<i64> {
        [" ", ",", ".", "!", "?", ";", ":"].iter().filter_map(|s| self.ids.get(s)).flatten().copied().collect()
    }

    /// The text as espeak-ng gets it.
    pub fn prepare(text: &str) -> String {
        let text = sanitize::sanitize(text);
        let text = normalize::map_punctuation(&text);
        let text = normalize::drop_cjk(&text).split_whitespace().collect::<Vec<_>>().join(" ");
        normalize::normalize_english(&text)
    }

    /// Whether `text` holds words or `[[ phonemes ]]` to say.
    pub fn can_say(text: &str) -> bool {
        let parts = phoneme_blocks::split(text);
        phoneme_blocks::says_something(&parts, |words| sanitize::is_speakable(&Self::prepare(words)))
    }

    /// The token ids of `text`; empty when there is nothing to say. `[[ phonemes ]]` blocks are taken as they
    /// are, as the Piper engine takes them.
    pub fn tokens(&self, text: &str) -> Result<Vec<i64>, espeak::EspeakError> {
        if !Self::can_say(text) {
            return Ok(Vec::new());
        }
        let sentences = phoneme_blocks::sentences(&phoneme_blocks::split(text), |part| {
            let part = Self::prepare(part);
            if part.trim().is_empty() {
                return Ok(Vec::new());
            }
            Ok(phonemes::sentences(&espeak::phonemize(ESPEAK_VOICE, &part)?))
        })?;
        let symbols: Vec<String> = sentences.into_iter().flatten().collect();
        let (ids, skipped) = self.ids.plain_ids(&symbols);
        if skipped > 0 {
            tracing::debug!(skipped, "symbols missing from tokens.txt were skipped");
        }
        Ok(ids)
    }
}

/// Cuts `tokens` into pieces of at most `max` tokens, each ending after the last break id (space or
/// punctuation) that fits, or at `max` when there is none. Every pass covers the prompt plus one piece, so
/// this bounds the decoder's sequence length (and memory) whatever text arrives.
pub fn split_tokens(tokens: &[i64], max: usize, break_ids: &[i64]) -> Vec<Vec<i64>> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = tokens;
    while rest.len() > max {
        let cut = rest[..max].iter().rposition(|t| break_ids.contains(t)).map(|i| i + 1).unwrap_or(max);
        pieces.push(rest[..cut].to_vec());
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        pieces.push(rest.to_vec());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_chains_the_text_stages() {
        assert_eq!(Frontend::prepare("**Dr.** Lee’s 2 cats… 你好"), "doctor Lee's two cats…");
    }

    #[test]
    fn long_sequences_are_cut_after_breaks() {
        let tokens = [1, 2, 3, 4, 5, 3, 6, 7, 8, 9, 10];
        assert_eq!(split_tokens(&tokens, 4, &[3]), [vec![1, 2, 3], vec![4, 5, 3], vec![6, 7, 8, 9], vec![10]]);
        assert_eq!(split_tokens(&tokens, 100, &[3]), [tokens.to_vec()]);
        assert!(split_tokens(&[], 4, &[3]).is_empty());
    }

    #[test]
    fn ids_are_unframed_tokens_txt_ids() {
        // The reference's example: "testing" is t ˈ ɛ s t ɪ ŋ, ids 32 120 61 31 32 74 44 (no ^/$, no pads).
        let ids =
            IdMap::parse_tokens_txt("_\t0\n \t3\n,\t8\n.\t10\nt\t32\nˈ\t120\nɛ\t61\ns\t31\nɪ\t74\nŋ\t44\n").unwrap();
        let frontend = Frontend::new(ids);
        assert_eq!(frontend.tokens("testing").unwrap(), [32, 120, 61, 31, 32, 74, 44]);
        assert_eq!(
            frontend.tokens("Testing, testing.").unwrap(),
            [32, 120, 61, 31, 32, 74, 44, 8, 3, 32, 120, 61, 31, 32, 74, 44, 10]
        );
        assert!(frontend.tokens(" ** ").unwrap().is_empty());
        // Inline phonemes are taken as they are, between the words around them.
        assert_eq!(frontend.tokens("testing [[ tɛst ]]").unwrap(), [32, 120, 61, 31, 32, 74, 44, 3, 32, 61, 31, 32]);
        assert!(!Frontend::can_say("[[ ]] **") && Frontend::can_say("[[ ɛ ]]"));
    }
}
