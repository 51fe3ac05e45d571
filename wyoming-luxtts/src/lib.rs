//! `wyoming-luxtts`: the streaming text-to-speech server (LuxTTS voice cloning and Piper voices).
//!
//! Layout, in the order data flows:
//! - [`session`]: one connection; events in, phrases to synthesis, audio events out.
//! - [`text`]: the shared frontend: sanitising, phrase splitting, normalisation, espeak-ng IPA, token ids.
//! - [`engine`]: what a voice must do, the voice registry, PCM conversion.
//! - [`piper`]: Piper VITS voices ([`piper_files`]: finding or downloading them; [`piper_catalogue`]: the voices
//!   wyoming-piper offers; [`piper_library`]: those a request may name, listed and loaded on first use).
//!   [`luxtts`]: LuxTTS (text encoder, flow-matching sampler, vocoder).
//! - [`scheduler`]: which synthesis runs now, on how many cores. [`onnx`]: ONNX Runtime, device choice, session
//!   pools. [`cli`], [`info`]: flags and the advertised info.

pub mod cli;
pub mod engine;
pub mod info;
pub mod luxtts;
pub mod onnx;
pub mod piper;
pub mod piper_catalogue;
pub mod piper_files;
pub mod piper_library;
pub mod scheduler;
pub mod session;
pub mod text;
