//! Where streamed text is cut into phrases for synthesis.
//!
//! A phrase is released the moment it is complete: at sentence punctuation followed by a space, or at the
//! end of a chunk after `!` or `?`. wyoming-piper waits for the next sentence's first letter, which with an
//! LLM's tokens is a whole token later. A `.` that ends a chunk (and a `?` or `!` inside a URL) is held back
//! until the next chunk or a short wait ([`PhraseSplitter::release_held`], called by the session):
//! tokenizers that write `.` as a token of its own continue a word after it (`example` `.` `com`, `config.`
//! `yaml`), and such a word read as two sentences was garbled ("John, though at example, come").
//!
//! The *first* phrase of a request is also cut at a clause (`, ; : —` then a space), so the first audio needs
//! only the first clause to be written and synthesised. Full-width marks (`。！？，；：`)
//! need no space after them, as Chinese and Japanese text has none. A phrase is never longer than
//! `max_chars` (plus a closing punctuation run, or a phoneme block that ends past it): without a boundary within
//! them, it is cut at the last clause mark or space before, so a sentence that runs on never becomes one huge
//! synthesis.
//!
//! A line ends a phrase too. Lines, and the text left at the end of a request, get wyoming-piper's
//! auto-punctuation, so that they are spoken with a sentence's final intonation. Punctuation that arrives just
//! after a sentence was released at the end of a chunk (`"What?"` then `"! No way."`) belongs to that
//! sentence: it is dropped, not read out at the start of the next one ("exclamation").
//!
//! Each search looks at no more than `max_chars` characters (and, from a `[[`, [`MAX_BLOCK`] for its `]]`) and
//! released text is dropped once per push, so splitting is linear in the text, whatever the text (it runs on
//! the connection's task).
//!
//! A `[[ phonemes ]]` block (up to [`MAX_BLOCK`] characters) is one word: no phrase is cut inside it (a phrase
//! may run past `max_chars` to its end), and in a stream an open `[[` holds the phrase, through pauses, until
//! its `]]` comes, [`MAX_BLOCK`] characters follow it, or the request ends.
//!
//! Pure: text in, phrases out; the session owns the I/O.

use super::phoneme_blocks;

/// Words after which a period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc", "eg", "ie", "approx", "dept", "est", "fig", "inc",
    "ltd", "co", "corp", "gen", "gov", "lt", "col", "capt", "sgt", "rev", "hon", "mt", "ft", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no", "vol", "ca", "cf", "al",
];
const ENDERS: &[char] = &['.', '!', '?', '…', '。', '！', '？'];
const CLOSERS: &[char] = &['"', '\'', ')', ']', '}', '»', '”', '’', '*', '_', '」', '』', '）', '】'];
const CLAUSE_MARKS: &[char] = &[',', ';', ':', '—', '–', '，', '；', '：'];
/// Marks that end a sentence or clause without a space after them.
const FULL_WIDTH: &[char] = &['。', '！', '？', '，', '；', '：'];
/// Characters looked at past `max_chars`, to see the end of a punctuation run and what follows it.
const LOOKAHEAD: usize = 16;
/// The longest `[[ phonemes ]]` block kept whole, in characters. Longer ones are rare enough to be read as text
/// (piper-tts has no limit); the engine runs a long block's symbols in bounded pieces.
const MAX_BLOCK: usize = 1000;

#[derive(Debug, Clone)]
pub struct SplitConfig {
    /// Cut the first phrase at a clause boundary.
    pub first_clause: bool,
    /// Longest phrase, in characters, before it is cut without punctuation.
    pub max_chars: usize,
    /// `--auto-punctuation`: marks one of which ends a line and the text's last phrase (empty: off).
    pub auto_punctuation: String,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { first_clause: true, max_chars: 250, auto_punctuation: String::new() }
    }
}

#[derive(Debug, Default)]
pub struct PhraseSplitter {
    config: SplitConfig,
    buffer: String,
    released: usize,
    /// The last phrase was released at the very end of the text so far: punctuation that comes next continues it.
    at_release: bool,
}

