//! Waiting for a held lock: wake-ups by release notification, retries when the holder's lease
//! runs out, deadlines, jitter, and cancellation by a signal. Waiting is for a holder, never
//! for servers: an unreachable quorum ends the wait at once (the attempt's own error).
//!
//! A waiter tries once (every instance at once). If the lock is held, it subscribes to the
//! release channel on every instance ([`crate::engine::notify`]) and, once a quorum confirmed, tries
//! again at once: a release announced before the subscription was live is seen by that attempt,
//! and any later one wakes it (the holder's quorum and ours share an instance, where the release
//! is announced). An uncontended acquisition never subscribes. Then it sleeps until a release
//! wakes it, or the holder's lease runs out (a holder that dies is never released, only
//! expires), plus a little jitter, never past its `--wait` deadline.
//!
//! A release wakes every waiter. The one first in line (by its own count of the waiters that
//! were there before it, see [`yield_pause`]) retries at once on every instance; the others let
//! it go first and then ask the decider alone ([`crate::engine::lock::Approach`]), so one release costs
//! one command per waiter and nobody splits the vote. A hold that a release never reached (an
//! instance stopped meanwhile) is recognised and asked past ([`recheck_reason`]).

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::engine::error::LockError;
use crate::engine::holder::int;
use crate::engine::instance::Call;
use crate::engine::lock::{Approach, Attempt, Busy, Lease, Locker, Request};
use crate::engine::notify::{State, Subscription};
use crate::engine::quorum::Reply;
use crate::engine::settings::Wait;
use crate::engine::wakeup::{jitter, Wakeup, Woken};

