//! One SSE `data:` payload of `/v1/chat/completions` → typed pieces, and the reply decoder that
//! turns a whole stream of them into speakable text.
//!
//! Parsed through `serde_json::Value` rather than fixed structs because every server shapes the
//! chunk differently (reference `llm-streaming.md` §3, §7): `role` may be absent, `content` missing,
//! `null` or `""`; text may ride on the finishing event or the finish may come alone; `choices` may be
//! empty (the usage event); `code` is an integer in vLLM and a string in OpenAI; unknown fields
//! (`timings`, `system_fingerprint`, `stop_reason`, `metrics`, `logprobs`) are ignored. A top-level
//! `error` key is checked before anything else.

use serde_json::Value;

use super::sse::SseEvent;
use super::think::ThinkFilter;

/// Token counts from the usage event (or from a chunk under `continuous_usage_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
}

/// An error object: the body of a failed request, or `{"error": …}` inside the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub message: String,
    /// `type` (`BadRequestError`, `invalid_request_error`, …), when given.
    pub kind: Option<String>,
    /// `code`, as a string whether the server sent a number or a string.
    pub code: Option<String>,
}

impl ApiError {
    /// Whether trying again could help: server-side or unknown failures, not bad requests.
    pub fn is_retryable(&self) -> bool {
        match self.code.as_deref().and_then(|c| c.parse::<u16>().ok()) {
            Some(code) => code == 429 || code >= 500,
            None => true,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        match (&self.kind, &self.code) {
            (Some(kind), Some(code)) => write!(f, " ({kind}, code {code})"),
            (Some(kind), None) => write!(f, " ({kind})"),
            (None, Some(code)) => write!(f, " (code {code})"),
            (None, None) => Ok(()),
        }
    }
}

/// What one payload carries, for choice 0 (the bridge never asks for `n > 1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// `delta.content`; `None` for missing, `null` and `""`.
    pub content: Option<String>,
    /// Characters of `delta.reasoning` / `delta.reasoning_content` (never spoken, only counted).
    pub reasoning_chars: usize,
    /// Whether the delta held `tool_calls` (not offered by the bridge; ignored).
    pub tool_calls: bool,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Chunk(Chunk),
    Error(ApiError),
}

/// A payload that is not JSON, or JSON of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed stream event: {0}")]
pub struct MalformedEvent(pub String);

/// Decodes one `data:` payload.
pub fn parse_payload(data: &str) -> Result<Payload, MalformedEvent> {
    let value: Value = serde_json::from_str(data).map_err(|e| MalformedEvent(format!("{e}: {}", preview(data))))?;
    let Value::Object(object) = &value else {
        return Err(MalformedEvent(format!("not an object: {}", preview(data))));
    };
    if let Some(error) = object.get("error") {
        return Ok(Payload::Error(error_from(error, &value)));
    }
    let mut chunk = Chunk { usage: object.get("usage").and_then(usage_from), ..Chunk::default() };
    let choice = match object.get("choices") {
        Some(Value::Array(choices)) => {
            choices.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        }
        None | Some(Value::Null) => None,
        Some(_) => return Err(MalformedEvent(format!("`choices` is not a list: {}", preview(data)))),
    };
    if let Some(choice) = choice {
        chunk.finish_reason = choice.get("finish_reason").and_then(Value::as_str).map(str::to_owned);
        if let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) {
            chunk.content = match delta.get("content") {
                Some(Value::String(text)) => Some(text.clone()),
                // Content as a list of parts (`[{"type": "text", "text": "…"}]`), as some gateways send.
                Some(Value::Array(parts)) => Some(
                    parts
                        .iter()
                        .filter(|p| p.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect(),
                ),
                _ => None,
            }
            .filter(|text: &String| !text.is_empty());
            chunk.reasoning_chars = ["reasoning", "reasoning_content"]
                .iter()
                .filter_map(|k| delta.get(*k).and_then(Value::as_str))
                .map(|s| s.chars().count())
                .sum();
            chunk.tool_calls = delta.get("tool_calls").is_some_and(|t| !t.is_null());
        }
    }
    Ok(Payload::Chunk(chunk))
}

/// The error of a failed request from its body: vLLM ≥ 0.10.1 and llama.cpp nest it under
/// `error`, vLLM ≤ 0.10.0 sends it flat; anything else falls back to the raw text.
pub fn parse_error_body(status: u16, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let fallback = || ApiError {
        message: if text.trim().is_empty() { format!("HTTP {status}") } else { preview(&text) },
        kind: None,
        code: Some(status.to_string()),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => match value.get("error") {
            Some(error) => error_from(error, &value),
            None if value.get("message").is_some() => error_from(&value, &value),
            None => fallback(),
        },
        Err(_) => fallback(),
    }
    .with_default_code(status)
}

