//! The renewal thread of `redlock run`: renews the lease on every instance each ttl/3, retries
//! a failed renewal while the last good one is still valid, and reports a lost lease once
//! (docs/run.md: the heartbeat, and lock loss).
//!
//! Timing. A renewal is one round (at most `round_budget`: connect + op timeout). The command
//! must be stopped *before* the validity of the last good renewal ends, so the thread works
//! back from that end: the lease counts as lost at `valid_until − margin` (the "last safe
//! moment": what is left covers waking the event loop and sending SIGTERM), and no round is
//! started that could still be running at that moment. A failed round is retried every
//! `retry` while one fits; then the thread sleeps until the last safe moment and reports the
//! loss. An answer that proves the lock is no longer ours on a quorum (someone else holds it,
//! or it is free there, so anyone may take it) is a loss at once: waiting for our own validity
//! to end would let the command overlap the next holder.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use crate::engine::error::LockError;
use crate::engine::lock::{Lease, Locker};
use crate::engine::settings::Settings;

/// What the heartbeat tells the event loop.
#[derive(Debug, Clone)]
pub enum Beat {
    /// A renewal reached a quorum; `restored` instances that had lost the key were taken back.
    Renewed {
        valid_until: Instant,
        renewed: usize,
        restored: usize,
        recovered: bool,
    },
    /// The first failed renewal of a streak; retries go on until `give_up_at`.
    Failing {
        error: Arc<LockError>,
        give_up_at: Instant,
    },
    /// The lease is lost; the thread has ended. Sent at most once.
    Lost { reason: Lost },
}

/// Why a lease was lost.
#[derive(Debug, Clone)]
pub enum Lost {
    /// A quorum answered, and the lock is not ours there ([`LockError::NotHolder`]), or the
    /// renewal came too late to leave any validity ([`LockError::LeaseTooShort`]).
    NotOurs(Box<LockError>),
    /// No renewal reached a quorum before the lease's validity ran out; the last one failed
    /// with this.
    NoRenewal(Arc<LockError>),
}

/// When to renew, retry and give up; derived from the ttl and the servers' timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// ttl/3: the renewal period.
    pub period: Duration,
    /// Pause between retries of a failed renewal.
    pub retry: Duration,
    /// The longest one round can take (connect + op timeout, and scheduling slack).
    pub round_budget: Duration,
    /// The lease counts as lost this long before its validity ends.
    pub margin: Duration,
}

impl Timing {
    pub fn new(ttl: Duration, settings: &Settings) -> Timing {
        let period = ttl / 3;
        Timing {
            period,
            retry: (period / 10).clamp(Duration::from_millis(20), Duration::from_secs(1)),
            // What a renewal round may take (quorum.rs bounds every round by it), and a little
            // more for the thread to be scheduled before the lease's last safe moment.
            round_budget: crate::engine::quorum::round_limit(settings) + Duration::from_millis(25),
            margin: (ttl / 50).clamp(Duration::from_millis(10), Duration::from_millis(250)),
        }
    }

    /// The last safe moment of a lease valid until `valid_until`.
    pub fn last_safe_moment(&self, valid_until: Instant) -> Instant {
        valid_until.checked_sub(self.margin).unwrap_or(valid_until)
    }

    /// When to renew a lease renewed by a round that started at `started`: a period later,
    /// but early enough that a round which fails still ends before the last safe moment.
    pub fn next_renewal(&self, started: Instant, valid_until: Instant) -> Instant {
        let regular = started + self.period;
        match self.last_safe_moment(valid_until).checked_sub(self.round_budget) {
            Some(latest) => regular.min(latest).max(started),
            None => started,
        }
    }

    /// After a failed round ending at `now`: retry, or give up at the last safe moment.
    pub fn after_failure(&self, now: Instant, valid_until: Instant) -> Next {
        let give_up_at = self.last_safe_moment(valid_until);
        let retry_at = now + self.retry;
        if retry_at + self.round_budget <= give_up_at {
            Next::Retry(retry_at)
        } else {
            Next::GiveUp(give_up_at)
        }
    }
}

/// What follows a failed renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Retry(Instant),
    GiveUp(Instant),
}

/// A running heartbeat. Stop it (and wait for a round in flight) before releasing the lock:
/// a restore that landed after the release would take the lock again.
pub struct Heartbeat<'scope> {
    stop: Sender<()>,
    thread: ScopedJoinHandle<'scope, ()>,
}

impl<'scope> Heartbeat<'scope> {
    /// Start renewing `lease` on a thread of `scope`; every [`Beat`] goes to `report`.
    pub fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        locker: &'env Locker,
        lease: Lease,
        timing: Timing,
        report: impl Fn(Beat) + Send + 'scope,
    ) -> std::io::Result<Heartbeat<'scope>> {
        let (stop, stopped) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("redlock-heartbeat".into())
            .spawn_scoped(scope, move || beat(locker, &lease, timing, &stopped, &report))?;
        Ok(Heartbeat { stop, thread })
    }

    /// Stop renewing and wait until no round is in flight.
    pub fn stop(self) {
        let _ = self.stop.send(());
        // A panic in the thread has been reported by the panic hook; the lease is released next.
        let _ = self.thread.join();
    }
}

