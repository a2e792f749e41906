//! The lock itself: acquire (with fencing, and undo everywhere on failure), extend, release,
//! force release and read, each one round of one atomic script per instance.
//!
//! Key layout (all under the prefix P, `redlock:` by default):
//!   P lock:NAME      hash {token, count, host, pid, cmd, since, ttl, fence}, expires with the lease
//!   P fence:NAME     the last fence handed out for NAME; never expires
//!   P released:NAME  pub/sub channel; a release or force release publishes on it
//!   P undone:NAME    pub/sub channel nobody listens to: where a failed attempt's undo "publishes"

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use redis::Value;

use crate::engine::error::LockError;
use crate::engine::holder::{int, Holder, HolderMeta};
use crate::engine::instance::{ErrorClass, InstanceError, Session};
use crate::engine::quorum::{validity, Quorum, Reply, Round, Trace};
use crate::engine::scripts::scripts;
use crate::engine::settings::Settings;

/// The Redis names of one resource's lock.
#[derive(Debug, Clone)]
pub struct Keys {
    pub lock: String,
    pub fence: String,
    pub channel: String,
}

impl Keys {
    pub fn new(prefix: &str, resource: &str) -> Keys {
        Keys {
            lock: format!("{prefix}lock:{resource}"),
            fence: format!("{prefix}fence:{resource}"),
            channel: format!("{prefix}released:{resource}"),
        }
    }
}

/// What a caller asks for when acquiring.
#[derive(Debug, Clone)]
pub struct Request {
    pub resource: String,
    pub token: String,
    pub ttl: Duration,
    pub meta: HolderMeta,
}

/// A lock we hold on a quorum.
#[derive(Debug, Clone)]
pub struct Lease {
    pub resource: String,
    pub token: String,
    pub ttl: Duration,
    pub fence: u64,
    /// This token already held it: this was a re-entry (hold count + 1).
    pub reentered: bool,
    /// Our hold count after this acquisition (the largest an instance reported).
    pub count: i64,
    /// When the attempt that got it started (validity is counted from here).
    pub started: Instant,
    /// The lease is safe to rely on until then: ttl − elapsed − drift.
    pub valid_until: Instant,
    pub meta: HolderMeta,
    pub since_unix_ms: u64,
    /// Per instance: whether something of ours may be there (granted, or a request that may
    /// have run). Instances never reached hold nothing of ours, so a failed release there is
    /// nothing to warn about.
    pub maybe_held: Vec<bool>,
}

impl Lease {
    pub fn validity(&self) -> Duration {
        self.valid_until.saturating_duration_since(Instant::now())
    }
}

/// Why an attempt did not get the lock, while enough instances answered.
#[derive(Debug, Clone)]
pub struct Busy {
    /// The holder seen on the most instances, if any holds it (a lost three-way race leaves
    /// none with a majority and maybe none at all).
    pub holder: Option<Holder>,
    /// On how many instances that holder was seen.
    pub held_on: usize,
    pub n: usize,
    /// The holder was read from the decider alone (a [`Approach::DeciderFirst`] attempt that
    /// stopped there): it holds the decider, which a stale hold can do too (see `wait`).
    pub from_decider: bool,
}

impl Busy {
    /// `lock 'deploy' is held by web-3 pid 4121 (./deploy.sh) for 4m 12s`
    pub fn describe(&self, resource: &str) -> String {
        format!("lock '{resource}' is {}", self.state())
    }

    /// `held by web-3 pid 4121 (./deploy.sh) for 4m 12s`, or why nobody does.
    pub fn state(&self) -> String {
        match &self.holder {
            Some(h) => h.describe(),
            None => "contended: no holder has a quorum right now".to_string(),
        }
    }
}

pub enum Attempt {
    Acquired(Lease),
    Busy(Busy),
}

/// The outcome of an extend round.
#[derive(Debug)]
pub struct Extended {
    pub valid_until: Instant,
    pub renewed: usize,
    /// Instances that had lost the key and were taken back.
    pub restored: usize,
}

/// The outcome of a release round.
#[derive(Debug)]
pub struct Released {
    /// Instances where one hold was dropped.
    pub released: usize,
    /// Holds left (0 when the lock is gone, or kept only for --min-hold).
    pub remaining: i64,
    /// Instances where it was already free.
    pub free: usize,
    /// Other tokens' holds that were left untouched.
    pub others: Vec<Holder>,
    /// Instances that did not confirm the release: their index and "server: error".
    pub failed: Vec<(usize, String)>,
}

/// The outcome of a force release.
#[derive(Debug)]
pub struct Forced {
    /// Who held it, per instance where it was held.
    pub holders: Vec<Holder>,
    pub failed: Vec<String>,
}

