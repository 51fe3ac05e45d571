//! The LLM client against a replay server: a tokio `TcpListener` that writes raw HTTP/1.1 chunked
//! responses from `tests/fixtures/llm/*.sse` (vLLM and llama.cpp shapes, see its README) with their
//! timing, records each request, and reports when the client closed the connection.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use wyoming_bridge::llm::delta::StreamError;
use wyoming_bridge::llm::{ApiKey, ChatMessage, LlmClient, LlmError, LlmOptions, ReplyEvent, Sampling, Usage};

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Chunked,
    Close,
    Reset,
    Stall,
}

#[derive(Debug, Clone)]
struct Fixture {
    status: u16,
    headers: Vec<String>,
    writes: Vec<(u64, Vec<u8>)>,
    end: End,
}

fn fixture(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llm").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut f = Fixture { status: 200, headers: Vec::new(), writes: Vec::new(), end: End::Chunked };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        } else if let Some(status) = line.strip_prefix("@status ") {
            f.status = status.trim().parse().unwrap();
        } else if let Some(header) = line.strip_prefix("@header ") {
            f.headers.push(header.to_string());
        } else if let Some(end) = line.strip_prefix("@end ") {
            f.end = match end.trim() {
                "chunked" => End::Chunked,
                "close" => End::Close,
                "reset" => End::Reset,
                "stall" => End::Stall,
                other => panic!("unknown @end {other}"),
            };
        } else if let Some(rest) = line.strip_prefix('+') {
            let (ms, text) = rest.split_once(' ').unwrap_or((rest, ""));
            f.writes.push((ms.parse().unwrap(), format!("{text}\n").into_bytes()));
        } else if let Some((_, bytes)) = f.writes.last_mut() {
            bytes.extend_from_slice(format!("{line}\n").as_bytes());
        } else {
            f.writes.push((0, format!("{line}\n").into_bytes()));
        }
    }
    if f.headers.is_empty() {
        f.headers.push("content-type: text/event-stream; charset=utf-8".into());
    }
    f
}

/// A long reply for cancellation tests: `events` content deltas, one every `every_ms`.
fn long_reply(events: usize, every_ms: u64) -> Fixture {
    let mut writes = vec![(
        100,
        br#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"lfm","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

"#
        .to_vec(),
    )];
    for i in 0..events {
        let chunk = json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"lfm",
            "choices":[{"index":0,"delta":{"content":format!("word{i} ")},"logprobs":null,"finish_reason":null}]});
        writes.push((every_ms, format!("data: {chunk}\n\n").into_bytes()));
    }
    writes.push((every_ms, b"data: [DONE]\n\n".to_vec()));
    Fixture { status: 200, headers: vec!["content-type: text/event-stream".into()], writes, end: End::Chunked }
}

#[derive(Debug, Clone)]
struct Recorded {
    head: String,
    body: Value,
}

struct ReplayServer {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// (connection number, when the server saw the client close it).
    closed: mpsc::UnboundedReceiver<(usize, Instant)>,
}

impl ReplayServer {
    /// Serves `fixtures` in order, one per connection (the last one repeats).
    async fn start(fixtures: Vec<Fixture>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (closed_tx, closed) = mpsc::unbounded_channel();
        let recorded = requests.clone();
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((socket, _)) = listener.accept().await else { return };
                let fixture = fixtures[n.min(fixtures.len() - 1)].clone();
                tokio::spawn(serve(n, socket, fixture, recorded.clone(), closed_tx.clone()));
            }
        });
        Self { url, requests, closed }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until the server has seen the client close connection `n`.
    async fn wait_closed(&mut self, n: usize, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.closed.recv()).await {
                Ok(Some((m, at))) if m == n => return at,
                Ok(Some(_)) => continue,
                _ => panic!("the client did not close connection {n} within {within:?}"),
            }
        }
    }
}

