//! The phrase chunker: LLM text deltas in, speakable phrases out.
//!
//! Text aggregation is paid on every turn (reference `llm-streaming.md` §11: 30 characters ≈ 0.2–0.4
//! s of generation), so the **first phrase** goes out as soon as it can be spoken naturally: at the
//! first sentence end, at the first clause boundary (`,` `;` `:`) once it has `first_min_chars`, or,
//! failing both, at a word boundary once it reaches `first_max_chars` or `first_timeout` has passed
//! since the first text. **Later phrases** are whole sentences (short ones joined up to `min_chars`,
//! long ones split at a clause or word boundary at `max_chars`): the TTS is busy speaking the first
//! phrase by then, and whole sentences get the best prosody. A newline always ends a phrase (lists,
//! paragraphs). If the model stalls for `stall_timeout`, the complete words so far are spoken.
//!
//! The Python bot's chunker only looked at the end of the buffer, so `Paris. It` hid a sentence end;
//! here every boundary inside the buffer counts. A boundary needs the character after the
//! punctuation (whitespace), so `3.5`, `e.g.` and `Dr. Smith` do not split.
//!
//! Time is passed in (`now`), never read: the caller owns the clock, and tests do not sleep. Call
//! [`PhraseChunker::poll`] at [`PhraseChunker::next_deadline`]. Fenced code blocks are dropped here,
//! across deltas; everything else is cleaned by [`crate::sanitize`] per phrase.

use std::time::{Duration, Instant};

use crate::sanitize::{SpeechOptions, sanitize_for_speech};

/// Where phrases are cut. Defaults come from [`crate::config`] (`streaming.*` keys).
#[derive(Debug, Clone)]
pub struct ChunkerOptions {
    /// A clause boundary ends the first phrase only after this many characters.
    pub first_min_chars: usize,
    /// The first phrase is cut at a word boundary once it is this long.
    pub first_max_chars: usize,
    /// After this long since the first text, the first phrase is cut at a word boundary (if it
    /// has `first_min_chars`).
    pub first_timeout: Duration,
    /// Later sentences shorter than this are joined with the next one.
    pub min_chars: usize,
    /// Later phrases are cut at a clause or word boundary past this length.
    pub max_chars: usize,
    /// With no new text for this long, the complete words so far are spoken.
    pub stall_timeout: Duration,
    pub speech: SpeechOptions,
}

impl Default for ChunkerOptions {
    fn default() -> Self {
        Self {
            first_min_chars: 12,
            first_max_chars: 48,
            first_timeout: Duration::from_millis(350),
            min_chars: 30,
            max_chars: 150,
            stall_timeout: Duration::from_millis(400),
            speech: SpeechOptions::default(),
        }
    }
}

/// One phrase for the TTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// Sanitised, speakable text; never empty.
    pub text: String,
    /// The model's text it came from (whitespace trimmed), for logs and tests.
    pub raw: String,
    /// 0 for the first phrase of the reply.
    pub index: usize,
}

/// How hard a cut is wanted (internal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Force {
    /// Only at natural boundaries.
    No,
    /// A time limit passed: also at the last word boundary, if the phrase has this many chars.
    Time(usize),
    /// End of the reply: everything goes.
    End,
}

/// The chunker for one reply.
#[derive(Debug)]
pub struct PhraseChunker {
    options: ChunkerOptions,
    buffer: String,
    /// Backticks at the end of the input, not yet known to be a fence.
    backticks: usize,
    in_code: bool,
    first_text_at: Option<Instant>,
    last_text_at: Option<Instant>,
    /// The stall deadline for the current `last_text_at` has been handled.
    stall_fired: bool,
    /// The first-phrase deadline passed before a first phrase could be cut.
    first_overdue: bool,
    emitted: usize,
}

impl PhraseChunker {
    pub fn new(options: ChunkerOptions) -> Self {
        Self {
            options,
            buffer: String::new(),
            backticks: 0,
            in_code: false,
            first_text_at: None,
            last_text_at: None,
            stall_fired: false,
            first_overdue: false,
            emitted: 0,
        }
    }