#[derive(Clone)]
enum Granted {
    Taken { counter: u64 },
    Reentered { count: i64, fence: u64 },
    Held(Holder),
}

impl Granted {
    fn ours(&self) -> bool {
        !matches!(self, Granted::Held(_))
    }
}

/// How an attempt approaches the instances; see [`Locker::attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    /// Every instance at once: one round trip when the lock is free. A first attempt.
    Parallel,
    /// The decider alone first, the others only once the decider is ours. A waiter's retry.
    DeciderFirst,
}

// No split votes, no herd.
//
// With every instance asked at once, K waiters woken by the same release each reach the
// instances in a different order, and each can win a minority (one instance each of three):
// nobody has a quorum, all undo, all retry, and it can happen again. So the instances of a
// resource have a fixed order (rendezvous hashing of resource and host:port, the same in every
// process that lists the same servers), and the first of them that is up is the *decider*:
//
// 1. A waiter's retry asks the decider alone. Only the one contender the decider grants goes
//    on to the other instances; every other contender learns "held" from one command and has
//    taken nothing, so there is nothing to undo and nobody to split with. Redis runs one script
//    at a time, so the decider grants exactly one of any number of simultaneous requests.
// 2. A first attempt (usually uncontended), and the retry of the waiter first in line (`wait`),
//    ask all instances at once, to cost one round trip. If that gets no quorum, the contender
//    keeps its holds only if it holds the decider; otherwise it undoes at once. A contender
//    holding the decider but not a quorum asks the missing instances again for a few round
//    trips: contenders there hold no decider, so they are undoing, and a finished holder there
//    is usually the one whose release is still on its way to them. Among any set of
//    simultaneous contenders, then, the one holding the decider wins, unless a finished holder
//    still owns a quorum. With three instances two parallel contenders cannot split at all.
// 3. An undo announces nothing on the release channel (it publishes on `P undone:NAME`, which
//    nobody listens to): a waiter does not wake for a contender's retreat, only for a holder's
//    release, so one release wakes each waiter once and costs one command per waiter.
//
// The decider is a choice, not a dependency: an instance that fails us (or never confirms our
// subscription) is passed over until it answers again, and is asked but never waited for, so
// a stopped instance costs the op timeout once per process, not on every attempt while we hold
// the decider. A decider held for long by a contender that never finishes (it died between the
// decider and the rest) is passed over too, so the other instances still form a quorum. A
// finished hold on the decider that its holder's release never reached (the instance was
// stopped meanwhile) is caught by the waiter (`wait`): its fence is older than one already seen,
// or it is still there after a release woke us. Processes that disagree for a moment about
// which instance is up can still split; rule 2's bounded retries and the waiters' jitter end it.

/// A round's replies so far: `None` for an instance not asked yet.
type View = Vec<Option<Reply<Granted>>>;

/// An instance that failed us is not made the decider again until it answers us (in any
/// round, or with a release message), or at the latest after this long (plus jitter, so waiters
/// that all saw it fail at once do not all probe it again at once).
const SUSPECT_FOR: Duration = Duration::from_secs(10);
/// The least an undo waits for its replies (see `undo`).
const UNDO_GRACE_MIN: Duration = Duration::from_millis(10);
/// How often a contender holding the decider asks the missing instances again (rule 2).
const COMPLETE_TRIES: usize = 5;

pub struct Locker {
    quorum: Quorum,
    prefix: String,
    settings: Settings,
    /// Per instance: not to be the decider before then (it failed us).
    suspect_until: Mutex<Vec<Option<Instant>>>,
}

