//! Text made fit for speech: markup, emoji and symbols that would be read aloud as noise are removed.
//!
//! LLM replies arrive with Markdown (`**bold**`, `# headings`, `` `code` ``, `[links](url)`), HTML tags and
//! emoji. espeak-ng would spell some of these out ("asterisk") or stumble on them; the listener wants the
//! words only. Pure and conservative: letters, digits and normal punctuation are never touched.

/// Whether a phrase has anything to say after sanitising.
pub fn is_speakable(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Removes markup and unspeakable symbols, and collapses whitespace (lines are joined with spaces).
pub fn sanitize(text: &str) -> String {
    let text = strip_links(text);
    let text = strip_tags(&text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '*' | '_' | '`' | '#' | '~' | '|' | '<' | '>' | '^' | '\\' | '{' | '}' => ' ',
            '\u{200B}'..='\u{200F}' | '\u{FE00}'..='\u{FE0F}' | '\u{2060}' => continue,
            c if is_pictograph(c) => ' ',
            c if c.is_control() => ' ',
            c => c,
        };
        if c.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

/// `[text](url)` → `text`; a bare `http(s)://…` is dropped.
fn strip_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find("](").and_then(|mid| after[mid + 2..].find(')').map(|close| (mid, mid + 2 + close))) {
            Some((mid, close)) if !after[..mid].contains('\n') => {
                out.push_str(&rest[..open]);
                out.push_str(&after[..mid]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.split(' ').filter(|w| !(w.starts_with("http://") || w.starts_with("https://"))).collect::<Vec<_>>().join(" ")
}

/// Drops `<tag …>` and `</tag>` (a `<` not followed by a tag name is kept for the symbol pass).
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let is_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match after.find('>') {
            Some(close) if is_tag && !after[..close].contains('<') => {
                out.push_str(&rest[..open]);
                out.push(' ');
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Emoji and pictographic symbols (the blocks LLMs use), which espeak-ng reads as their Unicode names or not
/// at all.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2190..=0x21FF
        | 0x2300..=0x23FF | 0x25A0..=0x25FF | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_html_and_emoji_go() {
        assert_eq!(
            sanitize("**Sure!** Here's `code` 🎉 and [the docs](https://x.y/z)."),
            "Sure! Here's code and the docs."
        );
        assert_eq!(sanitize("<b>Hello</b>\n\n# World"), "Hello World");
        assert_eq!(sanitize("see https://example.com now"), "see now");
        assert_eq!(sanitize("3 < 4 and x_y"), "3 4 and x y");
    }

    #[test]
    fn only_symbols_is_not_speakable() {
        assert!(!is_speakable(&sanitize("🎉🎉 ✨ <br/> **")));
        assert!(is_speakable(&sanitize("héllo, 42")));
        assert_eq!(sanitize("héllo, wörld — ok?"), "héllo, wörld — ok?");
    }
}
