//! Inline phonemes: `[[ həˈloʊ ]]` in a text is spoken as the symbols it holds, as piper-tts 1.8 reads it, so
//! that a Home Assistant automation written for wyoming-piper can fix a name's pronunciation the same way here.
//!
//! piper-tts cuts the text with `re.split(r"(\[\[.*?\]\])", text)`: the shortest `[[ … ]]` is a block. (The
//! regex stops at a line break, but wyoming-piper joins a request's lines with spaces first, so a block may span
//! lines; its line breaks are spaces.) Text between blocks goes to espeak-ng; a block's symbols (code points,
//! outer whitespace stripped) join the sentence they stand in: the last sentence of the text before it, and the
//! first sentence of the text after it joins them in turn. A space is kept on a side where the text next to the
//! block has one (or a line break). Markdown emphasis beside a block (`**[[ … ]]** there`) is looked through:
//! this server takes markup out of the words, where piper-tts reads the asterisks out ("asterisk"), so without
//! that the block would be joined to the next word. Written here as pure functions (the splitter also asks
//! where a block ends, so that it never cuts a phrase inside one).

use super::phonemes::Sentence;

/// One piece of a text: words for espeak-ng, or a block of phoneme symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    /// The symbols between `[[` and `]]`, outer whitespace stripped; whether the text before the block ends
    /// with a space, and whether the text after it starts with one.
    Phonemes {
        symbols: &'a str,
        space_before: bool,
        space_after: bool,
    },
}

/// Byte index just past the `]]` of a block that starts at byte `at` of `text`, if a block starts there: the
/// first `]]` after the `[[`.
pub fn block_end(text: &str, at: usize) -> Option<usize> {
    let rest = text.get(at..)?.strip_prefix("[[")?;
    Some(at + 2 + rest.find("]]")? + 2)
}

/// Byte spans of the blocks of `text`, in order.
pub fn spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("[[") {
        let start = at + found;
        // No `]]` after this `[[` means none after a later one either: the rest is text.
        let Some(end) = block_end(text, start) else { break };
        spans.push((start, end));
        at = end;
    }
    spans
}

/// Markdown emphasis next to a block, looked through when asking whether a space separates it from a word.
const EMPHASIS: &[char] = &['*', '_', '~', '`'];

/// A line break as Python's `str.splitlines` knows them: wyoming-piper joins the lines with spaces.
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// What piper-tts counts as the space beside a block (a space, or a line break wyoming-piper made one).
fn is_space(c: char) -> bool {
    c == ' ' || is_line_break(c)
}

/// `text` cut into text and phoneme blocks, as piper-tts cuts it. Empty text parts are left out.
pub fn split(text: &str) -> Vec<Part<'_>> {
    let cuts = spans(text);
    let mut parts = Vec::with_capacity(cuts.len() * 2 + 1);
    let mut last = 0;
    for &(start, end) in &cuts {
        if start > last {
            parts.push(Part::Text(&text[last..start]));
        }
        parts.push(Part::Phonemes {
            symbols: text[start + 2..end - 2].trim(),
            space_before: text[..start].trim_end_matches(EMPHASIS).ends_with(is_space),
            space_after: text[end..].trim_start_matches(EMPHASIS).starts_with(is_space),
        });
        last = end;
    }
    if last < text.len() {
        parts.push(Part::Text(&text[last..]));
    }
    parts
}

/// The sentences of `parts`: `phonemize` turns a text part into sentences of symbols (espeak-ng), and each
/// block joins the sentence it stands in, as piper-tts's `PiperVoice.phonemize` does.
pub fn sentences<E>(
    parts: &[Part<'_>],
    mut phonemize: impl FnMut(&str) -> Result<Vec<Sentence>, E>,
) -> Result<Vec<Sentence>, E> {
    let mut out: Vec<Sentence> = Vec::new();
    let mut after_block = false;
    for part in parts {
        match *part {
            Part::Phonemes { symbols, space_before, space_after } => {
                if out.is_empty() {
                    out.push(Vec::new());
                }
                let current = out.last_mut().expect("pushed above");
                if space_before {
                    current.push(" ".to_string());
                }
                // A line break in a block is a space, as wyoming-piper joins lines ("\r\n" is one).
                let mut chars = symbols.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '\r' && chars.peek() == Some(&'\n') {
                        continue;
                    }
                    current.push(if is_line_break(c) { " ".to_string() } else { c.to_string() });
                }
                if space_after {
                    current.push(" ".to_string());
                }
                after_block = true;
            }
            Part::Text(text) => {
                let mut sentences = phonemize(text)?.into_iter();
                if after_block && let (Some(current), Some(first)) = (out.last_mut(), sentences.next()) {
                    current.extend(first);
                }
                out.extend(sentences);
                after_block = false;
            }
        }
    }
    if out.last().is_some_and(Vec::is_empty) {
        out.pop();
    }
    Ok(out)
}

