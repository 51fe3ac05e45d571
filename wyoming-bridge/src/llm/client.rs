//! The streaming chat-completions client: one POST per reply, read as SSE, decoded into
//! [`ReplyEvent`]s.
//!
//! Why it is shaped this way (reference `llm-streaming.md` §4.3, §6, §10):
//! - **Nothing is sent until the first [`ReplyStream::next`]**, so the caller owns all the I/O in the
//!   task that polls it, and **dropping the stream cancels the request**: the body is never drained,
//!   hyper cannot reuse a half-read HTTP/1.1 connection, so it closes the socket and vLLM (or
//!   llama.cpp) aborts the generation. That is the barge-in path.
//! - **Exactly one retry, and only before the first speakable text**: a failure after text was
//!   handed out would make the user hear the beginning twice. Bad requests (4xx other than 429) are
//!   not retried, since they would fail the same way.
//! - **Three timeouts**: connect (the TCP/TLS handshake), first token (request start → first
//!   speakable text, per attempt, so a reasoning model's thinking counts against it), and idle
//!   (between two reads of the body). A timeout drops the connection like a barge-in.
//! - A server that ignores `stream: true` and answers `application/json` is read whole and decoded
//!   the same way, which also makes `llm.stream: false` work.
//! - The API key lives in an [`ApiKey`], whose `Debug` is redacted, and the header is marked
//!   sensitive; request bodies (the conversation) are logged only at `trace` level.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::ChatMessage;
use super::delta::{ApiError, ReplyDecoder, ReplyEvent, StreamError, parse_error_body};
use super::sse::SseParser;
use super::think::ThinkFilter;

/// Error bodies larger than this are cut: they are only shown in a log line.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// A non-streamed JSON answer larger than this is refused (a voice reply is a few hundred bytes).
const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// An API key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty key (the Python bot sends no header then).
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        (!key.trim().is_empty()).then(|| Self(key.trim().to_owned()))
    }

    /// The key itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Sampling fields; each is sent only when set (the Python bot's rule).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<i64>,
    pub repetition_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub seed: Option<i64>,
}

/// Everything the client needs. Defaults live in [`crate::config`]; this struct only carries them.
#[derive(Debug, Clone)]
pub struct LlmOptions {
    /// The full chat-completions URL (`http://host:port/v1/chat/completions`), as in the Python bot.
    pub endpoint: String,
    pub model: String,
    pub api_key: Option<ApiKey>,
    pub sampling: Sampling,
    /// Merged into every request body last, recursively for objects, so it can override anything
    /// (for example `chat_template_kwargs: {enable_thinking: false}` or a llama.cpp `grammar`).
    pub extra_body: Map<String, Value>,
    /// `stream: true` (the normal case); `false` asks for one JSON answer.
    pub stream: bool,
    /// Ask for the final usage event (`stream_options.include_usage`) for the latency log.
    pub include_usage: bool,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    /// Pause before the one retry.
    pub retry_backoff: Duration,
    /// The model's template opens `<think>` in the prompt, so replies start inside it.
    pub starts_in_think: bool,
}

/// Why a reply failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot reach the LLM server: {0}")]
    Connect(#[source] reqwest::Error),
    #[error("the LLM server answered HTTP {status}: {error}")]
    Status { status: u16, error: ApiError },
    #[error("reading the LLM stream: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("no reply text from the LLM within {0:?}")]
    FirstTokenTimeout(Duration),
    #[error("the LLM stream stalled for {0:?}")]
    IdleTimeout(Duration),
    #[error("the LLM stream ended without [DONE]")]
    Truncated,
    #[error("the LLM answered {0:?}, not an event stream or JSON")]
    ContentType(String),
    #[error(transparent)]
    Stream(#[from] StreamError),
}

impl LlmError {
    /// Whether a second attempt could succeed (only ever made before the first text).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Client(_) | Self::ContentType(_) => false,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Stream(StreamError::Api(error)) => error.is_retryable(),
            Self::Connect(_)
            | Self::Transport(_)
            | Self::FirstTokenTimeout(_)
            | Self::IdleTimeout(_)
            | Self::Truncated
            | Self::Stream(StreamError::Malformed(_)) => true,
        }
    }
}

/// The client: cheap to clone, one connection pool.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    options: Arc<LlmOptions>,
}