impl PhraseSplitter {
    pub fn new(config: SplitConfig) -> Self {
        PhraseSplitter { config, buffer: String::new(), released: 0, at_release: false }
    }

    /// Adds streamed text; returns the phrases it completes, in order.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        let text = if self.at_release {
            // Only a run of marks that ends the chunk or a word ("!! Great"); ".NET" and "'Cause" start one.
            let rest = text.trim_start_matches(|c| ENDERS.contains(&c) || CLOSERS.contains(&c));
            let continues = rest.is_empty() || rest.starts_with(char::is_whitespace);
            self.at_release = rest.is_empty();
            if continues { rest } else { text }
        } else {
            text
        };
        self.buffer.push_str(text);
        self.split(false)
    }

    /// Whether the text so far ends with a `.` that ends a sentence unless the next chunk continues the word.
    pub fn holding(&self) -> bool {
        let first = self.released == 0 && self.config.first_clause;
        !self.buffer.is_empty() && boundary(&self.buffer, first, self.config.max_chars, true).is_some()
    }

    /// No more text came soon after a held `.`: it ends its sentence after all.
    pub fn release_held(&mut self) -> Vec<String> {
        self.split(true)
    }

    /// Takes the complete phrases off the buffer. `settled`: no more text is coming soon, so a `.` at the end
    /// of the buffer ends a sentence.
    fn split(&mut self, settled: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut line = false;
        loop {
            let first = self.released == 0 && self.config.first_clause;
            let Some(len) = boundary(&self.buffer[start..], first, self.config.max_chars, settled) else { break };
            line = self.buffer[start..start + len].ends_with('\n');
            let phrase = self.buffer[start..start + len].trim();
            if !phrase.is_empty() {
                out.push(if line { auto_punctuate(phrase, &self.config.auto_punctuation) } else { phrase.to_string() });
                self.released += 1;
            }
            start += len;
        }
        if !out.is_empty() {
            // Released at sentence punctuation with nothing after it yet (a line's end is no such doubt).
            self.at_release = start == self.buffer.len() && !line;
        }
        self.buffer.drain(..start);
        out
    }

    /// The text left at the end of the stream, if any, auto-punctuated.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buffer);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| {
            self.released += 1;
            auto_punctuate(rest, &self.config.auto_punctuation)
        })
    }

    /// Splits a whole text at once (plain `synthesize`).
    pub fn split_all(config: SplitConfig, text: &str) -> Vec<String> {
        let mut splitter = PhraseSplitter::new(config);
        let mut phrases = splitter.push(text);
        phrases.extend(splitter.finish());
        phrases
    }
}

