//! Incoming voice: one Opus decoder per speaking session (reference `mumble.md` §3.6–3.7, §9.3).
//!
//! Decoders carry state, so each session has its own, reset at the start of every talk spurt and
//! dropped when the user leaves. The clock is passed in, so spurt ends are tested without sleeping.
//!
//! - A sequence jump of up to [`MAX_CONCEALED_UNITS`] inside a spurt means lost packets: Opus
//!   packet-loss concealment fills them, so the pipeline sees continuous audio.
//! - A bigger jump forward is a pause (pymumble jumps its sequence by the time elapsed); a jump back
//!   is a new spurt. Neither is concealed.
//! - A spurt ends at the terminator bit or after [`SPURT_GAP`] without a packet (pymumble never sets
//!   the bit; push-to-talk clients simply stop sending).

use super::SAMPLES_PER_SEQUENCE_UNIT;
use crate::mumble::core::VoiceIn;
use opus::{Channels, Decoder};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Silence after which a talk spurt is over. pymumble sends a packet every 20 ms while talking, so
/// ten missing packets are no longer jitter.
pub const SPURT_GAP: Duration = Duration::from_millis(200);
/// The longest run of lost audio filled by concealment (10 ms units): 100 ms.
pub const MAX_CONCEALED_UNITS: u64 = 10;
/// The largest Opus frame (120 ms at 48 kHz).
const MAX_FRAME: usize = 5760;

