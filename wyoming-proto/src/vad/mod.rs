//! Voice activity: where speech starts and where a turn ends.
//!
//! [`Endpointer`] is pure (probabilities in, events out, time counted in samples), so servers and the
//! bridge share one tested rule. [`silero`] (feature `silero`) computes the probabilities with Silero
//! VAD, natively ([`silero_net`]) or through ONNX Runtime.

mod endpoint;
#[cfg(feature = "silero")]
pub mod silero;
#[cfg(feature = "silero")]
pub mod silero_net;

pub use endpoint::{EndpointConfig, Endpointer, VadEvent};

/// Samples of 16 kHz audio per VAD window (32 ms), what Silero VAD takes per call.
pub const WINDOW: usize = 512;
