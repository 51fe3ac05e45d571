//! Deciding whether to respond, as pure functions (reference `original-bot.md` §7).
//!
//! The Python bot's rules, with its quirks fixed on purpose (§14 rows 3, 4, 10):
//! - **Echo filter** ([`EchoFilter`]): the bot's own speech is remembered per phrase **from the end
//!   of its playback** for `echo_filter_decay`, and a transcript is an echo only if it has at least
//!   two words and either appears as a contiguous run of the bot's words or has ≥ 80 % of its words
//!   among them, compared as normalised words. The Python bot stamped entries before playback (so
//!   long replies expired while still playing) and matched raw character substrings ("no" matched
//!   "know"). Mumble never sends our own voice back, so this only guards against other users' open
//!   microphones.
//! - **Utterance filter** ([`classify_utterance`]): same word lists and thresholds (2 words, 5
//!   characters, the single-word whitelist, the filler list), but punctuation is stripped first, so
//!   "Um, okay." is filler. An opt-in list of well-known Whisper hallucinations ("Thank you.").
//! - **Wake word** ([`strip_wake_word`]): optional; matched as whole words anywhere (the deprecated
//!   Python pipeline matched a substring, so "sam" matched "same"), and removed from the text.
//! - **Continuations** ([`PendingText`]): a segment that ended in silence is answered at once; text
//!   from a forced flush (maximum utterance length) waits for 10 words or 1.5 s, driven by a timer
//!   the caller polls instead of the next packet.
//! - **Claims** ([`Claims`], §7.4): with several personas, one answers each utterance. An utterance that
//!   names personas goes to them; otherwise the first persona to claim it answers. As the Python bot's
//!   claims, kept 10 s per speaker and text; unlike them, only between personas (a single bot answers a
//!   sentence said twice).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lower-case words with surrounding punctuation removed (apostrophes inside words kept).
pub fn normalise_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// What the bot said recently.
#[derive(Debug, Clone)]
pub struct EchoFilter {
    decay: Duration,
    recent: VecDeque<(Vec<String>, Instant)>,
}

impl EchoFilter {
    pub fn new(decay: Duration) -> Self {
        Self { decay, recent: VecDeque::new() }
    }

    /// Records a phrase whose playback ended at `now` (or was cut then: record what was heard).
    pub fn record_spoken(&mut self, text: &str, now: Instant) {
        self.expire(now);
        let words = normalise_words(text);
        if !words.is_empty() {
            self.recent.push_back((words, now + self.decay));
        }
    }

    /// Whether `transcript` is the bot hearing itself.
    pub fn is_echo(&mut self, transcript: &str, now: Instant) -> bool {
        self.expire(now);
        let heard = normalise_words(transcript);
        if heard.len() < 2 {
            return false;
        }
        // Phrases played back to back are one stream of speech for matching.
        let said: Vec<&String> = self.recent.iter().flat_map(|(words, _)| words).collect();
        let contiguous = said.windows(heard.len()).any(|w| w.iter().zip(&heard).all(|(a, b)| *a == b));
        let shared = heard.iter().filter(|w| said.contains(w)).count();
        contiguous || shared * 5 >= heard.len() * 4
    }

    fn expire(&mut self, now: Instant) {
        while self.recent.front().is_some_and(|(_, until)| *until <= now) {
            self.recent.pop_front();
        }
    }
}

/// Why an utterance is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Empty,
    TooShort,
    TooFewWords,
    Filler,
    Hallucination,
    Echo,
    NoWakeWord,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Empty => "empty transcript",
            Rejection::TooShort => "too short",
            Rejection::TooFewWords => "too few words",
            Rejection::Filler => "only filler words",
            Rejection::Hallucination => "a known STT hallucination",
            Rejection::Echo => "an echo of the bot's own speech",
            Rejection::NoWakeWord => "no wake word",
        }
    }
}

/// The utterance filter's settings (`bot.utterance_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtteranceRules {
    pub min_words: usize,
    pub min_chars: usize,
    pub hallucination_filter: bool,
}

