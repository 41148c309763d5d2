//! An AIMD concurrency limit for the per-user IAM reads: it starts
//! moderate, grows by about one slot per window of answers while IAM
//! answers, and halves on throttling (at most once per window, so one burst
//! of throttled answers is one step down). IAM's rate limits are
//! account-wide and shared with everything else in the account, so a fixed
//! high concurrency would throttle the account's own deployments.

use std::sync::Mutex;

use tokio::sync::Notify;

/// Bounds and start of the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AimdBounds {
    pub initial: usize,
    pub min: usize,
    pub max: usize,
}

impl Default for AimdBounds {
    fn default() -> Self {
        Self {
            initial: 8,
            min: 1,
            max: 64,
        }
    }
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    /// Answers since the last decrease: a decrease waits for a full window.
    since_decrease: usize,
    throttles: usize,
}

#[derive(Debug)]
pub struct Aimd {
    bounds: AimdBounds,
    state: Mutex<State>,
    freed: Notify,
}

/// One slot; freed when dropped.
pub struct Permit<'a> {
    aimd: &'a Aimd,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.aimd.state.lock().expect("limiter lock").in_flight -= 1;
        self.aimd.freed.notify_waiters();
    }
}

impl Aimd {
    pub fn new(bounds: AimdBounds) -> Self {
        let min = bounds.min.max(1);
        let max = bounds.max.max(min);
        let bounds = AimdBounds {
            initial: bounds.initial.clamp(min, max),
            min,
            max,
        };
        Self {
            state: Mutex::new(State {
                limit: bounds.initial as f64,
                in_flight: 0,
                since_decrease: usize::MAX / 2,
                throttles: 0,
            }),
            bounds,
            freed: Notify::new(),
        }
    }

    /// The current limit (whole slots).
    pub fn limit(&self) -> usize {
        self.state.lock().expect("limiter lock").limit as usize
    }

    /// Throttled answers seen so far.
    pub fn throttles(&self) -> usize {
        self.state.lock().expect("limiter lock").throttles
    }

    fn try_acquire(&self) -> bool {
        let mut s = self.state.lock().expect("limiter lock");
        if s.in_flight < s.limit as usize {
            s.in_flight += 1;
            true
        } else {
            false
        }
    }

    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_acquire() {
                return Permit { aimd: self };
            }
            freed.await;
        }
    }

    /// IAM answered: grow by 1/limit, about one slot per window of answers.
    pub fn on_success(&self) {
        let grew = {
            let mut s = self.state.lock().expect("limiter lock");
            s.since_decrease = s.since_decrease.saturating_add(1);
            let before = s.limit as usize;
            s.limit = (s.limit + 1.0 / s.limit).min(self.bounds.max as f64);
            s.limit as usize > before
        };
        if grew {
            self.freed.notify_waiters();
        }
    }

    /// IAM throttled: halve, unless this window already did.
    pub fn on_throttle(&self) {
        let mut s = self.state.lock().expect("limiter lock");
        s.throttles += 1;
        if s.since_decrease >= s.limit as usize {
            s.limit = (s.limit / 2.0).max(self.bounds.min as f64);
            s.since_decrease = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn aimd(initial: usize, min: usize, max: usize) -> Aimd {
        Aimd::new(AimdBounds { initial, min, max })
    }

    #[test]
    fn the_limit_grows_about_one_slot_per_window_of_answers() {
        let a = aimd(4, 1, 64);
        for _ in 0..4 {
            a.on_success();
        }
        assert_eq!(a.limit(), 4, "a window of 4 answers is not quite one slot");
        a.on_success();
        assert_eq!(a.limit(), 5);
        for _ in 0..200 {
            a.on_success();
        }
        assert!(a.limit() > 15 && a.limit() <= 64, "{}", a.limit());
    }

    #[test]
    fn the_limit_never_passes_its_bounds() {
        let a = aimd(60, 2, 64);
        for _ in 0..10_000 {
            a.on_success();
        }
        assert_eq!(a.limit(), 64);
        for _ in 0..100 {
            a.on_throttle();
            for _ in 0..64 {
                a.on_success();
            }
        }
        assert!(a.limit() >= 2);
        let b = aimd(100, 0, 0);
        assert_eq!(b.limit(), 1, "min and max are at least one");
    }

    #[test]
    fn a_burst_of_throttles_in_one_window_halves_once() {
        let a = aimd(16, 1, 64);
        for _ in 0..10 {
            a.on_throttle();
        }
        assert_eq!(a.limit(), 8);
        assert_eq!(a.throttles(), 10);
        for _ in 0..8 {
            a.on_success();
        }
        a.on_throttle();
        assert_eq!(a.limit(), 4, "a new window may halve again");
    }

    #[tokio::test]
    async fn no_more_than_the_limit_run_at_once() {
        let a = Arc::new(aimd(3, 1, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (a, running, peak) = (a.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    let _slot = a.acquire().await;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    a.on_success();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_waiter_is_woken_when_the_limit_grows() {
        let a = Arc::new(aimd(1, 1, 4));
        let first = a.acquire().await;
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move {
                let _p = a.acquire().await;
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(!waiter.is_finished());
        a.on_success(); // 1 -> 2 slots
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("woken by the growth")
            .unwrap();
        drop(first);
    }
}
