//! Waiting for a held lock: the queue, wake-ups, retries when the holder's lease runs out,
//! deadlines, and cancellation by a signal. Waiting is for a holder, never for servers: an
//! unreachable quorum ends the wait at once (the attempt's own error).
//!
//! A waiter tries once (every instance at once). If the lock is held and it may wait, it
//! subscribes to its own wake-up channel on every instance ([`crate::engine::notify`]), joins
//! the resource's queue there ([`crate::engine::lock::Place`]), and tries again at once: a
//! release announced before it was queued is seen by that attempt. Then it sleeps until the
//! release that makes it the head of the queue wakes it (one message, to it alone), the
//! holder's lease runs out (a holder that dies is never released, only expires), or it is
//! time to renew its place, never past its `--wait` deadline. It retries on every instance at
//! once when it is first in line, and otherwise asks the decider alone, which grants a free
//! lock only to the head of its queue ([`crate::engine::lock::Approach`]). A hold that a release
//! never reached (an instance stopped meanwhile) is recognised and asked past
//! ([`recheck_reason`]). Leaving the wait without the lock leaves the queue at once.

use std::time::{Duration, Instant};

use crate::engine::error::LockError;
use crate::engine::lock::{Approach, Attempt, Busy, Lease, Locker, Place, Request};
use crate::engine::notify::{State, Subscription};
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
/// The head of the queue finding a contender that has not finished looks again this soon.
const FIRST_IN_LINE_RECHECK: Duration = Duration::from_millis(3);
/// A `--classic` lock held by another client (a Redlock library) is looked at again this often,
/// and at its expiry if sooner (docs/classic.md, "Waiting": at least once a second, and at most
/// 100 ms after the key's expiry): where the server sends no keyspace notifications, its
/// release is heard of no other way.
const POLL_OTHER_CLIENT: Duration = Duration::from_secs(1);
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
/// How often a queued waiter near the head renews its place (well within `REGISTRATION`) and
/// looks again: a head of the queue that died is gone from it by then, so the next one's turn
/// comes. Further back, every [`RENEW_FAR`].
const RENEW_EVERY: Duration = Duration::from_secs(1);
const RENEW_FAR: Duration = Duration::from_secs(2);
/// Waiters this close to the head try for the lock when their timers say so (the holder's
/// lease end, a check of a stale hold); those further back only keep their place, and try when
/// a release tells them it is their turn or a renewal finds them near the head. So a long queue
/// costs each instance one small renewal per waiter per [`RENEW_EVERY`], whatever its length.
const NEAR_HEAD: usize = 64;
/// How soon a waiter registers again while some instance has not confirmed its subscription.
const RENEW_SOON: Duration = Duration::from_millis(50);

/// Acquire `req`, waiting per `wait`. `notice` is called with what each attempt saw once the
/// wait has lasted [`NOTICE_AFTER`] (the caller decides what to tell, and how often). Ends with `LockError::Held`
/// when the wait runs out, `LockError::Interrupted` on a signal (with no partial hold left:
/// every attempt undoes itself), or the attempt's own error; in all of those it has left the
/// queue.
pub fn acquire(
    locker: &Locker,
    req: &Request,
    wait: Wait,
    wakeup: &Wakeup,
    notice: &mut dyn FnMut(&Busy),
) -> Result<Lease, LockError> {
    let mut queued: Option<Queued> = None;
    let result = wait_in_line(locker, req, wait, wakeup, notice, &mut queued);
    if let (Err(_), Some(_)) = (&result, &queued) {
        locker.dequeue(&req.resource, &req.token);
    }
    // Dropping the subscription ends it: where our record is left, the scripts drop it.
    drop(queued);
    result
}

/// A waiter's place: its wake-up subscription, where it is live, and when to renew.
struct Queued {
    sub: Subscription,
    /// When the wait began (wall clock), as the queue shows it.
    since_unix_ms: u64,
    place: Option<Place>,
    renew_at: Instant,
}

