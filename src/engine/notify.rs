//! Wake-up notifications: while a waiter waits, one thread per instance stays subscribed to
//! the waiter's own channel (`P wake:NAME:TOKEN`, published when it becomes the head of the
//! queue there: by a release, a force release, or the waiter before it leaving) and wakes the
//! waiter on every new event. An instance that is down sends none, and that is all:
//! the waiter still retries when the holder's lease runs out (see [`crate::engine::wait`]).
//!
//! Threads end on their own within [`POLL`] once the subscription is dropped: every read has a
//! timeout, after which the thread looks at the stop flag. Nobody joins them, so dropping a
//! subscription never delays the caller, who usually has just acquired the lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::engine::server::ServerUrl;
use crate::engine::settings::Settings;
use crate::engine::wakeup::Wakeup;

/// How often an idle subscriber thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Once a quorum is subscribed, the others get at least this long to confirm (see `wait_live`).
const GRACE_MIN: Duration = Duration::from_millis(2);
/// Pause before subscribing again after a failure (doubled up to [`RECONNECT_MAX`]).
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Where one instance's subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting, or waiting for the server to confirm SUBSCRIBE.
    Pending,
    /// Subscribed: a release announced there reaches us.
    Live,
    /// Not subscribed (unreachable, refused); trying again in the background.
    Down,
}

struct Shared {
    stop: AtomicBool,
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
        }
        !copy
    }
}

impl Shared {
    fn states(&self) -> MutexGuard<'_, Vec<State>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, i: usize, state: State) {
        self.states()[i] = state;
        self.changed.notify_all();
    }

    fn is_new_release(&self, i: usize, payload: &[u8]) -> bool {
        crate::engine::sync::lock(&self.releases).is_new(i, payload)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A live subscription to one channel on every instance. Dropping it
/// stops the threads (they end within [`POLL`]).
pub struct Subscription {
    shared: Arc<Shared>,
}

impl Subscription {
    /// Subscribe to `channel` on every server of `settings`, waking `wakeup` on each message.
    /// Returns at once; [`Subscription::wait_live`] waits for the servers to confirm.
    pub fn start(settings: &Settings, channel: &str, wakeup: &Wakeup) -> Subscription {
        let n = settings.servers.len();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            states: Mutex::new(vec![State::Pending; n]),
            changed: Condvar::new(),
            releases: Mutex::new(Releases {
                heard: vec![false; n],
                last: None,
            }),
        });
        for (i, server) in settings.servers.iter().enumerate() {
            let listener = Listener {
                i,
                server: server.clone(),
                channel: channel.to_string(),
                connect_timeout: settings.connect_timeout,
                op_timeout: settings.op_timeout,
                shared: Arc::clone(&shared),
                wakeup: wakeup.clone(),
            };
            let spawned = thread::Builder::new()
                .name(format!("redlock-sub-{}", server.short()))
                .spawn(move || listener.run());
            if spawned.is_err() {
                // No thread, no notifications from that instance: the waiter's timers cover it.
                shared.set(i, State::Down);
            }
        }
        Subscription { shared }
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
        let mut r = self.shared.releases.lock().unwrap_or_else(|p| p.into_inner());
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
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// One instance's subscriber thread.
struct Listener {
    i: usize,
    server: ServerUrl,
    channel: String,
    connect_timeout: Duration,
    op_timeout: Duration,
    shared: Arc<Shared>,
    wakeup: Wakeup,
}

impl Listener {
    fn run(self) {
        let mut pause = RECONNECT_FIRST;
        let mut first = true;
        while !self.shared.stopped() {
            match self.connect() {
                Ok(mut conn) => {
                    pause = RECONNECT_FIRST;
                    self.listen(&mut conn, first);
                }
                Err(_) => self.shared.set(self.i, State::Down),
            }
            first = false;
            self.sleep(pause);
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }

    fn connect(&self) -> Result<redis::Connection, crate::engine::instance::InstanceError> {
        crate::engine::instance::open(&self.server, self.connect_timeout, self.op_timeout)
    }

    /// Subscribe and pass each message on until the connection fails or we are stopped.
    fn listen(&self, conn: &mut redis::Connection, first: bool) {
        let mut pubsub = conn.as_pubsub();
        // SUBSCRIBE waits for the server's confirmation, bounded by the op timeout.
        let subscribed =
            pubsub.subscribe(&self.channel).is_ok() && pubsub.set_read_timeout(Some(POLL)).is_ok();
        let mut was_live = false;
        if subscribed && !self.shared.stopped() {
            self.shared.set(self.i, State::Live);
            was_live = true;
            if !first {
                // We were not listening for a while: a release may have gone unheard.
                self.wakeup.notify();
            }
            // A stopped or cut-off server keeps the connection open and just goes quiet, so
            // a quiet connection is asked for a PING once per op timeout: a waiter must learn
            // that a majority is gone within about the timeouts (contract), not at its next
            // full check.
            let mut last_heard = Instant::now();
            loop {
                match pubsub.get_message() {
                    Ok(_) if self.shared.stopped() => break,
                    Ok(msg) => {
                        last_heard = Instant::now();
                        if self.shared.is_new_release(self.i, msg.get_payload_bytes()) {
                            self.wakeup.notify();
                        }
                    }
                    Err(e) if e.is_timeout() && !self.shared.stopped() => {
                        if last_heard.elapsed() >= self.op_timeout {
                            let answered = pubsub.set_read_timeout(Some(self.op_timeout)).is_ok()
                                && pubsub.ping::<redis::Value>().is_ok()
                                && pubsub.set_read_timeout(Some(POLL)).is_ok();
                            if !answered {
                                break;
                            }
                            last_heard = Instant::now();
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        self.shared.set(self.i, State::Down);
        if was_live && !self.shared.stopped() {
            // One fewer instance to hear releases from: let the waiter re-check the others.
            self.wakeup.notify();
        }
        // Dropping the PubSub would send UNSUBSCRIBE and wait for the reply; closing the
        // connection (when the caller drops it) unsubscribes just as well, without a request.
        std::mem::forget(pubsub);
    }

    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.shared.stopped() {
            let now = Instant::now();
            if now >= until {
                return;
            }
            thread::sleep((until - now).min(POLL));
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
    fn the_same_holder_releasing_again_later_is_news() {
        let mut r = releases(3);
        assert!(r.is_new(0, b"holder-a"));
        r.last = Some((b"holder-a".to_vec(), Instant::now() - SAME_RELEASE_WITHIN * 2));
        assert!(r.is_new(2, b"holder-a"));
    }
}
