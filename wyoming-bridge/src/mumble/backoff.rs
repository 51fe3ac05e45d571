//! When to try connecting again (reference `mumble.md` §2.10, §10.5).
//!
//! Murmur bans an address for 5 minutes after more than 10 connections within 120 s (its default
//! autoban). Only connections the server accepted count there, so the two kinds of failure are
//! paced differently:
//! - the server was not reachable (refused, unroutable): nothing reached Murmur, so retry quickly
//!   (doubling from 0.5 s up to [`UNREACHABLE_MAX`]) to be back within seconds of a restart;
//! - the server accepted and then the session failed or ended: doubling up to [`MAX`], and never
//!   more than [`MAX_ACCEPTED_PER_WINDOW`] accepted connections in any [`WINDOW`], whatever happens.
//!
//! Delays carry ±20 % jitter so a fleet of bots does not reconnect in lockstep. Pure: the clock
//! and the random source are passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const INITIAL: Duration = Duration::from_millis(500);
pub const UNREACHABLE_MAX: Duration = Duration::from_secs(3);
pub const MAX: Duration = Duration::from_secs(60);
/// Murmur's default `autobanTimeframe`.
pub const WINDOW: Duration = Duration::from_secs(120);
/// Below Murmur's default `autobanAttempts` (10), leaving room for a manual reconnect.
pub const MAX_ACCEPTED_PER_WINDOW: usize = 8;
/// The least wait after a failure that will not fix itself (wrong password, name in use: an old
/// session of ours times out within 30 s).
pub const HOPELESS_MIN: Duration = Duration::from_secs(30);

/// How the last attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No TCP connection was made.
    Unreachable,
    /// The server accepted the connection, then it failed or ended.
    Accepted,
    /// Rejected for a reason that retrying will not fix soon.
    Hopeless,
}

#[derive(Debug)]
pub struct Backoff {
    failures: u32,
    accepted: VecDeque<Instant>,
    rng: u64,
}

impl Backoff {
    /// `seed` feeds the jitter; any value works (zero is replaced).
    pub fn new(seed: u64) -> Self {
        Self { failures: 0, accepted: VecDeque::new(), rng: seed.max(1) }
    }

    /// A connection the server accepted (TCP connected) at `now`: it counts against the window.
    pub fn record_accepted(&mut self, now: Instant) {
        self.accepted.push_back(now);
        while self.accepted.len() > MAX_ACCEPTED_PER_WINDOW {
            self.accepted.pop_front();
        }
    }

    /// The handshake completed: the next failure starts from the initial delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// How long to wait before the next attempt, after `failure` at `now`.
    pub fn next_delay(&mut self, now: Instant, failure: Failure) -> Duration {
        let cap = if failure == Failure::Unreachable { UNREACHABLE_MAX } else { MAX };
        let base = INITIAL.saturating_mul(1 << self.failures.min(16)).min(cap);
        self.failures = self.failures.saturating_add(1);
        let mut delay = base.mul_f64(0.8 + 0.4 * self.random());
        if failure == Failure::Hopeless {
            delay = delay.max(HOPELESS_MIN);
        }
        // The window: the oldest of the last MAX accepted connections must have left it.
        if self.accepted.len() >= MAX_ACCEPTED_PER_WINDOW {
            let oldest = self.accepted[self.accepted.len() - MAX_ACCEPTED_PER_WINDOW];
            let allowed_at = oldest + WINDOW + Duration::from_millis(100);
            delay = delay.max(allowed_at.saturating_duration_since(now));
        }
        delay
    }

    /// xorshift64: uniform enough for jitter, no dependency.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unreachable_retries_stay_quick() {
        let mut b = Backoff::new(42);
        let now = Instant::now();
        let delays: Vec<_> = (0..10).map(|_| b.next_delay(now, Failure::Unreachable)).collect();
        assert!(delays[0] <= Duration::from_millis(600));
        assert!(delays.iter().all(|d| *d <= UNREACHABLE_MAX.mul_f64(1.2)), "{delays:?}");
    }

    #[test]
    fn hopeless_failures_wait_long() {
        let mut b = Backoff::new(1);
        assert!(b.next_delay(Instant::now(), Failure::Hopeless) >= HOPELESS_MIN);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(7);
        let now = Instant::now();
        for _ in 0..6 {
            b.next_delay(now, Failure::Accepted);
        }
        b.reset();
        assert!(b.next_delay(now, Failure::Accepted) <= Duration::from_millis(600));
    }

    proptest! {
        /// Whatever the failures and resets, following the delays never makes more than
        /// MAX_ACCEPTED_PER_WINDOW accepted connections within any WINDOW (so never autobanned).
        #[test]
        fn never_trips_the_autoban(seed: u64, outcomes in proptest::collection::vec((0u8..4, any::<bool>()), 1..80)) {
            let mut b = Backoff::new(seed);
            let start = Instant::now();
            let mut now = start;
            let mut accepted_at = Vec::new();
            for (kind, reset) in outcomes {
                let failure = match kind { 0 => Failure::Unreachable, 1 | 2 => Failure::Accepted, _ => Failure::Hopeless };
                if failure != Failure::Unreachable {
                    b.record_accepted(now);
                    accepted_at.push(now);
                    if reset { b.reset(); }
                }
                now += b.next_delay(now, failure);
            }
            for (i, &t) in accepted_at.iter().enumerate() {
                let in_window = accepted_at[i..].iter().take_while(|&&u| u < t + WINDOW).count();
                prop_assert!(in_window <= MAX_ACCEPTED_PER_WINDOW, "{} connections within 120 s", in_window);
            }
        }
    }
}
