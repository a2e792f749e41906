//! Waiting for a held lock: deadlines, jitter, cancellation by a signal, and wake-ups.
//! Waiting is for a holder, never for servers: an unreachable quorum ends the wait at once.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::Wait;
use crate::exit::Failure;
use crate::lock::{Attempt, Busy, Lease, Locker, Request};

/// After this long still waiting, the caller is told once who holds the lock.
pub const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Retry at least this often while a holder's lease has long to run, so a release whose
/// notification we missed is noticed within this much.
const RECHECK: Duration = Duration::from_millis(100);

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

/// Something a waiting thread sleeps on: a signal interrupts it for good; a release
/// notification wakes it once.
#[derive(Default)]
pub struct Wakeup {
    state: Mutex<WakeState>,
    cv: Condvar,
}

impl Wakeup {
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    pub fn interrupt(&self, signal: i32) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.interrupted.get_or_insert(signal);
        self.cv.notify_all();
    }

    pub fn notify(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.notified = true;
        self.cv.notify_all();
    }

    pub fn interrupted(&self) -> Option<i32> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).interrupted
    }

    /// Sleep until `until`, a notification or a signal, whichever comes first.
    pub fn sleep_until(&self, until: Instant) -> Woken {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(sig) = st.interrupted {
                return Woken::Interrupted(sig);
            }
            if st.notified {
                st.notified = false;
                return Woken::Notified;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Woken::TimedOut;
            }
            st = self.cv.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Acquire `req`, waiting per `wait`. `notice` is called at most once, when the lock has
/// been held by someone else for longer than [`NOTICE_AFTER`]. Ends with
/// `Failure::Busy` when the wait runs out, `Failure::Interrupted` on a signal (with no
/// partial hold left: every attempt undoes itself), or the attempt's own error.
pub fn acquire(
    locker: &Locker,
    req: &Request,
    wait: Wait,
    conflict_exit_code: i32,
    wakeup: &Wakeup,
    notice: &mut dyn FnMut(&Busy),
) -> Result<Lease> {
    let started = Instant::now();
    let deadline = match wait {
        Wait::No => Some(started),
        Wait::For(d) => Some(started + d),
        Wait::Forever => None,
    };
    let mut noticed = false;
    loop {
        if let Some(signal) = wakeup.interrupted() {
            return Err(Failure::Interrupted { signal }.into());
        }
        let busy = match locker.try_acquire(req)? {
            Attempt::Acquired(lease) => return Ok(lease),
            Attempt::Busy(busy) => busy,
        };
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            let hint = match wait {
                Wait::No => "; use --wait DUR to queue for it",
                _ => "",
            };
            return Err(Failure::Busy {
                message: format!("{}{hint}", busy.describe(&req.resource)),
                code: conflict_exit_code,
            }
            .into());
        }
        if !noticed && now.duration_since(started) >= NOTICE_AFTER {
            noticed = true;
            notice(&busy);
        }
        let mut next = now + retry_after(&busy);
        if !noticed {
            next = next.min(started + NOTICE_AFTER);
        }
        if let Some(d) = deadline {
            next = next.min(d);
        }
        if let Woken::Interrupted(signal) = wakeup.sleep_until(next) {
            return Err(Failure::Interrupted { signal }.into());
        }
    }
}

/// When to try again: when the holder's lease runs out (it may expire without a release),
/// but no later than [`RECHECK`], plus a little jitter so waiters do not retry in step.
fn retry_after(busy: &Busy) -> Duration {
    let expiry = busy.holder.as_ref().and_then(|h| h.time_left).unwrap_or(RECHECK);
    expiry.min(RECHECK) + jitter(Duration::from_millis(10))
}

/// A random duration in [0, max).
pub fn jitter(max: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    let max_us = max.as_micros().max(1) as u64;
    Duration::from_micros(r % max_us)
}
