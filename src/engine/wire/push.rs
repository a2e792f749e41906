//! Wake-up messages on the wire ([`Handle`]): a subscription to one channel on every instance, on the same
//! connection as the requests where the server speaks RESP3 (Redis 6 and later), and on a
//! connection and thread of its own (the redis crate's pub/sub) where it speaks only RESP2,
//! on which a subscribed connection can send nothing else.
//!
//! The legacy listener's thread ends on its own within [`POLL`] once the subscription is
//! dropped: every read has a timeout, after which it looks at the stop flag. Nobody joins it,
//! so ending a subscription never delays the caller, who usually has just acquired the lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Link, Shared, Sub};
use crate::engine::server::ServerUrl;
use crate::engine::sync::lock;

/// What an instance's subscription did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushEvent<'a> {
    /// The server confirmed the subscription: messages published there reach us.
    Subscribed,
    /// Not (or no longer) subscribed there: the connection failed, or the server refused.
    Lost,
    Message(&'a [u8]),
    /// A message on the hint channel (a keyspace notification): something may have changed.
    Hint(&'a [u8]),
}

/// Called from the I/O thread (or a legacy listener) with instance `i`'s events; it must not
/// call back into the wire.
pub type OnPush = Arc<dyn Fn(usize, PushEvent<'_>) + Send + Sync>;

/// The wire's one subscription: the channel, a hint channel per instance (none where the list
/// is short), and whom to tell.
#[derive(Clone)]
pub struct Wanted {
    pub channel: String,
    pub hints: Vec<String>,
    pub on_push: OnPush,
}

impl Wanted {
    /// What a message on `channel` at instance `i` is: ours, a hint, or none of ours.
    pub fn event<'a>(&self, i: usize, channel: &[u8], payload: &'a [u8]) -> Option<PushEvent<'a>> {
        if self.channel.as_bytes() == channel {
            Some(PushEvent::Message(payload))
        } else if self.hints.get(i).is_some_and(|h| h.as_bytes() == channel) {
            Some(PushEvent::Hint(payload))
        } else {
            None
        }
    }
}

/// How an idle legacy listener looks at its stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Pause before subscribing again after a failure (doubled up to [`RECONNECT_MAX`]).
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// A RESP2 instance's listener; dropping it stops the thread.
pub struct Legacy {
    stop: Arc<AtomicBool>,
}

impl Drop for Legacy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Legacy {
    /// Subscribe to `wanted.channel` on `server` on a connection and thread of its own.
    pub fn start(
        i: usize,
        server: ServerUrl,
        wanted: Wanted,
        connect_timeout: Duration,
        op_timeout: Duration,
    ) -> Legacy {
        let stop = Arc::new(AtomicBool::new(false));
        let on_push = Arc::clone(&wanted.on_push);
        let listener = Listener {
            i,
            server,
            wanted,
            connect_timeout,
            op_timeout,
            stop: Arc::clone(&stop),
        };
        let spawned = thread::Builder::new()
            .name("redlock-sub".into())
            .spawn(move || listener.run());
        if spawned.is_err() {
            // No thread, no notifications from that instance: the waiter's timers cover it.
            on_push(i, PushEvent::Lost);
        }
        Legacy { stop }
    }
}

struct Listener {
    i: usize,
    server: ServerUrl,
    wanted: Wanted,
    connect_timeout: Duration,
    op_timeout: Duration,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(self) {
        let mut pause = RECONNECT_FIRST;
        while !self.stopped() {
            match super::connect::open(&self.server, self.connect_timeout, self.op_timeout) {
                Ok(mut conn) => {
                    pause = RECONNECT_FIRST;
                    self.listen(&mut conn);
                }
                Err(_) => (self.wanted.on_push)(self.i, PushEvent::Lost),
            }
            self.sleep(pause);
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }

    /// Subscribe and pass each message on until the connection fails or we are stopped.
    fn listen(&self, conn: &mut redis::Connection) {
        let mut pubsub = conn.as_pubsub();
        // SUBSCRIBE waits for the server's confirmation, bounded by the op timeout.
        let subscribed =
            pubsub.subscribe(&self.wanted.channel).is_ok() && pubsub.set_read_timeout(Some(POLL)).is_ok();
        if let (true, Some(hint)) = (subscribed, self.wanted.hints.get(self.i)) {
            // Refused or not, hints only add to the waiter's timers (see `Waiting::Hint`).
            let _ = pubsub.subscribe(hint);
        }
        if subscribed && !self.stopped() {
            (self.wanted.on_push)(self.i, PushEvent::Subscribed);
            // A stopped or cut-off server keeps the connection open and just goes quiet, so a
            // quiet connection is asked for a PING once per op timeout.
            let mut last_heard = Instant::now();
            loop {
                match pubsub.get_message() {
                    Ok(_) if self.stopped() => break,
                    Ok(msg) => {
                        last_heard = Instant::now();
                        let channel = msg.get_channel_name().as_bytes();
                        if let Some(event) = self.wanted.event(self.i, channel, msg.get_payload_bytes()) {
                            (self.wanted.on_push)(self.i, event);
                        }
                    }
                    Err(e) if e.is_timeout() && !self.stopped() => {
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
        if !self.stopped() {
            (self.wanted.on_push)(self.i, PushEvent::Lost);
        }
        // Dropping the PubSub would send UNSUBSCRIBE and wait for the reply; closing the
        // connection (when the caller drops it) unsubscribes just as well, without a request.
        std::mem::forget(pubsub);
    }

    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.stopped() {
            let now = Instant::now();
            if now >= until {
                return;
            }
            thread::sleep((until - now).min(POLL));
        }
    }
}

/// The wire's subscription (one at a time: a process waits for one resource).
#[derive(Clone)]
pub struct Handle {
    pub(super) shared: Arc<Shared>,
}

impl Handle {
    /// Subscribe to `channel` on every instance, and to `hints[i]` on instance `i` where given
    /// (messages there are hints, [`PushEvent::Hint`]), telling `on_push` what happens there;
    /// replaces any earlier subscription. Instances not connected yet are connected; where a
    /// connection fails, [`Handle::resubscribe`] tries again.
    pub fn subscribe(&self, channel: &str, hints: Vec<String>, on_push: OnPush) {
        self.unsubscribe();
        *lock(&self.shared.wanted) = Some(Wanted {
            channel: channel.to_string(),
            hints,
            on_push,
        });
        self.resubscribe();
    }

    /// Subscribe again where the subscription is not in place (its connection failed).
    pub fn resubscribe(&self) {
        for i in 0..self.shared.lines.len() {
            let events = {
                let mut line = lock(&self.shared.lines[i]);
                self.shared.want_subscription(i, &mut line)
            };
            self.shared.act(events);
        }
    }

    /// End the subscription everywhere (UNSUBSCRIBE where it shares the connection, which stays
    /// open for requests).
    pub fn unsubscribe(&self) {
        let Some(wanted) = lock(&self.shared.wanted).take() else {
            return;
        };
        for i in 0..self.shared.lines.len() {
            let events = {
                let mut line = lock(&self.shared.lines[i]);
                match (std::mem::take(&mut line.sub), &mut line.link) {
                    (Sub::Sent, Link::Up(conn)) => {
                        conn.push_subscription(&wanted.channel, false);
                        if let Some(hint) = wanted.hints.get(i) {
                            conn.push_subscription(hint, false);
                        }
                        self.shared.flush(i, &mut line)
                    }
                    _ => vec![],
                }
            };
            self.shared.act(events);
        }
    }
}
