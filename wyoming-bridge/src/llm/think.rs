//! Keeps reasoning and tool-call markup out of speech: a state machine over the concatenated
//! `content` text (reference `llm-streaming.md` §5.3).
//!
//! Works on the concatenation, not per delta, because servers split tags anywhere (`<th` + `ink>`),
//! put a whole `<think>…</think>` in one delta, or start the reply inside a think block (R1-style
//! templates open it in the prompt). The upstream Python bot's per-delta filter lost the rest of
//! the answer in the second case.
//!
//! Removed spans: `<think>…</think>` and LFM2.5's `<|tool_call_start|>…<|tool_call_end|>` (tools are
//! not offered, but a model may still print the markup). Up to one tag length of trailing text that
//! could be the start of a tag is held back until the next delta or [`ThinkFilter::finish`] decides.

const SPANS: [(&str, &str); 2] = [("<think>", "</think>"), ("<|tool_call_start|>", "<|tool_call_end|>")];
const STRAY_CLOSE: &str = "</think>";

/// The filter. Feed content deltas with [`ThinkFilter::push`]; call [`ThinkFilter::finish`] at the end.
#[derive(Debug, Default)]
pub struct ThinkFilter {
    pending: String,
    /// Inside span `SPANS[i]`.
    inside: Option<usize>,
    emitted_any: bool,
    /// Characters of hidden text dropped so far (for the log).
    hidden_chars: usize,
}

impl ThinkFilter {
    /// A filter for replies that start outside a think block (the usual case).
    pub fn new() -> Self {
        Self::default()
    }

    /// A filter for templates that open `<think>` in the prompt, so the reply starts inside it.
    pub fn starting_inside() -> Self {
        Self { inside: Some(0), ..Self::default() }
    }

    /// Characters of reasoning or markup dropped so far.
    pub fn hidden_chars(&self) -> usize {
        self.hidden_chars
    }