/// Byte length of the first complete phrase of `text` (never 0), if there is one yet. `settled`: a `.` at the
/// end of `text` ends a sentence (no more text is coming soon).
fn boundary(text: &str, first: bool, max_chars: usize, settled: bool) -> Option<usize> {
    let max_chars = max_chars.max(1);
    let chars: Vec<(usize, char)> = text.char_indices().take(max_chars + LOOKAHEAD).collect();
    // Whether `chars` reaches the end of the buffer, or more text lies beyond what was looked at.
    let whole = chars.last().is_none_or(|&(at, c)| at + c.len_utf8() == text.len());
    // Blocks passed over, never cut inside.
    let mut blocks = Vec::new();
    // Whether a letter or digit came before position `i`.
    let mut word = false;
    let mut i = 0;
    while i < chars.len().min(max_chars) {
        let (at, c) = chars[i];
        if c == '\n' && word {
            return Some(at + 1);
        }
        if c == '[' && text[at..].starts_with("[[") {
            // A block counts as one if it closes within MAX_BLOCK characters; a phrase may run past `max_chars`
            // to its end.
            let reach = text[at..].char_indices().nth(MAX_BLOCK).map_or(text.len(), |(len, _)| at + len);
            match phoneme_blocks::block_end(&text[..reach], at) {
                Some(end) => {
                    // A block is one word, whatever punctuation its symbols hold.
                    blocks.push((at, end));
                    while i < chars.len() && chars[i].0 < end {
                        i += 1;
                    }
                    word = true;
                    continue;
                }
                // Its `]]` may be in the next chunk, however long the pause: hold the block, releasing the text
                // before it if that is over-long. Only the end of the request (`finish`) makes it text.
                None if reach == text.len() => return (at > 0 && chars.len() > max_chars).then_some(at),
                None => {}
            }
        }
        if ENDERS.contains(&c) {
            let mut j = i;
            while j < chars.len() && (ENDERS.contains(&chars[j].1) || CLOSERS.contains(&chars[j].1)) {
                j += 1;
            }
            let run: String = chars[i..j].iter().map(|&(_, c)| c).collect();
            let end = chars.get(j).map_or(text.len(), |&(at, _)| at);
            let last = last_word(&text[..at]);
            let strong = run.contains(['!', '?', '。', '！', '？']);
            // An ellipsis is a pause inside a sentence, not its end.
            let ellipsis = !strong && (run.starts_with("..") || run.starts_with('…'));
            let ends_sentence = word
                && !ellipsis
                && match chars.get(j) {
                    Some(&(_, next)) if next.is_whitespace() || run.contains(FULL_WIDTH) => {
                        !is_abbreviation(last, &run)
                    }
                    Some(_) => false,
                    // The run goes on past what was looked at: not an end here.
                    None if !whole => false,
                    // At the end of the buffer: `!` and `?` at once; a `.` once no more text came to continue
                    // the word (`example.` `com`, `3.` `50`).
                    None => {
                        let period = run.starts_with('.') && !run.starts_with("..") && !run.starts_with('…');
                        // After closing marks too: `(see the manual).`, `"yes".`
                        let bare = last.trim_end_matches(CLOSERS);
                        // A `?` in a URL (`…/help?` `id=42`) is held like a `.`.
                        let url = last.contains(['/', '@']);
                        (strong && !url)
                            || (settled
                                && (period || strong)
                                && !is_abbreviation(bare, &run)
                                && bare.chars().last().is_some_and(char::is_alphanumeric))
                    }
                };
            if ends_sentence {
                return Some(end);
            }
            i = j;
            continue;
        }
        if first
            && word
            && CLAUSE_MARKS.contains(&c)
            && (FULL_WIDTH.contains(&c) || chars.get(i + 1).is_some_and(|&(_, n)| n.is_whitespace()))
        {
            return Some(at + c.len_utf8());
        }
        word |= c.is_alphanumeric();
        i += 1;
    }
    if chars.len() <= max_chars {
        return None;
    }
    // Over-long: the last clause mark in the second half, else the last space, else `max_chars` characters.
    let limit = chars[max_chars].0;
    let head = &text[..limit];
    let cut = head
        .char_indices()
        .rev()
        .find(|&(_, c)| CLAUSE_MARKS.contains(&c))
        .map(|(at, c)| at + c.len_utf8())
        .filter(|&at| at > limit / 2)
        .or_else(|| head.char_indices().rev().find(|&(at, c)| at > 0 && c.is_whitespace()).map(|(at, _)| at))
        .unwrap_or(limit);
    // Not inside a block: before it, or after it when it starts the phrase (which then ends past `max_chars`).
    match blocks.iter().find(|&&(start, end)| start < cut && cut < end) {
        Some(&(0, end)) => Some(end),
        Some(&(start, _)) => Some(start),
        None => Some(cut),
    }
}

/// Whether a phrase ends a sentence (`. ! ? …`, closing quotes looked through): `--sentence-silence` belongs
/// there, not after a first phrase cut at its clause or a run-on one cut for length.
pub fn ends_sentence(phrase: &str) -> bool {
    phrase.trim_end().trim_end_matches(CLOSERS).chars().last().is_some_and(|c| ENDERS.contains(&c))
}

