//! `error`, `ping`/`pong` and the VAD notifications `voice-started`/`voice-stopped`.

use super::Extra;
use super::serde_util::opt_timestamp;
use serde::{Deserialize, Serialize};

/// `error`: a request failed. Servers close the connection after sending it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub text: String,
    /// piper sets the exception class name; ours use stable machine-readable codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ErrorEvent {
    pub fn new(text: impl Into<String>, code: impl Into<String>) -> Self {
        ErrorEvent { text: text.into(), code: Some(code.into()), extra: Extra::new() }
    }
}

/// `ping`; `text` is always written, even as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `pong`, echoing the ping's `text`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `voice-started`: a VAD service heard speech begin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceStarted {
    #[serde(default, deserialize_with = "opt_timestamp")]
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `voice-stopped`: a VAD service heard speech end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceStopped {
    #[serde(default, deserialize_with = "opt_timestamp")]
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}
