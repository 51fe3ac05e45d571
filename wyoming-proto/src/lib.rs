//! The Wyoming voice protocol, byte-compatible with the Python `wyoming` 1.10.2 library.
//!
//! # Layout
//! - [`json`]: JSON written exactly as Python's `json.dumps(..., ensure_ascii=False)` writes it.
//! - [`frame`]: the wire unit (type, data, payload) and its exact byte encoding.
//! - [`codec`]: a `tokio-util` codec with limits that turns bytes into frames and back.
//! - [`event`]: typed events for the whole 1.10.2 catalogue; unknown types and fields are kept.
//! - [`audio`]: `AudioFormat`, PCM conversion between any rate/width/channels, `f32` helpers.
//! - [`uri`]: `tcp://`, `unix://` and `stdio://` endpoints.
//! - [`transport`]: listening on and connecting to a [`uri::WyomingUri`].
//! - [`connection`]: typed events over one byte stream, with split read and write halves.
//! - `onnx` (feature `onnx`): the process's one ONNX Runtime environment, loaded from an explicit path.
//! - [`protobuf`]: the protobuf wire format, to read and rewrite ONNX model files field by field.
//! - [`heap`]: glibc allocator settings (trimming, one arena) the servers share.
//! - [`server`]: accept loop with a connection cap and graceful shutdown on SIGINT/SIGTERM.
//! - [`shutdown`]: the shutdown signal every task listens to.
//! - [`client`]: connecting with timeouts and simple request/response helpers.
//! - `cli` (feature `cli`): the flags and logging setup every server binary shares.
//! - [`vad`]: turn ends from speech probabilities ([`vad::Endpointer`]), and Silero VAD through ONNX
//!   Runtime (feature `silero`).
//! - [`zeroconf`]: best-effort mDNS advertisement of `NAME._wyoming._tcp.local.`.
//!
//! Data flows one way: transport → codec → frame → event, and back out by the same road.

pub mod audio;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod codec;
pub mod connection;
mod error;
pub mod event;
pub mod frame;
pub mod heap;
#[cfg(feature = "hub")]
pub mod hub;
pub mod json;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod protobuf;
pub mod server;
pub mod shutdown;
pub mod transport;
pub mod uri;
pub mod vad;
pub mod zeroconf;

pub use error::Error;

/// The Python library version this crate is compatible with, written in every header.
pub const VERSION: &str = "1.10.2";