/// wyoming-piper's auto-punctuation: a text that does not end with one of `marks` gets the first of them, so
/// the voice ends on a falling, final intonation. Empty `marks` turns it off. The mark goes inside closing
/// quotes, brackets and Markdown (`Say "hello."`, `**the light.**`), which are looked through; a text ending
/// in other punctuation (a clause mark, a symbol) is left as it is.
pub fn auto_punctuate(text: &str, marks: &str) -> String {
    let trimmed = text.trim_end();
    let core = trimmed.trim_end_matches(|c: char| CLOSERS.contains(&c) || matches!(c, '`' | '~' | ' '));
    // A text ending in a `[[ phonemes ]]` block gets the mark after it (where piper-tts says nothing for it), as
    // wyoming-piper appends it: never inside the block.
    if phoneme_blocks::spans(trimmed).last().is_some_and(|&(_, end)| end > core.len()) {
        return match marks.chars().next() {
            Some(first) => format!("{trimmed}{first}"),
            None => trimmed.to_string(),
        };
    }
    match (marks.chars().next(), core.chars().last()) {
        (Some(first), Some(last)) if !marks.contains(last) && last.is_alphanumeric() => {
            format!("{core}{first}{}", &trimmed[core.len()..])
        }
        _ => trimmed.to_string(),
    }
}

/// The word before a punctuation run, without leading brackets or quotes.
fn last_word(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .find(|&(_, c)| c.is_whitespace() || matches!(c, '(' | '[' | '"' | '“'))
        .map_or(0, |(at, c)| at + c.len_utf8());
    &text[start..]
}