impl LlmClient {
    pub fn new(options: LlmOptions) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(LlmError::Client)?;
        Ok(Self { http, options: Arc::new(options) })
    }

    pub fn options(&self) -> &LlmOptions {
        &self.options
    }

    /// The JSON body for `messages` (public so tests and `--check-config` can show it).
    pub fn request_body(&self, messages: &[ChatMessage]) -> Value {
        request_body(&self.options, messages)
    }

    /// A reply stream for `messages`. No request is made until the first [`ReplyStream::next`].
    pub fn stream(&self, messages: &[ChatMessage]) -> ReplyStream {
        ReplyStream {
            client: self.clone(),
            body: request_body(&self.options, messages),
            state: State::NotStarted,
            queue: Default::default(),
            timings: StreamTimings::default(),
            text_seen: false,
            reasoning_chars: 0,
        }
    }
}

/// Builds the request body: model, messages, `stream`, sampling fields that are set, then
/// `extra_body` merged over it.
pub fn request_body(options: &LlmOptions, messages: &[ChatMessage]) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(options.model));
    body.insert("messages".into(), json!(messages));
    body.insert("stream".into(), json!(options.stream));
    if options.stream && options.include_usage {
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    let s = &options.sampling;
    let fields: [(&str, Option<Value>); 8] = [
        ("max_tokens", s.max_tokens.map(Value::from)),
        ("temperature", s.temperature.map(Value::from)),
        ("top_p", s.top_p.map(Value::from)),
        ("top_k", s.top_k.map(Value::from)),
        ("repetition_penalty", s.repetition_penalty.map(Value::from)),
        ("frequency_penalty", s.frequency_penalty.map(Value::from)),
        ("presence_penalty", s.presence_penalty.map(Value::from)),
        ("seed", s.seed.map(Value::from)),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    merge(&mut body, &options.extra_body);
    Value::Object(body)
}

/// Merges `extra` into `base`: objects recursively, anything else replaced.
fn merge(base: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        match (base.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(extra_inner)) => merge(inner, extra_inner),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// When things happened, for the latency log. Instants are tokio's, so paused-clock tests work.
#[derive(Debug, Clone, Default)]
pub struct StreamTimings {
    /// How many requests were made (1, or 2 after a retry).
    pub attempts: u32,
    /// When the first request was started.
    pub started: Option<Instant>,
    /// When the last attempt's request was started.
    pub request_sent: Option<Instant>,
    /// When the last attempt's response headers arrived (diagnostic; not TTFT).
    pub headers: Option<Instant>,
    /// The first speakable, non-blank text (after reasoning was filtered).
    pub first_token: Option<Instant>,
    /// `[DONE]` or the end of a JSON answer.
    pub done: Option<Instant>,
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;
type PendingResponse = Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send>>;

/// Where the reply is. Every `await` in [`ReplyStream::next`] polls something stored here, so a
/// `next()` dropped by `select!` loses nothing and the following call resumes.
enum State {
    NotStarted,
    /// Waiting before the retry.
    Backoff {
        until: Instant,
    },
    Connecting {
        response: PendingResponse,
        deadline: Instant,
    },
    /// Reading a whole body: an error (`status` set) or a non-streamed JSON answer.
    ReadingWhole {
        body: Body,
        bytes: Vec<u8>,
        deadline: Instant,
        status: Option<u16>,
        decoder: ReplyDecoder,
    },
    Receiving {
        body: Body,
        parser: SseParser,
        decoder: ReplyDecoder,
        last_read: Instant,
    },
    Finished,
}

/// One reply in flight. Poll [`ReplyStream::next`] until `None`; drop it to cancel.
pub struct ReplyStream {
    client: LlmClient,
    body: Value,
    state: State,
    queue: std::collections::VecDeque<ReplyEvent>,
    timings: StreamTimings,
    text_seen: bool,
    reasoning_chars: usize,
}

impl std::fmt::Debug for ReplyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyStream").field("timings", &self.timings).field("text_seen", &self.text_seen).finish()
    }
}

impl ReplyStream {
    pub fn timings(&self) -> &StreamTimings {
        &self.timings
    }

    /// Characters of reasoning the server sent (never spoken), for the log.
    pub fn reasoning_chars(&self) -> usize {
        self.reasoning_chars
    }

    /// The next event; `None` once the reply is complete or after an error was returned.
    ///
    /// Cancel-safe: it can be a `tokio::select!` branch; a call dropped before it returned loses
    /// no data and starts no second request.
    pub async fn next(&mut self) -> Option<Result<ReplyEvent, LlmError>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            let result = match self.state {
                State::Finished => return None,
                State::NotStarted => {
                    self.begin();
                    Ok(())
                }
                State::Backoff { until } => {
                    tokio::time::sleep_until(until).await;
                    self.state = State::NotStarted;
                    Ok(())
                }
                State::Connecting { .. } => self.connect().await,
                State::ReadingWhole { .. } => self.read_whole().await,
                State::Receiving { .. } => self.read().await,
            };
            if let Err(error) = result {
                let retry = !self.text_seen && self.timings.attempts < 2 && error.is_retryable();
                if !retry {
                    self.state = State::Finished;
                    return Some(Err(error));
                }
                self.queue.clear();
                tracing::warn!(%error, "LLM request failed before any text; retrying once");
                self.state = State::Backoff { until: Instant::now() + self.client.options.retry_backoff };
            }
        }
    }

    /// Builds the request and stores its pending response.
    fn begin(&mut self) {
        let options = &self.client.options;
        let now = Instant::now();
        self.timings.attempts += 1;
        self.timings.started.get_or_insert(now);
        self.timings.request_sent = Some(now);
        self.timings.headers = None;
        tracing::debug!(endpoint = %options.endpoint, model = %options.model, attempt = self.timings.attempts, "LLM request");
        tracing::trace!(body = %self.body, "LLM request body");
        let mut request = self
            .client
            .http
            .post(&options.endpoint)
            .header(ACCEPT, "text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.to_string());
        if let Some(key) = &options.api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let deadline = now + options.first_token_timeout;
        self.state = State::Connecting { response: Box::pin(request.send()), deadline };
    }

    async fn connect(&mut self) -> Result<(), LlmError> {
        let options = self.client.options.clone();
        let State::Connecting { response, deadline } = &mut self.state else {
            return Ok(());
        };
        let deadline = *deadline;
        let response = match tokio::time::timeout_at(deadline, response.as_mut()).await {
            Err(_) => return Err(LlmError::FirstTokenTimeout(options.first_token_timeout)),
            Ok(Err(e)) if e.is_timeout() || e.is_connect() => return Err(LlmError::Connect(e)),
            Ok(Err(e)) => return Err(LlmError::Transport(e)),
            Ok(Ok(response)) => response,
        };
        self.timings.headers = Some(Instant::now());
        let status = response.status();
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let body: Body = Box::pin(response.bytes_stream());
        let think = if options.starts_in_think { ThinkFilter::starting_inside() } else { ThinkFilter::new() };
        let decoder = ReplyDecoder::new(think);
        self.state = if !status.is_success() || content_type.starts_with("application/json") {
            let status = (!status.is_success()).then_some(status.as_u16());
            State::ReadingWhole { body, bytes: Vec::new(), deadline, status, decoder }
        } else if content_type.starts_with("text/event-stream") || content_type.is_empty() {
            State::Receiving { body, parser: SseParser::new(), decoder, last_read: Instant::now() }
        } else {
            return Err(LlmError::ContentType(content_type));
        };
        Ok(())
    }

    /// Reads an error body (its start only) or a whole JSON answer, then decodes it.
    async fn read_whole(&mut self) -> Result<(), LlmError> {
        let State::ReadingWhole { body, bytes, deadline, status, decoder } = &mut self.state else {
            return Ok(());
        };
        let limit = if status.is_some() { MAX_ERROR_BODY } else { MAX_JSON_BODY };
        while bytes.len() < limit {
            match tokio::time::timeout_at(*deadline, body.next()).await {
                Ok(Some(Ok(chunk))) => bytes.extend_from_slice(&chunk[..chunk.len().min(limit - bytes.len())]),
                _ => break,
            }
        }
        if let Some(status) = *status {
            return Err(LlmError::Status { status, error: parse_error_body(status, bytes) });
        }
        // A whole answer: decode it as one event.
        let mut events = decoder.event(super::sse::SseEvent::Data(String::from_utf8_lossy(bytes).into_owned()))?;
        events.extend(decoder.finish());
        self.reasoning_chars = decoder.reasoning_chars();
        self.timings.done = Some(Instant::now());
        self.state = State::Finished;
        self.accept(events);
        Ok(())
    }

    async fn read(&mut self) -> Result<(), LlmError> {
        let options = self.client.options.clone();
        let State::Receiving { body, parser, decoder, last_read } = &mut self.state else {
            return Ok(());
        };
        let idle_deadline = *last_read + options.idle_timeout;
        let first_token_deadline = self.timings.request_sent.map(|t| t + options.first_token_timeout);
        let (deadline, timeout) = match first_token_deadline {
            Some(first) if !self.text_seen && first < idle_deadline => {
                (first, LlmError::FirstTokenTimeout(options.first_token_timeout))
            }
            _ => (idle_deadline, LlmError::IdleTimeout(options.idle_timeout)),
        };
        let (events, eof) = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return Err(timeout),
            Ok(Some(Err(e))) => return Err(LlmError::Transport(e)),
            Ok(Some(Ok(bytes))) => {
                *last_read = Instant::now();
                (parser.push(&bytes), false)
            }
            Ok(None) => (parser.finish(), true),
        };
        let mut decoded = Vec::new();
        for event in events {
            decoded.extend(decoder.event(event)?);
        }
        let done = parser.is_done();
        if done || eof {
            decoded.extend(decoder.finish());
        }
        self.reasoning_chars = decoder.reasoning_chars();
        self.accept(decoded);
        if done {
            // The body may still hold the chunked terminator; dropping it here is harmless.
            self.timings.done = Some(Instant::now());
            self.state = State::Finished;
        } else if eof {
            return Err(LlmError::Truncated);
        }
        Ok(())
    }

    fn accept(&mut self, events: Vec<ReplyEvent>) {
        for event in events {
            if let ReplyEvent::Text(text) = &event
                && !self.text_seen
                && !text.trim().is_empty()
            {
                self.text_seen = true;
                self.timings.first_token = Some(Instant::now());
            }
            self.queue.push_back(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LlmOptions {
        LlmOptions {
            endpoint: "http://127.0.0.1:9/v1/chat/completions".into(),
            model: "m".into(),
            api_key: ApiKey::new("sk-secret"),
            sampling: Sampling { max_tokens: Some(80), temperature: Some(0.3), ..Sampling::default() },
            extra_body: Map::new(),
            stream: true,
            include_usage: true,
            connect_timeout: Duration::from_secs(2),
            first_token_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_millis(200),
            starts_in_think: false,
        }
    }

    #[test]
    fn key_is_redacted_in_debug() {
        let text = format!("{:?}", options());
        assert!(!text.contains("sk-secret"), "{text}");
        assert!(text.contains("redacted"));
        assert_eq!(ApiKey::new("  "), None);
    }

    #[test]
    fn body_has_stream_sampling_and_only_set_fields() {
        let body = request_body(&options(), &[ChatMessage::system("s"), ChatMessage::user("Alice: hi")]);
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Alice: hi"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 80,
                "temperature": 0.3,
            })
        );
    }

    #[test]
    fn extra_body_is_merged_recursively_and_wins() {
        let mut o = options();
        o.extra_body = json!({
            "chat_template_kwargs": {"enable_thinking": false},
            "stream_options": {"continuous_usage_stats": true},
            "temperature": 0.0,
            "grammar": "root ::= \"Yes.\"",
        })
        .as_object()
        .cloned()
        .unwrap();
        let body = request_body(&o, &[]);
        assert_eq!(body["chat_template_kwargs"], json!({"enable_thinking": false}));
        assert_eq!(body["stream_options"], json!({"include_usage": true, "continuous_usage_stats": true}));
        assert_eq!(body["temperature"], json!(0.0));
        assert_eq!(body["grammar"], json!("root ::= \"Yes.\""));
    }

    #[test]
    fn non_streaming_body_has_no_stream_options() {
        let mut o = options();
        o.stream = false;
        let body = request_body(&o, &[]);
        assert_eq!(body["stream"], json!(false));
        assert!(body.get("stream_options").is_none());
    }

    #[test]
    fn retry_policy() {
        let status = |s| LlmError::Status { status: s, error: parse_error_body(s, b"") };
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(LlmError::Truncated.is_retryable());
    }
}