impl Locker {
    pub fn new(settings: &Settings, trace: Option<Trace>) -> Locker {
        Locker {
            quorum: Quorum::new(settings, trace),
            prefix: settings.prefix.clone(),
            settings: settings.clone(),
            suspect_until: Mutex::new(vec![None; settings.servers.len()]),
        }
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// See [`Quorum::settle`].
    pub fn settle(&self) {
        self.quorum.settle();
    }

    /// The settings this locker was made with (servers, timeouts): what a release
    /// subscription ([`crate::engine::notify`]) connects with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn keys(&self, resource: &str) -> Keys {
        Keys::new(&self.prefix, resource)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// One attempt: take the lock on a quorum with validity left, or undo everything it
    /// may have taken and say who holds it. `Err` is a failure no waiting cures: a quorum
    /// unreachable (69), or a ttl too short to ever be valid (1). Asks every instance at once.
    pub fn try_acquire(&self, req: &Request) -> Result<Attempt> {
        self.attempt(req, Approach::Parallel)
    }

    /// The resource's instances in their fixed order (see "No split votes" above): every
    /// process that lists the same servers, in any order, computes the same one.
    pub fn order(&self, resource: &str) -> Vec<usize> {
        let servers = self.quorum.servers();
        let mut scored: Vec<(u64, usize)> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| (fnv1a(&[resource.as_bytes(), b"\0", s.short().as_bytes()]), i))
            .collect();
        scored.sort_by(|a, b| b.cmp(a));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// The first instance in the resource's order that has not failed us lately.
    pub fn decider(&self, resource: &str) -> Option<usize> {
        let now = Instant::now();
        let suspects = lock(&self.suspect_until);
        self.order(resource)
            .into_iter()
            .find(|&i| suspects[i].is_none_or(|until| until <= now))
    }

    /// One attempt, approaching the instances as `approach` says (see "No split votes").
    pub fn attempt(&self, req: &Request, approach: Approach) -> Result<Attempt> {
        let n = self.quorum.n();
        let mut view: View = (0..n).map(|_| None).collect();
        let mut started = None;
        let decider = self.decider(&req.resource);
        if approach == Approach::DeciderFirst {
            let order = self.order(&req.resource);
            let mut next = decider;
            while let Some(d) = next {
                let round = self.ask("acquire on the decider", req, &view, &single(n, d), false);
                started.get_or_insert(round.started);
                self.merge(&mut view, round);
                match &view[d] {
                    Some(Ok(Granted::Held(h))) if h.fence == 0 && self.stuck(h) => {
                        // A contender that never finished (it died between the decider and the
                        // rest): pass the decider over while its hold lasts, and ask the rest.
                        lock(&self.suspect_until)[d] =
                            Some(Instant::now() + h.time_left.unwrap_or(SUSPECT_FOR));
                        break;
                    }
                    Some(Ok(Granted::Held(h))) => {
                        return Ok(Attempt::Busy(Busy {
                            holder: Some(h.clone()),
                            held_on: 1,
                            n,
                            from_decider: true,
                        }));
                    }
                    Some(Err(_)) => {
                        // Down or slow: the next instance in the order decides, now.
                        next = order
                            .iter()
                            .copied()
                            .find(|&i| view[i].is_none() && !self.suspected(i));
                    }
                    _ => break,
                }
            }
        }
        let rest: Vec<bool> = view.iter().map(Option::is_none).collect();
        if rest.contains(&true) {
            let round = self.ask("acquire", req, &view, &rest, true);
            started.get_or_insert(round.started);
            self.merge(&mut view, round);
        }
        // Instances not waited for (suspected) can hide a lost majority: when the answers so far
        // cannot make a quorum, wait for those once, so that "unreachable" (69) is told from
        // "busy" within about the timeouts, as the contract says.
        let answered = view.iter().filter(|r| matches!(r, Some(Ok(_)))).count();
        let unknown: Vec<bool> = view
            .iter()
            .map(|r| matches!(r, Some(Err(e)) if e.class == ErrorClass::NotAwaited))
            .collect();
        if answered < self.quorum.needed() && unknown.contains(&true) {
            let round = self.ask("acquire (the rest)", req, &view, &unknown, false);
            self.merge(&mut view, round);
        }
        let started = started.unwrap_or_else(Instant::now);
        let mut maybe_ours = maybe_ours(&view);
        if count_ours(&view) < self.quorum.needed() {
            self.complete(req, decider, &mut view, &mut maybe_ours);
        }
        self.conclude(req, view, &maybe_ours, started)
    }

    /// Rule 2: holding the decider but no quorum, ask again the instances held by others, for
    /// a few round trips: a contender that has not finished holds no decider, so it is undoing;
    /// a finished holder is most likely the one whose release woke us, still on its way there.
    fn complete(&self, req: &Request, decider: Option<usize>, view: &mut View, maybe_ours: &mut [bool]) {
        let Some(d) = decider else { return };
        if !matches!(&view[d], Some(Ok(g)) if g.ours()) {
            return;
        }
        let q = self.quorum.needed();
        for _ in 0..COMPLETE_TRIES {
            let held: Vec<bool> = view
                .iter()
                .map(|r| matches!(r, Some(Ok(Granted::Held(_)))))
                .collect();
            if count_ours(view) + held.iter().filter(|h| **h).count() < q {
                return;
            }
            // About one round trip: the time their undo or release takes to land.
            let pause = Duration::from_micros(200) + crate::engine::wait::jitter(Duration::from_micros(300));
            std::thread::sleep(pause);
            let round = self.ask("acquire again", req, view, &held, true);
            self.merge(view, round);
            for (m, r) in maybe_ours.iter_mut().zip(self::maybe_ours(view)) {
                *m |= r;
            }
            if count_ours(view) >= q {
                return;
            }
        }
    }

    /// Ask the `targets` instances for the lock; the others answer `None` at once, without
    /// I/O. The round ends when every target answered, or (`by_quorum`) when the
    /// attempt's outcome is decided counting what `view` already holds.
    fn ask(
        &self,
        what: &str,
        req: &Request,
        view: &View,
        targets: &[bool],
        by_quorum: bool,
    ) -> Round<Option<Granted>> {
        let keys = self.keys(&req.resource);
        let since = crate::engine::holder::now_unix_ms();
        let args = [
            req.token.clone(),
            req.ttl.as_millis().to_string(),
            req.meta.host.clone(),
            req.meta.pid.to_string(),
            req.meta.cmd.clone(),
            since.to_string(),
        ];
        let (n, q) = (self.quorum.n(), self.quorum.needed());
        // What the instances not asked this time already said (a request still in flight may
        // yet be ours, so it counts as neither).
        let others = view.iter().zip(targets).filter(|(_, t)| !**t).map(|(r, _)| r);
        let won_before = others
            .clone()
            .filter(|r| matches!(r, Some(Ok(g)) if g.ours()))
            .count();
        let lost_before = others
            .filter(|r| match r {
                Some(Ok(g)) => !g.ours(),
                Some(Err(e)) => e.class != ErrorClass::NotAwaited,
                None => false,
            })
            .count();
        let asked = targets.to_vec();
        let t = targets.to_vec();
        // An instance that failed us lately is asked all the same, but not waited for: while
        // its answer would decide nothing the others cannot, waiting for it (the op timeout,
        // while we may hold the decider) stalls every other waiter. The first attempt of a
        // process knows of no such instance yet.
        let suspected: Vec<bool> = (0..n).map(|i| targets[i] && self.suspected(i)).collect();
        let mut round = self.quorum.round_on(
            what,
            targets,
            None,
            move |i, s: &mut Session| {
                if !t[i] {
                    return Ok(None);
                }
                let v = s.eval(
                    &scripts().acquire,
                    &[&keys.lock, &keys.fence],
                    &args.each_ref().map(String::as_str),
                )?;
                parse_granted(&v).map(Some)
            },
            move |replies: &[Option<Reply<Option<Granted>>>]| {
                let mine = replies.iter().zip(&asked).filter(|(_, a)| **a);
                let all = mine.clone().all(|(r, _)| r.is_some());
                if all || !by_quorum {
                    return all;
                }
                let won = mine
                    .clone()
                    .filter(|(r, _)| matches!(r, Some(Ok(Some(g))) if g.ours()))
                    .count();
                let lost = mine
                    .filter(|(r, _)| matches!(r, Some(r) if !matches!(r, Ok(Some(g)) if g.ours())))
                    .count();
                let silent_suspects = replies
                    .iter()
                    .zip(&suspected)
                    .filter(|(r, s)| **s && r.is_none())
                    .count();
                won_before + won >= q
                    || lost_before + lost + silent_suspects > n - q
                    || replies
                        .iter()
                        .zip(&asked)
                        .zip(&suspected)
                        .all(|((r, a), s)| !*a || *s || r.is_some())
            },
        );
        // Those not asked have nothing to say.
        for (reply, asked) in round.replies.iter_mut().zip(targets) {
            if !*asked {
                *reply = Ok(None);
            }
        }
        round
    }

    /// Fold a round's replies for the instances it asked into `view`, and learn which
    /// instances are up.
    fn merge(&self, view: &mut View, round: Round<Option<Granted>>) {
        let now = Instant::now();
        let mut suspects = lock(&self.suspect_until);
        for (i, reply) in round.replies.into_iter().enumerate() {
            let reply = match reply {
                Ok(None) => continue,
                Ok(Some(g)) => Ok(g),
                Err(e) => Err(e),
            };
            match &reply {
                Ok(_) => suspects[i] = None,
                Err(e)
                    if matches!(
                        e.class,
                        ErrorClass::Unreachable | ErrorClass::Timeout | ErrorClass::Refused
                    ) =>
                {
                    suspects[i] = Some(now + SUSPECT_FOR + crate::engine::wait::jitter(SUSPECT_FOR / 2));
                }
                Err(_) => {}
            }
            view[i] = Some(reply);
        }
    }

    /// How many clients are subscribed to the resource's release channel on its decider: the
    /// waiters (ourselves included, once subscribed). `None` when the decider does not answer.
    pub fn subscribers(&self, resource: &str) -> Option<u64> {
        let d = self.decider(resource)?;
        let channel = self.keys(resource).channel;
        let round = self.quorum.round_on(
            "waiters",
            &single(self.quorum.n(), d),
            None,
            move |i, s: &mut Session| {
                if i != d {
                    return Ok(None);
                }
                let v = s.query(redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel))?;
                Ok(array(&v)?.get(1).and_then(int))
            },
            move |replies: &[Option<Reply<Option<i64>>>]| replies[d].is_some(),
        );
        let count = match round.replies.get(d) {
            Some(Ok(Some(n))) => u64::try_from(*n).ok(),
            _ => None,
        };
        count
    }

