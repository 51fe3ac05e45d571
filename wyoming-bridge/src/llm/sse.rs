//! Server-sent events, sans-IO: bytes in (in whatever pieces the network delivers), events out.
//!
//! Only what OpenAI-compatible servers send is interpreted (reference `llm-streaming.md` §10):
//! - lines end in `\n` or `\r\n` (a lone `\r` is not a line end: no chat server sends one, and
//!   supporting it would make a `\r` at the end of a read ambiguous);
//! - a line starting with `:` is a comment (llama.cpp's `: ping`) and is ignored;
//! - `data:` lines (one optional space after the colon) accumulate and are joined with `\n`; a blank
//!   line dispatches them as one event;
//! - llama.cpp builds up to about September 2025 sent mid-stream errors as a non-standard `error:`
//!   field: it becomes [`SseEvent::Error`];
//! - `event:`, `id:`, `retry:` and unknown fields are ignored, never fatal;
//! - `data: [DONE]` ends the stream; everything after it is ignored.
//!
//! Bytes are buffered until a line is complete and an event is decoded as UTF-8 only once whole,
//! because a multi-byte character (an emoji) can be split between two reads. Invalid UTF-8 is
//! replaced, not fatal: one bad byte must not end a spoken reply.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The joined `data:` lines of one event (a JSON chunk for chat completions).
    Data(String),
    /// llama.cpp's legacy `error:` field.
    Error(String),
    /// `data: [DONE]`: the server finished normally.
    Done,
}

/// The incremental parser. Feed it with [`SseParser::push`], then call [`SseParser::finish`] at EOF.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, incomplete line.
    line: Vec<u8>,
    /// `data:` payloads of the current event, already joined with `\n`.
    data: Option<Vec<u8>>,
    /// `error:` payloads of the current event.
    error: Option<Vec<u8>>,
    done: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `[DONE]` has been seen. After EOF, `false` means the stream was cut short.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds the next bytes; returns the events they complete, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while !self.done && !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.line.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.line_complete(&line, &mut out);
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
        out
    }

    /// Ends the input (EOF). Some servers end with `data: [DONE]` and no newline or blank line:
    /// that is accepted. An event whose last line is complete but that lacks its blank line is
    /// dispatched too; a partial last line (cut mid-line) is dropped, since its JSON would be
    /// truncated anyway. Check [`SseParser::is_done`] afterwards.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let partial = std::mem::take(&mut self.line);
        let partial = partial.strip_suffix(b"\r").unwrap_or(&partial);
        self.dispatch(&mut out);
        if !self.done && field_value(partial, b"data") == Some(b"[DONE]".as_slice()) {
            self.done = true;
            out.push(SseEvent::Done);
        }
        out
    }

    fn line_complete(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
        } else if line[0] == b':' {
            // A comment.
        } else if let Some(value) = field_value(line, b"data") {
            append(&mut self.data, value);
        } else if let Some(value) = field_value(line, b"error") {
            append(&mut self.error, value);
        }
        // `event:`, `id:`, `retry:` and anything else: ignored.
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if let Some(error) = self.error.take() {
            out.push(SseEvent::Error(String::from_utf8_lossy(&error).into_owned()));
        }
        if let Some(data) = self.data.take() {
            if data == b"[DONE]" {
                self.done = true;
                out.push(SseEvent::Done);
            } else {
                out.push(SseEvent::Data(String::from_utf8_lossy(&data).into_owned()));
            }
        }
    }
}

/// The value of `name: value` / `name:value` / a bare `name` line, or `None` for another field.
fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let value = rest.strip_prefix(b":")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

