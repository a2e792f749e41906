//! A waiter's place in the queue: its wake-up subscription, where it is live, renewing the
//! place (more often near the head), and how it asks for the lock from where it stands.

use std::time::{Duration, Instant};

use crate::engine::lock::{Approach, Locker, Place, Request};
use crate::engine::notify::{State, Subscription};

pub(super) const RENEW_FAR: Duration = Duration::from_secs(2);
/// How often a queued waiter near the head renews its place (well within `REGISTRATION`) and
/// looks again: a head of the queue that died is gone from it by then, so the next one's turn
/// comes. Further back, every [`RENEW_FAR`].
pub(super) const RENEW_EVERY: Duration = Duration::from_secs(1);
/// Waiters this close to the head try for the lock when their timers say so (the holder's
/// lease end, a check of a stale hold); those further back only keep their place, and try when
/// a release tells them it is their turn or a renewal finds them near the head. So a long queue
/// costs each instance one small renewal per waiter per [`RENEW_EVERY`], whatever its length.
pub(super) const NEAR_HEAD: usize = 64;
/// How soon a waiter registers again while some instance has not confirmed its subscription.
pub(super) const RENEW_SOON: Duration = Duration::from_millis(50);

/// A waiter's place: its wake-up subscription, where it is live, and when to renew.
pub(super) struct Queued {
    pub(super) sub: Subscription,
    /// When the wait began (wall clock), as the queue shows it.
    pub(super) since_unix_ms: u64,
    pub(super) place: Option<Place>,
    pub(super) renew_at: Instant,
}

impl Queued {
    /// Join (or renew) where the subscription is live; learn our place. Returns how many
    /// instances answered.
    pub(super) fn renew(&mut self, locker: &Locker, req: &Request) -> usize {
        self.sub.renew();
        let states = self.sub.states();
        let live: Vec<bool> = states.iter().map(|s| *s == State::Live).collect();
        // Where our subscription is still being set up we are not registered either: look
        // again soon, so that our place there is about the same as everywhere else. (An
        // instance that is down waits for the usual renewal.)
        let settled = !states.contains(&State::Pending);
        let (place, answered) = locker.enqueue(req, self.since_unix_ms, &live);
        // An instance suspected when it was slow to confirm our subscription may decide again
        // once it has answered us (see `WaitState::join`). Answered, not merely subscribed: a
        // paused instance keeps its connection, and so our subscription there, while it
        // answers nothing.
        for (i, _) in answered.iter().enumerate().filter(|(_, a)| **a) {
            locker.trust(i);
        }
        let answered = answered.iter().filter(|a| **a).count();
        if let Some(place) = place {
            locker.quorum().trace(&format!(
                "wait: pid {} is {} of {} in the queue",
                req.meta.pid,
                place.ahead + 1,
                place.length.map_or("more".to_string(), |n| n.to_string())
            ));
            self.place = Some(place);
        }
        let every = if self.near_head() { RENEW_EVERY } else { RENEW_FAR };
        self.renew_at = Instant::now() + if settled { every } else { RENEW_SOON };
        answered
    }

    /// A release told us it is our turn.
    pub(super) fn first_now(&mut self) {
        let length = self.place.as_ref().and_then(|p| p.length);
        self.place = Some(Place { ahead: 0, length });
    }

    pub(super) fn first_in_line(&self) -> bool {
        self.place.as_ref().is_some_and(|p| p.ahead == 0)
    }

    /// Near enough the head that the lock may be ours without a release telling us (see
    /// [`NEAR_HEAD`]); unknown places count as near.
    pub(super) fn near_head(&self) -> bool {
        self.place.as_ref().is_none_or(|p| p.ahead <= NEAR_HEAD)
    }
}

/// The first in line asks every instance; anyone else the decider alone, which answers
/// "another waiter's turn" without taking anything.
pub(super) fn approach_for(line: &Queued) -> Approach {
    if line.first_in_line() {
        Approach::Parallel
    } else {
        Approach::DeciderFirst
    }
}

/// Where each instance announces changes of a `--classic` lock's plain key
/// (`__keyspace@DB__:KEY`, when its `notify-keyspace-events` asks for them): another client's
/// release wakes redlock's waiters through them, as a hint. None for redlock's own lock.
pub(super) fn keyspace_channels(locker: &Locker, plain: Option<&str>) -> Vec<String> {
    let Some(plain) = plain else {
        return vec![];
    };
    locker
        .settings()
        .servers
        .iter()
        .map(|s| format!("__keyspace@{}__:{plain}", s.db()))
        .collect()
}