/// After this long still waiting, the caller is told once who holds the lock.
pub const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Retry this often while fewer than a quorum of instances carry our subscription (pub/sub
/// refused, instances down): without notifications, a release is only noticed by asking.
const RECHECK_UNSUBSCRIBED: Duration = Duration::from_millis(100);
/// A contender that holds the decider but has not finished (fence 0) finishes or gives up
/// within a round or two, without announcing either; look again after at most this long.
const RECHECK_UNFINISHED: Duration = Duration::from_millis(250);
/// A lock with no expiry (not one our scripts write) is looked at again this often.
const RECHECK_NO_EXPIRY: Duration = Duration::from_secs(1);
/// A holder read from the decider alone is checked against every instance this often (plus
/// jitter): a hold the release never reached (the instance was stopped) looks the same there as
/// a live one, and must not keep waiters asleep for its whole lease.
const VERIFY_EVERY: Duration = Duration::from_secs(2);
/// How many quick rechecks follow a release that seems not to have landed everywhere yet, and
/// the pause before the first (doubled each time): a release reaches the instances within a
/// round, so a few milliseconds cover it.
const RECHECKS: u32 = 3;
const RECHECK_PAUSE: Duration = Duration::from_micros(500);
/// When no holder has a quorum (contenders at odds), retry after a random pause up to this.
const SPLIT_BACKOFF: Duration = Duration::from_millis(5);
/// The random jitter added to a retry at the holder's expiry, so waiters do not retry in step.
const EXPIRY_JITTER: Duration = Duration::from_millis(10);
/// A waiter woken by a release lets this long pass per waiter it believes is ahead of it (up to
/// [`MAX_AHEAD`] of them) before it retries, so the decider sees the oldest waiter first (see
/// [`yield_pause`]).
const YIELD_STEP: Duration = Duration::from_micros(1000);
const MAX_AHEAD: u32 = 8;

/// Acquire `req`, waiting per `wait`. `notice` is called at most once, when the lock has
/// been held by someone else for longer than [`NOTICE_AFTER`]. Ends with
/// `Failure::Busy` when the wait runs out, `Failure::Interrupted` on a signal (with no
/// partial hold left: every attempt undoes itself), or the attempt's own error.
pub fn acquire(
    locker: &Locker,
    req: &Request,
    wait: Wait,
    wakeup: &Wakeup,
    notice: &mut dyn FnMut(&Busy),
) -> Result<Lease> {
    let started = Instant::now();
    let deadline = match wait {
        Wait::No => Some(started),
        Wait::For(d) => Some(started + d),
        Wait::Forever => None,
    };
    let q = locker.quorum().needed();
    let mut noticed = false;
    let mut approach = Approach::Parallel;
    let mut subscription: Option<Subscription> = None;
    // How many waiters were waiting before us and have not had the lock since, as far as we
    // can tell: counted once when we subscribe, one less for every release we lose.
    let mut ahead = 0u32;
    // The highest fence seen on any holder, and the holder the last attempt saw: the clues
    // that a hold on the decider is stale (see `recheck_reason`).
    let mut highest_fence = 0u64;
    let mut last_holder: Option<String> = None;
    let mut woken_by_release = false;
    // Quick rechecks made since the last sleep (see `recheck_reason`).
    let mut rechecks = 0u32;
    loop {
        if let Some(signal) = wakeup.interrupted() {
            return Err(interrupted(signal, &req.resource));
        }
        wakeup.clear_notified();
        let busy = match locker.attempt(req, approach)? {
            Attempt::Acquired(lease) => return Ok(lease),
            Attempt::Busy(busy) => busy,
        };
        let recheck = recheck_reason(&busy, highest_fence, woken_by_release, last_holder.as_deref());
        if let Some(h) = &busy.holder {
            highest_fence = highest_fence.max(h.fence);
        }
        if woken_by_release && rechecks == 0 {
            // That release went to someone else: most likely one of those ahead of us.
            ahead = ahead.saturating_sub(1);
        }
        if let (Some(why), true) = (recheck, rechecks < RECHECKS) {
            let pause = RECHECK_PAUSE * (1 << rechecks);
            rechecks += 1;
            locker.quorum().trace(&format!(
                "wait: {why}; asking every instance in {}us",
                pause.as_micros()
            ));
            pause_before_retry(req, wakeup, pause, deadline)?;
            approach = Approach::Parallel;
            continue;
        }
        rechecks = 0;
        last_holder = busy.holder.as_ref().map(|h| h.token.clone());
        woken_by_release = false;
        approach = Approach::DeciderFirst;
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(LockError::Held {
                resource: req.resource.clone(),
                busy,
                waited: wait != Wait::No,
            }
            .into());
        }
        if !noticed && now.duration_since(started) >= NOTICE_AFTER {
            noticed = true;
            notice(&busy);
        }
        let Some(sub) = &subscription else {
            // Subscribe, then try again at once (see the module comment).
            let settings = locker.settings();
            let sub = Subscription::start(settings, &locker.keys(&req.resource).channel, wakeup);
            let mut until = now + settings.connect_timeout + settings.op_timeout;
            if let Some(d) = deadline {
                until = until.min(d);
            }
            sub.wait_live(q, until, wakeup);
            // An instance still silent is not answering (stopped, cut off): it should not
            // decide for us until it is heard from. (One that refused the subscription did
            // answer; an attempt will tell whether it takes the lock.)
            for (i, state) in sub.states().into_iter().enumerate() {
                if state == State::Pending {
                    locker.suspect(i);
                }
            }
            // The subscribers on the decider are the waiters; the others came before us.
            ahead = subscribers(locker, &req.resource)
                .map_or(0, |m| m.saturating_sub(1))
                .min(u64::from(u32::MAX)) as u32;
            subscription = Some(sub);
            continue;
        };
        let mut next = now + retry_after(&busy, sub.live() >= q);
        if !noticed {
            next = next.min(started + NOTICE_AFTER);
        }
        if let Some(d) = deadline {
            next = next.min(d);
        }
        let verify_at = now + VERIFY_EVERY + jitter(VERIFY_EVERY / 2);
        let verify = busy.from_decider && verify_at < next;
        if verify {
            next = verify_at;
        }
        locker.quorum().trace(&format!(
            "wait: held by {}; sleeping {:.1}ms at most{}",
            busy.holder
                .as_ref()
                .map_or("nobody with a quorum".to_string(), |h| format!(
                    "{} (fence {})",
                    h.token, h.fence
                )),
            next.saturating_duration_since(now).as_secs_f64() * 1e3,
            if verify {
                ", then checking every instance"
            } else {
                ""
            }
        ));
        match wakeup.sleep_until(next) {
            Woken::Interrupted(signal) => return Err(interrupted(signal, &req.resource)),
            Woken::Notified => {
                for i in sub.take_heard() {
                    locker.trust(i);
                }
                let pause = yield_pause(ahead);
                locker.quorum().trace(&format!(
                    "wait: woken by a release after {:.1}ms; retrying in {}us ({ahead} waiters ahead)",
                    Instant::now().duration_since(now).as_secs_f64() * 1e3,
                    pause.as_micros()
                ));
                pause_before_retry(req, wakeup, pause, deadline)?;
                woken_by_release = true;
                if ahead == 0 || sub.live() < q {
                    // (Or fewer than a quorum of instances still answer our subscriptions:
                    // only a round on every instance tells whether the servers are gone.)
                    // First in line: ask every instance at once, a round trip sooner. Another
                    // waiter doing the same can split the vote only with a third, and the one
                    // holding the decider then completes (`lock`, rule 2).
                    approach = Approach::Parallel;
                }
            }
            Woken::TimedOut if verify && Instant::now() >= verify_at => approach = Approach::Parallel,
            // Fewer than a quorum answer our subscriptions: the decider alone cannot tell us
            // whether the servers are gone, which must end the wait with 69 (contract).
            Woken::TimedOut if sub.live() < q => approach = Approach::Parallel,
            Woken::TimedOut => {}
        }
    }
}