impl ApiError {
    fn with_default_code(mut self, status: u16) -> Self {
        self.code.get_or_insert_with(|| status.to_string());
        self
    }
}

fn error_from(error: &Value, whole: &Value) -> ApiError {
    match error {
        Value::Object(_) => ApiError {
            message: error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| preview(&whole.to_string())),
            kind: error.get("type").and_then(Value::as_str).map(str::to_owned),
            code: match error.get("code") {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            },
        },
        Value::String(message) => ApiError { message: message.clone(), kind: None, code: None },
        other => ApiError { message: preview(&other.to_string()), kind: None, code: None },
    }
}

fn usage_from(value: &Value) -> Option<Usage> {
    if !value.is_object() {
        return None;
    }
    let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
    Some(Usage {
        prompt_tokens: number(value, "prompt_tokens"),
        completion_tokens: number(value, "completion_tokens"),
        total_tokens: number(value, "total_tokens"),
        reasoning_tokens: value.get("completion_tokens_details").and_then(|d| number(d, "reasoning_tokens")),
        cached_tokens: value.get("prompt_tokens_details").and_then(|d| number(d, "cached_tokens")),
    })
}

/// At most 200 characters of a payload, for error messages and logs.
fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// What the reply decoder gives the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyEvent {
    /// Speakable answer text, reasoning and markup removed; never empty.
    Text(String),
    /// The server said why generation stopped (`stop`, `length`, `abort`, …).
    Finish(String),
    Usage(Usage),
}

/// A stream-level failure reported by the server inside a 200 response, or an unreadable event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the server reported an error mid-stream: {0}")]
    Api(ApiError),
    #[error(transparent)]
    Malformed(#[from] MalformedEvent),
}

/// Turns SSE events of one response into [`ReplyEvent`]s: payload decoding plus the think filter.
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    think: ThinkFilter,
    reasoning_chars: usize,
    finished: bool,
}

impl ReplyDecoder {
    pub fn new(think: ThinkFilter) -> Self {
        Self { think, ..Self::default() }
    }

    /// Characters of reasoning seen (reasoning fields plus filtered `<think>` text), for the log.
    pub fn reasoning_chars(&self) -> usize {
        self.reasoning_chars + self.think.hidden_chars()
    }

    /// Decodes one SSE event. `Done` releases the think filter's held-back text.
    pub fn event(&mut self, event: SseEvent) -> Result<Vec<ReplyEvent>, StreamError> {
        let mut out = Vec::new();
        match event {
            SseEvent::Done => self.finish_into(&mut out),
            SseEvent::Error(text) => {
                let error = match serde_json::from_str::<Value>(&text) {
                    Ok(value) => error_from(value.get("error").unwrap_or(&value), &value),
                    Err(_) => ApiError { message: preview(&text), kind: None, code: None },
                };
                return Err(StreamError::Api(error));
            }
            SseEvent::Data(data) => match parse_payload(&data)? {
                Payload::Error(error) => return Err(StreamError::Api(error)),
                Payload::Chunk(chunk) => {
                    self.reasoning_chars += chunk.reasoning_chars;
                    if let Some(content) = chunk.content {
                        push_text(&mut out, self.think.push(&content));
                    }
                    if let Some(reason) = chunk.finish_reason {
                        self.finish_into(&mut out);
                        out.push(ReplyEvent::Finish(reason));
                    }
                    if let Some(usage) = chunk.usage {
                        out.push(ReplyEvent::Usage(usage));
                    }
                }
            },
        }
        Ok(out)
    }

    /// The end of the body: releases held-back text (also called for `[DONE]` and a finish reason).
    pub fn finish(&mut self) -> Vec<ReplyEvent> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    fn finish_into(&mut self, out: &mut Vec<ReplyEvent>) {
        if !self.finished {
            self.finished = true;
            push_text(out, self.think.finish());
        }
    }
}