const SINGLE_WORDS: [&str; 19] = [
    "what", "why", "how", "when", "where", "who", "which", "help", "stop", "start", "go", "wait", "pause", "play",
    "hello", "hi", "hey", "bye", "goodbye",
];

const FILLERS: [&str; 30] = [
    "um", "uh", "hmm", "okay", "ok", "yeah", "yep", "nope", "mhm", "ah", "oh", "huh", "eh", "erm", "er", "like",
    "well", "so", "right", "sure", "yes", "no", "yea", "nah", "mm", "mmm", "ugh", "ooh", "aah", "whoa",
];

/// Whole transcripts Whisper is known to invent from noise or silence.
const HALLUCINATIONS: [&str; 12] = [
    "thank you",
    "thank you very much",
    "thanks for watching",
    "thank you for watching",
    "thanks for watching and see you next time",
    "please subscribe",
    "subscribe to my channel",
    "see you next time",
    "i'll see you next time",
    "you",
    "bye",
    "the end",
];

/// The meaningful-utterance filter.
pub fn classify_utterance(text: &str, rules: &UtteranceRules) -> Result<(), Rejection> {
    let words = normalise_words(text);
    if words.is_empty() {
        return Err(Rejection::Empty);
    }
    let joined = words.join(" ");
    if rules.hallucination_filter && HALLUCINATIONS.contains(&joined.as_str()) {
        return Err(Rejection::Hallucination);
    }
    if words.len() == 1 && (SINGLE_WORDS.contains(&words[0].as_str()) || text.trim_end().ends_with('?')) {
        return Ok(());
    }
    if joined.chars().count() < rules.min_chars {
        return Err(Rejection::TooShort);
    }
    if words.iter().all(|w| FILLERS.contains(&w.as_str())) {
        return Err(Rejection::Filler);
    }
    if words.len() < rules.min_words {
        return Err(Rejection::TooFewWords);
    }
    Ok(())
}

/// With a wake word: the text without it, or `None` when it is absent. Whole words, any case,
/// anywhere in the utterance ("Hey Sam, what time is it?", "What do you think, Sam?").
pub fn strip_wake_word(text: &str, wake_word: &str) -> Option<String> {
    let wake = normalise_words(wake_word);
    if wake.is_empty() {
        return Some(text.trim().to_owned());
    }
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let normal: Vec<String> =
        tokens.iter().map(|t| t.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()).collect();
    let start = (0..normal.len()).find(|&i| normal[i..].starts_with(&wake))?;
    let end = start + wake.len();
    let mut kept: Vec<String> = tokens[..start].iter().map(|t| t.to_string()).collect();
    // Sentence punctuation on the wake word moves to the word before it.
    let closing: String = tokens[end - 1].chars().rev().take_while(|c| matches!(c, '?' | '!' | '.')).collect();
    if let Some(last) = kept.last_mut()
        && !closing.is_empty()
    {
        *last = format!("{}{}", last.trim_end_matches([',', ';', ':']), closing.chars().rev().collect::<String>());
    }
    kept.extend(tokens[end..].iter().map(|t| t.to_string()));
    let out = kept.join(" ");
    Some(out.trim_start_matches(|c: char| c == ',' || c == ':' || c.is_whitespace()).trim().to_owned())
}

/// The Python bot's question test (used for fillers): ends with `?`, or starts with a question word.
pub fn is_question(text: &str) -> bool {
    const STARTS: [&str; 21] = [
        "who", "what", "when", "where", "why", "how", "is", "are", "was", "were", "will", "would", "could", "should",
        "can", "do", "does", "did", "have", "has", "had",
    ];
    text.trim_end().ends_with('?') || normalise_words(text).first().is_some_and(|w| STARTS.contains(&w.as_str()))
}

/// All the rules for one bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespondRules {
    pub echo_filter: bool,
    /// `None`: the utterance filter is off.
    pub utterance: Option<UtteranceRules>,
    pub wake_word: Option<String>,
}