    /// Instance `i` did not answer us (a subscription that got no confirmation): do not make
    /// it the decider until it does.
    pub fn suspect(&self, i: usize) {
        if let Some(slot) = lock(&self.suspect_until).get_mut(i) {
            *slot = Some(Instant::now() + SUSPECT_FOR + crate::engine::wait::jitter(SUSPECT_FOR / 2));
        }
    }

    /// Instance `i` answered us (a release message came from it): it may decide again.
    pub fn trust(&self, i: usize) {
        if let Some(slot) = lock(&self.suspect_until).get_mut(i) {
            *slot = None;
        }
    }

    fn suspected(&self, i: usize) -> bool {
        lock(&self.suspect_until)[i].is_some_and(|until| until > Instant::now())
    }

    /// Whether `h`, a contender that has not finished (fence 0), has held the decider far
    /// longer than an acquisition takes: by the server's clock (its lease's ttl minus what is
    /// left), or by its own `since` against ours (with a second for clock skew; a request that
    /// waited in a stopped server's socket is old by that measure and new by the first).
    fn stuck(&self, h: &Holder) -> bool {
        let limit = (self.settings.connect_timeout + self.settings.op_timeout) * 2;
        let held = match (h.ttl, h.time_left) {
            (Some(ttl), Some(left)) => ttl.saturating_sub(left),
            _ => Duration::ZERO,
        };
        let age_ms = h.since_unix_ms.map_or(0, |since| {
            crate::engine::holder::now_unix_ms().saturating_sub(since)
        });
        held > limit || Duration::from_millis(age_ms) > limit + Duration::from_secs(1)
    }