    /// Feeds one delta; returns the speakable text it releases (possibly empty).
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        let mut out = String::new();
        loop {
            match self.inside {
                Some(span) => {
                    let close = SPANS[span].1;
                    if let Some(at) = self.pending.find(close) {
                        self.hide(at);
                        self.pending.drain(..at + close.len());
                        self.inside = None;
                    } else {
                        let keep = held_suffix(&self.pending, &[close]);
                        self.hide(self.pending.len() - keep);
                        self.pending.drain(..self.pending.len() - keep);
                        break;
                    }
                }
                None => {
                    let opens =
                        SPANS.iter().enumerate().filter_map(|(i, (open, _))| Some((self.pending.find(open)?, i)));
                    let first_open = opens.min();
                    let stray = self.pending.find(STRAY_CLOSE);
                    match (first_open, stray) {
                        (Some((at, span)), stray) if stray.is_none_or(|s| s > at) => {
                            self.emit(at, &mut out);
                            self.pending.drain(..SPANS[span].0.len());
                            self.inside = Some(span);
                        }
                        (Some(_), None) => unreachable!("handled by the first arm"),
                        (_, Some(at)) => {
                            // A close tag with no open one: the reply began inside a think block.
                            // If nothing was spoken yet, everything before it was reasoning.
                            if self.emitted_any || !out.is_empty() {
                                self.emit(at, &mut out);
                            } else {
                                self.hide(at);
                                self.pending.drain(..at);
                            }
                            self.pending.drain(..STRAY_CLOSE.len());
                        }
                        (None, None) => {
                            let tags: Vec<&str> = SPANS.iter().map(|(open, _)| *open).chain([STRAY_CLOSE]).collect();
                            let keep = held_suffix(&self.pending, &tags);
                            self.emit(self.pending.len() - keep, &mut out);
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// Ends the stream: held-back characters that turned out not to be a tag are released; an
    /// unclosed think block is dropped.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        if self.inside.is_some() {
            self.hidden_chars += rest.chars().count();
            return String::new();
        }
        if !rest.is_empty() {
            self.emitted_any = true;
        }
        rest
    }

    fn emit(&mut self, len: usize, out: &mut String) {
        if len > 0 {
            out.extend(self.pending.drain(..len));
            self.emitted_any = true;
        }
    }

    fn hide(&mut self, len: usize) {
        self.hidden_chars += self.pending[..len].chars().count();
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of one of `tags`.
fn held_suffix(text: &str, tags: &[&str]) -> usize {
    let mut best = 0;
    for tag in tags {
        for len in (1..tag.len()).rev() {
            if len > best && text.ends_with(&tag[..len]) {
                best = len;
                break;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(filter: &mut ThinkFilter, deltas: &[&str]) -> String {
        let mut out: String = deltas.iter().map(|d| filter.push(d)).collect();
        out.push_str(&filter.finish());
        out
    }

    #[test]
    fn whole_block_in_one_delta_keeps_the_answer() {
        let mut f = ThinkFilter::new();
        assert_eq!(run(&mut f, &["<think>hmm</think>Paris is the capital."]), "Paris is the capital.");
        assert_eq!(f.hidden_chars(), 3);
    }

    #[test]
    fn tags_split_across_deltas() {
        let mut f = ThinkFilter::new();
        let deltas = ["<th", "ink", ">", "\n", "reason", "ing</", "thi", "nk>", "\n\nSure", ", it is ", "sunny."];
        assert_eq!(run(&mut f, &deltas), "\n\nSure, it is sunny.");
    }

    #[test]
    fn reply_starting_inside_a_think_block() {
        let mut f = ThinkFilter::new();
        assert_eq!(run(&mut f, &["The user wants a greeting.</think>", "Hello!"]), "Hello!");
        // Across deltas the first ones were already released: only `starting_inside` can help.
        let mut f = ThinkFilter::new();
        assert_eq!(run(&mut f, &["Thoughts.", "</think>", "Hello!"]), "Thoughts.Hello!");
        let mut f = ThinkFilter::starting_inside();
        assert_eq!(run(&mut f, &["thoughts", "</think>Hi."]), "Hi.");
    }

    #[test]
    fn stray_close_after_answer_text_is_only_removed() {
        let mut f = ThinkFilter::new();
        assert_eq!(run(&mut f, &["Hello", " there</think> friend"]), "Hello there friend");
    }

    #[test]
    fn held_back_text_is_released_at_the_end() {
        let mut f = ThinkFilter::new();
        assert_eq!(f.push("a <"), "a ");
        assert_eq!(f.push("b"), "<b");
        assert_eq!(f.push(" x <thi"), " x ");
        assert_eq!(f.finish(), "<thi");
    }

    #[test]
    fn unclosed_think_is_dropped() {
        let mut f = ThinkFilter::new();
        assert_eq!(run(&mut f, &["Ok. <think>never", " closed"]), "Ok. ");
    }

    #[test]
    fn tool_call_markup_is_removed() {
        let mut f = ThinkFilter::new();
        let out = run(&mut f, &["Let me check.<|tool_", "call_start|>[search(q=\"x\")]<|tool_call_end|> Done."]);
        assert_eq!(out, "Let me check. Done.");
    }

    proptest! {
        /// Any split of the same text gives the same output. (A stray `</think>` is left out: whether
        /// the text before it was already spoken depends, by design, on when it arrived.)
        #[test]
        fn chunking_does_not_matter(
            parts in proptest::collection::vec(prop_oneof![
                "[a-z .]{0,6}".prop_map(|s| format!("<think>{s}</think>")),
                Just("<think>".to_string()), Just("<".to_string()),
                Just("<|tool_call_start|>".to_string()), Just("<|tool_call_end|>".to_string()),
                "[a-z <>|.]{0,6}",
            ], 0..12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let text: String = parts.concat();
            let whole = run(&mut ThinkFilter::new(), &[&text]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for p in points { pieces.push(&text[start..p]); start = p; }
            pieces.push(&text[start..]);
            prop_assert_eq!(run(&mut ThinkFilter::new(), &pieces), whole);
        }

        /// Text without any `<` passes through unchanged.
        #[test]
        fn plain_text_is_untouched(text in "[^<]{0,40}", cut in any::<prop::sample::Index>()) {
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let at = boundaries[cut.index(boundaries.len())];
            prop_assert_eq!(run(&mut ThinkFilter::new(), &[&text[..at], &text[at..]]), text);
        }
    }
}