/// Applies echo filter, wake word and utterance filter, in that order. Returns the text to send to
/// the LLM (without the wake word).
pub fn decide(text: &str, rules: &RespondRules, echo: &mut EchoFilter, now: Instant) -> Result<String, Rejection> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Rejection::Empty);
    }
    if rules.echo_filter && echo.is_echo(text, now) {
        return Err(Rejection::Echo);
    }
    let text = match rules.wake_word.as_deref() {
        Some(wake) => strip_wake_word(text, wake).ok_or(Rejection::NoWakeWord)?,
        None => text.to_owned(),
    };
    if let Some(utterance) = &rules.utterance {
        // "Hey Sam" alone is an address, not a question: let it through as a greeting.
        if !(rules.wake_word.is_some() && text.is_empty()) {
            classify_utterance(&text, utterance)?;
        }
    }
    Ok(text)
}

/// Text of one speaker waiting to be answered (the continuation rule).
#[derive(Debug, Clone)]
pub struct PendingText {
    timeout: Duration,
    words_needed: usize,
    text: String,
    last_at: Option<Instant>,
}

impl PendingText {
    /// `timeout`: 1.5 s in the Python bot; `words_needed`: 10.
    pub fn new(timeout: Duration, words_needed: usize) -> Self {
        Self { timeout, words_needed, text: String::new(), last_at: None }
    }

    /// Adds a segment's transcript. `ended_in_silence`: the user stopped (answer now); otherwise
    /// the segment was cut at the maximum length and more may follow.
    pub fn push(&mut self, text: &str, ended_in_silence: bool, now: Instant) -> Option<String> {
        let text = text.trim();
        if !text.is_empty() {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            self.text.push_str(text);
            self.last_at = Some(now);
        }
        let enough = self.text.split_whitespace().count() >= self.words_needed;
        if ended_in_silence || enough { self.take() } else { None }
    }

    /// When [`PendingText::poll`] should be called.
    pub fn deadline(&self) -> Option<Instant> {
        self.last_at.filter(|_| !self.text.is_empty()).map(|t| t + self.timeout)
    }

    /// The pending text once its timeout has passed.
    pub fn poll(&mut self, now: Instant) -> Option<String> {
        match self.deadline() {
            Some(deadline) if now >= deadline => self.take(),
            _ => None,
        }
    }

    fn take(&mut self) -> Option<String> {
        self.last_at = None;
        let text = std::mem::take(&mut self.text);
        (!text.is_empty()).then_some(text)
    }
}

/// Who has claimed which utterance, shared by the personas of one process.
#[derive(Debug, Default)]
pub struct Claims {
    taken: Mutex<HashMap<(String, Vec<String>), Instant>>,
}

/// One persona's view of the shared [`Claims`].
#[derive(Debug, Clone)]
pub struct PersonaClaims {
    pub claims: Arc<Claims>,
    /// This persona's Mumble name.
    pub own: String,
    /// Every persona's Mumble name, this one's included.
    pub personas: Vec<String>,
}

impl Claims {
    /// How long a claim holds: the other personas' transcripts of the same speech arrive well within it.
    pub const KEEP: Duration = Duration::from_secs(10);

    /// Whether `persona` answers `speaker`'s `text`: not when the text names other personas but not this one,
    /// nor when another persona has claimed the same text (its first ten normalised words) from the speaker.
    pub fn claim(&self, persona: &PersonaClaims, speaker: &str, text: &str, now: Instant) -> bool {
        let words = normalise_words(text);
        let named: Vec<&String> = persona.personas.iter().filter(|p| names(&words, p)).collect();
        if !named.is_empty() && !named.contains(&&persona.own) {
            return false;
        }
        let key = (speaker.to_owned(), words.into_iter().take(10).collect());
        let mut taken = self.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        taken.retain(|_, at| now.saturating_duration_since(*at) < Self::KEEP);
        match taken.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        }
    }
}

/// Whether the normalised `words` contain `name`'s words in a row.
fn names(words: &[String], name: &str) -> bool {
    let name = normalise_words(name);
    !name.is_empty() && words.windows(name.len()).any(|w| w == name.as_slice())
}

#[cfg(test)]
mod tests;
