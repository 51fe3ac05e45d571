//! Text messages are HTML (reference `mumble.md` §2.9): the desktop client sends paragraphs,
//! `<br />`, entities and pasted images as data URIs. What the bot reads is plain text, so tags
//! and images go, entities are decoded and whitespace collapsed; what it sends is escaped.

/// Plain text from a received message: tags removed (an `<img>` with its data URI is one tag, so it
/// goes too), line-breaking tags turned into spaces, entities decoded, whitespace collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        match tag_end(&rest[open..]) {
            Some(close) => {
                // Block-level tags separate words that the HTML shows on separate lines.
                let inner = rest[open + 1..open + close].trim_start_matches('/');
                let name = inner.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
                if ["br", "p", "div", "li", "tr"].iter().any(|t| name.eq_ignore_ascii_case(t)) {
                    text.push(' ');
                }
                rest = &rest[open + close + 1..];
            }
            // An unclosed `<` is text, not a tag.
            None => {
                text.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    text.push_str(rest);
    decode_entities(&text).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The index of the `>` closing the tag that `tag` starts with, skipping quoted attribute values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, ch) in tag.char_indices() {
        match (quote, ch) {
            (None, '>') => return Some(i),
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    None
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..].find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..=end];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((ch, end + 2))
        });
        match decoded {
            Some((ch, used)) => {
                out.push(ch);
                rest = &rest[used..];
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

/// Plain text made safe to send to a server that renders HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push_str("<br />"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn desktop_client_html_becomes_plain_text() {
        assert_eq!(
            html_to_text("<p>Hello&nbsp;&amp; <b>welcome</b>,<br />it&#39;s &#x263A; &lt;here&gt;</p>"),
            "Hello & welcome, it's ☺ <here>"
        );
        assert_eq!(html_to_text(r#"look <img src="data:image/png;base64,AAAA>"/> here"#), "look here");
        assert_eq!(html_to_text("a<br>b<br/>c<BR />d"), "a b c d");
        assert_eq!(html_to_text("1 < 2 & 3 &bogus; &#xZZ;"), "1 < 2 & 3 &bogus; &#xZZ;");
    }

    #[test]
    fn escaping_round_trips() {
        let text = "if a < b && c > d";
        assert_eq!(escape_html(text), "if a &lt; b &amp;&amp; c &gt; d");
        assert_eq!(html_to_text(&escape_html(text)), text);
    }

    proptest! {
        #[test]
        fn never_panics_and_plain_words_survive(s in ".{0,200}") {
            let _ = html_to_text(&s);
            let words: String = s.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
            let expected = words.split_whitespace().collect::<Vec<_>>().join(" ");
            prop_assert_eq!(html_to_text(&escape_html(&words)), expected);
        }
    }
}
