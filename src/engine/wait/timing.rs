//! When a waiter looks again: at the holder's lease end, soon for a contender that has not
//! finished, and at once for a hold that a release never reached.

use std::time::Duration;

use super::queued::RENEW_EVERY;
use crate::engine::lock::Busy;
use crate::engine::wakeup::jitter;

/// Retry this often while fewer than a quorum of instances carry our subscription (pub/sub
/// refused, instances down): without notifications, a release is only noticed by asking.
const RECHECK_UNSUBSCRIBED: Duration = Duration::from_millis(100);
/// A contender that holds the decider but has not finished (fence 0) finishes or gives up
/// within a round or two, without announcing either; look again after at most this long.
const RECHECK_UNFINISHED: Duration = Duration::from_millis(250);
/// A `--classic` lock held by another client (a Redlock library) is looked at again this often,
/// and at its expiry if sooner (docs/classic.md, "Waiting": at least once a second, and at most
/// 100 ms after the key's expiry): where the server sends no keyspace notifications, its
/// release is heard of no other way.
const POLL_OTHER_CLIENT: Duration = Duration::from_secs(1);
/// A lock with no expiry (not one our scripts write) is looked at again this often.
const RECHECK_NO_EXPIRY: Duration = Duration::from_secs(1);
/// When no holder has a quorum (contenders at odds), retry after a random pause up to this.
const SPLIT_BACKOFF: Duration = Duration::from_millis(5);
/// The random jitter added to a retry at the holder's expiry, so waiters do not retry in step.
const EXPIRY_JITTER: Duration = Duration::from_millis(10);

/// Why the lock, though it looked held, should be asked for again at once on every instance
/// rather than waited for: a release woke us and the holder we saw before it is still there (its
/// release is on its way to some instances, or never reached them: stopped or cut off while it
/// released); or the decider's holder has an older fence than one already seen (a later holder
/// got the lock since, so that hold is one a release never reached). Waiting for such a holder
/// would mean waiting for its whole lease. A false alarm costs an attempt on every instance.
pub(super) fn recheck_reason(
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

/// When to try again if no release wakes us first.
pub(super) fn retry_after(busy: &Busy, subscribed: bool) -> Duration {
    let wait = match &busy.holder {
        // Another waiter's turn: the release that makes it ours wakes us (or the renewal of
        // our place, should that waiter die first).
        None if busy.turn_of.is_some() => RENEW_EVERY,
        // Contenders at odds, nobody with a quorum: a short random backoff breaks the tie.
        None => return jitter(SPLIT_BACKOFF) + Duration::from_micros(200),
        // Another client's hold (`--classic`): its release may announce nothing we hear.
        Some(h) if h.other_client => h.time_left.unwrap_or(POLL_OTHER_CLIENT).min(POLL_OTHER_CLIENT),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::holder::Holder;
    use crate::engine::wakeup::{Wakeup, Woken};
    use std::time::Instant;

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
            unreadable: Default::default(),
            other_client: false,
        };
        Busy {
            holder: Some(holder),
            held_on: 1,
            n: 3,
            from_decider,
            turn_of: None,
            ahead: None,
            holding: None,
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
            turn_of: None,
            ahead: None,
            holding: None,
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