impl Queued {
    /// Join (or renew) where the subscription is live; learn our place. Returns how many
    /// instances answered.
    fn renew(&mut self, locker: &Locker, req: &Request) -> usize {
        self.sub.renew();
        let states = self.sub.states();
        // An instance suspected when it was slow to confirm our subscription may decide again
        // once it has (see `wait_in_line`).
        for (i, state) in states.iter().enumerate() {
            if *state == State::Live {
                locker.trust(i);
            }
        }
        let live: Vec<bool> = states.iter().map(|s| *s == State::Live).collect();
        // Where our subscription is still being set up we are not registered either: look
        // again soon, so that our place there is about the same as everywhere else. (An
        // instance that is down waits for the usual renewal.)
        let settled = !states.contains(&State::Pending);
        let (place, answered) = locker.enqueue(req, self.since_unix_ms, &live);
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
    fn first_now(&mut self) {
        let length = self.place.as_ref().and_then(|p| p.length);
        self.place = Some(Place {
            ahead: 0,
            length,
            head: None,
        });
    }

    fn first_in_line(&self) -> bool {
        self.place.as_ref().is_some_and(|p| p.ahead == 0)
    }

    /// Near enough the head that the lock may be ours without a release telling us (see
    /// [`NEAR_HEAD`]); unknown places count as near.
    fn near_head(&self) -> bool {
        self.place.as_ref().is_none_or(|p| p.ahead <= NEAR_HEAD)
    }
}

fn wait_in_line(
    locker: &Locker,
    req: &Request,
    wait: Wait,
    wakeup: &Wakeup,
    notice: &mut dyn FnMut(&Busy),
    queued: &mut Option<Queued>,
) -> Result<Lease, LockError> {
    let mut w = WaitState::new(locker, req, wait, wakeup);
    loop {
        if let Some(signal) = wakeup.interrupted() {
            return Err(interrupted(signal, &req.resource));
        }
        let mut busy = match w.look(queued.as_ref())? {
            Look::Acquired(lease) => return Ok(lease),
            Look::Busy(busy) => busy,
        };
        busy.ahead = queued.as_ref().and_then(|l| l.place.as_ref()).map(|p| p.ahead);
        if w.recheck_soon(&busy)? {
            continue;
        }
        let now = Instant::now();
        if w.deadline.is_some_and(|d| now >= d) {
            return Err(LockError::Held {
                resource: req.resource.clone(),
                busy,
                waited: wait != Wait::No,
            });
        }
        let Some(line) = queued else {
            *queued = Some(w.join(now));
            continue;
        };
        if now.duration_since(w.started) >= NOTICE_AFTER {
            // Each look at the lock once the wait is long enough to tell: the caller says what
            // is news (a new holder, a new place), so a long wait's notice stays true.
            w.noticed = true;
            notice(&busy);
        }
        let plan = w.plan(&busy, line, now);
        let woken = wakeup.sleep_until(plan.next);
        w.woken(woken, &plan, busy, line)?;
    }
}

/// What one look at the lock found.
enum Look {
    Acquired(Lease),
    Busy(Busy),
}

/// The next sleep: until when, and whether its end is the check of a stale hold.
struct Plan {
    next: Instant,
    verify_at: Instant,
    verify: bool,
    /// Near the head when the sleep began (see [`NEAR_HEAD`]).
    near: bool,
}

/// One wait, from its first attempt to the lock or its end: what it has seen, and when it asks
/// again. A method per step of `wait_in_line`'s loop.
struct WaitState<'a> {
    locker: &'a Locker,
    req: &'a Request,
    wakeup: &'a Wakeup,
    started: Instant,
    deadline: Option<Instant>,
    /// N/2 + 1.
    q: usize,
    approach: Approach,
    noticed: bool,
    /// The highest fence seen on any holder, and the holder the last attempt saw: the clues
    /// that a hold on the decider is stale (see `recheck_reason`).
    highest_fence: u64,
    last_holder: Option<String>,
    woken_by_release: bool,
    /// Quick rechecks made since the last sleep (see `recheck_reason`).
    rechecks: u32,
    /// When a release last said it was our turn: until the lock is ours, the head looks again
    /// often, as no second wake-up will come for that release.
    turn_since: Option<Instant>,
    /// The last attempt's answer, while a waiter only keeps its place; and when that answer
    /// says to try again (the holder's lease end, a contender that has not finished).
    last_busy: Option<Busy>,
    retry_at: Instant,
}

