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

/// `sentence` in pieces of at most `max` symbols, each cut after the last space that fits (or at `max` when
/// none does); a sentence that fits is one piece.
pub fn cut_long(sentence: Sentence, max: usize) -> Vec<Sentence> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = sentence;
    while rest.len() > max {
        let cut = rest[..max].iter().rposition(|s| s == " ").map_or(max, |space| space + 1);
        let tail = rest.split_off(cut);
        pieces.push(rest);
        rest = tail;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Merges runs of symbols that the voice's config lists as `vowel_clusters` (`["a", "ɪ"]` → `aɪ`) into one
/// symbol, as piper-tts does for each sentence: at each position the longest listed run wins.
pub fn merge_vowel_clusters(sentence: Sentence, clusters: &[Vec<String>]) -> Sentence {
    let longest = clusters.iter().map(Vec::len).max().unwrap_or(0);
    if longest < 2 {
        return sentence;
    }
    let mut out = Vec::with_capacity(sentence.len());
    let mut i = 0;
    while i < sentence.len() {
        let run = (2..=longest.min(sentence.len() - i))
            .rev()
            .find(|&n| clusters.iter().any(|c| c.as_slice() == &sentence[i..i + n]));
        match run {
            Some(n) => {
                out.push(sentence[i..i + n].concat());
                i += n;
            }
            None => {
                out.push(sentence[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// Vowel symbols that a linking glide can lead into.
const VOWELS: &[char] = &[
    'a', 'e', 'i', 'o', 'u', 'æ', 'ɐ', 'ɑ', 'ɒ', 'ɔ', 'ə', 'ɚ', 'ɛ', 'ɜ', 'ɪ', 'ʊ', 'ʌ', 'ᵻ', 'ɞ', 'ɘ', 'ɵ', 'œ', 'ø',
    'y',
];

/// Adds the linking glide `ʲ` that piper-tts's espeak-ng writes into English phonemes: after an /i/ vowel
/// (`i`, `iː`, `ɪ`, not the end of a diphthong) before a vowel, across words or within one ("see it" sˈiːʲ ɪt,
/// "the end" ðɪʲ ˈɛnd, "variable" vˈɛɹɪʲəbəl), but not in `iə` ("idea" aɪdˈiə); and after /aɪ/ before `ɔ`, `ʌ` or
/// `a` ("my uncle" maɪʲ ˈʌŋkəl).
///
/// piper-tts 1.8 links espeak-ng built from its master of March 2025, which writes the glide it synthesises;
/// released versions (Debian's 1.51, 1.52) leave it out of the phoneme string. Without it a Piper voice is given
/// other ids than under wyoming-piper for three English sentences in four. The rule is inferred from piper-tts's
/// output, as espeak's phoneme rules are not visible in the IPA: it reproduces 40 of 40 conversational sentences
/// (`tests/piper_parity.rs`) and 1,071 of 1,082 sentences of Python's documentation; the others are word pairs that
/// espeak keeps apart. A glide already there (a newer espeak-ng) is left alone.
pub fn link_glides(ipa: &str) -> String {
    let chars: Vec<char> = ipa.chars().collect();
    let mut out = String::with_capacity(ipa.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        let before = |k: usize| i.checked_sub(k).map(|at| chars[at]);
        let front = matches!(c, 'i' | 'ɪ') && !matches!(before(1), Some('a' | 'e' | 'ɔ' | 'o'));
        let long = c == 'ː' && before(1) == Some('i') && !matches!(before(2), Some('a' | 'e' | 'ɔ' | 'o'));
        let diphthong = c == 'ɪ' && before(1) == Some('a');
        if !(front || long || diphthong) || chars.get(i + 1) == Some(&'ː') {
            continue;
        }
        let next_at = (i + 1..chars.len()).find(|&j| !matches!(chars[j], 'ˈ' | 'ˌ' | ' '));
        let Some(next) = next_at.map(|j| chars[j]) else { continue };
        let linked = if diphthong {
            matches!(next, 'ɔ' | 'ʌ' | 'a')
        } else {
            VOWELS.contains(&next) && !(c == 'i' && next == 'ə' && next_at == Some(i + 1))
        };
        if linked && next != 'ʲ' {
            out.push('ʲ');
        }
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
    fn long_sentences_are_cut_after_spaces() {
        let symbols = |text: &str| -> Sentence { text.chars().map(String::from).collect() };
        let joined = |pieces: Vec<Sentence>| pieces.iter().map(|p| p.concat()).collect::<Vec<_>>();
        assert_eq!(joined(cut_long(symbols("ab cd ef"), 5)), ["ab ", "cd ef"]);
        assert_eq!(joined(cut_long(symbols("abcdefg"), 3)), ["abc", "def", "g"]);
        assert_eq!(joined(cut_long(symbols("ab cd"), 5)), ["ab cd"]);
        assert_eq!(cut_long(Vec::new(), 5), [Vec::<String>::new()]);
    }

    #[test]
    fn linking_glides_as_piper_tts_writes_them() {
        // Each pair: what Debian's espeak-ng writes, what piper-tts's writes.
        for (ours, theirs) in [
            ("aɪ sˈiː ɐ kˈæt", "aɪ sˈiːʲ ɐ kˈæt"),
            ("ðɪ ˈɛnd", "ðɪʲ ˈɛnd"),
            ("vˈɛɹɪəbəlz", "vˈɛɹɪʲəbəlz"),
            ("kɹiːˈeɪɾᵻd", "kɹiːʲˈeɪɾᵻd"),
            ("pɹˈɪɾi ˈiːzi", "pɹˈɪɾiʲ ˈiːzi"),
            ("maɪ ˈaɪz ænd maɪ ˈʌŋkəl", "maɪʲ ˈaɪz ænd maɪʲ ˈʌŋkəl"),
            ("pɹaɪˈɔːɹᵻɾi", "pɹaɪʲˈɔːɹᵻɾi"),
            // Not before a consonant, not at the end, not in `iə`, not after other diphthongs or before front vowels.
            ("ðə sˈiː", "ðə sˈiː"),
            ("aɪdˈiə", "aɪdˈiə"),
            ("plˈeɪ ɪt", "plˈeɪ ɪt"),
            ("tˈɔɪ ˈænɪməl", "tˈɔɪ ˈænɪməl"),
            ("maɪ ˈæpəl", "maɪ ˈæpəl"),
            ("fɹˈiː", "fɹˈiː"),
            // Already there: left alone.
            ("sˈiːʲ ɪt", "sˈiːʲ ɪt"),
        ] {
            assert_eq!(link_glides(ours), theirs, "{ours}");
        }
    }

    #[test]
    fn clauses_group_into_sentences_with_their_punctuation() {
        let s = sentences(&[clause("ab", ",", false), clause("c", ".", true), clause("d(fr)e(en)", "?", true)]);
        let joined: Vec<String> = s.iter().map(|s| s.concat()).collect();
        assert_eq!(joined, ["ab, c.", "de?"]);
    }

    #[test]
    fn vowel_clusters_merge_as_piper_tts_merges_them() {
        // Expected values from piper-tts 1.8.0's `_merge_known_vowel_clusters`.
        let clusters: Vec<Vec<String>> = [&["a", "ɪ"][..], &["a", "ʊ"], &["e", "ɪ", "ə"], &["ɔ", "ɪ"]]
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect();
        let merged = |text: &str| merge_vowel_clusters(text.chars().map(String::from).collect(), &clusters);
        assert_eq!(merged("haɪ ðeə"), ["h", "aɪ", " ", "ð", "e", "ə"]);
        assert_eq!(merged("eɪə aɪ"), ["eɪə", " ", "aɪ"]);
        assert_eq!(merged("ɔɪaʊx"), ["ɔɪ", "aʊ", "x"]);
        assert_eq!(merged("aaɪ"), ["a", "aɪ"]);
        assert_eq!(merged("eɪ"), ["e", "ɪ"], "only listed runs");
        assert_eq!(merged("a"), ["a"]);
        assert_eq!(merge_vowel_clusters(vec!["a".into(), "ɪ".into()], &[]), ["a", "ɪ"]);
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
