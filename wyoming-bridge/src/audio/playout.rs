//! The playout queue between a reply's producer and the 20 ms pacer.
//!
//! Pure: the pacer calls [`PlayoutBuffer::tick`] once per 20 ms and sends what it returns. Keeping
//! the sequence numbers and terminator rules here means they are tested without a clock.
//!
//! Rules (reference `mumble.md` §3.6–3.7, §6.4):
//! - a talk spurt starts at sequence 0 and advances by 2 per 20 ms tick, also across a short
//!   underrun (the producer was late), so listeners' jitter buffers see a gap, not a time warp;
//! - the last frame of a reply carries the terminator bit; a reply that ended on a whole frame, a
//!   stop, or an underrun longer than [`UNDERRUN_LIMIT`] ticks ends with one silent terminator frame;
//! - [`stop`](PlayoutBuffer::stop) drops everything queued, so the next tick (≤ 20 ms) ends the spurt.

use super::FRAME_SAMPLES;
use std::collections::VecDeque;

/// Ticks without audio (200 ms) before an open spurt is closed: long enough to ride out a slow
/// TTS chunk, short enough that listeners' clients do not hang on an open transmission.
pub const UNDERRUN_LIMIT: u32 = 10;

/// One frame for the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    pub pcm: Vec<i16>,
    pub sequence: u64,
    pub terminator: bool,
}

#[derive(Debug, Default)]
pub struct PlayoutBuffer {
    queue: VecDeque<i16>,
    /// The producer said the reply is complete: the last queued sample ends the spurt.
    ending: bool,
    /// A stop arrived during a spurt: the next tick sends the terminator.
    stopping: bool,
    transmitting: bool,
    sequence: u64,
    waited: u32,
    /// Counts stops, so that a producer from before the last one can be told apart.
    stops: u64,
}

