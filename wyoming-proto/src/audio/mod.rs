//! PCM audio as Wyoming carries it: formats, conversion between any two, and `f32` for engines.
//!
//! Pure computation: bytes in, bytes out, no I/O and no async, so every piece is tested with plain
//! slices (and against Python's `audioop`-based converter in `tests/audio_python_parity.rs`).
//!
//! # Layout
//! - [`format`](mod@format): [`AudioFormat`] (`rate`, `width`, `channels`) with its size and duration helpers.
//! - [`pcm`]: bytes ↔ samples at widths 1 to 4 (8-bit unsigned), width changes bit-exact with
//!   `audioop.lin2lin`, and [`pcm_to_f32`] / [`f32_to_pcm`].
//! - `mix`: channel changes; down to mono **sums** like `audioop.tomono`, so levels match Python.
//! - `resample`: rate changes with `rubato` (an FFT resampler for usual rate pairs, sinc for odd
//!   ones), state carried across chunks, flushed at the end of a stream.
//! - [`convert`]: [`AudioConverter`], the stateful pipeline (width → channels → rate, Python's order).
//!
//! # Where we differ from Python, and why
//! - 8-bit targets: Python re-biases 8-bit samples *before* mixing and resampling them as signed
//!   bytes, which corrupts the audio; we mix and resample signed samples and bias at the end.
//! - Python's linear-interpolation `ratecv` neither filters nor flushes; ours is anti-aliased, and
//!   [`AudioConverter::finish`] returns the filter's tail so the stream length comes out right.
//!   For band-limited audio the two agree within a few percent (see the parity test).
//! - Python converts only between mono and stereo; we sum any channel count to mono and copy mono
//!   to any count.

pub mod convert;
pub mod format;
mod mix;
pub mod pcm;
mod resample;

pub use convert::AudioConverter;
pub use format::AudioFormat;
pub use pcm::{f32_to_pcm, pcm_to_f32};
pub use resample::{MAX_RESAMPLE_RATE, MIN_RESAMPLE_RATE};

/// What can go wrong with audio from a peer or a caller. Nothing in this module panics on input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error("unsupported sample width of {width} bytes (expected 1 to 4)")]
    UnsupportedWidth { width: u16 },
    #[error("sample rate is 0 Hz")]
    ZeroRate,
    #[error("channel count is 0")]
    ZeroChannels,
    #[error("cannot convert {from} channels to {to}: only to mono, from mono, or to the same count")]
    UnsupportedChannels { from: u16, to: u16 },
    #[error(
        "cannot resample {from} Hz to {to} Hz: both rates must be {} to {} Hz",
        MIN_RESAMPLE_RATE,
        MAX_RESAMPLE_RATE
    )]
    UnsupportedRate { from: u32, to: u32 },
    #[error("{len} bytes are not a whole number of {width}-byte samples")]
    PartialSample { len: usize, width: u16 },
    /// `rubato` refused a configuration or a buffer; a bug here rather than bad input.
    #[error("resampler failed: {0}")]
    Resampler(String),
}
