//! Mumble audio: Opus in both directions at 48 kHz mono.
//!
//! - [`receiver`]: one Opus decoder per speaking session, loss concealment on sequence gaps, and the
//!   end of a talk spurt by terminator bit or silence (pure, the clock is passed in).
//! - [`playout`]: the jitter-tolerant queue between whoever produces a reply and the 20 ms pacer,
//!   with sequence numbers and terminator frames (pure).
//! - [`sender`]: the encoder, the bitrate the server's limiter allows, and the paced sender task
//!   behind the public [`AudioSink`].

pub mod playout;
pub mod receiver;
pub mod sender;

pub use sender::{AudioSink, Voice};

/// Samples in one 20 ms frame at 48 kHz: the frame size we send (one frame per packet).
pub const FRAME_SAMPLES: usize = 960;
/// One sequence unit is 10 ms of audio.
pub const SAMPLES_PER_SEQUENCE_UNIT: usize = 480;
