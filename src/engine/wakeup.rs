//! What a waiting thread sleeps on, and the jitter that keeps waiters out of step. A signal
//! interrupts a sleep for good; a release notification wakes it once.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::engine::sync::lock;

/// What ended a sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    Interrupted(i32),
    Notified,
    TimedOut,
}

#[derive(Default)]
struct WakeState {
    interrupted: Option<i32>,
    notified: bool,
}

#[derive(Default)]
struct Inner {
    state: Mutex<WakeState>,
    cv: Condvar,
}

/// Something a waiting thread sleeps on: a signal interrupts it for good; a release
/// notification wakes it once. Clones share the same state (the notification threads hold one).
#[derive(Default, Clone)]
pub struct Wakeup {
    inner: Arc<Inner>,
}

impl Wakeup {
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WakeState> {
        lock(&self.inner.state)
    }

    pub fn interrupt(&self, signal: i32) {
        let mut st = self.state();
        st.interrupted.get_or_insert(signal);
        self.inner.cv.notify_all();
    }

    pub fn notify(&self) {
        let mut st = self.state();
        st.notified = true;
        self.inner.cv.notify_all();
    }

    /// Forget a notification not yet slept on (the attempt about to start answers it).
    pub fn clear_notified(&self) {
        self.state().notified = false;
    }

    pub fn interrupted(&self) -> Option<i32> {
        self.state().interrupted
    }

    /// Sleep until `until`, a notification or a signal, whichever comes first.
    pub fn sleep_until(&self, until: Instant) -> Woken {
        self.sleep(until, true)
    }

    /// Sleep until `until` or a signal; notifications are left for later.
    pub fn pause_until(&self, until: Instant) -> Woken {
        self.sleep(until, false)
    }

    fn sleep(&self, until: Instant, wake_on_notify: bool) -> Woken {
        let mut st = self.state();
        loop {
            if let Some(sig) = st.interrupted {
                return Woken::Interrupted(sig);
            }
            if wake_on_notify && st.notified {
                st.notified = false;
                return Woken::Notified;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Woken::TimedOut;
            }
            st = self
                .inner
                .cv
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A random duration in [0, max).
pub fn jitter(max: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    let max_us = max.as_micros().max(1) as u64;
    Duration::from_micros(r % max_us)
}
