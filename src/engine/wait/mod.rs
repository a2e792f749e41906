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

mod queued;
mod timing;

use crate::engine::error::LockError;
use crate::engine::lock::{Approach, Attempt, Busy, Lease, Locker, Request};
use crate::engine::notify::{State, Subscription};
use crate::engine::settings::Wait;
use crate::engine::wakeup::{jitter, Wakeup, Woken};
use queued::{approach_for, keyspace_channels, Queued, RENEW_EVERY};
use timing::{recheck_reason, retry_after};

/// After this long still waiting, the caller is told once who holds the lock.
pub const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// The head of the queue finding a contender that has not finished looks again this soon.
const FIRST_IN_LINE_RECHECK: Duration = Duration::from_millis(3);
/// A holder read from the decider alone is checked against every instance this often (plus
/// jitter): a hold the release never reached (the instance was stopped) looks the same there as
/// a live one, and must not keep waiters asleep for its whole lease.
const VERIFY_EVERY: Duration = Duration::from_secs(2);
/// How many quick rechecks follow a release that seems not to have landed everywhere yet, and
/// the pause before the first (doubled each time): a release reaches the instances within a
/// round, so a few milliseconds cover it.
const RECHECKS: u32 = 3;
const RECHECK_PAUSE: Duration = Duration::from_micros(500);

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
    /// Near the head when the sleep began (see `queued::NEAR_HEAD`).
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
        // Near the head, every timer asks again (the renewal too: a release that told someone
        // else, or went by a copy of the queue that has us further back, must not leave a free
        // slot waiting for the holder's lease end). Further back only the deadline does: the
        // lock cannot be ours before those ahead of us have had it, and a release tells us.
        let due = line.near_head() || self.deadline.is_some_and(|d| now >= d);
        if unanswered {
            self.approach = Approach::Parallel;
        } else if !due {
            // Only our place was due: kept, and no attempt.
            self.last_busy = Some(busy);
        }
    }
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
