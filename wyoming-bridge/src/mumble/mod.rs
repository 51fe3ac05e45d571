//! A Mumble client, written for the bridge (reference `mumble.md` §8 explains why no crate fits).
//!
//! Sans-IO protocol core, tested and fuzzed with byte slices:
//! - [`varint`]: Mumble's variable-length integer.
//! - [`voice`]: the legacy voice packet carried in the TCP tunnel.
//! - [`control`]: 6-byte-header framing of the control channel.
//! - [`proto`]: the protobuf messages we use, hand-written prost structs.
//! - [`state`]: channels and users with partial-update merging.
//! - [`text`]: HTML in and out of text messages.
//! - [`core`]: the client state machine (handshake, join, text, voice routing).
//! - [`backoff`]: reconnect timing that stays under Murmur's autoban.
//!
//! Thin tokio layer:
//! - [`tls`]: certificate trust (system roots, pin, trust on first use, insecure) over rustls.
//! - [`connection`]: one TLS connection driving the core.
//! - [`client`]: [`MumbleClient`], reconnecting, with the event stream and the audio sink.

pub mod backoff;
pub mod client;
pub mod connection;
pub mod control;
pub mod core;
pub mod event;
pub mod proto;
pub mod state;
pub mod text;
pub mod tls;
pub mod varint;
pub mod voice;

pub use client::{ClientError, MumbleClient, MumbleConfig};
pub use core::{Identity, TextTarget};
pub use event::{Connected, Event, SAMPLE_RATE, TextMessage, VoiceFrame};
pub use tls::{Fingerprint, TlsOptions, Trust};