fn push_text(out: &mut Vec<ReplyEvent>, text: String) {
    if !text.is_empty() {
        out.push(ReplyEvent::Text(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(data: &str) -> Chunk {
        match parse_payload(data).unwrap() {
            Payload::Chunk(c) => c,
            Payload::Error(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn vllm_role_chunk_is_empty() {
        let c = chunk(
            r#"{"id":"chatcmpl-9f2e","object":"chat.completion.chunk","created":1,"model":"lfm","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
        );
        assert_eq!(c, Chunk::default());
    }

    #[test]
    fn llama_cpp_role_chunk_with_null_content_and_no_content() {
        assert_eq!(
            chunk(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}],"system_fingerprint":"b1"}"#),
            Chunk::default()
        );
        assert_eq!(chunk(r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#), Chunk::default());
    }

    #[test]
    fn text_on_the_finishing_event() {
        let c = chunk(
            r#"{"choices":[{"index":0,"delta":{"content":", it is sunny."},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}"#,
        );
        assert_eq!(c.content.as_deref(), Some(", it is sunny."));
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn usage_chunk_with_details_and_timings() {
        let c = chunk(
            r#"{"choices":[],"usage":{"prompt_tokens":42,"total_tokens":49,"completion_tokens":7,"completion_tokens_details":{"reasoning_tokens":3},"prompt_tokens_details":{"cached_tokens":40}},"timings":{"prompt_n":2}}"#,
        );
        assert_eq!(
            c.usage,
            Some(Usage {
                prompt_tokens: Some(42),
                completion_tokens: Some(7),
                total_tokens: Some(49),
                reasoning_tokens: Some(3),
                cached_tokens: Some(40)
            })
        );
        assert_eq!(c.content, None);
    }

    #[test]
    fn reasoning_fields_are_counted_not_spoken() {
        let c = chunk(r#"{"choices":[{"index":0,"delta":{"role":"assistant","reasoning":"is"}}]}"#);
        assert_eq!((c.content, c.reasoning_chars), (None, 2));
        let c = chunk(r#"{"choices":[{"index":0,"delta":{"reasoning_content":"abc","content":null}}]}"#);
        assert_eq!((c.content, c.reasoning_chars), (None, 3));
    }

    #[test]
    fn content_as_a_list_of_parts() {
        let c = chunk(
            r#"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"Hi"},{"type":"image_url"},{"text":"!"}]}}]}"#,
        );
        assert_eq!(c.content.as_deref(), Some("Hi!"));
    }

    #[test]
    fn other_choice_indexes_are_ignored() {
        let c = chunk(r#"{"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}"#);
        assert_eq!(c.content.as_deref(), Some("yes"));
    }

    #[test]
    fn mid_stream_error_shapes() {
        let nested =
            parse_payload(r#"{"error":{"message":"boom","type":"InternalServerError","param":null,"code":500}}"#);
        assert_eq!(
            nested,
            Ok(Payload::Error(ApiError {
                message: "boom".into(),
                kind: Some("InternalServerError".into()),
                code: Some("500".into())
            }))
        );
        let flat_inside =
            parse_payload(r#"{"error":{"object":"error","message":"x","type":"BadRequestError","code":400}}"#);
        assert!(matches!(flat_inside, Ok(Payload::Error(e)) if !e.is_retryable()));
        let string = parse_payload(r#"{"error":"overloaded"}"#);
        assert!(matches!(string, Ok(Payload::Error(e)) if e.message == "overloaded" && e.is_retryable()));
    }

    #[test]
    fn pre_stream_error_bodies() {
        let nested = parse_error_body(
            404,
            br#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}}"#,
        );
        assert_eq!(nested.message, "The model `x` does not exist.");
        assert_eq!(nested.code.as_deref(), Some("404"));
        let flat = parse_error_body(
            400,
            br#"{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}"#,
        );
        assert_eq!((flat.message.as_str(), flat.kind.as_deref()), ("too long", Some("BadRequestError")));
        let llama = parse_error_body(
            400,
            br#"{"error":{"code":400,"message":"ctx","type":"exceed_context_size_error","n_ctx":2048}}"#,
        );
        assert_eq!(llama.kind.as_deref(), Some("exceed_context_size_error"));
        let raw = parse_error_body(502, b"Bad Gateway");
        assert_eq!((raw.message.as_str(), raw.code.as_deref()), ("Bad Gateway", Some("502")));
        assert!(raw.is_retryable());
        assert_eq!(parse_error_body(503, b"").message, "HTTP 503");
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        assert!(parse_payload("{\"choices\":[{\"delta\":").is_err());
        assert!(parse_payload("[1,2]").is_err());
        assert!(parse_payload(r#"{"choices":3}"#).is_err());
    }

    #[test]
    fn decoder_strips_think_split_across_deltas_and_releases_at_done() {
        let mut d = ReplyDecoder::new(ThinkFilter::new());
        let mut out = Vec::new();
        for data in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"<th"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"ink>hidden</think>Hi <"}}]}"#,
        ] {
            out.extend(d.event(SseEvent::Data(data.into())).unwrap());
        }
        out.extend(d.event(SseEvent::Done).unwrap());
        assert_eq!(out, vec![ReplyEvent::Text("Hi ".into()), ReplyEvent::Text("<".into())]);
        assert_eq!(d.reasoning_chars(), 6);
    }

    #[test]
    fn decoder_reports_errors() {
        let mut d = ReplyDecoder::default();
        let e = d.event(SseEvent::Data(r#"{"error":{"message":"m","code":500}}"#.into()));
        assert!(matches!(e, Err(StreamError::Api(_))));
        let e = d.event(SseEvent::Error(r#"{"message":"legacy","code":500}"#.into()));
        assert!(matches!(e, Err(StreamError::Api(a)) if a.message == "legacy"));
    }
}