fn is_abbreviation(word: &str, run: &str) -> bool {
    if !run.starts_with('.') || run.starts_with("..") {
        return false;
    }
    let bare: String = word.chars().filter(|c| *c != '.').collect::<String>().to_lowercase();
    // Initials ("J."), dotted abbreviations ("e.g", "U.S"), list numbers and decimals ("1.", "3.")
    word.chars().count() == 1 && word.chars().all(char::is_alphabetic)
        || word.contains('.')
        || (!word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
        || ABBREVIATIONS.contains(&bare.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Phrases, each with the chunk that released it, when chunks follow each other quickly.
    fn stream(chunks: &[&str]) -> Vec<(usize, String)> {
        streamed(chunks, false)
    }

    /// The same when the stream pauses after every chunk for longer than a held `.` waits.
    fn stream_paused(chunks: &[&str]) -> Vec<(usize, String)> {
        streamed(chunks, true)
    }

    fn streamed(chunks: &[&str], paused: bool) -> Vec<(usize, String)> {
        let mut s = PhraseSplitter::new(SplitConfig::default());
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(s.push(chunk).into_iter().map(|p| (i, p)));
            if paused {
                out.extend(s.release_held().into_iter().map(|p| (i, p)));
                assert!(!s.holding(), "nothing is held after a release");
            }
        }
        out.extend(s.finish().map(|p| (chunks.len(), p)));
        out
    }

    #[test]
    fn a_sentence_is_released_without_waiting_for_the_next_one() {
        // `?` and `!` at once; a `.` at the end of a chunk with the next chunk, or after a pause.
        let chunks = ["Hello", " world.", " How", " are", " you", " today?", " Fine."];
        assert_eq!(
            stream(&chunks),
            [(2, "Hello world.".into()), (5, "How are you today?".into()), (7, "Fine.".into())]
        );
        assert_eq!(
            stream_paused(&chunks),
            [(1, "Hello world.".into()), (5, "How are you today?".into()), (6, "Fine.".into())]
        );
        let mut s = PhraseSplitter::new(SplitConfig::default());
        assert!(s.push("Call me at ten.").is_empty() && s.holding());
        assert_eq!(s.release_held(), ["Call me at ten."]);
        assert!(s.push("Dr.").is_empty() && !s.holding(), "an abbreviation is not held: it never ends a sentence");
        assert_eq!(
            stream(&["Visit https://example.com/help?", "id=42 now."]),
            [(2, "Visit https://example.com/help?id=42 now.".into())]
        );
        let mut s = PhraseSplitter::new(SplitConfig::default());
        assert!(s.push("Read it (see the manual).").is_empty() && s.holding());
        assert_eq!(s.release_held(), ["Read it (see the manual)."]);
    }

    #[test]
    fn llm_text_streamed_one_character_at_a_time_splits_as_the_whole_text() {
        let texts = [
            "Send it to john.doe@example.com by Friday. Then open config.yaml now.",
            "Visit https://example.com/help?id=42 for details. Or call 555-0100!",
            "Open http://homeassistant.local:8123 in your browser.",
            "I turned on light.living_room for you. Anything else?",
            "Home Assistant 2024.12.1 is out. It costs $1,299.99 today.",
            "Use a sensor, e.g. a motion sensor. Dr. Smith agrees.",
            "Hmm... let me see. The IP is 192.168.1.50 now.",
            "See [the docs](https://example.com/a.html) for more. **Done.**",
            "Step 1. Open the lid. Step 2. Close it.",
            "He said \"Stop.\" Then he left (see the manual). Okay?",
            "Here's a list:\n- milk\n- eggs\nThat's all.",
        ];
        for text in texts {
            let chars: Vec<String> = text.chars().map(String::from).collect();
            let chunks: Vec<&str> = chars.iter().map(String::as_str).collect();
            let streamed: Vec<String> = stream(&chunks).into_iter().map(|(_, p)| p).collect();
            assert_eq!(streamed, PhraseSplitter::split_all(SplitConfig::default(), text), "{text:?}");
        }
    }

    #[test]
    fn a_word_that_a_chunk_cuts_at_its_dot_is_one_word() {
        assert_eq!(
            stream(&["Send it to john", ".", "doe@example", ".", "com by Friday."]),
            [(5, "Send it to john.doe@example.com by Friday.".into())]
        );
        assert_eq!(stream(&["Open the file config.", "yaml now."]), [(2, "Open the file config.yaml now.".into())]);
        assert_eq!(
            stream(&["Visit https://example.", "com/help now."]),
            [(2, "Visit https://example.com/help now.".into())]
        );
    }

    #[test]
    fn the_first_phrase_is_cut_at_a_clause_and_later_ones_are_not() {
        assert_eq!(
            PhraseSplitter::split_all(SplitConfig::default(), "Sure, I can help. First, open it; then close it."),
            ["Sure,", "I can help.", "First, open it; then close it."]
        );
    }

    #[test]
    fn abbreviations_numbers_and_ellipses_do_not_split() {
        assert_eq!(
            stream(&["Dr.", " Smith paid 3.", "50 dollars, e.g.", " twice. ", "Wait..", ". what?"]),
            [(2, "Dr. Smith paid 3.50 dollars,".into()), (3, "e.g. twice.".into()), (5, "Wait... what?".into())]
        );
        assert_eq!(stream(&["Step 1. Open the lid."]), [(1, "Step 1. Open the lid.".into())]);
    }

    #[test]
    fn newlines_and_long_text_split() {
        assert_eq!(stream(&["- milk\n- eggs\n"]), [(0, "- milk".into()), (0, "- eggs".into())]);
        let long = "word ".repeat(100);
        let phrases = PhraseSplitter::split_all(SplitConfig::default(), &long);
        assert!(phrases.len() >= 2 && phrases.iter().all(|p| p.chars().count() <= 250), "{phrases:?}");
    }

    #[test]
    fn punctuation_only_text_makes_no_empty_phrase() {
        assert_eq!(stream(&["!!! ", "... ", "?"]), [(3, "!!! ... ?".into())]);
        assert!(stream(&["   ", "\n\n"]).is_empty());
    }

    #[test]
    fn a_sentence_is_told_from_a_phrase_cut_inside_one() {
        let phrases = PhraseSplitter::split_all(SplitConfig::default(), "Sure, I can. \"Why?\" she asked: \"Yes,\"");
        let sentences: Vec<bool> = phrases.iter().map(|p| ends_sentence(p)).collect();
        assert_eq!(phrases.len(), 4, "{phrases:?}");
        assert_eq!(sentences, [false, true, true, false]);
        assert!(!ends_sentence("Hello") && !ends_sentence("") && !ends_sentence("Well —") && ends_sentence("Wait…"));
        // A run-on sentence cut for length is not a sentence's end.
        let cut = PhraseSplitter::split_all(SplitConfig::default(), &"word ".repeat(100));
        assert!(!ends_sentence(&cut[0]), "{cut:?}");
    }

    #[test]
    fn auto_punctuation_as_wyoming_piper() {
        assert_eq!(auto_punctuate("Hello there", ".?!"), "Hello there.");
        assert_eq!(auto_punctuate("Really? ", ".?!"), "Really?");
        assert_eq!(auto_punctuate("a list:", ".?!"), "a list:");
        assert_eq!(auto_punctuate("no marks", ""), "no marks");
        // Through closing quotes, brackets and Markdown.
        assert_eq!(auto_punctuate("Say \"hello\"", ".?!"), "Say \"hello.\"");
        assert_eq!(auto_punctuate("(see above)", ".?!"), "(see above.)");
        assert_eq!(auto_punctuate("Turn on the **kitchen light** ", ".?!"), "Turn on the **kitchen light.**");
        assert_eq!(auto_punctuate("He said \"why?\"", ".?!"), "He said \"why?\"");
    }

    fn punctuated() -> SplitConfig {
        SplitConfig { auto_punctuation: ".?!".into(), ..SplitConfig::default() }
    }

    #[test]
    fn lines_and_the_last_phrase_are_auto_punctuated() {
        assert_eq!(
            PhraseSplitter::split_all(punctuated(), "Shopping list:\n- milk\n- eggs!\nThat is all"),
            ["Shopping list:", "- milk.", "- eggs!", "That is all."]
        );
        // A phrase cut at its first clause or at the length limit is not a sentence's end.
        assert_eq!(PhraseSplitter::split_all(punctuated(), "Sure, I can")[0], "Sure,");
        let cut = PhraseSplitter::split_all(punctuated(), &"word ".repeat(100));
        assert!(!cut[0].ends_with('.'), "{cut:?}");
    }

    #[test]
    fn punctuation_after_a_released_sentence_is_not_read_out() {
        let mut s = PhraseSplitter::new(SplitConfig::default());
        assert_eq!(s.push("What?"), ["What?"]);
        assert!(s.push("!").is_empty());
        assert!(s.push("!\"").is_empty());
        assert_eq!(s.push(" No way. "), ["No way."]);
        assert_eq!(stream_paused(&["Done.", ".. okay."]), [(0, "Done.".into()), (1, "okay.".into())]);
        // Without the pause, the marks are read together, as in the whole text.
        assert_eq!(stream(&["Done.", ".. okay."]), [(2, "Done... okay.".into())]);
        assert_eq!(stream(&["A list\n", ".5 of it"]), [(0, "A list".into()), (2, ".5 of it".into())]);
        // Marks that open a word are kept, and so is punctuation after a space.
        assert_eq!(stream_paused(&["Done.", ".NET is fast."]), [(0, "Done.".into()), (1, ".NET is fast.".into())]);
        assert_eq!(stream(&["I won!", "'Cause I can."]), [(0, "I won!".into()), (2, "'Cause I can.".into())]);
        assert_eq!(stream(&["Hi! ", "...well."]), [(0, "Hi!".into()), (2, "...well.".into())]);
    }

    #[test]
    fn multi_byte_quotes_and_spaces_before_a_mark_are_cut_whole() {
        assert_eq!(
            stream(&["He said “Stop.” Then he left."]),
            [(0, "He said “Stop.”".into()), (1, "Then he left.".into())]
        );
        assert_eq!(stream(&["Bonjour\u{a0}! Ça va\u{202f}? Oui."]).len(), 3);
        // An over-long run of text behind an ideographic space.
        let indented = format!("\u{3000}{}", "あ".repeat(300));
        let phrases = PhraseSplitter::split_all(SplitConfig::default(), &indented);
        assert_eq!(phrases.concat(), "あ".repeat(300));
    }

    #[test]
    fn full_width_marks_need_no_space() {
        assert_eq!(
            PhraseSplitter::split_all(SplitConfig::default(), "はい，わかりました。今日は晴れです。明日は雨です。"),
            ["はい，", "わかりました。", "今日は晴れです。", "明日は雨です。"]
        );
    }

    #[test]
    fn a_run_on_sentence_is_cut_at_max_chars_in_plain_requests_too() {
        let text = format!("{}end.", "word ".repeat(2000));
        let phrases = PhraseSplitter::split_all(SplitConfig::default(), &text);
        assert!(phrases.iter().all(|p| p.chars().count() <= 250), "{:?}", phrases.iter().map(|p| p.len()).max());
        assert_eq!(phrases.concat().replace(' ', ""), text.replace(' ', ""));
    }

    #[test]
    fn a_phoneme_block_is_never_cut() {
        let all = |text| PhraseSplitter::split_all(SplitConfig::default(), text);
        assert_eq!(all("Say [[ a. b, c ]] now. Next one."), ["Say [[ a. b, c ]] now.", "Next one."]);
        // Written in pieces: the open `[[` holds the phrase until its `]]` comes.
        assert_eq!(
            stream(&["Call me [[ ˈdʒ", "oʊ. ", "]], please. ", "Thanks."]),
            [(2, "Call me [[ ˈdʒoʊ. ]],".to_string()), (2, "please.".to_string()), (4, "Thanks.".to_string())]
        );
        // A block may span lines; with no `]]` at all in a whole text, `[[` is text.
        assert_eq!(all("Hi [[ hə\nloʊ ]] there. Bye."), ["Hi [[ hə\nloʊ ]] there.", "Bye."]);
        // An open `[[` holds until the request ends, which then reads it as text.
        assert_eq!(all("Hi [[ there. Bye."), ["Hi [[ there. Bye."]);
        // A pause does not release an open block, and an over-long phrase is cut before it, not inside it.
        assert_eq!(
            stream_paused(&["Call me [[ dʒˈoʊ.", "]], please. "]),
            [(1, "Call me [[ dʒˈoʊ.]],".to_string()), (1, "please.".to_string())]
        );
        let mut splitter = PhraseSplitter::new(SplitConfig { max_chars: 20, ..SplitConfig::default() });
        assert_eq!(splitter.push("one two three [[ a b c d e"), ["one two three"]);
        assert_eq!(splitter.push(" f ]] end"), ["[[ a b c d e f ]]"]);
        assert_eq!(splitter.finish().as_deref(), Some("end"));
        // Auto-punctuation goes after a closing block, not into it.
        let config = SplitConfig { auto_punctuation: ".?!".into(), ..SplitConfig::default() };
        assert_eq!(PhraseSplitter::split_all(config, "Say [[ tʃˈiːz ]]"), ["Say [[ tʃˈiːz ]]."]);
        assert_eq!(auto_punctuate("**[[ a ]]**", "."), "**[[ a ]]**.");
        assert_eq!(auto_punctuate("[[ a ]] (b)", "."), "[[ a ]] (b.)");
        // A run-on phrase cut for length is cut before a block, not inside it, even a block that ends past what
        // the phrase's own search looks at; a block longer than a phrase is taken whole.
        let config = SplitConfig { max_chars: 20, ..SplitConfig::default() };
        let phrases = PhraseSplitter::split_all(config.clone(), "word word word [[ a b c d e f ]] end");
        assert_eq!(phrases, ["word word word", "[[ a b c d e f ]]", "end"]);
        let text = "one two three four [[ a b c d e f g ]] end";
        let phrases = PhraseSplitter::split_all(config.clone(), text);
        assert_eq!(phrases, ["one two three four", "[[ a b c d e f g ]]", "end"]);
        // One longer than `max_chars` is kept whole too; one longer than MAX_BLOCK is text, cut as text is.
        let phrases = PhraseSplitter::split_all(config.clone(), "[[ a b c d e f g h i j k l m n o p ]] end");
        assert_eq!(phrases, ["[[ a b c d e f g h i j k l m n o p ]]", "end"]);
        let huge = format!("[[ {}]]", "a ".repeat(MAX_BLOCK));
        assert!(PhraseSplitter::split_all(config, &huge).len() > 50);
    }

    #[test]
    fn splitting_is_linear_in_the_text() {
        // Each of these took seconds to minutes when every search rescanned the whole buffer.
        assert_eq!(PhraseSplitter::split_all(SplitConfig::default(), &"Hi. ".repeat(50_000)).len(), 50_000);
        assert_eq!(PhraseSplitter::split_all(SplitConfig::default(), &"a\n".repeat(50_000)).len(), 50_000);
        let no_spaces = "x".repeat(200_000);
        assert_eq!(PhraseSplitter::split_all(SplitConfig::default(), &no_spaces).concat(), no_spaces);
    }

    proptest! {
        /// With phoneme blocks, however the text is chunked and paused: no character is lost or reordered, and
        /// no phrase holds a part of a block without the rest.
        #[test]
        fn chunked_blocks_stay_whole(text in "[a-c .,\\[\\]\n]{0,120}", cuts in proptest::collection::vec(0usize..120, 0..8)) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= text.len()).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts { chunks.push(&text[last..c]); last = c; }
            chunks.push(&text[last..]);
            let whole = phoneme_blocks::spans(&text).len();
            for paused in [false, true] {
                let phrases: Vec<String> = streamed(&chunks, paused).into_iter().map(|(_, p)| p).collect();
                let blocks: usize = phrases.iter().map(|p| phoneme_blocks::spans(p).len()).sum();
                prop_assert!(blocks >= whole, "{phrases:?} broke a block of {text:?}");
                let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
                let kept = squash(&phrases.concat());
                let mut out = kept.chars().peekable();
                for c in squash(&text).chars() {
                    if out.peek() == Some(&c) {
                        out.next();
                    } else {
                        prop_assert!(ENDERS.contains(&c) || CLOSERS.contains(&c), "{c:?} lost");
                    }
                }
            }
        }

        /// However the text is chunked, no character except whitespace is lost or reordered, the phrases are
        /// the same as for the whole text at once, and none is longer than `max_chars` and a closing run.
        #[test]
        fn chunking_never_loses_text(text in "[a-zA-Z .,!?;:\n0-9'…“”\u{a0}\u{202f}\u{3000}。，あ]{0,400}", cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= text.len() && text.is_char_boundary(c)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts { chunks.push(&text[last..c]); last = c; }
            chunks.push(&text[last..]);
            // Chunks in quick succession, and with a pause after each that releases a held `.`.
            for paused in [false, true] {
                let phrases = streamed(&chunks, paused);
                prop_assert!(phrases.iter().all(|(_, p)| p.chars().count() <= 250 + LOOKAHEAD));
                let streamed: String = phrases.into_iter().map(|(_, p)| p).collect();
                let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<Vec<char>>();
                // Every character comes out in order, but punctuation continuing a sentence already released.
                let (text, streamed) = (squash(&text), squash(&streamed));
                let mut out = streamed.iter().peekable();
                for c in &text {
                    if out.peek() == Some(&c) {
                        out.next();
                    } else {
                        prop_assert!(ENDERS.contains(c) || CLOSERS.contains(c), "{c:?} lost");
                    }
                }
                prop_assert!(out.next().is_none(), "text made up");
            }
        }
    }
}
