//! Whisper's vocabulary: special tokens, the decoder prompt, and turning generated tokens into text.
//!
//! Text is recovered from the token strings with GPT-2's byte-level mapping rather than through the
//! `tokenizers` crate: decoding needs only the 256-entry byte table, and leaving ct2rs's `whisper`
//! feature off keeps sentencepiece and its build out of the tree.

use std::path::Path;

/// Why a model directory's vocabulary is unusable.
#[derive(Debug, thiserror::Error)]
pub enum VocabularyError {
    #[error("{dir}: no vocabulary.json or vocabulary.txt")]
    Missing { dir: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("vocabulary has no {0} token")]
    MissingToken(&'static str),
}

/// The special tokens the prompt and the decoder need.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    tokens: Vec<String>,
    end_of_text: usize,
    /// The first timestamp token (`<|0.00|>`), right after `<|notimestamps|>`.
    timestamp_begin: usize,
    multilingual: bool,
    languages: Vec<String>,
}

impl Vocabulary {
    /// Reads `vocabulary.json` (a JSON list) or `vocabulary.txt` (one token per line) from a model dir.
    pub fn load(dir: &Path) -> Result<Vocabulary, VocabularyError> {
        let json = dir.join("vocabulary.json");
        let txt = dir.join("vocabulary.txt");
        let tokens: Vec<String> = if json.exists() {
            let text = std::fs::read_to_string(&json).map_err(|e| invalid(&json, e))?;
            serde_json::from_str(&text).map_err(|e| invalid(&json, e))?
        } else if txt.exists() {
            let text = std::fs::read_to_string(&txt).map_err(|e| invalid(&txt, e))?;
            text.lines().map(String::from).collect()
        } else {
            return Err(VocabularyError::Missing { dir: dir.display().to_string() });
        };
        Vocabulary::from_tokens(tokens)
    }

