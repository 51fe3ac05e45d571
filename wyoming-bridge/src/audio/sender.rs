//! Outgoing voice: the public [`AudioSink`] and the task that paces it onto the connection.
//!
//! One task per client owns the Opus encoder and ticks every 20 ms, taking at most one frame from
//! the [`PlayoutBuffer`] per tick. Sending in real time matters: the server drops a user's voice
//! while their recent rate is over its limit, and a reply dumped at once loses most of its audio
//! (reference `mumble.md` §6). The sink survives reconnects; while disconnected, frames are still
//! paced and dropped, so a producer waiting for playback to finish is never stuck.

use super::FRAME_SAMPLES;
use super::playout::PlayoutBuffer;
use crate::mumble::SAMPLE_RATE;
use crate::mumble::control::Frame;
use crate::mumble::core::ClientCore;
use opus::{Application, Bitrate, Channels, Encoder};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

/// Bytes the server charges per voice packet besides the Opus data: IPv4 (20) + UDP (8) + crypto
/// header (4), also for tunnelled packets, plus our voice header (type byte, up to 3 bytes of
/// sequence, 2 of length).
pub const PACKET_OVERHEAD_BYTES: u32 = 20 + 8 + 4 + 6;
/// A speech bitrate that sounds clean; more only costs bandwidth.
pub const MAX_BITRATE: u32 = 40_000;
/// Below this Opus speech is barely intelligible; a server this tight is misconfigured.
pub const MIN_BITRATE: u32 = 8_000;
const FRAME_PERIOD: Duration = Duration::from_millis(20);

/// The Opus bitrate for a server's per-user limit (`ServerSync.max_bandwidth`, bit/s): the limit
/// minus the per-packet overhead at 50 packets/s, with 10 % headroom for VBR peaks, capped at
/// [`MAX_BITRATE`]. At the common 72 000 that is 40 kbit/s.
pub fn bitrate_for(max_bandwidth: Option<u32>) -> u32 {
    let Some(limit) = max_bandwidth.filter(|&b| b > 0) else {
        return MAX_BITRATE;
    };
    let packets_per_second = 1000 / FRAME_PERIOD.as_millis() as u32;
    let overhead = PACKET_OVERHEAD_BYTES * 8 * packets_per_second;
    (limit.saturating_sub(overhead) / 10 * 9).clamp(MIN_BITRATE, MAX_BITRATE)
}

/// Where the sender task writes: the current connection, while there is one.
#[derive(Debug, Clone)]
pub(crate) struct VoiceLink {
    pub frames: mpsc::Sender<Frame>,
    pub max_bandwidth: Option<u32>,
}

struct Shared {
    buffer: Mutex<PlayoutBuffer>,
    /// `true` while nothing is queued or playing; updated under the buffer lock so it never lags.
    idle: watch::Sender<bool>,
}

/// Plays 48 kHz mono PCM into the bot's channel, paced in real time. Cheap to clone; all clones
/// feed the same queue.
#[derive(Clone)]
pub struct AudioSink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AudioSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioSink").field("queued", &self.queued()).finish()
    }
}

impl AudioSink {
    fn new() -> Self {
        Self { shared: Arc::new(Shared { buffer: Mutex::new(PlayoutBuffer::new()), idle: watch::Sender::new(true) }) }
    }

    fn buffer(&self) -> MutexGuard<'_, PlayoutBuffer> {
        // The buffer stays consistent across a panic elsewhere (no method can leave it half-done).
        self.shared.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues samples (48 kHz mono) after whatever is already queued.
    pub fn play(&self, pcm: &[i16]) {
        self.play_unless_stopped_since(None, pcm);
    }

    /// The reply is complete: its last frame carries the terminator bit.
    pub fn finish(&self) {
        self.finish_unless_stopped_since(None);
    }

    /// `play`, unless the buffer has been stopped since its `stops` count was `since`.
    fn play_unless_stopped_since(&self, since: Option<u64>, pcm: &[i16]) {
        let mut buffer = self.buffer();
        if since.is_none_or(|stops| stops == buffer.stops()) {
            buffer.push(pcm);
            self.shared.idle.send_replace(buffer.is_idle());
        }
    }

    fn finish_unless_stopped_since(&self, since: Option<u64>) {
        let mut buffer = self.buffer();
        if since.is_none_or(|stops| stops == buffer.stops()) {
            buffer.finish();
        }
    }

    /// Drops everything queued; the talk spurt ends with the next frame slot (≤ 20 ms). Every [`Voice`] taken
    /// before falls silent.
    pub fn stop(&self) {
        self.buffer().stop();
    }

    /// A handle for one producer (a reply, a fallback phrase) that a later [`AudioSink::stop`] silences for
    /// good. Stopping the producer's task is not enough: a task already running on another worker thread can
    /// still be between receiving a chunk and queuing it.
    pub fn voice(&self) -> Voice {
        Voice { sink: self.clone(), stops: self.buffer().stops() }
    }

    /// Audio queued and not yet sent.
    pub fn queued(&self) -> Duration {
        let samples = self.buffer().queued_samples() as u64;
        Duration::from_micros(samples * 1_000_000 / u64::from(SAMPLE_RATE))
    }

    pub fn is_playing(&self) -> bool {
        !*self.shared.idle.borrow()
    }

