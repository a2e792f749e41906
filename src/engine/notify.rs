//! Wake-up notifications: while a waiter waits, it is subscribed on every instance to its own
//! channel (`P wake:NAME:TOKEN`, published when it becomes the head of the queue there: by a
//! release, a force release, or the waiter before it leaving), on the connection its requests
//! use ([`crate::engine::wire::push`]), and each new event wakes it. An instance that is down
//! sends none, and that is all: the waiter still retries when the holder's lease runs out (see
//! `engine::wait`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::engine::wakeup::Wakeup;
use crate::engine::wire::push::PushEvent;
use crate::engine::wire::Handle;

/// Once a quorum is subscribed, the others get at least this long to confirm (see `wait_live`):
/// a confirmation comes behind the replies to the requests before it on the same connection,
/// so an instance busy with a herd of arrivals confirms later than the first ones did.
const GRACE_MIN: Duration = Duration::from_millis(50);

/// Where one instance's subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting, or waiting for the server to confirm SUBSCRIBE.
    Pending,
    /// Subscribed: a release announced there reaches us.
    Live,
    /// Not subscribed (unreachable, refused); tried again at the waiter's next renewal.
    Down,
}

struct Shared {
    states: Mutex<Vec<State>>,
    changed: Condvar,
    releases: Mutex<Releases>,
}

/// One event (a release, a waiter leaving) is announced by every instance where we are first
/// in the queue, so it arrives up to N times, each copy carrying the same payload (the token
/// that released or left). A message is news when its payload differs from the last one, or
/// the last one is older than [`SAME_RELEASE_WITHIN`] (the same holder releasing again later).
struct Releases {
    /// Instances a message came from since [`Subscription::take_heard`] last looked.
    heard: Vec<bool>,
    last: Option<(Vec<u8>, Instant)>,
    /// A message came since [`Subscription::take_turn`] last looked: our turn, not merely an
    /// instance lost or back.
    turn: bool,
    /// The instances a hint came from since [`Subscription::take_hint`] last looked.
    hints: Vec<bool>,
}

/// How far apart the copies of one event arrive, at most (they are published within one
/// round of the releasing holder).
const SAME_RELEASE_WITHIN: Duration = Duration::from_millis(50);

impl Releases {
    /// Count a message from instance `i`; true when it announces an event not yet seen.
    fn is_new(&mut self, i: usize, payload: &[u8]) -> bool {
        self.heard[i] = true;
        let now = Instant::now();
        let copy = self
            .last
            .as_ref()
            .is_some_and(|(p, at)| p == payload && now.duration_since(*at) < SAME_RELEASE_WITHIN);
        if !copy {
            self.last = Some((payload.to_vec(), now));
            self.turn = true;
        }
        !copy
    }

    /// A keyspace notification of the lock's plain key (`--classic`): news when it says the
    /// key is gone there (a library's release, its expiry). Every instance's is news, unlike
    /// the copies of a release: a library releases one instance after another, so the waiter
    /// woken by the first finds the rest still held, and the next one's is what frees a quorum.
    fn is_new_hint(&mut self, i: usize, payload: &[u8]) -> bool {
        let gone = GONE.contains(&payload);
        if gone {
            self.hints[i] = true;
        }
        gone
    }
}

/// The keyspace events that say a key is gone: what may free a lock another client held.
const GONE: [&[u8]; 4] = [b"del", b"expired", b"evicted", b"unlink"];

impl Shared {
    fn states(&self) -> MutexGuard<'_, Vec<State>> {
        crate::engine::sync::lock(&self.states)
    }

    /// What instance `i` did; true when the waiter should look again.
    fn on_push(&self, i: usize, event: PushEvent<'_>) -> bool {
        match event {
            PushEvent::Message(payload) => crate::engine::sync::lock(&self.releases).is_new(i, payload),
            // A hint is no turn: the waiter looks again as when an instance came back.
            PushEvent::Hint(payload) => crate::engine::sync::lock(&self.releases).is_new_hint(i, payload),
            PushEvent::Subscribed | PushEvent::Lost => {
                let now = if event == PushEvent::Subscribed {
                    State::Live
                } else {
                    State::Down
                };
                let was = std::mem::replace(&mut self.states()[i], now);
                self.changed.notify_all();
                // Subscribed again after a gap: a release may have gone unheard. Lost: one
                // fewer instance to hear releases from, so the others are asked.
                was != now && was != State::Pending
            }
        }
    }
}

/// A live subscription to one channel on every instance. Dropping it unsubscribes.
pub struct Subscription {
    shared: Arc<Shared>,
    wire: Option<Handle>,
}

impl Subscription {
    /// Subscribe to `channel` on every instance of `wire` (`None`: no wire, so no instance),
    /// and to `hints[i]` on instance `i` where given (the keyspace channel of a `--classic`
    /// lock's plain key, which another client may release), waking `wakeup` on each new event.
    /// Returns at once; [`Subscription::wait_live`] waits for the servers to confirm.
    pub fn start(
        wire: Option<Handle>,
        n: usize,
        channel: &str,
        hints: Vec<String>,
        wakeup: &Wakeup,
    ) -> Subscription {
        let shared = Arc::new(Shared {
            states: Mutex::new(vec![
                if wire.is_some() {
                    State::Pending
                } else {
                    State::Down
                };
                n
            ]),
            changed: Condvar::new(),
            releases: Mutex::new(Releases {
                heard: vec![false; n],
                last: None,
                turn: false,
                hints: vec![false; n],
            }),
        });
        if let Some(w) = &wire {
            let (s, wakeup) = (Arc::clone(&shared), wakeup.clone());
            w.subscribe(
                channel,
                hints,
                Arc::new(move |i, event| {
                    if i < n && s.on_push(i, event) {
                        wakeup.notify();
                    }
                }),
            );
        }
        Subscription { shared, wire }
    }

