//! The error of the I/O helpers (connection, server, client). The pure layers have their own:
//! [`FrameError`](crate::codec::FrameError), [`EventError`](crate::event::EventError),
//! [`UriError`](crate::uri::UriError), [`AudioError`](crate::audio::AudioError).

use crate::codec::FrameError;
use crate::event::{ErrorEvent, EventError};
use crate::uri::UriError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer sent bytes that are not Wyoming frames.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer sent a known event with data that does not fit it.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Uri(#[from] UriError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{what} timed out after {after:?}")]
    Timeout { what: &'static str, after: Duration },
    /// The peer closed the connection before the expected event arrived.
    #[error("connection closed before {expected}")]
    Closed { expected: &'static str },
    /// The peer answered with an `error` event.
    #[error("peer reported an error: {text}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Remote { text: String, code: Option<String> },
    /// A handler could not serve a request; `code` is sent to the client in the `error` event.
    #[error("{message}")]
    Request { message: String, code: String },
}

impl Error {
    /// A request failure to report to the client with a stable `code`.
    pub fn request(message: impl Into<String>, code: impl Into<String>) -> Self {
        Error::Request { message: message.into(), code: code.into() }
    }

    /// The `error` event that tells a client why its connection is being closed, or `None` when the
    /// connection itself is gone and nothing can be sent.
    pub fn to_error_event(&self) -> Option<ErrorEvent> {
        let code = match self {
            Error::Frame(FrameError::Io(_)) | Error::Io(_) | Error::Closed { .. } | Error::Remote { .. } => {
                return None;
            }
            Error::Frame(FrameError::Truncated { .. }) => return None,
            Error::Frame(_) => "FrameError",
            Error::Event(_) => "InvalidEvent",
            Error::Uri(_) => "InvalidUri",
            Error::Timeout { .. } => "Timeout",
            Error::Request { code, .. } => code.as_str(),
        };
        Some(ErrorEvent::new(self.to_string(), code))
    }
}
