//! Who synthesises now, and on how many cores.
//!
//! Why: one Piper synthesis on all cores is the fastest way to serve a lone request (two intra-op threads
//! are about 1.7× one on our 2-core machine), but several syntheses that each use all cores oversubscribe the
//! CPU, and ONNX Runtime's parallel loops then wait on descheduled threads: on 2 cores, two 2-thread
//! syntheses side by side used 40% more CPU time than the same work in turn. One thread per synthesis is also
//! the most CPU-efficient: about 25% less CPU time than two for a Piper voice, whose convolutions run
//! in 2-D form ([`crate::onnx::conv2d`]), which helps one thread but not two. So a synthesis runs **wide** (all of
//! `--threads`) when it would run alone, and **narrow** (one thread) when others run or wait, and the core
//! budget is never overcommitted: a wide synthesis holds every core's permit, a narrow one holds one. (A wide
//! session's worker spins for a few milliseconds after its run, which the permits do not see.)
//! On a GPU the width means nothing, and only `--max-concurrent` applies.
//!
//! Narrow sessions cost memory (about 60 MB each for a medium Piper voice) and seconds to open, and a home
//! server with one user never needs them. So they are opened only once requests first overlap: until then
//! every synthesis runs wide, in turn, and that first overlap [`Scheduler::wants_narrow`] tells the server
//! to open them in the background ([`Scheduler::narrow_ready`] switches them on).

use crate::onnx::Width;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

pub struct Scheduler {
    concurrent: Arc<Semaphore>,
    /// One permit per core; `None` when widths do not apply (GPU, or a single core).
    cores: Option<Arc<Semaphore>>,
    /// Permits a wide synthesis takes: `--threads`, at most the core count.
    wide: u32,
    total: usize,
    /// Syntheses that hold a concurrency slot and wait for cores.
    waiting: AtomicUsize,
    /// Whether narrow sessions are open.
    narrow: AtomicBool,
    /// Woken once, when requests first overlap while narrow sessions are not open.
    overlap: Notify,
    overlapped: AtomicBool,
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The right to run one synthesis; dropping it frees the cores.
pub struct Slot {
    pub width: Width,
    _concurrent: OwnedSemaphorePermit,
    _cores: Option<OwnedSemaphorePermit>,
}

impl Scheduler {
    /// `cores`: the CPU budget; `threads`: a wide synthesis's intra-op threads; `adaptive`: false on a GPU.
    pub fn new(max_concurrent: usize, cores: usize, threads: usize, adaptive: bool) -> Self {
        let cores = cores.max(1);
        let wide = threads.clamp(1, cores);
        let budget = adaptive && cores > 1;
        Scheduler {
            concurrent: Arc::new(Semaphore::new(max_concurrent.max(1))),
            cores: budget.then(|| Arc::new(Semaphore::new(cores))),
            wide: wide as u32,
            total: cores,
            waiting: AtomicUsize::new(0),
            narrow: AtomicBool::new(false),
            overlap: Notify::new(),
            overlapped: AtomicBool::new(false),
        }
    }

    /// Resolves when requests first overlap while only wide sessions exist (never on a GPU or one core).
    pub async fn wants_narrow(&self) {
        self.overlap.notified().await
    }

    /// Narrow sessions are open: overlapping syntheses may now run side by side.
    pub fn narrow_ready(&self) {
        self.narrow.store(true, Ordering::SeqCst);
    }

