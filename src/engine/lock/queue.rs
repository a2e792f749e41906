//! The resource's queue of waiters (docs/waiting.md, "First come, first served").
//!
//! Every instance keeps a copy: a sorted set of tokens by arrival (on that instance's clock)
//! and each waiter's record (host, pid, command, since, mode, and when the record lapses). A
//! waiter registers where its wake-up subscription is live and renews its record while it
//! waits; a waiter that dies drops out at once (its connections close, and with them its
//! subscription, which the scripts check) and a stuck one when its record lapses.
//!
//! The copy that decides is the decider's (`decider`): its acquire script grants a free lock
//! only to the head of its queue, and a release there (and everywhere) wakes the head alone, on
//! its own channel. When the decider is down, the next instance in the resource's order
//! decides, with its own copy. The queue only orders and wakes: holding still takes a quorum
//! of grants, and a lost or disordered copy costs order, never exclusion.

use std::time::Duration;

use super::locker::{Locker, Request};
use crate::engine::instance::{Call, ErrorClass, InstanceError};
use crate::engine::scripts::scripts;
use crate::engine::value::int;

/// How long a registration lasts without renewal: a waiter that stops (SIGSTOP, a hung host)
/// gives up its place after this. Three renewals of a waiter far back (see `wait`).
pub const REGISTRATION: Duration = Duration::from_secs(6);

/// Where a waiter stands, as the queue's home instance sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Waiters ahead of us (0: next in line).
    pub ahead: usize,
    /// How many wait, where the queue said (near the head).
    pub length: Option<usize>,
}

impl Locker {
    /// Join the queue of `req.resource`, or renew our place, on the instances marked in
    /// `live` (where our wake-up subscription is confirmed: elsewhere the scripts would drop
    /// us at once). Its mode and `since_unix_ms` (when the wait began) are what `inspect` shows.
    /// Returns our place on the first of them in the resource's order that answered, and which
    /// answered.
    pub fn enqueue(&self, req: &Request, since_unix_ms: u64, live: &[bool]) -> (Option<Place>, Vec<bool>) {
        let keys = self.keys(&req.resource);
        let args = [
            req.token.clone(),
            REGISTRATION.as_millis().to_string(),
            keys.wake_prefix.clone(),
            req.meta.host.clone(),
            req.meta.pid.to_string(),
            since_unix_ms.to_string(),
            req.mode.queued(),
            req.meta.cmd.clone(),
        ];
        let round = self
            .quorum
            .ask("queue", move |_| {
                Call::eval(
                    &scripts().queue,
                    &[&keys.queue, &keys.qinfo, &keys.qexp],
                    &args.each_ref().map(String::as_str),
                    |v| place(&v),
                )
            })
            .on(live)
            .gather();
        let order = self.order(&req.resource);
        let place = order
            .into_iter()
            .find_map(|i| round.replies.get(i).and_then(|r| r.as_ref().ok()).cloned());
        let answered = round.replies.iter().map(Result::is_ok).collect();
        (place, answered)
    }

    /// Leave the queue everywhere (the wait ended without the lock). Sent to every instance
    /// and not waited for beyond the round's quorum: it is on the wire, and a lapse or a dead
    /// subscription drops us anyway.
    pub fn dequeue(&self, resource: &str, token: &str) {
        let keys = self.keys(resource);
        let token = token.to_string();
        self.quorum
            .ask("dequeue", move |_| {
                Call::eval(
                    &scripts().dequeue,
                    &[&keys.queue, &keys.qinfo, &keys.lock, &keys.holds],
                    &[&token, &keys.wake_prefix, &keys.hold_prefix],
                    |_| Ok(()),
                )
            })
            .until_quorum(|_| true)
            .gather();
    }
}

/// queue.lua's reply {place, length} (length -1 far from the head).
fn place(v: &redis::Value) -> Result<Place, InstanceError> {
    let malformed = || InstanceError::new(ErrorClass::Protocol, "unexpected queue reply");
    let redis::Value::Array(items) = v else {
        return Err(malformed());
    };
    let ahead = items.first().and_then(int).ok_or_else(malformed)?;
    let length = items.get(1).and_then(int).and_then(|n| usize::try_from(n).ok());
    Ok(Place {
        ahead: usize::try_from(ahead).unwrap_or(0),
        length,
    })
}