fn append(buffer: &mut Option<Vec<u8>>, value: &[u8]) {
    match buffer {
        Some(existing) => {
            existing.push(b'\n');
            existing.extend_from_slice(value);
        }
        None => *buffer = Some(value.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8]) -> (Vec<SseEvent>, bool) {
        let mut parser = SseParser::new();
        let mut events = parser.push(bytes);
        events.extend(parser.finish());
        (events, parser.is_done())
    }

    #[test]
    fn data_lines_comments_and_done() {
        let input = b": ping\n\ndata: {\"a\":1}\n\ndata:{\"b\":2}\n\nevent: x\nid: 3\nretry: 10\n\ndata: [DONE]\n\ndata: late\n\n";
        let (events, done) = parse_all(input);
        assert_eq!(
            events,
            vec![SseEvent::Data("{\"a\":1}".into()), SseEvent::Data("{\"b\":2}".into()), SseEvent::Done]
        );
        assert!(done);
    }

    #[test]
    fn crlf_and_multi_line_data() {
        let (events, _) = parse_all(b"data: one\r\ndata: two\r\n\r\ndata:\r\n\r\n");
        assert_eq!(events, vec![SseEvent::Data("one\ntwo".into()), SseEvent::Data(String::new())]);
    }

    #[test]
    fn only_one_space_is_stripped() {
        let (events, _) = parse_all(b"data:  x\n\n");
        assert_eq!(events, vec![SseEvent::Data(" x".into())]);
    }

    #[test]
    fn legacy_error_field() {
        let (events, done) = parse_all(b"data: {\"x\":1}\n\nerror: {\"message\":\"boom\"}\n\n");
        assert_eq!(events, vec![SseEvent::Data("{\"x\":1}".into()), SseEvent::Error("{\"message\":\"boom\"}".into())]);
        assert!(!done);
    }

    #[test]
    fn done_at_eof_without_newline() {
        let (events, done) = parse_all(b"data: a\n\ndata: [DONE]");
        assert_eq!(events, vec![SseEvent::Data("a".into()), SseEvent::Done]);
        assert!(done);
        let (events, done) = parse_all(b"data: a\n\ndata: [DONE]\n");
        assert_eq!(events, vec![SseEvent::Data("a".into()), SseEvent::Done]);
        assert!(done);
    }

    #[test]
    fn eof_without_done_is_visible() {
        let (events, done) = parse_all(b"data: a\n\ndata: b\n");
        assert_eq!(events, vec![SseEvent::Data("a".into()), SseEvent::Data("b".into())]);
        assert!(!done);
        // A line cut in the middle is dropped, not parsed.
        let (events, done) = parse_all(b"data: a\n\ndata: {\"cho");
        assert_eq!(events, vec![SseEvent::Data("a".into())]);
        assert!(!done);
    }

    #[test]
    fn utf8_split_across_pushes() {
        let text = "data: caf\u{e9} \u{1f600}\n\n".as_bytes();
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for byte in text {
            events.extend(parser.push(std::slice::from_ref(byte)));
        }
        assert_eq!(events, vec![SseEvent::Data("caf\u{e9} \u{1f600}".into())]);
    }

    fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[ -~]{0,12}".prop_map(|s| format!("data: {s}")),
            "[ -~]{0,8}".prop_map(|s| format!("data:{s}")),
            "[a-z ]{0,8}".prop_map(|s| format!(": {s}")),
            "[a-z]{0,8}".prop_map(|s| format!("error: {s}")),
            Just("event: message".to_string()),
            Just("data: caf\u{e9} \u{1f600}".to_string()),
            Just(String::new()),
            Just("data: [DONE]".to_string()),
        ];
        (proptest::collection::vec(line, 0..30), any::<bool>()).prop_map(|(lines, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            lines.iter().map(|l| format!("{l}{eol}")).collect::<String>().into_bytes()
        })
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(
            input in stream_strategy(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = parse_all(&input);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            points.sort_unstable();
            let mut parser = SseParser::new();
            let mut events = Vec::new();
            let mut start = 0;
            for point in points {
                events.extend(parser.push(&input[start..point]));
                start = point;
            }
            events.extend(parser.push(&input[start..]));
            events.extend(parser.finish());
            prop_assert_eq!((events, parser.is_done()), whole);
        }

        #[test]
        fn crlf_and_lf_are_equivalent(input in stream_strategy()) {
            let lf: Vec<u8> = String::from_utf8(input.clone()).unwrap().replace("\r\n", "\n").into_bytes();
            let crlf: Vec<u8> = String::from_utf8(lf.clone()).unwrap().replace('\n', "\r\n").into_bytes();
            prop_assert_eq!(parse_all(&lf), parse_all(&crlf));
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_all(&input);
        }
    }
}