/// How soon after acquisition a lease missing on some instance is renewed (and restored there).
const RESTORE_SOON: Duration = Duration::from_millis(50);

/// The heartbeat loop; returns when stopped or once it has reported a loss.
fn beat(locker: &Locker, lease: &Lease, timing: Timing, stopped: &mpsc::Receiver<()>, report: &dyn Fn(Beat)) {
    let mut valid_until = lease.valid_until;
    let mut next = timing.next_renewal(lease.started, valid_until);
    if lease.missing {
        // Not on every instance (another had it on one): a hold on a bare quorum is one
        // restart-empty away from a second holder, until it is restored where it is missing.
        // (An instance that did not answer is not waited for this early: it would hold up the
        // end of a short command by the round's time.)
        next = next.min(lease.started + RESTORE_SOON);
    }
    let mut failing = false;
    loop {
        if !sleep_until(stopped, next) {
            return;
        }
        let started = Instant::now();
        let err = match locker.extend(&lease.resource, &lease.token, lease.ttl, Some(lease)) {
            Ok(ext) => {
                valid_until = ext.valid_until;
                next = timing.next_renewal(started, valid_until);
                report(Beat::Renewed {
                    valid_until,
                    renewed: ext.renewed,
                    restored: ext.restored,
                    recovered: failing,
                });
                failing = false;
                continue;
            }
            Err(err) => err,
        };
        // NotHolder: a quorum answered and it is not ours there (LeaseTooShort: it answered
        // too late). Anything else (too few answered) may pass: retry while the lease is valid.
        if let LockError::NotHolder { .. } | LockError::LeaseTooShort { .. } = err {
            report(Beat::Lost {
                reason: Lost::NotOurs(Box::new(err)),
            });
            return;
        }
        match timing.after_failure(Instant::now(), valid_until) {
            Next::Retry(at) => {
                if !failing {
                    failing = true;
                    report(Beat::Failing {
                        error: Arc::new(err),
                        give_up_at: timing.last_safe_moment(valid_until),
                    });
                }
                next = at;
            }
            Next::GiveUp(at) => {
                if !sleep_until(stopped, at) {
                    return;
                }
                report(Beat::Lost {
                    reason: Lost::NoRenewal(Arc::new(err)),
                });
                return;
            }
        }
    }
}

/// Sleep until `until`; false if told to stop (or the owner is gone) meanwhile.
fn sleep_until(stopped: &mpsc::Receiver<()>, until: Instant) -> bool {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match stopped.recv_timeout(left) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return false,
            Err(RecvTimeoutError::Timeout) if Instant::now() >= until => return true,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(ttl_ms: u64) -> Timing {
        let ttl = Duration::from_millis(ttl_ms);
        Timing {
            period: ttl / 3,
            retry: Duration::from_millis(50),
            round_budget: Duration::from_millis(300),
            margin: Duration::from_millis(30),
        }
    }

    #[test]
    fn renews_every_third_of_the_ttl() {
        let t = timing(30_000);
        let t0 = Instant::now();
        let valid = t0 + Duration::from_millis(29_000);
        assert_eq!(t.next_renewal(t0, valid), t0 + Duration::from_secs(10));
    }

    #[test]
    fn renews_early_when_a_failing_round_would_overrun_the_last_safe_moment() {
        let t = timing(600);
        let t0 = Instant::now();
        let valid = t0 + Duration::from_millis(590);
        // 590 - 30 - 300 = 260 > 200 (the period): the period wins.
        assert_eq!(t.next_renewal(t0, valid), t0 + Duration::from_millis(200));
        let valid = t0 + Duration::from_millis(450);
        // 450 - 30 - 300 = 120 < 200.
        assert_eq!(t.next_renewal(t0, valid), t0 + Duration::from_millis(120));
        // Nothing fits: renew at once rather than in the past.
        assert_eq!(t.next_renewal(t0, t0 + Duration::from_millis(100)), t0);
    }

    #[test]
    fn retries_while_a_round_fits_then_gives_up_at_the_last_safe_moment() {
        let t = timing(1500);
        let t0 = Instant::now();
        let valid = t0 + Duration::from_millis(1480);
        assert_eq!(
            t.after_failure(t0, valid),
            Next::Retry(t0 + Duration::from_millis(50))
        );
        let late = t0 + Duration::from_millis(1200);
        assert_eq!(
            t.after_failure(late, valid),
            Next::GiveUp(t0 + Duration::from_millis(1450))
        );
    }

    #[test]
    fn timing_follows_the_ttl_and_the_timeouts() {
        let settings = Settings {
            servers: vec![],
            prefix: "redlock:".into(),
            connect_timeout: Duration::from_millis(250),
            op_timeout: Duration::from_millis(250),
            verbosity: crate::engine::settings::Verbosity::Quiet,
            classic: None,
        };
        let t = Timing::new(Duration::from_secs(30), &settings);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.retry, Duration::from_secs(1));
        assert_eq!(t.round_budget, Duration::from_millis(550));
        assert_eq!(t.margin, Duration::from_millis(250));
        let t = Timing::new(Duration::from_millis(1500), &settings);
        assert_eq!(t.margin, Duration::from_millis(30));
        assert_eq!(t.retry, Duration::from_millis(50));
    }
}
