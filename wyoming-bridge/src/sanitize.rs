//! Text for the TTS voice: what a model writes for a screen, made speakable.
//!
//! Applied per phrase by the [`crate::chunker::PhraseChunker`] (and usable on any whole reply). It
//! keeps the Python bot's removals (reference `original-bot.md` §9.1) with its quirk fixes (§14
//! row 16): HTML entities are decoded; every emoji (the `Extended_Pictographic` blocks, plus the
//! joiners, variation selectors, keycaps, skin tones and tag characters that compose them) is
//! removed, not only the Python bot's nine ranges; only a leading `<bot display name>:` is stripped
//! (any number of words), not any single word before a colon (`Note: …` stays). Beyond the Python
//! bot: markdown links and images keep their text, URLs are reduced to their host (`example.com`),
//! fenced code blocks are dropped and inline code keeps its content, list bullets are removed.
//!
//! Padding (the Python bot's "append `...` until 20 characters") is separate, in [`pad_for_tts`],
//! because it exists only for an in-process vocoder bug and must never reach history or the echo
//! filter (§14 row 15).

/// Options that depend on who is speaking.
#[derive(Debug, Clone, Default)]
pub struct SpeechOptions {
    /// The bot's display name; a reply starting with `Name:` has it removed.
    pub bot_name: Option<String>,
}

/// Makes `text` speakable. `reply_start` says whether it is the start of a reply, where a leading
/// `[11:40 AM]` clock and the bot's own `Name:` are removed. The result may be empty.
pub fn sanitize_for_speech(text: &str, reply_start: bool, options: &SpeechOptions) -> String {
    let text = decode_entities(text);
    let text = drop_fenced_code(&text);
    let text = markdown_links(&text);
    let text = replace_urls(&text);
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            // Emphasis marks hug words (`**Sure**,`): removing them keeps the comma in place.
            '*' | '`' | '#' | '~' => {}
            // `snake_case` reads better as two words; `_italic_` marks just go.
            '_' => {
                let word = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|c| c.is_alphanumeric());
                if word(i.checked_sub(1)) && word(Some(i + 1)) {
                    out.push(' ');
                }
            }
            '|' | '<' | '>' | '[' | ']' | '{' | '}' => out.push(' '),
            '\u{2014}' | '\u{2013}' => out.push(' '),
            c if is_emoji_part(c) => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    let out = collapse_dashes(&out);
    let mut words: Vec<&str> = out.split_whitespace().collect();
    // List bullets left at the start of a line (the chunker cuts at newlines).
    while words.first().is_some_and(|w| matches!(*w, "-" | "+" | "\u{2022}")) {
        words.remove(0);
    }
    let mut out = words.join(" ");
    if reply_start {
        out = strip_reply_prefix(&out, options);
    }
    out
}

/// Pads text shorter than `min_chars` with `...`, as the Python bot did before synthesis. Only for
/// TTS voices that need it; never store the padded text.
pub fn pad_for_tts(text: &str, min_chars: usize) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    while !out.is_empty() && out.chars().count() < min_chars {
        out.push_str("...");
    }
    out
}

/// Whether `c` is (part of) an emoji: `Extended_Pictographic` blocks, regional indicators, skin
/// tones, ZWJ, variation selectors, the combining keycap and tag characters.
pub fn is_emoji_part(c: char) -> bool {
    matches!(c as u32,
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139
        | 0x2194..=0x2199 | 0x21A9..=0x21AA | 0x231A..=0x231B | 0x2328 | 0x2388 | 0x23CF
        | 0x23E9..=0x23F3 | 0x23F8..=0x23FA | 0x24C2 | 0x25AA..=0x25AB | 0x25B6 | 0x25C0
        | 0x25FB..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935 | 0x2B05..=0x2B07 | 0x2B1B..=0x2B1C
        | 0x2B50 | 0x2B55 | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x1F000..=0x1FAFF | 0x1FC00..=0x1FFFD
        | 0x200D | 0xFE0E | 0xFE0F | 0x20E3 | 0xE0020..=0xE007F)
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric references.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes ```` ``` ```` fenced blocks (an unclosed one runs to the end).
fn drop_fenced_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split("```").enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else {
            out.push(' ');
        }
    }
    out
}

/// `[text](url)` → `text`, `![alt](url)` → `alt`.
fn markdown_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else { break };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else { break };
        let label = &rest[open + 1..close];
        if label.contains('[') || rest[close + 2..end].contains(char::is_whitespace) {
            out.push_str(&rest[..open + 1]);
            rest = &rest[open + 1..];
            continue;
        }
        out.push_str(rest[..open].strip_suffix('!').unwrap_or(&rest[..open]));
        out.push_str(label);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `https://www.example.com/a/b?c` → `example.com`.
fn replace_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let lower = word.to_ascii_lowercase();
        let start = ["https://", "http://"].iter().find_map(|p| lower.find(p).map(|at| (at, p.len())));
        match start {
            Some((at, len)) => {
                let after = &word[at + len..];
                let host_end = after.find(['/', '?', '#', ')', ']', '>', '"', '\'']).unwrap_or(after.len());
                let host = &after[..host_end];
                let host = host.strip_prefix("www.").unwrap_or(host);
                // Keep trailing sentence punctuation that followed the URL.
                let tail: String =
                    word.chars().rev().take_while(|c| matches!(c, '.' | ',' | '!' | '?' | ';' | ':')).collect();
                out.push_str(&word[..at]);
                out.push_str(host.trim_end_matches(['.', ',', '!', '?', ';', ':']));
                out.extend(tail.chars().rev());
            }
            None => out.push_str(word),
        }
    }
    out
}