/// Why the lock, though it looked held, should be asked for again at once on every instance
/// rather than waited for: a release woke us and the holder we saw before it is still there (its
/// release is on its way to some instances, or never reached them: stopped or cut off while it
/// released); or the decider's holder has an older fence than one already seen (a later holder
/// got the lock since, so that hold is one a release never reached). Waiting for such a holder
/// would mean waiting for its whole lease. A false alarm costs an attempt on every instance.
fn recheck_reason(
    busy: &Busy,
    highest_fence: u64,
    woken_by_release: bool,
    last_holder: Option<&str>,
) -> Option<&'static str> {
    let h = busy.holder.as_ref().filter(|h| h.fence != 0)?;
    if woken_by_release && last_holder == Some(h.token.as_str()) {
        return Some("the holder that released still holds some instances");
    }
    if busy.from_decider && h.fence < highest_fence {
        return Some("the decider's holder is older than one already seen (a stale hold)");
    }
    None
}

/// A signal ended the wait: every attempt undoes itself, so nothing is held.
fn interrupted(signal: i32, resource: &str) -> anyhow::Error {
    LockError::Interrupted {
        resource: resource.to_string(),
        signal,
    }
    .into()
}

/// How many clients are subscribed to the resource's release channel on its decider: the
/// waiters (ourselves included, once subscribed). `None` when the decider does not answer.
fn subscribers(locker: &Locker, resource: &str) -> Option<u64> {
    let d = locker.decider(resource)?;
    let channel = locker.keys(resource).channel;
    let round = locker.quorum().round_on(
        "waiters",
        &crate::engine::lock::single(locker.quorum().n(), d),
        None,
        move |_| {
            // PUBSUB NUMSUB answers [channel, count].
            Call::query(redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel), |v| {
                Ok(match v {
                    redis::Value::Array(items) => items.get(1).and_then(int),
                    _ => None,
                })
            })
        },
        move |replies: &[Option<Reply<Option<i64>>>]| replies[d].is_some(),
    );
    let count = match round.replies.get(d) {
        Some(Ok(Some(n))) => u64::try_from(*n).ok(),
        _ => None,
    };
    count
}

/// Pause for `pause` before the next attempt (never past the `--wait` deadline); a signal
/// ends the wait instead.
fn pause_before_retry(
    req: &Request,
    wakeup: &Wakeup,
    pause: Duration,
    deadline: Option<Instant>,
) -> Result<()> {
    let mut until = Instant::now() + pause;
    if let Some(d) = deadline {
        until = until.min(d);
    }
    match wakeup.pause_until(until) {
        Woken::Interrupted(signal) => Err(interrupted(signal, &req.resource)),
        _ => Ok(()),
    }
}

/// When to try again if no release wakes us first.
fn retry_after(busy: &Busy, subscribed: bool) -> Duration {
    let wait = match &busy.holder {
        // Contenders at odds, nobody with a quorum: a short random backoff breaks the tie.
        None => return jitter(SPLIT_BACKOFF) + Duration::from_micros(200),
        Some(h) if h.fence == 0 => h.time_left.unwrap_or(RECHECK_UNFINISHED).min(RECHECK_UNFINISHED),
        // The lease may expire without a release (a holder that died).
        Some(h) => h.time_left.unwrap_or(RECHECK_NO_EXPIRY),
    };
    let wait = if subscribed {
        wait
    } else {
        wait.min(RECHECK_UNSUBSCRIBED)
    };
    wait + jitter(EXPIRY_JITTER)
}