    /// Subscribe again where the subscription was lost (called at each renewal of the
    /// waiter's place: that is when it looks at the instances anyway, so a server that is down
    /// costs no polling of its own).
    pub fn renew(&self) {
        if let Some(w) = &self.wire {
            w.resubscribe();
        }
    }

    /// Wait until no instance is still pending (or, once `needed` are subscribed, a short
    /// grace for the rest), or `until`, or `wakeup` is interrupted; returns how many are
    /// subscribed. [`Subscription::states`] then tells which did not answer.
    pub fn wait_live(&self, needed: usize, until: Instant, wakeup: &Wakeup) -> usize {
        let started = Instant::now();
        let mut until = until;
        let mut states = self.shared.states();
        loop {
            let live = states.iter().filter(|s| **s == State::Live).count();
            let pending = states.contains(&State::Pending);
            let now = Instant::now();
            if live >= needed && until > now + GRACE_MIN {
                // Enough to hear any release; the others get as long again (at least
                // GRACE_MIN), so that one still pending afterwards is really not answering.
                until = now + now.duration_since(started).max(GRACE_MIN);
            }
            if !pending || now >= until || wakeup.interrupted().is_some() {
                return live;
            }
            // Short slices, so a signal is seen promptly (it wakes the waiter's condvar, not ours).
            let slice = (until - now).min(Duration::from_millis(20));
            states = self
                .shared
                .changed
                .wait_timeout(states, slice)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The instances a release message came from since the last call: proof they are up.
    pub fn take_heard(&self) -> Vec<usize> {
        let mut r = crate::engine::sync::lock(&self.shared.releases);
        let heard = r
            .heard
            .iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(i, _)| i)
            .collect();
        r.heard.iter_mut().for_each(|h| *h = false);
        heard
    }

    /// Whether a message said it is our turn since the last call (a wake-up may also mean an
    /// instance was lost or came back, which says nothing of our turn).
    pub fn take_turn(&self) -> bool {
        std::mem::take(&mut crate::engine::sync::lock(&self.shared.releases).turn)
    }

    /// Whether a hint (the lock's key gone somewhere) came since the last call.
    pub fn take_hint(&self) -> bool {
        let mut r = crate::engine::sync::lock(&self.shared.releases);
        let any = r.hints.contains(&true);
        r.hints.iter_mut().for_each(|h| *h = false);
        any
    }

    /// Forget the hints from the instances in `ours` (where our own undo deleted the key: no
    /// news); true when nothing else is news: no hint from another instance, no turn.
    pub fn only_our_own_hints(&self, ours: &[bool]) -> bool {
        let mut r = crate::engine::sync::lock(&self.shared.releases);
        for (h, o) in r.hints.iter_mut().zip(ours) {
            *h &= !*o;
        }
        !r.turn && !r.hints.contains(&true)
    }

    /// How many instances are subscribed right now.
    pub fn live(&self) -> usize {
        self.shared.states().iter().filter(|s| **s == State::Live).count()
    }

    pub fn states(&self) -> Vec<State> {
        self.shared.states().clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(w) = &self.wire {
            w.unsubscribe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn releases(n: usize) -> Releases {
        Releases {
            heard: vec![false; n],
            last: None,
            turn: false,
            hints: vec![false; n],
        }
    }

    #[test]
    fn the_copies_of_one_event_wake_once_and_the_next_event_wakes_again() {
        let mut r = releases(3);
        assert!(r.is_new(1, b"holder-a"));
        assert!(!r.is_new(0, b"holder-a"));
        assert!(!r.is_new(2, b"holder-a"));
        // The next release, from any instance, at once: news.
        assert!(r.is_new(0, b"holder-b"));
        assert!(!r.is_new(1, b"holder-b"));
        assert_eq!(r.heard, vec![true; 3]);
    }

    #[test]
    fn a_key_gone_is_a_hint_from_every_instance_and_other_key_events_none() {
        let mut r = releases(3);
        assert!(!r.is_new_hint(0, b"expire"));
        assert!(!r.is_new_hint(0, b"set"));
        assert!(r.is_new_hint(0, b"del"));
        assert!(r.is_new_hint(1, b"del"));
        assert!(r.is_new_hint(2, b"expired"));
        assert!(!r.turn && r.hints == vec![true; 3]);
    }

    #[test]
    fn the_same_holder_releasing_again_later_is_news() {
        let mut r = releases(3);
        assert!(r.is_new(0, b"holder-a"));
        r.last = Some((b"holder-a".to_vec(), Instant::now() - SAME_RELEASE_WITHIN * 2));
        assert!(r.is_new(2, b"holder-a"));
    }
}
