//! The LLM stage: OpenAI-compatible `/v1/chat/completions` with `stream: true`.
//!
//! Sans-IO layers under a thin HTTP adapter, so the fiddly parts are tested with plain strings:
//! - [`sse`]: bytes → server-sent events (any chunking, CRLF/LF, comments, `[DONE]`);
//! - [`think`]: keeps `<think>…</think>` and tool-call markup out of speech, across deltas;
//! - [`delta`]: one event → content, finish reason, usage or error, for every server variant in
//!   reference `llm-streaming.md` (vLLM old and new, llama.cpp, llama-cpp-python);
//! - [`client`]: the request (voice defaults, `extra_body`, bearer key), timeouts, one retry before
//!   the first token, and cancellation by dropping the [`ReplyStream`].

pub mod client;
pub mod delta;
pub mod sse;
pub mod think;

pub use client::{ApiKey, LlmClient, LlmError, LlmOptions, ReplyStream, Sampling, StreamTimings};
pub use delta::{ApiError, ReplyEvent, Usage};

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of the request's `messages` list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}