impl PlayoutBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues 48 kHz mono samples.
    pub fn push(&mut self, pcm: &[i16]) {
        self.queue.extend(pcm);
    }

    /// The reply is complete: send what is queued, the last frame with the terminator bit.
    pub fn finish(&mut self) {
        self.ending = !self.queue.is_empty() || self.transmitting;
    }

    /// Drops everything queued; the next tick ends the spurt.
    pub fn stop(&mut self) {
        self.stops += 1;
        self.queue.clear();
        self.ending = false;
        self.stopping = self.transmitting;
    }

    /// Nothing queued and no spurt open.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && !self.transmitting
    }

    /// How many times [`PlayoutBuffer::stop`] was called.
    pub fn stops(&self) -> u64 {
        self.stops
    }

    pub fn queued_samples(&self) -> usize {
        self.queue.len()
    }

    /// What to send in this 20 ms slot, if anything.
    pub fn tick(&mut self) -> Option<OutFrame> {
        if std::mem::take(&mut self.stopping) {
            return self.close_with_silence();
        }
        let queued = self.queue.len();
        if queued >= FRAME_SAMPLES {
            let pcm: Vec<i16> = self.queue.drain(..FRAME_SAMPLES).collect();
            let last = self.ending && self.queue.is_empty();
            return self.emit(pcm, last);
        }
        if queued > 0 && (self.ending || self.waited >= UNDERRUN_LIMIT) {
            let mut pcm: Vec<i16> = self.queue.drain(..).collect();
            pcm.resize(FRAME_SAMPLES, 0);
            return self.emit(pcm, true);
        }
        if queued == 0 && self.ending {
            self.ending = false;
            return self.close_with_silence();
        }
        // Underrun: wait for the producer, keeping the sequence in step with the clock.
        if self.transmitting || queued > 0 {
            self.waited += 1;
            if self.transmitting {
                self.sequence += 2;
                if queued == 0 && self.waited >= UNDERRUN_LIMIT {
                    return self.close_with_silence();
                }
            }
        }
        None
    }

    fn emit(&mut self, pcm: Vec<i16>, terminator: bool) -> Option<OutFrame> {
        if !self.transmitting {
            self.transmitting = true;
            self.sequence = 0;
        }
        let frame = OutFrame { pcm, sequence: self.sequence, terminator };
        self.sequence += 2;
        self.waited = 0;
        if terminator {
            self.transmitting = false;
            self.ending = false;
        }
        Some(frame)
    }

    fn close_with_silence(&mut self) -> Option<OutFrame> {
        if !self.transmitting {
            return None;
        }
        self.emit(vec![0; FRAME_SAMPLES], true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ticks(buffer: &mut PlayoutBuffer, n: usize) -> Vec<Option<(u64, bool)>> {
        (0..n).map(|_| buffer.tick().map(|f| (f.sequence, f.terminator))).collect()
    }

    #[test]
    fn a_reply_is_paced_frame_by_frame_and_ends_with_the_terminator() {
        let mut b = PlayoutBuffer::new();
        b.push(&vec![1; FRAME_SAMPLES * 2 + 100]);
        b.finish();
        assert_eq!(ticks(&mut b, 4), [Some((0, false)), Some((2, false)), Some((4, true)), None]);
        assert!(b.is_idle());
    }

    #[test]
    fn a_reply_of_whole_frames_ends_with_a_silent_terminator() {
        let mut b = PlayoutBuffer::new();
        b.push(&vec![1; FRAME_SAMPLES]);
        assert_eq!(ticks(&mut b, 1), [Some((0, false))]);
        b.finish();
        let last = b.tick().unwrap();
        assert_eq!((last.sequence, last.terminator, last.pcm.iter().all(|&s| s == 0)), (2, true, true));
        assert!(b.is_idle());
    }

    #[test]
    fn stop_drops_the_queue_and_ends_within_one_tick() {
        let mut b = PlayoutBuffer::new();
        b.push(&vec![1; FRAME_SAMPLES * 50]);
        ticks(&mut b, 3);
        b.stop();
        assert_eq!(b.queued_samples(), 0);
        let last = b.tick().unwrap();
        assert_eq!((last.sequence, last.terminator), (6, true));
        assert_eq!(b.tick(), None);
        // The next reply starts a new spurt at 0.
        b.push(&vec![1; FRAME_SAMPLES]);
        assert_eq!(b.tick().map(|f| f.sequence), Some(0));
    }

    #[test]
    fn stop_when_idle_sends_nothing() {
        let mut b = PlayoutBuffer::new();
        b.stop();
        assert_eq!(b.tick(), None);
    }

    #[test]
    fn a_late_producer_keeps_the_sequence_in_step_and_a_long_gap_closes_the_spurt() {
        let mut b = PlayoutBuffer::new();
        b.push(&vec![1; FRAME_SAMPLES]);
        assert_eq!(ticks(&mut b, 3), [Some((0, false)), None, None]);
        b.push(&vec![1; FRAME_SAMPLES]);
        assert_eq!(ticks(&mut b, 1), [Some((6, false))]);
        let mut rest = ticks(&mut b, UNDERRUN_LIMIT as usize);
        assert_eq!(rest.pop().unwrap().map(|(_, t)| t), Some(true));
        assert!(rest.iter().all(Option::is_none));
        assert!(b.is_idle());
    }

    #[test]
    fn a_partial_frame_waits_then_goes_out_padded() {
        let mut b = PlayoutBuffer::new();
        b.push(&[5; 100]);
        let out = ticks(&mut b, UNDERRUN_LIMIT as usize + 1);
        assert_eq!(out.last().unwrap(), &Some((0, true)));
    }

    proptest! {
        /// Whatever the producer does, at most one frame leaves per tick, sequences within a spurt
        /// rise by 2 per tick, every spurt that starts also ends with a terminator, and no sample is
        /// lost unless stop() dropped it.
        #[test]
        fn spurts_are_well_formed(ops in proptest::collection::vec((0u8..4, 0usize..3000), 1..60)) {
            let mut b = PlayoutBuffer::new();
            let (mut pushed, mut sent_real, mut stopped) = (0usize, 0usize, false);
            let mut open: Option<u64> = None;
            let check = |f: Option<OutFrame>, open: &mut Option<u64>, ticks_since: u64| -> Result<usize, TestCaseError> {
                let Some(f) = f else { return Ok(0) };
                prop_assert_eq!(f.pcm.len(), FRAME_SAMPLES);
                match *open {
                    None => prop_assert_eq!(f.sequence, 0),
                    Some(prev) => prop_assert_eq!(f.sequence, prev + 2 * ticks_since),
                }
                *open = if f.terminator { None } else { Some(f.sequence) };
                Ok(f.pcm.iter().filter(|&&s| s == 1).count())
            };
            let mut since = 1u64;
            for (op, n) in ops {
                match op {
                    0 => { b.push(&vec![1; n]); pushed += n; }
                    1 => b.finish(),
                    2 => { stopped |= !b.is_idle(); b.stop(); }
                    _ => {}
                }
                let f = b.tick();
                let got = f.is_some();
                sent_real += check(f, &mut open, since)?;
                since = if got { 1 } else { since + 1 };
            }
            b.finish();
            for _ in 0..(pushed / FRAME_SAMPLES + 2 * UNDERRUN_LIMIT as usize + 4) {
                let f = b.tick();
                let got = f.is_some();
                sent_real += check(f, &mut open, since)?;
                since = if got { 1 } else { since + 1 };
            }
            prop_assert!(open.is_none(), "a spurt was left open");
            prop_assert!(b.is_idle());
            if !stopped { prop_assert_eq!(sent_real, pushed); }
        }
    }
}