impl<'a> WaitState<'a> {
    fn new(locker: &'a Locker, req: &'a Request, wait: Wait, wakeup: &'a Wakeup) -> WaitState<'a> {
        let started = Instant::now();
        WaitState {
            locker,
            req,
            wakeup,
            started,
            deadline: match wait {
                Wait::No => Some(started),
                Wait::For(d) => Some(started + d),
                Wait::Forever => None,
            },
            q: locker.quorum().needed(),
            approach: Approach::Parallel,
            noticed: false,
            highest_fence: 0,
            last_holder: None,
            woken_by_release: false,
            rechecks: 0,
            turn_since: None,
            last_busy: None,
            retry_at: started,
        }
    }

    /// Ask for the lock, or, while we only keep our place, go by the last answer.
    fn look(&mut self, queued: Option<&Queued>) -> Result<Look, LockError> {
        if let Some(busy) = self.last_busy.take() {
            return Ok(Look::Busy(busy));
        }
        self.wakeup.clear_notified();
        let busy = match self.locker.attempt(self.req, self.approach)? {
            Attempt::Acquired(lease) => return Ok(Look::Acquired(lease)),
            Attempt::Busy(busy) => busy,
        };
        // `--classic`: where this attempt took the plain key and gave it back, its deletion
        // was announced to us like another client's release. It is no news: heeding it would
        // retry at once, undo again, and spin. (It arrived before the undo's reply, on the
        // same connection, so it is here by now.)
        let undone = self.locker.take_undone();
        if let Some(line) = queued {
            if undone.contains(&true) && line.sub.only_our_own_hints(&undone) {
                self.wakeup.clear_notified();
            }
        }
        let subscribed = queued.is_none_or(|l| l.sub.live() >= self.q);
        self.retry_at = Instant::now() + retry_after(&busy, subscribed);
        Ok(Look::Busy(busy))
    }

    /// Whether `busy` looks like a hold a release never reached, to be asked about again in a
    /// moment rather than waited for (a few times, then it is taken at its word); true when
    /// that pause has been made.
    fn recheck_soon(&mut self, busy: &Busy) -> Result<bool, LockError> {
        let recheck = recheck_reason(
            busy,
            self.highest_fence,
            self.woken_by_release,
            self.last_holder.as_deref(),
        );
        if let Some(h) = &busy.holder {
            self.highest_fence = self.highest_fence.max(h.fence);
        }
        if let (Some(why), true) = (recheck, self.rechecks < RECHECKS) {
            let pause = RECHECK_PAUSE * (1 << self.rechecks);
            self.rechecks += 1;
            self.locker.quorum().trace(&format!(
                "wait: {why}; asking every instance in {}us",
                pause.as_micros()
            ));
            pause_before_retry(self.req, self.wakeup, pause, self.deadline)?;
            self.approach = Approach::Parallel;
            return Ok(true);
        }
        self.rechecks = 0;
        self.last_holder = busy.holder.as_ref().map(|h| h.token.clone());
        self.woken_by_release = false;
        Ok(false)
    }

    /// Subscribe, join the queue, then try again at once (see the module comment).
    fn join(&mut self, now: Instant) -> Queued {
        let (locker, req) = (self.locker, self.req);
        let settings = locker.settings();
        let keys = locker.keys(&req.resource);
        let sub = Subscription::start(
            locker.quorum().wire(),
            locker.quorum().n(),
            &keys.wake(&req.token),
            keyspace_channels(locker, keys.classic.as_deref()),
            self.wakeup,
        );
        let mut until = now + settings.connect_timeout + settings.op_timeout;
        if let Some(d) = self.deadline {
            until = until.min(d);
        }
        sub.wait_live(self.q, until, self.wakeup);
        // An instance still silent is not answering (stopped, cut off): it should not decide
        // for us until it is heard from. (One that refused the subscription did answer; an
        // attempt will tell whether it takes the lock.)
        for (i, state) in sub.states().into_iter().enumerate() {
            if state == State::Pending {
                locker.suspect(i);
            }
        }
        let waited_ms = u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(0);
        let mut line = Queued {
            sub,
            since_unix_ms: crate::engine::holder::now_unix_ms().saturating_sub(waited_ms),
            place: None,
            renew_at: now,
        };
        line.renew(locker, req);
        self.approach = approach_for(&line);
        line
    }

    /// When to look again if nothing wakes us first.
    fn plan(&mut self, busy: &Busy, line: &Queued, now: Instant) -> Plan {
        let near = line.near_head();
        let mut next = line.renew_at;
        if near {
            next = next.min(self.retry_at);
        }
        let told_our_turn = self
            .turn_since
            .is_some_and(|t| now.duration_since(t) < RENEW_EVERY);
        let unfinished = busy
            .holder
            .as_ref()
            .is_some_and(|h| h.fence == 0 && !h.other_client);
        if line.first_in_line() && (told_our_turn || unfinished) {
            // First in line, and what stands in the way is a contender that has not finished
            // (most likely one the decider just turned away, giving back what it took), or the
            // release that told us it was our turn has not reached every instance yet.
            next = next.min(now + FIRST_IN_LINE_RECHECK + jitter(FIRST_IN_LINE_RECHECK));
        }
        if !self.noticed {
            next = next.min(self.started + NOTICE_AFTER);
        }
        if let Some(d) = self.deadline {
            next = next.min(d);
        }
        let verify_at = now + VERIFY_EVERY + jitter(VERIFY_EVERY / 2);
        let verify = line.first_in_line() && busy.from_decider && busy.holder.is_some() && verify_at < next;
        if verify {
            next = verify_at;
        }
        self.locker.quorum().trace_with(|t| {
            format!(
                "wait: {}; {} ahead; sleeping {:.1}ms at most{}",
                (t.busy)(busy),
                busy.ahead.map_or("?".to_string(), |a| a.to_string()),
                next.saturating_duration_since(now).as_secs_f64() * 1e3,
                if verify {
                    ", then checking every instance"
                } else {
                    ""
                }
            )
        });
        self.approach = approach_for(line);
        Plan {
            next,
            verify_at,
            verify,
            near,
        }
    }

    /// What a sleep's end means for the next look: how to ask, or (keeping our place only)
    /// not to ask at all.
    fn woken(&mut self, woken: Woken, plan: &Plan, busy: Busy, line: &mut Queued) -> Result<(), LockError> {
        match woken {
            Woken::Interrupted(signal) => return Err(interrupted(signal, &self.req.resource)),
            Woken::Notified if !line.sub.take_turn() => {
                // An instance was lost or came back: one fewer to hear a release from, or one
                // whose release may have gone unheard. Those near the head ask every instance;
                // the rest renew their place at once (which also tells them whether the
                // servers are still there), so a thousand waiters do not all ask at once.
                // Or the lock's plain key was deleted or expired somewhere (`--classic`: another
                // client's release, which no message of ours announces): the same look again.
                self.locker.quorum().trace(if line.sub.take_hint() {
                    "wait: woken: the lock's key is gone on an instance (a keyspace notification)"
                } else {
                    "wait: woken: an instance lost or back"
                });
                if line.near_head() {
                    self.approach = Approach::Parallel;
                } else {
                    line.renew_at = Instant::now();
                    self.last_busy = Some(busy);
                }
            }
            Woken::Notified => self.our_turn(line),
            Woken::TimedOut if plan.verify && Instant::now() >= plan.verify_at => {
                self.approach = Approach::Parallel
            }
            Woken::TimedOut => self.timed_out(plan, busy, line),
        }
        Ok(())
    }

    /// A release told us it is our turn.
    fn our_turn(&mut self, line: &mut Queued) {
        for i in line.sub.take_heard() {
            self.locker.trust(i);
        }
        self.locker.quorum().trace("wait: woken: our turn");
        self.woken_by_release = true;
        self.turn_since = Some(Instant::now());
        // The release went to the head of the queue, which is us: ask every instance (the
        // decider still says no if its copy of the queue has another head). The place we
        // learnt when we last renewed is out of date: we are first in line now, so should this
        // attempt still find the lock held (the release has not reached every instance), we
        // look again within milliseconds, not at our next renewal.
        line.first_now();
        self.approach = Approach::Parallel;
    }

    /// A timer ran out: our place's renewal, the answer's retry time, the notice or the
    /// deadline.
    fn timed_out(&mut self, plan: &Plan, busy: Busy, line: &mut Queued) {
        let now = Instant::now();
        let mut answered = self.q;
        if now >= line.renew_at {
            answered = line.renew(self.locker, self.req);
            if line.first_in_line() {
                self.approach = Approach::Parallel;
            }
        }
        // Fewer than a quorum answer (our renewal, or our subscriptions): ask every instance,
        // so that servers gone end the wait with 69 (docs/waiting.md).
        let unanswered = answered < self.q || (plan.near && line.sub.live() < self.q);
        // What else may have woken us: the answer's retry time (near the head only), the
        // deadline, or the notice; none of them but the first asks the servers.
        let due = (line.near_head() && now >= self.retry_at) || self.deadline.is_some_and(|d| now >= d);
        if unanswered {
            self.approach = Approach::Parallel;
        } else if !due && !line.first_in_line() {
            // Only our place was due: kept, and no attempt (the lock cannot be ours before
            // those ahead of us have had it, and a release tells us).
            self.last_busy = Some(busy);
        }
    }
}

/// The first in line asks every instance; anyone else the decider alone, which answers
/// "another waiter's turn" without taking anything.
fn approach_for(line: &Queued) -> Approach {
    if line.first_in_line() {
        Approach::Parallel
    } else {
        Approach::DeciderFirst
    }
}

/// Where each instance announces changes of a `--classic` lock's plain key
/// (`__keyspace@DB__:KEY`, when its `notify-keyspace-events` asks for them): another client's
/// release wakes redlock's waiters through them, as a hint. None for redlock's own lock.
fn keyspace_channels(locker: &Locker, plain: Option<&str>) -> Vec<String> {
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
fn interrupted(signal: i32, resource: &str) -> LockError {
    LockError::Interrupted {
        resource: resource.to_string(),
        signal,
    }
}

/// Pause for `pause` before the next attempt (never past the `--wait` deadline); a signal
/// ends the wait instead.
fn pause_before_retry(
    req: &Request,
    wakeup: &Wakeup,
    pause: Duration,
    deadline: Option<Instant>,
) -> Result<(), LockError> {
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