    pub fn from_tokens(tokens: Vec<String>) -> Result<Vocabulary, VocabularyError> {
        let find = |t: &str| tokens.iter().position(|x| x == t);
        let end_of_text = find("<|endoftext|>").ok_or(VocabularyError::MissingToken("<|endoftext|>"))?;
        let sot = find("<|startoftranscript|>").ok_or(VocabularyError::MissingToken("<|startoftranscript|>"))?;
        let timestamp_begin = find("<|notimestamps|>").ok_or(VocabularyError::MissingToken("<|notimestamps|>"))? + 1;
        // CTranslate2's rule: a model is multilingual exactly when "" is in its vocabulary.
        let multilingual = tokens.iter().any(|t| t.is_empty());
        let mut languages: Vec<String> = if multilingual {
            let translate = find("<|translate|>").ok_or(VocabularyError::MissingToken("<|translate|>"))?;
            tokens
                .get(sot + 1..translate)
                .ok_or(VocabularyError::MissingToken("<|translate|> after <|startoftranscript|>"))?
                .iter()
                .filter_map(|t| t.strip_prefix("<|").and_then(|t| t.strip_suffix("|>")).map(String::from))
                .collect()
        } else {
            vec!["en".to_string()]
        };
        languages.sort();
        Ok(Vocabulary { tokens, end_of_text, timestamp_begin, multilingual, languages })
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Language codes the model knows, sorted (`["en"]` for English-only models).
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    pub fn knows_language(&self, code: &str) -> bool {
        self.languages.iter().any(|l| l == code)
    }

    /// The decoder prompt as faster-whisper builds it: `<|startofprev|>` and the `previous` text tokens
    /// when there are any (`--initial-prompt`), `<|startoftranscript|>`, then for multilingual models the
    /// language and task. With timestamps (faster-whisper's default, and what we decode with, since the
    /// model writes differently without them) nothing follows; otherwise `<|notimestamps|>`.
    pub fn prompt(&self, language: &str, task: Task, previous: &[String], timestamps: bool) -> Vec<String> {
        let mut prompt = Vec::with_capacity(previous.len() + 5);
        if !previous.is_empty() {
            prompt.push("<|startofprev|>".to_string());
            prompt.extend_from_slice(previous);
        }
        prompt.push("<|startoftranscript|>".to_string());
        if self.multilingual {
            prompt.push(format!("<|{language}|>"));
            prompt.push(task.token().to_string());
        }
        if !timestamps {
            prompt.push("<|notimestamps|>".to_string());
        }
        prompt
    }

    /// The text of one window's decode with timestamps, for a partial transcript: segments end at each pair of
    /// consecutive timestamps, each segment's text is decoded alone, and the segments are joined with a space.
    /// An unfinished last segment is kept, where a final transcript decodes it again from its start
    /// ([`Vocabulary::split_segments`]).
    pub fn segments_text(&self, ids: &[usize]) -> String {
        let is_time = |id: usize| id >= self.timestamp_begin;
        let mut segments = Vec::new();
        let mut start = 0;
        for i in 1..ids.len() {
            if is_time(ids[i]) && is_time(ids[i - 1]) {
                segments.push(&ids[start..i]);
                start = i;
            }
        }
        segments.push(&ids[start..]);
        segments
            .into_iter()
            .filter(|segment| segment.iter().any(|&id| id < self.end_of_text))
            .map(|segment| self.decode(segment))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// faster-whisper's `_split_segments_by_timestamps` over one window's decode of `window_frames` feature
    /// frames: the segments (each ends at a pair of consecutive timestamps, or at a single timestamp that ends
    /// the decode), and how many frames to seek on. With a single timestamp at the end nothing is left
    /// unfinished, and the seek goes to the window's end; otherwise the unfinished last segment is dropped,
    /// and the seek goes to the last timestamp, where it starts. Without a timestamp pair, the whole decode
    /// is one segment. Segments that start and end at the same timestamp are left out, as faster-whisper
    /// leaves them out.
    pub fn split_segments<'a>(&self, ids: &'a [usize], window_frames: usize) -> (Vec<&'a [usize]>, usize) {
        let is_time = |id: usize| id >= self.timestamp_begin;
        let single_ending = ids.len() >= 2 && !is_time(ids[ids.len() - 2]) && is_time(ids[ids.len() - 1]);
        let mut cuts: Vec<usize> = (1..ids.len()).filter(|&i| is_time(ids[i]) && is_time(ids[i - 1])).collect();
        if cuts.is_empty() {
            return (vec![ids], window_frames);
        }
        if single_ending {
            cuts.push(ids.len());
        }
        let mut segments = Vec::with_capacity(cuts.len());
        let mut start = 0;
        for &cut in &cuts {
            let segment = &ids[start..cut];
            if segment.first() != segment.last() {
                segments.push(segment);
            }
            start = cut;
        }
        let seek = if single_ending { window_frames } else { (ids[start - 1] - self.timestamp_begin) * 2 };
        (segments, seek)
    }

    /// The token string of `id` (empty for an id outside the vocabulary).
    pub fn token(&self, id: usize) -> &str {
        self.tokens.get(id).map_or("", String::as_str)
    }

    /// The text of generated token ids: special and timestamp tokens dropped, byte-level decoded. The
    /// leading space Whisper puts before the first word is kept, as faster-whisper keeps it.
    pub fn decode(&self, ids: &[usize]) -> String {
        let mut bytes = Vec::new();
        for &id in ids.iter().filter(|&&id| id < self.end_of_text) {
            if let Some(token) = self.tokens.get(id) {
                bytes.extend(token.chars().filter_map(byte_of_char));
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> VocabularyError {
    VocabularyError::Invalid { path: path.display().to_string(), reason: e.to_string() }
}

/// `--whisper-task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Task {
    #[default]
    Transcribe,
    Translate,
}

impl Task {
    fn token(self) -> &'static str {
        match self {
            Task::Transcribe => "<|transcribe|>",
            Task::Translate => "<|translate|>",
        }
    }
}

/// GPT-2's byte-level alphabet, reversed: printable bytes stand for themselves, the other 68 bytes
/// (0–32, 127–160, 173) map in order to U+0100…U+0143.
fn byte_of_char(c: char) -> Option<u8> {
    let code = c as u32;
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if code < 256 && printable(code) {
        return Some(code as u8);
    }
    let index = code.checked_sub(0x100)?;
    (0u32..256).filter(|b| !printable(*b)).nth(index as usize).map(|b| b as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn english_only() -> Vocabulary {
        let mut tokens: Vec<String> =
            ["Ġturn", "Ġon", ",", "Ġthe", "ĠGr", "Ã¼", "ÃŁ", "e"].iter().map(|s| s.to_string()).collect();
        tokens.extend(
            ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|notimestamps|>", "<|0.00|>"].map(String::from),
        );
        Vocabulary::from_tokens(tokens).unwrap()
    }

    #[test]
    fn a_multilingual_vocabulary_in_the_wrong_order_is_an_error() {
        // "" makes it multilingual; <|translate|> before <|startoftranscript|> used to panic on the slice.
        let tokens = ["", "<|endoftext|>", "<|translate|>", "<|startoftranscript|>", "<|notimestamps|>"];
        assert!(Vocabulary::from_tokens(tokens.map(String::from).to_vec()).is_err());
    }

    #[test]
    fn byte_level_decoding_keeps_the_leading_space_and_utf8() {
        let v = english_only();
        assert_eq!(v.decode(&[0, 1, 2, 3]), " turn on, the");
        // "Grüße": ü and ß are two bytes each, spread over tokens.
        assert_eq!(v.decode(&[4, 5, 6, 7]), " Grüße");
        // Special and timestamp tokens are dropped.
        assert_eq!(v.decode(&[8, 0, 11, 12]), " turn");
    }

    #[test]
    fn segments_split_at_timestamp_pairs_like_faster_whisper() {
        let v = english_only();
        // ids: 0 " turn", 1 " on", 2 ",", 12 "<|0.00|>" (timestamp_begin = 12)
        assert_eq!(v.prompt("en", Task::Transcribe, &[], true), ["<|startoftranscript|>"]);
        // <|0.00|> turn on <|0.00|><|0.00|> turn , <|0.00|>
        assert_eq!(v.segments_text(&[12, 0, 1, 12, 12, 0, 2, 12]), " turn on  turn,");
        // One segment ending in a single timestamp.
        assert_eq!(v.segments_text(&[12, 0, 1, 12]), " turn on");
        assert_eq!(v.segments_text(&[]), "");
        assert_eq!(v.segments_text(&[12, 12]), "");
    }

    #[test]
    fn a_window_splits_and_seeks_like_faster_whisper() {
        let v = english_only();
        // Ids from 12 are timestamps: 12 + k is k × 0.02 s, so 62 is 1.00 s (100 frames).
        let whole: &[usize] = &[12, 0, 1, 62];
        assert_eq!(v.split_segments(whole, 3000), (vec![whole], 3000), "no pair: one segment, the whole window");
        let ids = [12, 0, 1, 62, 62, 3, 112];
        let (segments, seek) = v.split_segments(&ids, 1500);
        assert_eq!((segments, seek), (vec![&ids[..4], &ids[4..]], 1500), "a single timestamp ends it");
        // An unfinished last segment is dropped; the next window starts where it did.
        let ids = [12, 0, 1, 62, 62, 3];
        assert_eq!(v.split_segments(&ids, 3000), (vec![&ids[..4]], 100));
        let ids = [12, 0, 62, 62];
        assert_eq!(v.split_segments(&ids, 3000), (vec![&ids[..3]], 100));
        // A segment that starts and ends at the same time is left out.
        let ids = [62, 62, 0, 112, 112, 1, 150];
        assert_eq!(v.split_segments(&ids, 3000), (vec![&ids[1..4], &ids[4..]], 3000));
        assert_eq!(v.split_segments(&[], 3000), (vec![&[][..]], 3000));
        assert_eq!(v.token(1), "Ġon");
        assert_eq!(v.token(10_000), "");
    }

    #[test]
    fn english_only_prompt_and_languages() {
        let v = english_only();
        assert!(!v.is_multilingual());
        assert_eq!(v.languages(), ["en"]);
        assert_eq!(v.prompt("de", Task::Transcribe, &[], false), ["<|startoftranscript|>", "<|notimestamps|>"]);
        let previous = ["ĠKitchen".to_string(), "ĠLamp".to_string()];
        assert_eq!(
            v.prompt("en", Task::Transcribe, &previous, false),
            ["<|startofprev|>", "ĠKitchen", "ĠLamp", "<|startoftranscript|>", "<|notimestamps|>"]
        );
    }

    #[test]
    fn multilingual_prompt_and_languages() {
        let tokens = [
            "a",
            "",
            "<|endoftext|>",
            "<|startoftranscript|>",
            "<|en|>",
            "<|de|>",
            "<|translate|>",
            "<|transcribe|>",
            "<|notimestamps|>",
        ];
        let v = Vocabulary::from_tokens(tokens.map(String::from).to_vec()).unwrap();
        assert!(v.is_multilingual());
        assert_eq!(v.languages(), ["de", "en"]);
        assert!(v.knows_language("de") && !v.knows_language("xx"));
        assert_eq!(
            v.prompt("de", Task::Translate, &[], false),
            ["<|startoftranscript|>", "<|de|>", "<|translate|>", "<|notimestamps|>"]
        );
    }

    #[test]
    fn the_byte_table_is_a_bijection() {
        let mut seen = [false; 256];
        for code in 0u32..0x200 {
            if let Some(b) = char::from_u32(code).and_then(byte_of_char) {
                assert!(!seen[b as usize], "byte {b} twice");
                seen[b as usize] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(byte_of_char('Ġ'), Some(b' '));
    }
}
