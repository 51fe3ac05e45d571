//! From espeak-ng clauses to model token ids: sentences of phoneme symbols, the symbol → id tables of both
//! engines, and each engine's framing.
//!
//! Symbols are Unicode code points after NFD decomposition (combining marks get their own ids), exactly as
//! `piper-phonemize` and ZipVoice's tokenizer produce them. Ids 0–150 are the same in a Piper `en_US` voice and
//! LuxTTS's `tokens.txt`, so one frontend serves both; only the framing differs.

use super::espeak::Clause;
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

pub const PAD: &str = "_";
pub const BOS: &str = "^";
pub const EOS: &str = "$";

/// Phoneme symbols of one sentence.
pub type Sentence = Vec<String>;

/// Groups clauses into sentences as `piper-phonemize` does: a clause's terminator is kept, a space follows
/// `, ; :`, and a sentence ends at `. ? !` or the end of the text. Language-switch flags such as `(fr)` that
/// espeak inserts around foreign words are dropped.
pub fn sentences(clauses: &[Clause]) -> Vec<Sentence> {
    let mut out = Vec::new();
    let mut current: Sentence = Vec::new();
    for clause in clauses {
        let mut text = strip_language_flags(&clause.ipa);
        text.push_str(clause.terminator);
        if matches!(clause.terminator, "," | ":" | ";") {
            text.push(' ');
        }
        current.extend(text.nfd().map(String::from));
        if clause.end_of_sentence && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn strip_language_flags(ipa: &str) -> String {
    let mut out = String::with_capacity(ipa.len());
    let mut rest = ipa;
    while let Some(open) = rest.find('(') {
        match rest[open..].find(')') {
            Some(close) if close > 1 => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 1..];
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out
}

/// A symbol → ids table (Piper's `phoneme_id_map`, or LuxTTS's `tokens.txt` with one id per symbol).
#[derive(Debug, Clone, Default)]
pub struct IdMap(HashMap<String, Vec<i64>>);

#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    #[error("line {line}: expected `symbol<TAB>id`, found {text:?}")]
    Line { line: usize, text: String },
    #[error("the table has no {0:?} symbol, which the framing needs")]
    Missing(&'static str),
}

impl IdMap {
    pub fn new(map: HashMap<String, Vec<i64>>) -> Self {
        IdMap(map)
    }

    /// Parses `tokens.txt`: `symbol<TAB>id` per line. The symbol is everything before the *last* tab and is
    /// never trimmed: the space token's line starts with a space and some symbols are lone combining marks.
    pub fn parse_tokens_txt(text: &str) -> Result<Self, IdMapError> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let bad = || IdMapError::Line { line: i + 1, text: line.to_string() };
            let (symbol, id) = line.rsplit_once('\t').ok_or_else(bad)?;
            let id: i64 = id.trim().parse().map_err(|_| bad())?;
            if symbol.is_empty() {
                return Err(bad());
            }
            map.insert(symbol.to_string(), vec![id]);
        }
        Ok(IdMap(map))
    }

    pub fn get(&self, symbol: &str) -> Option<&[i64]> {
        self.0.get(symbol).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn require(&self, symbol: &'static str) -> Result<&[i64], IdMapError> {
        self.get(symbol).ok_or(IdMapError::Missing(symbol))
    }

    /// Piper's framing: `^ _ p₁ _ p₂ _ … pₙ _ $`. Unknown symbols are skipped (and counted).
    pub fn piper_ids(&self, sentence: &[String]) -> Result<(Vec<i64>, usize), IdMapError> {
        let (bos, pad, eos) = (self.require(BOS)?, self.require(PAD)?, self.require(EOS)?);
        let mut ids = Vec::with_capacity(2 * sentence.len() + 3);
        ids.extend_from_slice(bos);
        ids.extend_from_slice(pad);
        let mut skipped = 0;
        for symbol in sentence {
            match self.get(symbol) {
                Some(found) => {
                    ids.extend_from_slice(found);
                    ids.extend_from_slice(pad);
                }
                None => skipped += 1,
            }
        }
        ids.extend_from_slice(eos);
        Ok((ids, skipped))
    }

    /// LuxTTS's framing: the ids as they are, no markers and no padding. Unknown symbols are skipped.
    pub fn plain_ids(&self, sentence: &[String]) -> (Vec<i64>, usize) {
        let mut ids = Vec::with_capacity(sentence.len());
        let mut skipped = 0;
        for symbol in sentence {
            match self.get(symbol) {
                Some(found) => ids.extend_from_slice(found),
                None => skipped += 1,
            }
        }
        (ids, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(ipa: &str, terminator: &'static str, end: bool) -> Clause {
        Clause { ipa: ipa.into(), terminator, end_of_sentence: end }
    }

    #[test]
    fn clauses_group_into_sentences_with_their_punctuation() {
        let s = sentences(&[clause("ab", ",", false), clause("c", ".", true), clause("d(fr)e(en)", "?", true)]);
        let joined: Vec<String> = s.iter().map(|s| s.concat()).collect();
        assert_eq!(joined, ["ab, c.", "de?"]);
    }

    #[test]
    fn nfd_splits_combining_marks() {
        let s = sentences(&[clause("ã", "", true)]);
        assert_eq!(s, [vec!["a".to_string(), "\u{303}".to_string()]]);
    }

    #[test]
    fn tokens_txt_keeps_space_and_combining_symbols() {
        let map = IdMap::parse_tokens_txt("_\t0\n^\t1\n$\t2\n \t3\n\u{303}\t141\nt\t32\n").unwrap();
        assert_eq!(map.get(" "), Some(&[3][..]));
        assert_eq!(map.get("\u{303}"), Some(&[141][..]));
        assert!(IdMap::parse_tokens_txt("no tab here").is_err());
        assert!(IdMap::parse_tokens_txt("x\tnot-a-number").is_err());
    }

    #[test]
    fn framing_differs_between_engines() {
        let map = IdMap::parse_tokens_txt("_\t0\n^\t1\n$\t2\n \t3\nt\t32\nˈ\t120\n").unwrap();
        let sentence: Vec<String> = ["t", "ˈ", "?", " "].iter().map(|s| s.to_string()).collect();
        assert_eq!(map.piper_ids(&sentence).unwrap(), (vec![1, 0, 32, 0, 120, 0, 3, 0, 2], 1));
        assert_eq!(map.plain_ids(&sentence), (vec![32, 120, 3], 1));
        assert!(matches!(IdMap::default().piper_ids(&sentence), Err(IdMapError::Missing(_))));
    }
}
