//! Text made fit for speech: markup, emoji and symbols that would be read aloud as noise are removed.
//!
//! LLM replies arrive with Markdown (`**bold**`, `# headings`, `` `code` ``, `[links](url)`), HTML tags and
//! emoji. espeak-ng would spell some of these out ("asterisk") or stumble on them; the listener wants the
//! words only. Pure and conservative: letters, digits and normal punctuation are never touched.

/// Whether a phrase has anything to say after sanitising.
pub fn is_speakable(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Removes markup and unspeakable symbols, and collapses whitespace (lines are joined with spaces). `<` and `>`
/// outside HTML tags and Markdown quotes are kept: in `a < b` they are words, which espeak-ng says in the
/// voice's language, as wyoming-piper does.
pub fn sanitize(text: &str) -> String {
    let text = strip_links(text);
    let text = strip_tags(&text);
    let text = unbracket_names(&text);
    let text = strip_quote_marks(&text);
    let text = symbols_as_signs(&text);
    let mut out = String::with_capacity(text.len());
    // Whether markup or a symbol was dropped since the last word: `*it*.` and `Great 🎉.` end in `it.` and
    // `Great.`, not with a space before the period.
    let mut dropped = false;
    for c in text.chars() {
        let c = match c {
            '*' | '_' | '`' | '#' | '~' | '|' | '^' | '\\' | '{' | '}' => {
                dropped = true;
                ' '
            }
            '\u{200B}'..='\u{200F}' | '\u{FE00}'..='\u{FE0F}' | '\u{2060}' => continue,
            c if is_pictograph(c) => {
                dropped = true;
                ' '
            }
            c if c.is_control() => ' ',
            c => c,
        };
        if c.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        } else {
            if dropped && matches!(c, '.' | ',' | '!' | '?' | ';' | ':') && out.ends_with(' ') {
                out.pop();
            }
            dropped = false;
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

/// `[text](url)` → `text`; a bare `http(s)://…` is read as its host ([`url_as_host`]). A `](url)` alone is
/// dropped: it ends the phrase holding the second half of a link whose text was cut at a sentence end
/// (`[The guide. It has pictures](url)`), as the phrase splitter sees the text before links are removed. The
/// `[` left in the first half is silent.
fn strip_links(text: &str) -> String {
    let text = strip_link_tails(text);
    let text = text.as_str();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find("](").and_then(|mid| after[mid + 2..].find(')').map(|close| (mid, mid + 2 + close))) {
            Some((mid, close)) if !after[..mid].contains(['\n', ']']) => {
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
    out.split(' ').map(url_as_host).collect::<Vec<_>>().join(" ")
}

/// A bare URL is read as its host and port: `https://example.com/help?id=42.` → `example.com.`. The scheme, path
/// and query are noise when spoken, but dropping the whole URL left sentences such as "Visit for details."
/// Brackets or quotes around it and the punctuation after it stay, but not a Markdown autolink's `<…>`.
fn url_as_host(word: &str) -> std::borrow::Cow<'_, str> {
    const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'', '”', '’', '>'];
    // The first scheme: `https://web.archive.org/web/2020/http://example.com` is one URL.
    let Some(start) = ["http://", "https://"].iter().filter_map(|scheme| word.find(scheme)).min() else {
        return word.into();
    };
    let (lead, url) = word.split_at(start);
    if lead.chars().any(char::is_alphanumeric) {
        return word.into();
    }
    let body = url.trim_end_matches(TRAILING);
    let tail = &url[body.len()..];
    let (lead, tail) = match (lead.strip_suffix('<'), tail.strip_prefix('>')) {
        (Some(lead), Some(tail)) => (lead, tail),
        _ => (lead, tail),
    };
    let rest = body.split_once("://").map_or("", |(_, rest)| rest);
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    format!("{lead}{host}{tail}").into()
}

/// HTML elements LLMs write into replies; `<Enter>` or `a<b and c>d` are text, not tags.
#[rustfmt::skip]
const HTML_TAGS: &[&str] = &[
    "a", "abbr", "article", "aside", "b", "blockquote", "br", "button", "caption", "center", "cite", "code", "dd",
    "del", "details", "div", "dl", "dt", "em", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "i", "img", "input", "ins", "kbd", "label", "li", "main", "mark", "nav", "ol", "p", "pre", "q",
    "s", "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "think", "tr", "tt", "u", "ul", "var",
];

/// Attributes written without a value (`<details open>`).
const BARE_ATTRIBUTES: &[&str] =
    &["open", "nowrap", "hidden", "disabled", "checked", "selected", "readonly", "required", "autofocus", "controls"];

/// Whether `inner` (between `<` and `>`) is an HTML tag or comment: `/`, a known element name, then attributes
/// (`name="a b"`, `name=value`, or a known bare one) and perhaps a `/`. `<b and c>` is not a tag.
fn is_tag(inner: &str) -> bool {
    if inner.starts_with("!--") {
        return inner.ends_with("--");
    }
    let inner = inner.strip_prefix('/').unwrap_or(inner).trim_end();
    let inner = inner.strip_suffix('/').unwrap_or(inner).trim_end();
    let (name, mut rest) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
    if !HTML_TAGS.contains(&name.to_ascii_lowercase().as_str()) {
        return false;
    }
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return true;
        }
        let end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let (attribute, after) = rest.split_at(end);
        let valid_name = !attribute.is_empty()
            && attribute.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'));
        if !valid_name {
            return false;
        }
        let Some(value) = after.strip_prefix('=') else {
            if !BARE_ATTRIBUTES.contains(&attribute.to_ascii_lowercase().as_str()) {
                return false;
            }
            rest = after;
            continue;
        };
        rest = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => match value[1..].find(quote) {
                Some(close) => &value[close + 2..],
                None => return false,
            },
            Some(_) => value.trim_start_matches(|c: char| !c.is_whitespace()),
            None => return false,
        };
    }
}