/// How long a waiter woken by a release lets older waiters go first: nothing when nobody is
/// ahead of it (a lone waiter retries at once), otherwise a step per waiter ahead (up to
/// [`MAX_AHEAD`]) with some jitter. A queue by courtesy, not by contract: the decider grants
/// whoever asks first, so a miscount only costs fairness, never progress, and a waiter that
/// died ahead of us costs at most a step per release.
fn yield_pause(ahead: u32) -> Duration {
    if ahead == 0 {
        return Duration::ZERO;
    }
    YIELD_STEP * ahead.min(MAX_AHEAD) + jitter(YIELD_STEP / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::holder::Holder;

    fn busy(token: &str, fence: u64, from_decider: bool) -> Busy {
        let holder = Holder {
            token: token.into(),
            count: 1,
            host: "h".into(),
            pid: None,
            cmd: String::new(),
            since_unix_ms: None,
            fence,
            ttl: None,
            time_left: Some(Duration::from_secs(20)),
        };
        Busy {
            holder: Some(holder),
            held_on: 1,
            n: 3,
            from_decider,
        }
    }

    #[test]
    fn a_holder_still_there_after_its_release_is_checked_again() {
        assert!(recheck_reason(&busy("a", 5, false), 5, true, Some("a")).is_some());
        // Not woken by a release, or a different holder: a normal wait.
        assert!(recheck_reason(&busy("a", 5, false), 5, false, Some("a")).is_none());
        assert!(recheck_reason(&busy("b", 6, true), 6, true, Some("a")).is_none());
    }

    #[test]
    fn a_decider_holder_older_than_one_seen_is_stale() {
        assert!(recheck_reason(&busy("old", 4, true), 9, false, Some("x")).is_some());
        assert!(recheck_reason(&busy("new", 9, true), 9, false, Some("x")).is_none());
        // Seen on a quorum, an older fence is not a reason: the quorum says it holds.
        assert!(recheck_reason(&busy("old", 4, false), 9, false, Some("x")).is_none());
        // A contender that has not finished (fence 0) has its own rule (`retry_after`).
        assert!(recheck_reason(&busy("c", 0, true), 9, true, Some("c")).is_none());
    }

    #[test]
    fn the_first_in_line_does_not_pause_and_the_others_pause_by_rank() {
        assert_eq!(yield_pause(0), Duration::ZERO);
        let one = yield_pause(1);
        assert!(one >= YIELD_STEP && one < YIELD_STEP * 2, "{one:?}");
        let many = yield_pause(1000);
        assert!(
            many >= YIELD_STEP * MAX_AHEAD && many < YIELD_STEP * (MAX_AHEAD + 1),
            "{many:?}"
        );
    }

    #[test]
    fn retries_come_at_the_lease_end_or_sooner_for_an_unfinished_contender() {
        let b = busy("a", 5, true);
        let t = retry_after(&b, true);
        assert!(
            t >= Duration::from_secs(20) && t < Duration::from_secs(20) + EXPIRY_JITTER,
            "{t:?}"
        );
        assert!(retry_after(&b, false) <= RECHECK_UNSUBSCRIBED + EXPIRY_JITTER);
        assert!(retry_after(&busy("c", 0, true), true) <= RECHECK_UNFINISHED + EXPIRY_JITTER);
        let nobody = Busy {
            holder: None,
            held_on: 0,
            n: 3,
            from_decider: false,
        };
        assert!(retry_after(&nobody, true) <= SPLIT_BACKOFF + Duration::from_micros(200));
    }

    #[test]
    fn a_notification_wakes_once_and_an_interrupt_for_good() {
        let w = Wakeup::new();
        let far = Instant::now() + Duration::from_secs(5);
        w.clone().notify();
        assert_eq!(w.sleep_until(far), Woken::Notified);
        assert_eq!(
            w.sleep_until(Instant::now() + Duration::from_millis(10)),
            Woken::TimedOut
        );
        w.notify();
        w.clear_notified();
        assert_eq!(
            w.sleep_until(Instant::now() + Duration::from_millis(10)),
            Woken::TimedOut
        );
        w.notify();
        assert_eq!(
            w.pause_until(Instant::now() + Duration::from_millis(10)),
            Woken::TimedOut
        );
        w.interrupt(15);
        assert_eq!(w.sleep_until(far), Woken::Interrupted(15));
        assert_eq!(w.pause_until(far), Woken::Interrupted(15));
    }
}