    /// The attempt's outcome from what every instance said: a lease (fenced, with validity
    /// left) on a quorum, or busy / unavailable with every hold undone.
    fn conclude(&self, req: &Request, view: View, maybe_ours: &[bool], started: Instant) -> Result<Attempt> {
        let keys = self.keys(&req.resource);
        let q = self.quorum.needed();
        let n = self.quorum.n();
        let view: Vec<Reply<Granted>> = view
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(InstanceError::new(ErrorClass::NotAwaited, "not asked"))))
            .collect();
        if count_ours_replies(&view) < q {
            self.undo(&req.resource, &req.token, maybe_ours, &view, started);
            return self.busy_or_unavailable(&view).map(Attempt::Busy);
        }

        let reentered = view.iter().any(|r| matches!(r, Ok(Granted::Reentered { .. })));
        let mut count = 1;
        let mut fence = 0;
        for g in view.iter().flatten() {
            match g {
                Granted::Taken { counter } if !reentered => fence = fence.max(counter + 1),
                Granted::Reentered { count: c, fence: f } => {
                    count = count.max(*c);
                    fence = fence.max(*f);
                }
                _ => {}
            }
        }
        // A first acquisition (or an instance that lost the key under a re-entry) records the
        // fence where we hold it; it must land on a quorum before anyone may use it, so that
        // the next holder's quorum, which overlaps this one, reads a higher counter.
        let taken_somewhere = view.iter().any(|r| matches!(r, Ok(Granted::Taken { .. })));
        if taken_somewhere {
            let k = keys.clone();
            let args = [req.token.clone(), fence.to_string()];
            let recorded = self.quorum.round_until_decided(
                "fence",
                move |_, s: &mut Session| {
                    let v = s.eval(
                        &scripts().fence,
                        &[&k.lock, &k.fence],
                        &args.each_ref().map(String::as_str),
                    )?;
                    Ok(int(&v) == Some(1))
                },
                |ok| *ok,
            );
            if recorded.count(|ok| *ok) < q {
                self.undo(&req.resource, &req.token, maybe_ours, &view, started);
                if recorded.failed() > n - q {
                    return Err(self.unavailable(&recorded).into());
                }
                if validity(req.ttl, started, Instant::now()).is_some() {
                    // Lost to a force release between the two rounds: try again.
                    return Ok(Attempt::Busy(Busy {
                        holder: None,
                        held_on: 0,
                        n,
                        from_decider: false,
                    }));
                }
            }
        }

        let Some(left) = validity(req.ttl, started, Instant::now()) else {
            self.undo(&req.resource, &req.token, maybe_ours, &view, started);
            return Err(LockError::LeaseTooShort {
                resource: req.resource.clone(),
                ttl: req.ttl,
                elapsed: started.elapsed(),
                drift: crate::engine::quorum::drift(req.ttl),
            }
            .into());
        };
        Ok(Attempt::Acquired(Lease {
            resource: req.resource.clone(),
            token: req.token.clone(),
            ttl: req.ttl,
            fence,
            reentered,
            count,
            started,
            valid_until: Instant::now() + left,
            meta: req.meta.clone(),
            since_unix_ms: crate::engine::holder::now_unix_ms(),
            maybe_held: maybe_ours.to_vec(),
        }))
    }

    /// Release what a failed attempt may have taken, on every instance where it may have
    /// landed, all at once (safety property 3). The release script drops only our token's
    /// hold, so a re-entry's undo gives back just the hold it added. It announces on the
    /// `undone` channel, which nobody listens to: waiters wake for releases, not retreats.
    fn undo(
        &self,
        resource: &str,
        token: &str,
        maybe_ours: &[bool],
        view: &[Reply<Granted>],
        started: Instant,
    ) {
        if !maybe_ours.contains(&true) {
            return;
        }
        // An answering instance's undo lands within about the attempt's own time; one that
        // does not land by a few times that is on an instance that stopped answering.
        let grace = (started.elapsed() * 4).max(UNDO_GRACE_MIN);
        let targets = maybe_ours.to_vec();
        // Wait for the undo everywhere, except on instances known to be failing us (timed out,
        // unreachable, suspected): there it is sent all the same and runs after the attempt's
        // request, in order, whenever the instance answers, but waiting for it (the round's
        // whole time) would only delay our next attempt.
        let awaited: Vec<bool> = targets
            .iter()
            .zip(view)
            .enumerate()
            .map(|(i, (t, r))| {
                let failing =
                    matches!(r, Err(e) if matches!(e.class, ErrorClass::Timeout | ErrorClass::Unreachable));
                *t && !failing && !self.suspected(i)
            })
            .collect();
        let keys = self.keys(resource);
        let quiet = format!("{}undone:{resource}", self.prefix);
        let token = token.to_string();
        self.quorum.round_on(
            "undo",
            maybe_ours,
            Some(grace),
            move |i, s: &mut Session| {
                if !targets[i] {
                    return Ok(());
                }
                s.eval(&scripts().release, &[&keys.lock], &[&token, "0", &quiet])
                    .map(|_| ())
            },
            move |replies: &[Option<Reply<()>>]| {
                replies.iter().zip(&awaited).all(|(r, a)| r.is_some() || !*a)
            },
        );
    }

    fn busy_or_unavailable(&self, view: &[Reply<Granted>]) -> Result<Busy> {
        let failed = view
            .iter()
            .filter(|r| matches!(r, Err(e) if e.class != ErrorClass::NotAwaited))
            .count();
        if failed > self.quorum.n() - self.quorum.needed() {
            let round = Round {
                replies: view
                    .iter()
                    .map(|r| r.as_ref().map(|_| ()).map_err(Clone::clone))
                    .collect(),
                started: Instant::now(),
                elapsed: Duration::ZERO,
            };
            return Err(self.unavailable(&round).into());
        }
        let holders: Vec<&Holder> = view
            .iter()
            .filter_map(|r| match r {
                Ok(Granted::Held(h)) => Some(h),
                _ => None,
            })
            .collect();
        Ok(busy_from(&holders, self.quorum.n()))
    }

    /// Too few instances answered `round` (exit 69).
    pub fn unavailable<T>(&self, round: &Round<T>) -> LockError {
        LockError::Unavailable {
            failed: round.failed(),
            n: self.quorum.n(),
            needed: self.quorum.needed(),
            refused: round
                .replies
                .iter()
                .any(|r| matches!(r, Err(e) if e.class == ErrorClass::Refused)),
            errors: round.errors(&self.quorum.servers()),
        }
    }

    /// Renew `token`'s lease on every instance. With `restore`, an instance that lost the
    /// key and is free is taken back with the lease's metadata, so a restart does not quietly
    /// shrink the quorum. `Err(LockError::NotHolder)` when the token does not hold it on a
    /// quorum (or `LeaseTooShort` when it answered too late); `Unavailable` when too few
    /// instances answered.
    pub fn extend(
        &self,
        resource: &str,
        token: &str,
        ttl: Duration,
        restore: Option<&Lease>,
    ) -> Result<Extended> {
        let keys = self.keys(resource);
        let args = [token.to_string(), ttl.as_millis().to_string()];
        let k = keys.clone();
        let op = move |_, s: &mut Session| {
            let v = s.eval(
                &scripts().extend,
                &[&k.lock],
                &args.each_ref().map(String::as_str),
            )?;
            parse_status(&v)
        };
        // With `restore`, hear every instance (within the round's time): a lost key is only seen
        // where the reply is awaited, and a restarted instance, reconnecting, answers last.
        let round = match restore {
            Some(_) => self.quorum.round_all("extend", op),
            None => self
                .quorum
                .round_until_decided("extend", op, |(status, _)| *status == 1),
        };
        let q = self.quorum.needed();
        let renewed = round.count(|(status, _)| *status == 1);
        if renewed < q {
            if round.failed() > self.quorum.n() - q {
                return Err(self.unavailable(&round).into());
            }
            let holders: Vec<Holder> = round
                .replies
                .iter()
                .filter_map(|r| match r {
                    Ok((0, rest)) => Holder::from_values(rest),
                    _ => None,
                })
                .collect();
            let busy = busy_from(&holders.iter().collect::<Vec<_>>(), self.quorum.n());
            return Err(LockError::NotHolder {
                resource: resource.to_string(),
                renewed,
                n: self.quorum.n(),
                needed: q,
                holder: busy.holder,
            }
            .into());
        }
        let Some(left) = validity(ttl, round.started, Instant::now()) else {
            return Err(LockError::LeaseTooShort {
                resource: resource.to_string(),
                ttl,
                elapsed: round.started.elapsed(),
                drift: crate::engine::quorum::drift(ttl),
            }
            .into());
        };
        let valid_until = Instant::now() + left;

        let free: Vec<bool> = round.replies.iter().map(|r| matches!(r, Ok((2, _)))).collect();
        let mut restored = 0;
        if let (Some(lease), true) = (restore, free.contains(&true)) {
            let args = [
                lease.token.clone(),
                ttl.as_millis().to_string(),
                lease.meta.host.clone(),
                lease.meta.pid.to_string(),
                lease.meta.cmd.clone(),
                lease.since_unix_ms.to_string(),
                lease.count.max(1).to_string(),
                lease.fence.to_string(),
            ];
            let back = self.quorum.round_all("restore", move |i, s: &mut Session| {
                if !free[i] {
                    return Ok(false);
                }
                let v = s.eval(
                    &scripts().restore,
                    &[&keys.lock, &keys.fence],
                    &args.each_ref().map(String::as_str),
                )?;
                Ok(int(&v) == Some(1))
            });
            restored = back.count(|ok| *ok);
        }
        Ok(Extended {
            valid_until,
            renewed,
            restored,
        })
    }

    /// Drop one hold of `token` on every instance. `keep` > 0 (--min-hold) leaves the key in
    /// place for that long instead of deleting it.
    pub fn release(&self, resource: &str, token: &str, keep: Duration) -> Released {
        let keys = self.keys(resource);
        let args = [
            token.to_string(),
            keep.as_millis().to_string(),
            keys.channel.clone(),
        ];
        let round = self.quorum.round_all("release", move |_, s: &mut Session| {
            let v = s.eval(
                &scripts().release,
                &[&keys.lock],
                &args.each_ref().map(String::as_str),
            )?;
            parse_status(&v)
        });
        let mut out = Released {
            released: 0,
            remaining: 0,
            free: 0,
            others: vec![],
            failed: vec![],
        };
        for r in &round.replies {
            match r {
                Ok((1, rest)) => {
                    out.released += 1;
                    out.remaining = out.remaining.max(rest.first().and_then(int).unwrap_or(0));
                }
                Ok((2, _)) => out.free += 1,
                Ok((_, rest)) => out.others.extend(Holder::from_values(rest)),
                Err(_) => {}
            }
        }
        let servers = self.quorum.servers();
        out.failed = round
            .replies
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Err(e) if e.class != ErrorClass::NotAwaited => Some((i, format!("{}: {e}", servers[i]))),
                _ => None,
            })
            .collect();
        out
    }

    /// Delete the lock whoever holds it, on every instance.
    pub fn force_release(&self, resource: &str) -> Forced {
        let keys = self.keys(resource);
        let round = self.quorum.round_all("force", move |_, s: &mut Session| {
            let v = s.eval(&scripts().force, &[&keys.lock], &[&keys.channel])?;
            parse_status(&v)
        });
        let holders = round
            .replies
            .iter()
            .filter_map(|r| match r {
                Ok((1, rest)) => Holder::from_values(rest),
                _ => None,
            })
            .collect();
        Forced {
            holders,
            failed: round.errors(&self.quorum.servers()),
        }
    }

    /// Each instance's view of one lock: its holder (if any) and its fence counter.
    pub fn read(&self, resource: &str) -> Round<(Option<Holder>, u64)> {
        let keys = self.keys(resource);
        self.quorum.round_all("read", move |_, s: &mut Session| {
            let v = s.eval(&scripts().read, &[&keys.lock, &keys.fence], &[])?;
            let items = array(&v)?;
            let counter = items.get(9).and_then(int).unwrap_or(0).max(0) as u64;
            Ok((Holder::from_values(items), counter))
        })
    }
}