/// Removes each `](target)` whose target has no whitespace: the end of a link whose `[` is in an earlier phrase.
fn strip_link_tails(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let target = &rest[at + 2..];
        // A `[` still open before it makes this a whole link, for `strip_links`.
        let whole = rest[..at].rfind('[').is_some_and(|open| !rest[open..at].contains(']'));
        match target.find(|c: char| c == ')' || c.is_whitespace()) {
            Some(end) if end > 0 && target[end..].starts_with(')') && !whole => {
                out.push_str(&rest[..at]);
                rest = &target[end + 1..];
            }
            _ => {
                out.push_str(&rest[..at + 2]);
                rest = target;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Drops HTML tags and comments ([`is_tag`]); other text between `<` and `>` is kept.
fn strip_tags(text: &str) -> String {
    rewrite_angle_spans(text, |inner| is_tag(inner).then_some(" "))
}

/// `<Enter>` → `Enter`: a single word in angle brackets is a key or placeholder name, not a comparison.
fn unbracket_names(text: &str) -> String {
    let is_name = |inner: &str| !inner.is_empty() && inner.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    rewrite_angle_spans(text, |inner| is_name(inner).then_some(inner))
}

/// Each `<…>` span (without a `<` inside) for which `replace` has a replacement is replaced by it; the rest is
/// kept as it is.
fn rewrite_angle_spans(text: &str, replace: impl Fn(&str) -> Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let span = after.find('>').filter(|&close| !after[..close].contains('<'));
        match span.and_then(|close| replace(&after[..close]).map(|with| (close, with))) {
            Some((close, with)) => {
                out.push_str(&rest[..open]);
                out.push_str(with);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Drops Markdown quote marks (`>` opening a line).
fn strip_quote_marks(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            // A quote mark is `>` before a space or another `>`; `>5 items` is text.
            let quote = body.starts_with("> ") || body.starts_with(">>") || body == ">";
            let body = if quote { body.trim_start_matches(['>', ' ']) } else { body };
            format!("{indent}{body}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `*` of a multiplication becomes `×`, and the `#` of `C#` or `F#` becomes `♯`, so that espeak-ng says
/// "times" and "sharp" in the voice's own language ("mal", "Kreuz" in German). Every other `*` and `#` is
/// Markdown (emphasis, bullets, headings) or a hashtag and is dropped with the rest of the markup; before,
/// `5 * 3` was read "five three" and `C#` "C". A multiplication is a lone `*` between digits (`2*3`), or
/// between spaces inside a line with a word, number or bracket on each side (`x * y`, `(a + b) * 2`), which
/// Markdown emphasis never is.
fn symbols_as_signs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .map(|i| match chars[i] {
            '*' if is_multiplication(&chars, i) => '×',
            '#' if is_sharp(&chars, i) => '♯',
            c => c,
        })
        .collect()
}

fn is_multiplication(chars: &[char], i: usize) -> bool {
    let blank = |c: &char| matches!(c, ' ' | '\t');
    let before = chars[..i].iter().rev().find(|c| !blank(c));
    let after = chars[i + 1..].iter().find(|c| !blank(c));
    let spaced_before = i > 0 && blank(&chars[i - 1]);
    let spaced_after = chars.get(i + 1).is_some_and(blank);
    // The operands: a number or a bracket on one side (`5 * x`, `(a + b) * 2`), or single letters on both
    // (`x * y`). Two words (`eggs * milk`) are an inline list with Markdown bullets, not a product.
    let word_before: String = {
        let end = chars[..i].iter().rposition(|c| !blank(c)).map_or(0, |p| p + 1);
        let start = chars[..end].iter().rposition(|c| !c.is_alphanumeric()).map_or(0, |p| p + 1);
        chars[start..end].iter().collect()
    };
    let word_after: String =
        chars[i + 1..].iter().skip_while(|c| blank(c)).take_while(|c| c.is_alphanumeric()).collect();
    let numeric = |w: &str| w.chars().next().is_some_and(|c| c.is_ascii_digit());
    let letter = |w: &str| w.chars().count() == 1;
    match (before, after) {
        (Some(&b), Some(&a)) if spaced_before && spaced_after => {
            let operands = (b.is_alphanumeric() || b == ')') && (a.is_alphanumeric() || a == '(');
            let bracketed = b == ')' || a == '(';
            operands
                && (bracketed
                    || numeric(&word_before)
                    || numeric(&word_after)
                    || (letter(&word_before) && letter(&word_after)))
        }
        (Some(b), Some(a)) if !spaced_before && !spaced_after => b.is_ascii_digit() && a.is_ascii_digit(),
        _ => false,
    }
}

/// `C#`, `F#`, and chords (`C#m`, `F#7`): a note letter standing alone before the `#`.
fn is_sharp(chars: &[char], i: usize) -> bool {
    let note = i > 0 && matches!(chars[i - 1], 'A'..='G') && (i < 2 || !chars[i - 2].is_alphanumeric());
    let after: String = chars[i + 1..].iter().take_while(|c| c.is_alphanumeric()).collect();
    let chord = after.chars().all(|c| c.is_ascii_digit())
        || ["m", "maj", "min", "dim", "aug", "sus"]
            .iter()
            .any(|q| after.strip_prefix(q).is_some_and(|r| r.chars().all(|c| c.is_ascii_digit())));
    note && chord
}

/// Emoji and pictographic symbols (the blocks LLMs use), which espeak-ng reads as their Unicode names or not
/// at all. The musical ♭ ♮ ♯ are words ("flat", "natural", "sharp").
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x266C | 0x2670..=0x27BF | 0x2B00..=0x2BFF | 0x2190..=0x21FF
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
        assert_eq!(sanitize("see https://example.com now"), "see example.com now");
        assert_eq!(sanitize("Visit https://example.com/help?id=42 for details."), "Visit example.com for details.");
        assert_eq!(
            sanitize("Open http://192.168.1.10:8123/lovelace, then log in."),
            "Open 192.168.1.10:8123, then log in."
        );
        assert_eq!(sanitize("See https://example.com."), "See example.com.");
        assert_eq!(sanitize("(https://user@host.org/x) and \"http://a.b\"."), "(host.org) and \"a.b\".");
        assert_eq!(sanitize("xhttps://odd and https:// alone"), "xhttps://odd and alone");
        assert_eq!(sanitize("See https://web.archive.org/web/2020/http://example.com/x."), "See web.archive.org.");
        assert_eq!(sanitize("Docs: <https://example.com/docs>."), "Docs: example.com.");
        assert_eq!(sanitize("3 < 4 and x_y"), "3 < 4 and x y");
    }

    #[test]
    fn angle_brackets_that_are_not_tags_are_kept() {
        assert_eq!(sanitize("If a<b and c>d then stop."), "If a<b and c>d then stop.");
        assert_eq!(sanitize("x >= y"), "x >= y");
        assert_eq!(sanitize("Use the <Enter> key."), "Use the Enter key.");
        assert_eq!(sanitize("<p class=\"x\">Hi<br/>there</p><!-- note -->"), "Hi there");
        assert_eq!(sanitize("> quoted\n>> twice\nnot > quoted"), "quoted twice not > quoted");
        assert_eq!(sanitize(">5 items left"), ">5 items left");
        for tag in [
            "<span style=\"color: red\">Warning</span>",
            "<img src=\"a.png\" alt=\"a black cat\">Warning",
            "<details open>Warning</details>",
            "<td colspan=2 nowrap>Warning</td>",
            "<think>Warning</think>",
        ] {
            assert_eq!(sanitize(tag), "Warning", "{tag}");
        }
        assert_eq!(sanitize("<a href=\"x>Warning"), "<a href=\"x>Warning", "an unclosed quote is not a tag");
    }

    #[test]
    fn a_link_cut_at_a_sentence_end_reads_its_text_not_its_url() {
        let text = "Look at [the short guide. It has pictures](https://example.com/guide) today.";
        let mut splitter = crate::text::split::PhraseSplitter::new(Default::default());
        let mut phrases = splitter.push(text);
        phrases.extend(splitter.finish());
        assert!(phrases.len() > 1, "{phrases:?}");
        let said: Vec<String> = phrases.iter().map(|p| sanitize(p)).collect();
        assert_eq!(
            said.join(" ").replace(['[', ']'], ""),
            "Look at the short guide. It has pictures today.",
            "{said:?}"
        );
        // Brackets that are not a link's stay words.
        assert_eq!(sanitize("f(x) = [a] and g](y) but h](y z)"), "f(x) = [a] and g but h](y z)");
        assert_eq!(sanitize("[x](y)"), "x");
    }

    #[test]
    fn multiplication_and_sharps_are_signs_other_stars_and_hashes_are_markup() {
        for (text, said) in [
            ("5 * 3 = 15", "5 × 3 = 15"),
            ("2*3*4", "2×3×4"),
            ("(a + b) * 2", "(a + b) × 2"),
            ("x * y", "x × y"),
            ("3 * x and x * 2", "3 × x and x × 2"),
            ("eggs * milk * bread", "eggs milk bread"),
            ("**5 * 3** is *15*", "5 × 3 is 15"),
            ("I *really* mean *it*.", "I really mean it."),
            ("Items:\n* eggs\n* milk", "Items: eggs milk"),
            ("Note* below", "Note below"),
            ("Learn C# or F#, in C#.", "Learn C♯ or F♯, in C♯."),
            ("A prelude in C# minor and B♭ major.", "A prelude in C♯ minor and B♭ major."),
            ("# ABC#\nissue #42 #rust", "ABC issue 42 rust"),
            ("H# and C#m7, F#7 or C#major", "H and C♯m7, F♯7 or C major"),
            ("Great 🎉. Done ✅!", "Great. Done!"),
        ] {
            assert_eq!(sanitize(text), said, "{text}");
        }
    }

    #[test]
    fn only_symbols_is_not_speakable() {
        assert!(!is_speakable(&sanitize("🎉🎉 ✨ <br/> **")));
        assert!(is_speakable(&sanitize("héllo, 42")));
        assert_eq!(sanitize("héllo, wörld — ok?"), "héllo, wörld — ok?");
    }
}