async fn serve(
    n: usize,
    mut socket: TcpStream,
    f: Fixture,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    closed: mpsc::UnboundedSender<(usize, Instant)>,
) {
    // The request: headers, then Content-Length bytes of body.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    recorded.lock().unwrap().push(Recorded { head, body });

    if f.end == End::Reset {
        // Deprecated because a non-zero linger blocks on drop; zero never blocks.
        #[allow(deprecated)]
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
    let (mut read, mut write) = socket.into_split();
    // Watch for the client closing, concurrently with the writes.
    let watcher = tokio::spawn(async move {
        let mut sink = [0u8; 1024];
        loop {
            match read.read(&mut sink).await {
                Ok(0) | Err(_) => {
                    let _ = closed.send((n, Instant::now()));
                    return read;
                }
                Ok(_) => {}
            }
        }
    });
    let reason = match f.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut response = format!("HTTP/1.1 {} {reason}\r\n", f.status);
    for header in &f.headers {
        response.push_str(&format!("{header}\r\n"));
    }
    response.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    if write.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    for (delay, bytes) in &f.writes {
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        let mut frame = format!("{:x}\r\n", bytes.len()).into_bytes();
        frame.extend_from_slice(bytes);
        frame.extend_from_slice(b"\r\n");
        if write.write_all(&frame).await.is_err() {
            return;
        }
    }
    match f.end {
        End::Chunked => {
            let _ = write.write_all(b"0\r\n\r\n").await;
            let _ = watcher.await;
        }
        End::Close => {
            let _ = write.shutdown().await;
        }
        End::Reset => {
            // SO_LINGER 0 was set before the split: closing now sends a RST.
            watcher.abort();
            let _ = watcher.await;
            drop(write);
        }
        End::Stall => {
            let _ = watcher.await;
        }
    }
}

fn options(url: &str) -> LlmOptions {
    LlmOptions {
        endpoint: url.to_string(),
        model: "lfm".into(),
        api_key: ApiKey::new("sk-test-secret"),
        sampling: Sampling { max_tokens: Some(80), temperature: Some(0.3), ..Sampling::default() },
        extra_body: Map::new(),
        stream: true,
        include_usage: true,
        connect_timeout: Duration::from_secs(2),
        first_token_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(50),
        starts_in_think: false,
    }
}

/// Everything a stream gives: text, the other events, and the error that ended it, if any.
struct Outcome {
    text: String,
    events: Vec<ReplyEvent>,
    error: Option<LlmError>,
}

async fn run(client: &LlmClient) -> (Outcome, wyoming_bridge::llm::StreamTimings) {
    let mut stream = client.stream(&[ChatMessage::system("Be brief."), ChatMessage::user("Alice: hello")]);
    let mut outcome = Outcome { text: String::new(), events: Vec::new(), error: None };
    while let Some(item) = stream.next().await {
        match item {
            Ok(ReplyEvent::Text(t)) => outcome.text.push_str(&t),
            Ok(other) => outcome.events.push(other),
            Err(e) => outcome.error = Some(e),
        }
    }
    (outcome, stream.timings().clone())
}

async fn replay(fixtures: &[&str]) -> (ReplayServer, Outcome, wyoming_bridge::llm::StreamTimings) {
    let server = ReplayServer::start(fixtures.iter().map(|n| fixture(n)).collect()).await;
    let client = LlmClient::new(options(&server.url)).unwrap();
    let (outcome, timings) = run(&client).await;
    (server, outcome, timings)
}

#[tokio::test]
async fn vllm_stream_text_timing_usage_and_request() {
    let (server, out, timings) = replay(&["vllm_basic.sse"]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Sure, the café is open 👨\u{200d}👩\u{200d}👧. It is sunny.");
    assert_eq!(
        out.events,
        vec![
            ReplyEvent::Finish("stop".into()),
            ReplyEvent::Usage(Usage {
                prompt_tokens: Some(42),
                completion_tokens: Some(11),
                total_tokens: Some(53),
                ..Usage::default()
            })
        ]
    );
    // The first token comes with the role chunk, 180 ms after the headers.
    let ttft = timings.first_token.unwrap() - timings.request_sent.unwrap();
    assert!(ttft >= Duration::from_millis(170) && ttft < Duration::from_millis(1500), "TTFT {ttft:?}");
    let headers = timings.headers.unwrap() - timings.request_sent.unwrap();
    assert!(headers < ttft, "headers {headers:?} must come before the first token {ttft:?}");
    assert_eq!(timings.attempts, 1);
    assert!(timings.done.is_some());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let head = requests[0].head.to_ascii_lowercase();
    assert!(head.starts_with("post /v1/chat/completions http/1.1"), "{head}");
    assert!(head.contains("authorization: bearer sk-test-secret"), "{head}");
    assert!(head.contains("accept: text/event-stream"));
    assert_eq!(requests[0].body["stream"], json!(true));
    assert_eq!(requests[0].body["stream_options"], json!({"include_usage": true}));
    assert_eq!(requests[0].body["model"], json!("lfm"));
    assert_eq!(requests[0].body["max_tokens"], json!(80));
    assert_eq!(requests[0].body["messages"][1], json!({"role": "user", "content": "Alice: hello"}));
}

#[tokio::test]
async fn extra_body_reaches_the_server_and_no_key_means_no_header() {
    let mut server = ReplayServer::start(vec![fixture("llamacpp_basic.sse")]).await;
    let mut o = options(&server.url);
    o.api_key = None;
    o.extra_body = json!({"chat_template_kwargs": {"enable_thinking": false}, "grammar": "root ::= \"Yes.\""})
        .as_object()
        .cloned()
        .unwrap();
    let (out, _) = run(&LlmClient::new(o).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Yes.");
    let r = &server.requests()[0];
    assert_eq!(r.body["chat_template_kwargs"], json!({"enable_thinking": false}));
    assert_eq!(r.body["grammar"], json!("root ::= \"Yes.\""));
    assert!(!r.head.to_ascii_lowercase().contains("authorization"));
    // [DONE] at the end without its blank line still ends the stream; the socket is then closed.
    server.wait_closed(0, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn llama_cpp_shape() {
    let (_server, out, _) = replay(&["llamacpp_basic.sse"]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Yes.");
    assert_eq!(out.events[0], ReplyEvent::Finish("stop".into()));
    assert!(matches!(out.events[1], ReplyEvent::Usage(Usage { cached_tokens: Some(11), .. })));
}

#[tokio::test]
async fn finish_length_without_usage() {
    let (_server, out, _) = replay(&["vllm_length_no_usage.sse"]).await;
    assert!(out.error.is_none());
    assert_eq!(out.text, "The answer is");
    assert_eq!(out.events, vec![ReplyEvent::Finish("length".into())]);
}

#[tokio::test]
async fn reasoning_variants_are_never_text() {
    for (name, expected) in [
        ("vllm_reasoning.sse", "Hello there!"),
        ("vllm_reasoning_content.sse", "Yes, it is."),
        ("vllm_think_tags.sse", "\n\nParis is the capital."),
        ("vllm_starts_inside_think.sse", "Hi Alice!"),
    ] {
        let server = ReplayServer::start(vec![fixture(name)]).await;
        let mut o = options(&server.url);
        o.starts_in_think = name == "vllm_starts_inside_think.sse";
        let client = LlmClient::new(o).unwrap();
        let mut stream = client.stream(&[ChatMessage::user("hi")]);
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            if let ReplyEvent::Text(t) = item.unwrap_or_else(|e| panic!("{name}: {e}")) {
                text.push_str(&t);
            }
        }
        assert_eq!(text, expected, "{name}");
        assert!(stream.reasoning_chars() > 0, "{name}");
        // TTFT is the first speakable text, not the first reasoning token.
        assert!(stream.timings().first_token.is_some());
    }
}

#[tokio::test]
async fn error_mid_stream_after_text_is_reported_without_retry() {
    let (server, out, _) = replay(&["vllm_error_midstream.sse", "vllm_basic.sse"]).await;
    assert_eq!(out.text, "Let me");
    match out.error {
        Some(LlmError::Stream(StreamError::Api(e))) => assert_eq!(e.code.as_deref(), Some("500")),
        other => panic!("expected a mid-stream API error, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "no retry after text");
}

#[tokio::test]
async fn legacy_llama_cpp_error_field() {
    let (_server, out, _) = replay(&["llamacpp_legacy_error.sse", "llamacpp_legacy_error.sse"]).await;
    assert_eq!(out.text, "Hel");
    assert!(matches!(out.error, Some(LlmError::Stream(StreamError::Api(ref e))) if e.message == "slot unavailable"));
}

#[tokio::test]
async fn one_retry_before_the_first_token() {
    // 503, then a good stream.
    let (server, out, timings) = replay(&["vllm_503.sse", "vllm_basic.sse"]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.text.starts_with("Sure,"));
    assert_eq!((server.requests().len(), timings.attempts), (2, 2));
    // An error event before any text, then a good stream.
    let (server, out, _) = replay(&["vllm_error_before_text.sse", "vllm_basic.sse"]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(server.requests().len(), 2);
    // A reset before any event, then a good stream.
    let (server, out, _) = replay(&["vllm_reset_before_text.sse", "llamacpp_basic.sse"]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!((out.text.as_str(), server.requests().len()), ("Yes.", 2));
}

#[tokio::test]
async fn exactly_one_retry() {
    let (server, out, timings) = replay(&["vllm_503.sse", "vllm_503.sse", "vllm_basic.sse"]).await;
    assert!(matches!(out.error, Some(LlmError::Status { status: 503, .. })), "{:?}", out.error);
    assert_eq!(out.text, "");
    assert_eq!((server.requests().len(), timings.attempts), (2, 2));
}

#[tokio::test]
async fn bad_requests_are_not_retried() {
    for (name, status, message) in [
        ("vllm_400_flat.sse", 400, "maximum context length"),
        ("vllm_404_nested.sse", 404, "does not exist"),
        ("vllm_401.sse", 401, "Unauthorized"),
    ] {
        let (server, out, _) = replay(&[name, "vllm_basic.sse"]).await;
        match out.error {
            Some(LlmError::Status { status: s, error }) => {
                assert_eq!(s, status, "{name}");
                assert!(error.message.contains(message), "{name}: {}", error.message);
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(server.requests().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn reset_after_text_is_an_error_without_retry() {
    let (server, out, _) = replay(&["vllm_reset_after_text.sse", "vllm_basic.sse"]).await;
    assert_eq!(out.text, "Well");
    assert!(matches!(out.error, Some(LlmError::Transport(_))), "{:?}", out.error);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn eof_without_done_is_truncated() {
    let (server, out, _) = replay(&["vllm_no_done.sse", "vllm_basic.sse"]).await;
    assert_eq!(out.text, "Half a sentence");
    assert!(matches!(out.error, Some(LlmError::Truncated)), "{:?}", out.error);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn idle_timeout_after_text_closes_the_connection() {
    let mut server = ReplayServer::start(vec![fixture("vllm_stall_after_text.sse")]).await;
    let mut o = options(&server.url);
    o.idle_timeout = Duration::from_millis(300);
    let client = LlmClient::new(o).unwrap();
    let (out, timings) = run(&client).await;
    assert_eq!(out.text, "Hmm");
    assert!(matches!(out.error, Some(LlmError::IdleTimeout(_))), "{:?}", out.error);
    assert_eq!(timings.attempts, 1);
    server.wait_closed(0, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn first_token_timeout_is_retried_once() {
    let mut server = ReplayServer::start(vec![fixture("vllm_stall_before_text.sse"), fixture("vllm_basic.sse")]).await;
    let mut o = options(&server.url);
    o.first_token_timeout = Duration::from_millis(400);
    let started = Instant::now();
    let (out, timings) = run(&LlmClient::new(o.clone()).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.text.starts_with("Sure"));
    assert_eq!(timings.attempts, 2);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // The stalled attempt's connection was dropped, not left open.
    server.wait_closed(0, Duration::from_secs(2)).await;

    // Both attempts stall: a first-token timeout error.
    let server = ReplayServer::start(vec![fixture("vllm_stall_before_text.sse")]).await;
    o.endpoint = server.url.clone();
    let (out, _) = run(&LlmClient::new(o).unwrap()).await;
    assert!(matches!(out.error, Some(LlmError::FirstTokenTimeout(_))), "{:?}", out.error);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    drop(listener);
    let (out, timings) = run(&LlmClient::new(options(&url)).unwrap()).await;
    assert!(matches!(out.error, Some(LlmError::Connect(_))), "{:?}", out.error);
    assert_eq!(timings.attempts, 2);
}

#[tokio::test]
async fn dropping_the_stream_closes_the_socket() {
    let mut server = ReplayServer::start(vec![long_reply(200, 20)]).await;
    let client = LlmClient::new(options(&server.url)).unwrap();
    let mut stream = client.stream(&[ChatMessage::user("talk for a long time")]);
    let mut seen = 0;
    while seen < 3 {
        if let Some(Ok(ReplyEvent::Text(_))) = stream.next().await {
            seen += 1;
        }
    }
    let dropped = Instant::now();
    drop(stream);
    let closed = server.wait_closed(0, Duration::from_secs(2)).await;
    let delay = closed.saturating_duration_since(dropped);
    assert!(delay < Duration::from_millis(200), "the server saw the close {delay:?} after the drop");
}

#[tokio::test]
async fn non_streamed_json_answer() {
    let body = json!({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",
        "content":"<think>no</think>Plain answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}});
    let f = Fixture {
        status: 200,
        headers: vec!["content-type: application/json".into()],
        writes: vec![(10, body.to_string().into_bytes())],
        end: End::Chunked,
    };
    let server = ReplayServer::start(vec![f]).await;
    let mut o = options(&server.url);
    o.stream = false;
    let (out, _) = run(&LlmClient::new(o).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Plain answer.");
    assert_eq!(server.requests()[0].body["stream"], json!(false));
}

#[tokio::test]
async fn next_is_cancel_safe_in_select() {
    // A ticker interrupts `next()` every 5 ms, during connection, the 180 ms wait for the first
    // token and the body: still one request and the whole text.
    let server = ReplayServer::start(vec![fixture("vllm_503.sse"), fixture("vllm_basic.sse")]).await;
    let client = LlmClient::new(options(&server.url)).unwrap();
    let mut stream = client.stream(&[ChatMessage::user("hi")]);
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let (mut text, mut ticks, mut error) = (String::new(), 0, None);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(ReplyEvent::Text(t))) => text.push_str(&t),
                Some(Ok(_)) => {}
                Some(Err(e)) => error = Some(e),
                None => break,
            },
            _ = ticker.tick() => ticks += 1,
        }
    }
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text, "Sure, the café is open 👨\u{200d}👩\u{200d}👧. It is sunny.");
    assert!(ticks > 20, "the ticker must really have interrupted next(): {ticks}");
    assert_eq!(server.requests().len(), 2, "the 503 and one retry, nothing more");
    assert_eq!(stream.timings().attempts, 2);
}

/// The sans-IO path on the fixtures' bytes: however the network splits them (inside a line, inside a
/// UTF-8 character), the decoded reply is the same.
mod any_split {
    use super::*;
    use proptest::prelude::*;
    use wyoming_bridge::llm::delta::ReplyDecoder;
    use wyoming_bridge::llm::sse::SseParser;
    use wyoming_bridge::llm::think::ThinkFilter;

    const STREAMS: [&str; 10] = [
        "vllm_basic.sse",
        "vllm_length_no_usage.sse",
        "vllm_reasoning.sse",
        "vllm_reasoning_content.sse",
        "vllm_think_tags.sse",
        "vllm_starts_inside_think.sse",
        "vllm_error_midstream.sse",
        "llamacpp_basic.sse",
        "llamacpp_legacy_error.sse",
        "vllm_no_done.sse",
    ];

    fn decode(bytes: &[u8], cuts: &[usize]) -> (Vec<ReplyEvent>, Option<String>, bool) {
        let mut parser = SseParser::new();
        let mut decoder = ReplyDecoder::new(ThinkFilter::new());
        let mut out = Vec::new();
        let mut start = 0;
        let mut pieces: Vec<&[u8]> = cuts
            .iter()
            .map(|&c| {
                let piece = &bytes[start..c];
                start = c;
                piece
            })
            .collect();
        pieces.push(&bytes[start..]);
        let mut events = Vec::new();
        for piece in pieces {
            events.extend(parser.push(piece));
        }
        events.extend(parser.finish());
        for event in events {
            match decoder.event(event) {
                Ok(decoded) => out.extend(decoded),
                Err(e) => return (out, Some(e.to_string()), parser.is_done()),
            }
        }
        out.extend(decoder.finish());
        (out, None, parser.is_done())
    }

    proptest! {
        #[test]
        fn fixture_bytes_split_anywhere(
            name in prop::sample::select(STREAMS.to_vec()),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        ) {
            let bytes: Vec<u8> = fixture(name).writes.into_iter().flat_map(|(_, b)| b).collect();
            let whole = decode(&bytes, &[]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            prop_assert_eq!(decode(&bytes, &points), whole);
        }
    }

    #[test]
    fn fixture_outcomes() {
        let text = |name: &str| -> (String, Option<String>, bool) {
            let bytes: Vec<u8> = fixture(name).writes.into_iter().flat_map(|(_, b)| b).collect();
            let (events, error, done) = decode(&bytes, &[]);
            let text = events
                .iter()
                .filter_map(|e| if let ReplyEvent::Text(t) = e { Some(t.as_str()) } else { None })
                .collect();
            (text, error, done)
        };
        assert_eq!(
            text("vllm_basic.sse"),
            ("Sure, the café is open 👨\u{200d}👩\u{200d}👧. It is sunny.".into(), None, true)
        );
        assert_eq!(text("vllm_no_done.sse"), ("Half a sentence".into(), None, false));
        let (t, e, _) = text("vllm_error_midstream.sse");
        assert_eq!(t, "Let me");
        assert!(e.unwrap().contains("The engine encountered an error."));
    }
}