    /// Phrases emitted so far.
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// Adds a delta received at `now`; returns the phrases it completes.
    pub fn push(&mut self, delta: &str, now: Instant) -> Vec<Phrase> {
        for c in delta.chars() {
            self.push_char(c);
        }
        if !delta.is_empty() {
            self.first_text_at.get_or_insert(now);
            self.last_text_at = Some(now);
            self.stall_fired = false;
        }
        let mut out = self.cut_all(Force::No);
        if self.first_overdue && self.emitted == 0 {
            out.extend(self.cut_all(Force::Time(self.options.first_min_chars)));
        }
        out
    }

    /// Emits what a time limit that has passed at `now` allows.
    pub fn poll(&mut self, now: Instant) -> Vec<Phrase> {
        let mut min_chars = None;
        if let Some(stall) = self.stall_deadline()
            && now >= stall
        {
            self.stall_fired = true;
            min_chars = Some(1);
        }
        if let Some(first) = self.first_deadline()
            && now >= first
        {
            self.first_overdue = true;
            min_chars = min_chars.or(Some(self.options.first_min_chars));
        }
        match min_chars {
            Some(min) => self.cut_all(Force::Time(min)),
            None => Vec::new(),
        }
    }

    /// When [`PhraseChunker::poll`] should next be called; `None` while no time limit is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.stall_deadline(), self.first_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn stall_deadline(&self) -> Option<Instant> {
        let waiting = !self.buffer.trim().is_empty() && !self.stall_fired;
        self.last_text_at.filter(|_| waiting).map(|t| t + self.options.stall_timeout)
    }

    fn first_deadline(&self) -> Option<Instant> {
        let waiting = !self.buffer.trim().is_empty() && self.emitted == 0 && !self.first_overdue;
        self.first_text_at.filter(|_| waiting).map(|t| t + self.options.first_timeout)
    }

    /// The end of the reply: everything left is spoken.
    pub fn finish(&mut self) -> Vec<Phrase> {
        if !self.in_code {
            for _ in 0..std::mem::take(&mut self.backticks) {
                self.buffer.push('`');
            }
        }
        self.cut_all(Force::End)
    }

    fn push_char(&mut self, c: char) {
        if c == '`' {
            self.backticks += 1;
            return;
        }
        let run = std::mem::take(&mut self.backticks);
        let mut after_fence = false;
        if run >= 3 {
            self.in_code = !self.in_code;
            if !self.in_code {
                // A closing fence ends a phrase like a newline.
                self.buffer.push('\n');
                after_fence = true;
            }
        } else if !self.in_code {
            self.buffer.extend(std::iter::repeat_n('`', run));
        }
        let space_after_fence = after_fence && c != '\n' && c.is_whitespace();
        if !self.in_code && !space_after_fence {
            self.buffer.push(c);
        }
    }

    fn cut_all(&mut self, force: Force) -> Vec<Phrase> {
        let mut out = Vec::new();
        while let Some(at) = self.find_cut(force) {
            let raw: String = self.buffer.drain(..at).collect();
            let rest = self.buffer.trim_start().len();
            self.buffer.drain(..self.buffer.len() - rest);
            let raw = raw.trim().to_owned();
            let text = sanitize_for_speech(&raw, self.emitted == 0, &self.options.speech);
            if !text.is_empty() {
                out.push(Phrase { text, raw, index: self.emitted });
                self.emitted += 1;
            }
        }
        out
    }

    /// The byte index to cut the buffer at, if a phrase is ready.
    fn find_cut(&self, force: Force) -> Option<usize> {
        let buffer = &self.buffer;
        if buffer.trim().is_empty() {
            return None;
        }
        let first = self.emitted == 0;
        let o = &self.options;
        let len_to = |at: usize| buffer[..at].trim().chars().count();
        // At least one character, so that a cut always moves on (a limit of 0 looped forever).
        let limit = if first { o.first_max_chars } else { o.max_chars }.max(1);
        for boundary in boundaries(buffer) {
            let size = len_to(boundary.at);
            if size > limit {
                break;
            }
            let ready = match boundary.kind {
                Kind::Newline => size > 0,
                Kind::Sentence if first => size >= 2,
                Kind::Sentence => size >= o.min_chars,
                Kind::Clause if first => size >= o.first_min_chars,
                Kind::Clause => false,
            };
            if ready {
                return Some(boundary.at);
            }
        }
        if buffer.trim().chars().count() >= limit {
            // Too long: the last clause boundary, else the last word boundary, within the limit.
            let limit_byte = buffer.char_indices().nth(limit).map_or(buffer.len(), |(i, _)| i);
            let within = |at: &usize| *at <= limit_byte && len_to(*at) > 0;
            let clause = boundaries(buffer).filter(|b| b.kind == Kind::Clause).map(|b| b.at).filter(within).last();
            let min = if first { o.first_min_chars } else { o.min_chars };
            return clause
                .filter(|&at| len_to(at) >= min)
                .or_else(|| last_space(&buffer[..limit_byte]).filter(|at| len_to(*at) > 0))
                .or(Some(limit_byte));
        }
        match force {
            Force::No => None,
            Force::End => Some(buffer.len()),
            // Only at whitespace: the end of the buffer may be the middle of a token (`Dr.` + `.`).
            Force::Time(min_chars) => {
                last_space(buffer.trim_end()).filter(|&at| len_to(at) > 0 && len_to(at) >= min_chars)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sentence,
    Clause,
    Newline,
}

#[derive(Debug, Clone, Copy)]
struct Boundary {
    /// Byte index just after the punctuation (and closing quotes).
    at: usize,
    kind: Kind,
}

/// Words that end in `.` without ending a sentence.
const ABBREVIATIONS: [&str; 13] =
    ["mr", "mrs", "ms", "dr", "st", "vs", "etc", "prof", "jr", "sr", "approx", "mt", "fig"];

/// Every decided boundary in `text`, in order: the character after the punctuation must be there.
fn boundaries(text: &str) -> impl Iterator<Item = Boundary> + '_ {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '\n' {
            out.push(Boundary { at, kind: Kind::Newline });
            i += 1;
            continue;
        }
        let kind = match c {
            '.' | '!' | '?' | '\u{2026}' | '。' | '！' | '？' => Kind::Sentence,
            ',' | ';' | ':' | '，' | '；' | '：' => Kind::Clause,
            _ => {
                i += 1;
                continue;
            }
        };
        // Chinese and Japanese put no space after their full-width marks, which cannot be anything else.
        let full_width = matches!(c, '。' | '！' | '？' | '，' | '；' | '：');
        let start = i;
        // Runs of terminal punctuation and closing quotes/brackets belong to the phrase.
        let mut j = i + 1;
        while j < chars.len()
            && matches!(
                chars[j].1,
                '.' | '!'
                    | '?'
                    | '\u{2026}'
                    | '"'
                    | '\''
                    | '\u{201d}'
                    | '\u{2019}'
                    | ')'
                    | '。'
                    | '！'
                    | '？'
                    | '」'
                    | '』'
                    | '）'
            )
        {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
        if full_width {
            out.push(Boundary { at: end, kind });
            i = j;
            continue;
        }
        match chars.get(j) {
            Some((_, next)) if next.is_whitespace() => {
                let kind = if kind == Kind::Sentence && c == '.' && j == start + 1 && !ends_sentence(text, at) {
                    None
                } else {
                    Some(kind)
                };
                if let Some(kind) = kind {
                    out.push(Boundary { at: end, kind });
                }
            }
            _ => {}
        }
        i = j;
    }
    out.into_iter()
}

/// Whether the `.` at byte `dot` ends a sentence: not after an abbreviation, a single letter (an
/// initial) or a list number at the start of a line.
fn ends_sentence(text: &str, dot: usize) -> bool {
    let before = &text[..dot];
    // After the space's last byte: a no-break or ideographic space is more than one.
    let word_start = before.char_indices().rev().find(|&(_, c)| c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[word_start..];
    let lower = word.to_lowercase();
    // `Mr.`, an initial (`J.`), or a dotted abbreviation (`e.g.`, `U.S.`, `a.m.`).
    let dotted = word.contains('.');
    if ABBREVIATIONS.contains(&lower.as_str())
        || dotted
        || (word.chars().count() == 1 && word.chars().all(char::is_alphabetic))
    {
        return false;
    }
    let line_start = before[..word_start].trim_end_matches([' ', '\t']).is_empty()
        || before[..word_start].trim_end_matches([' ', '\t']).ends_with('\n');
    !(line_start && !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
}

/// The byte index of the last whitespace in `text`, if any.
fn last_space(text: &str) -> Option<usize> {
    text.rfind(char::is_whitespace)
}

#[cfg(test)]
mod tests;