/// The holder seen on the most instances.
fn busy_from(holders: &[&Holder], n: usize) -> Busy {
    let mut best: Option<(&Holder, usize)> = None;
    for h in holders {
        let on = holders.iter().filter(|o| o.token == h.token).count();
        let better = match best {
            None => true,
            Some((b, bon)) => on > bon || (on == bon && h.time_left > b.time_left),
        };
        if better {
            best = Some((h, on));
        }
    }
    Busy {
        holder: best.map(|(h, _)| h.clone()),
        held_on: best.map_or(0, |(_, on)| on),
        n,
        from_decider: false,
    }
}

fn array(v: &Value) -> Reply<&[Value]> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(InstanceError::new(
            ErrorClass::Protocol,
            format!("unexpected reply {other:?}"),
        )),
    }
}

/// A script's {status, rest...} reply.
fn parse_status(v: &Value) -> Reply<(i64, Vec<Value>)> {
    let items = array(v)?;
    let status = items
        .first()
        .and_then(int)
        .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "reply without a status"))?;
    Ok((status, items[1..].to_vec()))
}

fn parse_granted(v: &Value) -> Reply<Granted> {
    let (status, rest) = parse_status(v)?;
    let num = |i: usize| rest.get(i).and_then(int).unwrap_or(0);
    match status {
        1 => Ok(Granted::Taken {
            counter: num(0).max(0) as u64,
        }),
        2 => Ok(Granted::Reentered {
            count: num(0),
            fence: num(1).max(0) as u64,
        }),
        _ => Holder::from_values(&rest)
            .map(Granted::Held)
            .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "malformed holder in acquire reply")),
    }
}