/// `--` and longer runs, and a hyphen standing alone, become spaces; `555-1234` stays.
fn collapse_dashes(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c == '-'))
        .map(|w| {
            if w.contains("--") {
                w.split("--").filter(|p| !p.is_empty()).map(|p| p.trim_matches('-')).collect::<Vec<_>>().join(" ")
            } else {
                w.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Removes a leading `[11:40 AM]` and a leading `<bot name>:`.
fn strip_reply_prefix(text: &str, options: &SpeechOptions) -> String {
    let mut rest = text.trim_start();
    if let Some(after) = strip_clock(rest) {
        rest = after.trim_start();
    }
    if let Some(name) = options.bot_name.as_deref().map(str::trim).filter(|n| !n.is_empty())
        && rest.len() > name.len()
        && rest.is_char_boundary(name.len())
        && rest[..name.len()].eq_ignore_ascii_case(name)
        && rest[name.len()..].starts_with(':')
    {
        rest = rest[name.len() + 1..].trim_start();
    }
    rest.to_owned()
}

/// The text after a leading clock time such as `[11:40 AM]`, `[9:05]` or `[11:40 pm]`. Brackets were
/// already turned into spaces by the sanitiser, so the bare form is matched.
fn strip_clock(text: &str) -> Option<&str> {
    let mut words = text.splitn(2, ' ');
    let clock = words.next()?;
    let (h, m) = clock.split_once(':')?;
    let valid = (1..=2).contains(&h.len())
        && m.len() == 2
        && h.chars().all(|c| c.is_ascii_digit())
        && m.chars().all(|c| c.is_ascii_digit());
    if !valid {
        return None;
    }
    let rest = words.next().unwrap_or("");
    for suffix in ["AM", "PM", "am", "pm", "Am", "Pm"] {
        if let Some(after) = rest.strip_prefix(suffix)
            && (after.is_empty() || after.starts_with(' '))
        {
            return Some(after);
        }
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(text: &str) -> String {
        sanitize_for_speech(text, true, &SpeechOptions { bot_name: Some("Microsoft Sam".into()) })
    }

    #[test]
    fn python_bot_removals() {
        assert_eq!(s("[11:40 AM] Hi"), "Hi");
        assert_eq!(s("\u{1f604} Okay"), "Okay");
        assert_eq!(s("**Bold** and _it_, snake_case"), "Bold and it, snake case");
        assert_eq!(s("Click [here]"), "Click here");
        assert_eq!(s("# Heading"), "Heading");
        assert_eq!(s("one -- two \u{2014} three - four"), "one two three four");
        assert_eq!(s("call 555-1234, well-known"), "call 555-1234, well-known");
        assert_eq!(s("  spaced \n\n out  "), "spaced out");
        assert_eq!(s("It's fine, isn't it? Yes!"), "It's fine, isn't it? Yes!");
    }

    #[test]
    fn quirk_fixes() {
        // Only our own name is stripped, with any number of words; `Note:` stays.
        assert_eq!(s("Microsoft Sam: sure thing"), "sure thing");
        assert_eq!(s("microsoft sam:sure"), "sure");
        assert_eq!(s("Note: it rains"), "Note: it rains");
        // Only at the start of a reply.
        assert_eq!(sanitize_for_speech("Microsoft Sam: x", false, &SpeechOptions::default()), "Microsoft Sam: x");
        // All emoji, including composed ones and flags.
        assert_eq!(
            s("Family 👨\u{200d}👩\u{200d}👧 flag 🇫🇷 keycap 1\u{fe0f}\u{20e3} ok ✅"),
            "Family flag keycap 1 ok"
        );
        // Entities decoded.
        assert_eq!(s("Tom &amp; Jerry &lt;3 &#39;hi&#x27; &bogus; & more"), "Tom & Jerry 3 'hi' &bogus; & more");
    }

    #[test]
    fn links_urls_and_code() {
        assert_eq!(s("See [the docs](https://docs.rs/x) now."), "See the docs now.");
        assert_eq!(s("Go to https://www.example.com/path?q=1."), "Go to example.com.");
        assert_eq!(s("![a cat](http://x.org/cat.png)"), "a cat");
        assert_eq!(s("Run `ls -l` then:\n```sh\nrm -rf /\n```\nDone."), "Run ls -l then: Done.");
        assert_eq!(s("- first item"), "first item");
    }

    #[test]
    fn padding() {
        assert_eq!(pad_for_tts("Hi.", 20), format!("Hi.{}", ".".repeat(18)));
        assert_eq!(pad_for_tts("A long enough sentence.", 20), "A long enough sentence.");
        assert_eq!(pad_for_tts("  ", 20), "");
    }

    proptest! {
        /// Plain prose passes unchanged (up to whitespace).
        #[test]
        fn plain_prose_is_untouched(text in "[a-zA-Z0-9 .,!?']{0,80}") {
            let expected = text.split_whitespace().collect::<Vec<_>>().join(" ");
            prop_assert_eq!(sanitize_for_speech(&text, false, &SpeechOptions::default()), expected);
        }

        #[test]
        fn never_panics(text in "\\PC{0,60}") {
            let _ = sanitize_for_speech(&text, true, &SpeechOptions { bot_name: Some("Sam".into()) });
        }
    }
}