/// Whether `parts` hold something to say: a block with a symbol, or words that `says` finds speakable.
pub fn says_something(parts: &[Part<'_>], says: impl Fn(&str) -> bool) -> bool {
    parts.iter().any(|part| match *part {
        Part::Phonemes { symbols, .. } => !symbols.is_empty(),
        Part::Text(text) => says(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(text: &str) -> Result<Vec<Sentence>, ()> {
        // A stand-in for espeak-ng: one sentence per `.`-ended piece, its characters as symbols.
        Ok(text
            .split_inclusive('.')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().map(String::from).collect())
            .collect())
    }

    fn joined(sentences: Vec<Sentence>) -> Vec<String> {
        sentences.into_iter().map(|s| s.concat()).collect()
    }

    #[test]
    fn blocks_are_cut_as_piper_tts_cuts_them() {
        assert_eq!(
            split("Say [[ həˈloʊ ]] to all."),
            vec![
                Part::Text("Say "),
                Part::Phonemes { symbols: "həˈloʊ", space_before: true, space_after: true },
                Part::Text(" to all."),
            ]
        );
        // The shortest block; a third bracket stays text.
        assert_eq!(
            split("[[a]]]"),
            vec![Part::Phonemes { symbols: "a", space_before: false, space_after: false }, Part::Text("]")]
        );
        assert_eq!(split("[[[a]]"), vec![Part::Phonemes { symbols: "[a", space_before: false, space_after: false }]);
        // Emphasis next to a block is looked through for the spaces.
        assert_eq!(
            split("Say **[[ab]]** there"),
            vec![
                Part::Text("Say **"),
                Part::Phonemes { symbols: "ab", space_before: true, space_after: true },
                Part::Text("** there")
            ]
        );
        // Unlike piper-tts's regex, a block spans lines (wyoming-piper joins them first).
        assert_eq!(
            split("[[a\nb]] c"),
            vec![Part::Phonemes { symbols: "a\nb", space_before: false, space_after: true }, Part::Text(" c")]
        );
        assert_eq!(split("no blocks [[ here"), vec![Part::Text("no blocks [[ here")]);
        assert_eq!(block_end("x [[a]]", 2), Some(7));
        assert_eq!(block_end("x [[a]]", 0), None);
    }

    #[test]
    fn a_block_joins_the_sentence_it_stands_in() {
        let parts = split("One. Two [[ab]] three. Four.");
        assert_eq!(joined(sentences(&parts, words).unwrap()), ["One.", "Two ab three.", "Four."]);
        // Before the next sentence's text: it joins the sentence before, as in piper-tts.
        let parts = split("One. [[ab]] two.");
        assert_eq!(joined(sentences(&parts, words).unwrap()), ["One. ab two."]);
        // Alone, and two blocks side by side.
        assert_eq!(joined(sentences(&split("[[ ab ]]"), words).unwrap()), ["ab"]);
        assert_eq!(joined(sentences(&split("[[a]][[b]] c."), words).unwrap()), ["ab c."]);
        assert!(sentences(&split("[[ ]]"), words).unwrap().is_empty());
        assert_eq!(joined(sentences(&split("[[a\r\nb\rc\u{2028}d]]"), words).unwrap()), ["a b c d"]);
        // Only a space or a line break beside a block is a space, as in piper-tts (not a tab).
        assert_eq!(joined(sentences(&split("x\t[[a]]\ny."), words).unwrap()), ["xa y."]);
    }

    proptest! {
        #[test]
        fn splitting_keeps_every_character(text in "[a-z \\[\\]\n.]{0,60}") {
            let mut rebuilt = String::new();
            let parts = split(&text);
            let mut at = 0;
            for part in &parts {
                match part {
                    Part::Text(t) => { rebuilt.push_str(t); at += t.len(); }
                    Part::Phonemes { .. } => {
                        let end = block_end(&text, at).expect("a block starts where the parts say");
                        rebuilt.push_str(&text[at..end]);
                        at = end;
                    }
                }
            }
            prop_assert_eq!(rebuilt, text);
        }
    }
}