/// The instances where an attempt may hold the lock: granted, or a request that may have run.
fn maybe_ours(view: &View) -> Vec<bool> {
    view.iter()
        .map(|r| match r {
            Some(Ok(g)) => g.ours(),
            Some(Err(e)) => e.maybe_applied(),
            None => false,
        })
        .collect()
}

fn count_ours(view: &View) -> usize {
    view.iter()
        .filter(|r| matches!(r, Some(Ok(g)) if g.ours()))
        .count()
}

fn count_ours_replies(view: &[Reply<Granted>]) -> usize {
    view.iter().filter(|r| matches!(r, Ok(g) if g.ours())).count()
}

fn single(n: usize, i: usize) -> Vec<bool> {
    (0..n).map(|j| j == i).collect()
}

/// FNV-1a, 64 bits: a hash that is the same in every build and on every machine (std's
/// hasher promises neither), for the resource's instance order.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::settings::Verbosity;

    fn locker(urls: &[&str]) -> Locker {
        let settings = Settings {
            servers: urls.iter().map(|u| u.parse().expect("url")).collect(),
            prefix: "redlock:".into(),
            connect_timeout: Duration::from_millis(250),
            op_timeout: Duration::from_millis(250),
            verbosity: Verbosity::Quiet,
        };
        Locker::new(&settings, None)
    }

    #[test]
    fn every_process_agrees_on_a_resources_decider_whatever_order_it_lists_servers_in() {
        let a = locker(&[
            "redis://10.0.0.1:6379",
            "redis://10.0.0.2:6379",
            "redis://10.0.0.3:6379",
        ]);
        let b = locker(&[
            "redis://10.0.0.3:6379",
            "redis://10.0.0.1:6379",
            "redis://10.0.0.2:6379",
        ]);
        let servers_a = a.quorum().servers();
        let servers_b = b.quorum().servers();
        let mut deciders = std::collections::HashSet::new();
        for resource in ["deploy", "backup", "cron-7", "x"] {
            let by_a: Vec<String> = a.order(resource).iter().map(|i| servers_a[*i].short()).collect();
            let by_b: Vec<String> = b.order(resource).iter().map(|i| servers_b[*i].short()).collect();
            assert_eq!(by_a, by_b, "{resource}");
            deciders.insert(by_a[0].clone());
        }
        // Resources spread over the instances rather than all landing on one.
        assert!(deciders.len() > 1, "{deciders:?}");
    }

    #[test]
    fn a_suspected_instance_is_passed_over_until_it_is_trusted_again() {
        let l = locker(&[
            "redis://10.0.0.1:6379",
            "redis://10.0.0.2:6379",
            "redis://10.0.0.3:6379",
        ]);
        let order = l.order("deploy");
        assert_eq!(l.decider("deploy"), Some(order[0]));
        l.suspect(order[0]);
        assert_eq!(l.decider("deploy"), Some(order[1]));
        l.suspect(order[1]);
        l.suspect(order[2]);
        assert_eq!(l.decider("deploy"), None);
        l.trust(order[0]);
        assert_eq!(l.decider("deploy"), Some(order[0]));
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of FNV-1a 64.
        assert_eq!(fnv1a(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&[b"fo", b"obar"]), 0x8594_4171_f739_67e8);
    }
}