#[derive(Debug, Error)]
#[error("Opus: {0}")]
pub struct DecodeError(#[from] opus::Error);

/// Audio decoded from one packet, in order: concealment for lost packets first, then the packet.
#[derive(Debug, Default, PartialEq)]
pub struct Received {
    /// `(pcm, concealed)` pairs.
    pub frames: Vec<(Vec<i16>, bool)>,
    /// The packet carried the terminator bit: the spurt is over.
    pub ended: bool,
}

struct Stream {
    decoder: Decoder,
    /// The sequence number the next packet should carry, inside an open spurt.
    expected: Option<u64>,
    last_arrival: Instant,
}

#[derive(Default)]
pub struct VoiceReceiver {
    streams: HashMap<u32, Stream>,
}

impl VoiceReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one packet from `voice.session`. An error (a packet Opus cannot decode) costs only
    /// that packet.
    pub fn on_packet(&mut self, now: Instant, voice: &VoiceIn) -> Result<Received, DecodeError> {
        let stream = match self.streams.entry(voice.session) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Stream {
                decoder: Decoder::new(crate::mumble::SAMPLE_RATE, Channels::Mono)?,
                expected: None,
                last_arrival: now,
            }),
        };
        stream.last_arrival = now;
        let mut received = Received::default();
        match stream.expected {
            Some(expected) if voice.sequence > expected && voice.sequence - expected <= MAX_CONCEALED_UNITS => {
                let missing = (voice.sequence - expected) as usize * SAMPLES_PER_SEQUENCE_UNIT;
                let mut pcm = vec![0i16; missing];
                let n = stream.decoder.decode(&[], &mut pcm, false)?;
                pcm.truncate(n);
                received.frames.push((pcm, true));
            }
            Some(expected) if voice.sequence >= expected => {}
            // A new spurt, or the sequence went back (the sender restarted it).
            _ => stream.decoder.reset_state()?,
        }
        let mut pcm = vec![0i16; MAX_FRAME];
        let decoded = stream.decoder.decode(&voice.opus, &mut pcm, false);
        let n = match decoded {
            Ok(n) => n,
            Err(error) => {
                // Keep the spurt's timing so the next good packet is not mistaken for a new spurt.
                stream.expected = Some(voice.sequence.wrapping_add(2)); // the sender picks the sequence
                return Err(error.into());
            }
        };
        pcm.truncate(n);
        let units = (n / SAMPLES_PER_SEQUENCE_UNIT).max(1) as u64;
        received.frames.push((pcm, false));
        if voice.terminator {
            stream.expected = None;
            received.ended = true;
        } else {
            stream.expected = Some(voice.sequence.wrapping_add(units));
        }
        Ok(received)
    }

    /// Sessions whose spurt ended by silence at `now`; each is reported once.
    pub fn expire(&mut self, now: Instant) -> Vec<u32> {
        let mut ended = Vec::new();
        for (&session, stream) in &mut self.streams {
            if stream.expected.is_some() && now.saturating_duration_since(stream.last_arrival) >= SPURT_GAP {
                stream.expected = None;
                ended.push(session);
            }
        }
        ended.sort_unstable();
        ended
    }

    /// The user left: their decoder goes, so a later session with the same id starts clean.
    pub fn forget(&mut self, session: u32) {
        self.streams.remove(&session);
    }

    /// Forgets everyone (a new connection).
    pub fn clear(&mut self) {
        self.streams.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use opus::{Application, Encoder};

    fn packets(n: usize) -> Vec<Bytes> {
        let mut enc = Encoder::new(48_000, Channels::Mono, Application::Voip).unwrap();
        (0..n)
            .map(|i| {
                let pcm: Vec<i16> = (0..960).map(|t| ((((i * 960 + t) as f32) * 0.05).sin() * 8000.0) as i16).collect();
                Bytes::from(enc.encode_vec(&pcm, 1000).unwrap())
            })
            .collect()
    }

    fn voice(session: u32, sequence: u64, terminator: bool, opus: &Bytes) -> VoiceIn {
        VoiceIn { session, sequence, terminator, opus: opus.clone() }
    }

    #[test]
    fn lost_packets_are_concealed_and_the_terminator_ends_the_spurt() {
        let p = packets(4);
        let mut r = VoiceReceiver::new();
        let t = Instant::now();
        let first = r.on_packet(t, &voice(1, 0, false, &p[0])).unwrap();
        assert_eq!(first.frames.len(), 1);
        assert_eq!(first.frames[0].0.len(), 960);
        // Sequence 2 lost: 4 arrives, 20 ms of concealment comes first.
        let next = r.on_packet(t, &voice(1, 4, false, &p[2])).unwrap();
        assert_eq!(next.frames.iter().map(|(pcm, c)| (pcm.len(), *c)).collect::<Vec<_>>(), [(960, true), (960, false)]);
        let last = r.on_packet(t, &voice(1, 6, true, &p[3])).unwrap();
        assert!(last.ended);
        assert!(r.expire(t + SPURT_GAP * 2).is_empty(), "already ended by the terminator");
    }

    #[test]
    fn a_pause_or_a_restart_is_not_concealed() {
        let p = packets(3);
        let mut r = VoiceReceiver::new();
        let t = Instant::now();
        r.on_packet(t, &voice(1, 0, false, &p[0])).unwrap();
        let jump = r.on_packet(t, &voice(1, 100, false, &p[1])).unwrap();
        assert_eq!(jump.frames.len(), 1);
        let back = r.on_packet(t, &voice(1, 0, false, &p[2])).unwrap();
        assert_eq!(back.frames.len(), 1);
    }

    #[test]
    fn silence_ends_a_spurt_once_per_session() {
        let p = packets(1);
        let mut r = VoiceReceiver::new();
        let t = Instant::now();
        r.on_packet(t, &voice(1, 0, false, &p[0])).unwrap();
        r.on_packet(t + Duration::from_millis(100), &voice(2, 0, false, &p[0])).unwrap();
        assert!(r.expire(t + Duration::from_millis(150)).is_empty());
        assert_eq!(r.expire(t + SPURT_GAP), [1]);
        assert_eq!(r.expire(t + Duration::from_millis(300)), [2]);
        assert!(r.expire(t + Duration::from_secs(9)).is_empty());
        r.forget(1);
        assert_eq!(r.streams.len(), 1);
    }

    #[test]
    fn garbage_costs_only_its_own_packet() {
        let p = packets(2);
        let mut r = VoiceReceiver::new();
        let t = Instant::now();
        r.on_packet(t, &voice(1, 0, false, &p[0])).unwrap();
        // A TOC byte announcing a code-3 packet with a zero frame count is invalid.
        let garbage = Bytes::from_static(&[0xFF, 0x00]);
        assert!(r.on_packet(t, &voice(1, 2, false, &garbage)).is_err());
        let after = r.on_packet(t, &voice(1, 4, false, &p[1])).unwrap();
        assert_eq!(after.frames.last().unwrap().0.len(), 960);
    }
}