    /// Waits until everything queued has been sent and the spurt is closed.
    pub async fn wait_idle(&self) {
        let mut idle = self.shared.idle.subscribe();
        // The sender is kept in `Shared`, which we hold, so the channel cannot close under us.
        let _ = idle.wait_for(|idle| *idle).await;
    }

    fn tick(&self) -> Option<super::playout::OutFrame> {
        let mut buffer = self.buffer();
        let frame = buffer.tick();
        self.shared.idle.send_replace(buffer.is_idle());
        frame
    }
}

/// One producer's way into an [`AudioSink`], until the sink is stopped.
#[derive(Debug, Clone)]
pub struct Voice {
    sink: AudioSink,
    /// The sink's stop count when this voice was taken.
    stops: u64,
}

impl Voice {
    /// Like [`AudioSink::play`], unless the sink was stopped since this voice was taken.
    pub fn play(&self, pcm: &[i16]) {
        self.sink.play_unless_stopped_since(Some(self.stops), pcm);
    }

    /// Like [`AudioSink::finish`], unless the sink was stopped since this voice was taken.
    pub fn finish(&self) {
        self.sink.finish_unless_stopped_since(Some(self.stops));
    }
}

/// Starts the pacer; it runs until `link`'s sender is dropped (the client shut down).
pub(crate) fn spawn_sender(link: watch::Receiver<Option<VoiceLink>>) -> Result<AudioSink, opus::Error> {
    let sink = AudioSink::new();
    let mut encoder = Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Audio)?;
    encoder.set_vbr_constraint(true)?;
    let task_sink = sink.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(FRAME_PERIOD);
        // After a stall, do not burst to catch up: the server's limiter would drop the burst.
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut bitrate = 0;
        let mut opus = vec![0u8; 1275];
        loop {
            interval.tick().await;
            if link.has_changed().is_err() {
                debug!("client closed; audio sender stops");
                return;
            }
            let Some(frame) = task_sink.tick() else { continue };
            let Some(current) = link.borrow().clone() else { continue };
            let wanted = bitrate_for(current.max_bandwidth);
            if wanted != bitrate {
                if let Err(error) = encoder.set_bitrate(Bitrate::Bits(wanted as i32)) {
                    warn!(%error, wanted, "could not set the Opus bitrate");
                }
                debug!(bitrate = wanted, max_bandwidth = current.max_bandwidth, "Opus bitrate");
                bitrate = wanted;
            }
            if frame.sequence == 0 {
                let _ = encoder.reset_state();
            }
            debug_assert_eq!(frame.pcm.len(), FRAME_SAMPLES);
            let len = match encoder.encode(&frame.pcm, &mut opus) {
                Ok(len) => len,
                Err(error) => {
                    warn!(%error, "Opus encode failed; frame dropped");
                    continue;
                }
            };
            match ClientCore::voice_frame(&opus[..len], frame.sequence, frame.terminator) {
                Ok(f) => {
                    if current.frames.try_send(f).is_err() {
                        warn!("connection is not keeping up; voice frame dropped");
                    }
                }
                Err(error) => warn!(%error, "voice frame not sent"),
            }
        }
    });
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_follows_the_server_limit() {
        assert_eq!(bitrate_for(Some(72_000)), 40_000);
        assert_eq!(bitrate_for(None), 40_000);
        assert_eq!(bitrate_for(Some(0)), 40_000);
        // 48 000 − 38 × 8 × 50 = 32 800, 90 % of it.
        assert_eq!(bitrate_for(Some(48_000)), 29_520);
        assert_eq!(bitrate_for(Some(10_000)), MIN_BITRATE);
    }

    #[tokio::test]
    async fn a_voice_taken_before_a_stop_stays_silent() {
        let (_link_tx, link) = watch::channel(None);
        let sink = spawn_sender(link).unwrap();
        let old = sink.voice();
        old.play(&[1000; FRAME_SAMPLES * 10]);
        assert_eq!(sink.queued(), Duration::from_millis(200));
        sink.stop();
        let new = sink.voice();
        old.play(&[1000; FRAME_SAMPLES * 10]);
        old.finish();
        assert_eq!(sink.queued(), Duration::ZERO, "a stopped producer queued audio");
        new.play(&[1000; FRAME_SAMPLES]);
        assert_eq!(sink.queued(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn frames_leave_every_20_ms_and_stop_ends_the_spurt_at_the_next_slot() {
        let (tx, mut rx) = mpsc::channel(100);
        let (_link_tx, link) = watch::channel(Some(VoiceLink { frames: tx, max_bandwidth: Some(72_000) }));
        let sink = spawn_sender(link).unwrap();
        sink.play(&vec![1000; FRAME_SAMPLES * 10]);
        assert!(sink.is_playing());
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            rx.recv().await.unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(40), "paced, not burst: {:?}", start.elapsed());
        sink.stop();
        let stopped = tokio::time::Instant::now();
        let last = rx.recv().await.unwrap();
        assert!(stopped.elapsed() <= FRAME_PERIOD);
        assert_eq!(last.payload[1], 6, "sequence continues");
        assert!(last.payload[2] & 0x20 != 0, "terminator bit in the Opus header varint");
        sink.wait_idle().await;
        assert!(!sink.is_playing());
    }
}