    /// Waits for a turn. `None` only if the scheduler is closed (never, in the server).
    pub async fn acquire(&self) -> Option<Slot> {
        let concurrent = self.concurrent.clone().acquire_owned().await.ok()?;
        let Some(cores) = &self.cores else {
            return Some(Slot { width: Width::Wide, _concurrent: concurrent, _cores: None });
        };
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        // Counted down however this ends, also when the request is dropped while it waits (client gone).
        let _waiting = Waiting(&self.waiting);
        let alone = ahead == 0 && cores.available_permits() == self.total;
        // With `--threads 1` a wide synthesis already runs on one thread: no narrow sessions needed.
        let splittable = self.wide > 1;
        if !alone && splittable && !self.narrow.load(Ordering::SeqCst) && !self.overlapped.swap(true, Ordering::SeqCst)
        {
            self.overlap.notify_one();
        }
        let narrow = !alone && splittable && self.narrow.load(Ordering::SeqCst);
        let (width, permits) = if narrow { (Width::Narrow, 1) } else { (Width::Wide, self.wide) };
        let held = cores.clone().acquire_many_owned(permits).await;
        Some(Slot { width, _concurrent: concurrent, _cores: Some(held.ok()?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn alone_is_wide_beside_others_is_narrow_and_cores_are_never_overcommitted() {
        let s = Arc::new(Scheduler::new(4, 2, 2, true));
        s.narrow_ready();
        let first = s.acquire().await.unwrap();
        assert_eq!(first.width, Width::Wide);
        // Two more must wait for the wide one's cores, and then run narrow, side by side.
        let both = Arc::new(tokio::sync::Barrier::new(2));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (s, both) = (s.clone(), both.clone());
                tokio::spawn(async move {
                    let slot = s.acquire().await.unwrap();
                    both.wait().await; // both run at once
                    let free = s.cores.as_ref().unwrap().available_permits();
                    both.wait().await;
                    (slot.width, free)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "a synthesis ran beside a wide one");
        drop(first);
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), (Width::Narrow, 0));
        }
        // Once all are done, the next one runs alone again.
        assert_eq!(s.acquire().await.unwrap().width, Width::Wide);
    }

    #[tokio::test]
    async fn gpu_and_single_core_are_always_wide_and_bounded_by_max_concurrent() {
        for s in [Scheduler::new(2, 8, 8, false), Scheduler::new(2, 1, 1, true)] {
            let (a, b) = (s.acquire().await.unwrap(), s.acquire().await.unwrap());
            assert_eq!((a.width, b.width), (Width::Wide, Width::Wide));
            let third = tokio::time::timeout(Duration::from_millis(20), s.acquire()).await;
            assert!(third.is_err(), "a third synthesis ran with --max-concurrent 2");
        }
    }

    #[tokio::test]
    async fn one_thread_per_synthesis_lets_each_core_run_one() {
        let s = Scheduler::new(4, 2, 1, true);
        s.narrow_ready();
        let (a, b) = (s.acquire().await.unwrap(), s.acquire().await.unwrap());
        // Wide is one thread here, so both run as wide, side by side, on their own core.
        assert_eq!((a.width, b.width), (Width::Wide, Width::Wide));
        let third = tokio::time::timeout(Duration::from_millis(20), s.acquire()).await;
        assert!(third.is_err(), "three syntheses on two cores");
    }

    #[tokio::test]
    async fn until_narrow_sessions_are_open_overlapping_syntheses_run_wide_in_turn_and_ask_for_them() {
        let s = Arc::new(Scheduler::new(4, 2, 2, true));
        let asked = {
            let s = s.clone();
            tokio::spawn(async move { s.wants_narrow().await })
        };
        let first = s.acquire().await.unwrap();
        let s2 = s.clone();
        let second = tokio::spawn(async move { s2.acquire().await.unwrap().width });
        tokio::time::timeout(Duration::from_secs(1), asked).await.expect("overlap not signalled").unwrap();
        assert!(!second.is_finished(), "ran beside a wide synthesis");
        drop(first);
        assert_eq!(second.await.unwrap(), Width::Wide);
        s.narrow_ready();
        let _first = s.acquire().await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(20), s.acquire()).await;
        assert!(third.is_err(), "three syntheses on two cores");
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_does_not_leave_later_ones_narrow() {
        let s = Arc::new(Scheduler::new(4, 2, 2, true));
        s.narrow_ready();
        let first = s.acquire().await.unwrap();
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.acquire().await.map(|slot| slot.width) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiter.abort(); // the client left while its phrase waited
        let _ = waiter.await;
        drop(first);
        assert_eq!(s.acquire().await.unwrap().width, Width::Wide);
    }
}
