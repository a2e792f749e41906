//! One round on all instances at once (safety property 5): every request is sent before any
//! reply is awaited, and the round ends as soon as its outcome is decided or its time is up,
//! so it costs the slowest *needed* reply, and an unreachable instance costs at most the
//! timeouts. Also the quorum and validity arithmetic.

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::instance::{Call, ErrorClass, InstanceError, ServerError};
use crate::engine::server::ServerUrl;
use crate::engine::settings::Settings;
use crate::engine::wire::{Deliver, Wire};

// lock/locker.rs still imports Trace from here; it moves to `engine::trace` once the
// `--classic` work on lock/ is merged (issue 25).
pub use crate::engine::trace::Trace;

pub type Reply<T> = Result<T, InstanceError>;

/// How long a short-lived process gives the instances that did not count toward a decided
/// round before it exits: their requests are on the wire already, this only lets a quick
/// reply be seen (docs/run.md, "Step by step" 4: a release is done at its quorum "plus at most
/// a few milliseconds for the other instances").
pub const SETTLE_GRACE: Duration = Duration::from_millis(5);

pub struct Quorum {
    servers: Vec<ServerUrl>,
    /// `None` when the I/O thread could not be started: every instance then fails every round.
    wire: Option<Wire>,
    needed: usize,
    /// The longest a round waits: a connect plus a request, and a little scheduling slack.
    round_limit: Duration,
    trace: Option<Trace>,
    /// Per instance: why its last answer in a round was none (`None`: it answered). Only what
    /// a round heard counts: an instance not asked or not waited for keeps what it had.
    failing: Mutex<Vec<Option<InstanceError>>>,
}

/// How a round waits: at most `wait` in all (at most the round's time); once decided, up to
/// `linger` more for the rest; and asking `decided` again every `poll` while nothing arrives.
#[derive(Debug, Clone, Copy, Default)]
struct Pace {
    wait: Option<Duration>,
    linger: Option<Duration>,
    poll: Option<Duration>,
}

/// What one round heard, in server order.
pub struct Round<T> {
    pub replies: Vec<Reply<T>>,
    pub started: Instant,
    pub elapsed: Duration,
}

impl<T> Round<T> {
    /// The same round with each answer turned into another.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Round<U> {
        Round {
            replies: self.replies.into_iter().map(|r| r.map(&f)).collect(),
            started: self.started,
            elapsed: self.elapsed,
        }
    }

    pub fn count(&self, pred: impl Fn(&T) -> bool) -> usize {
        self.replies
            .iter()
            .filter(|r| matches!(r, Ok(v) if pred(v)))
            .count()
    }

    pub fn answered(&self) -> usize {
        self.replies.iter().filter(|r| r.is_ok()).count()
    }

    /// Instances that failed (as opposed to answered, or were not waited for).
    pub fn failed(&self) -> usize {
        self.replies
            .iter()
            .filter(|r| matches!(r, Err(e) if e.class != ErrorClass::NotAwaited))
            .count()
    }

    /// Each instance that gave no answer, with its error.
    pub fn errors(&self, servers: &[ServerUrl]) -> Vec<ServerError> {
        self.replies
            .iter()
            .zip(servers)
            .filter_map(|(r, s)| match r {
                Err(e) if e.class != ErrorClass::NotAwaited => Some(ServerError {
                    server: s.clone(),
                    error: e.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// The longest a round waits: a connect plus a request, and a little scheduling slack.
pub fn round_limit(settings: &Settings) -> Duration {
    settings.connect_timeout + settings.op_timeout + Duration::from_millis(25)
}

impl Quorum {
    pub fn new(settings: &Settings, trace: Option<Trace>) -> Quorum {
        let wire = Wire::new(
            settings.servers.clone(),
            settings.connect_timeout,
            settings.op_timeout,
        )
        .ok();
        Quorum {
            servers: settings.servers.clone(),
            wire,
            needed: settings.quorum(),
            round_limit: round_limit(settings),
            trace,
            failing: Mutex::new(vec![None; settings.servers.len()]),
        }
    }

    /// The instances whose last round gave no answer (down, refusing us, timed out), with
    /// why: a command that succeeded without them runs on a degraded quorum, which is never
    /// silent (docs/operator.md, "A degraded quorum is never silent").
    pub fn failing(&self) -> Vec<ServerError> {
        crate::engine::sync::lock(&self.failing)
            .iter()
            .zip(&self.servers)
            .filter_map(|(e, s)| {
                e.as_ref().map(|e| ServerError {
                    server: s.clone(),
                    error: e.clone(),
                })
            })
            .collect()
    }

    pub fn n(&self) -> usize {
        self.servers.len()
    }

    /// N/2 + 1.
    pub fn needed(&self) -> usize {
        self.needed
    }

    pub fn servers(&self) -> Vec<ServerUrl> {
        self.servers.clone()
    }

    pub fn trace(&self, line: &str) {
        if let Some(t) = &self.trace {
            (t.line)(line);
        }
    }

    /// A `-v` line that needs the CLI's words, made only when tracing.
    pub fn trace_with(&self, line: impl FnOnce(&Trace) -> String) {
        if let Some(t) = &self.trace {
            (t.line)(&line(t));
        }
    }

    /// The wire's subscription handle (`None` when the I/O thread could not be started).
    pub fn wire(&self) -> Option<crate::engine::wire::Handle> {
        self.wire.as_ref().map(Wire::handle)
    }

    /// Whether any request of ours may have reached instance `i` (a connection to it came up).
    pub fn reached(&self, i: usize) -> bool {
        self.wire.as_ref().is_some_and(|w| w.ever_up(i))
    }

    /// Give the requests still unanswered up to [`SETTLE_GRACE`]: a short-lived command calls
    /// this before it exits. Whatever is not answered by then is on the wire and runs anyway.
    pub fn settle(&self) {
        if let Some(wire) = &self.wire {
            wire.settle(SETTLE_GRACE);
        }
    }

    /// Send `op` to every instance, and wait until every instance answered or the round's
    /// time is up.
    pub fn round_all<T, F>(&self, what: &str, op: F) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        self.round(what, op, |_| false)
    }

    /// Send `op` to every instance, and stop waiting as soon as `wins` replies reached the
    /// quorum or so many *answered* otherwise that the quorum is out of reach. Replies still in
    /// flight then show as not waited for; their requests still run, in order, on their instance.
    pub fn round_until_decided<T, F>(&self, what: &str, op: F, wins: impl Fn(&T) -> bool) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        self.round(what, op, self.decided_by(wins))
    }

    /// Decided when `wins` replies reached the quorum or so many *answered* otherwise that the
    /// quorum is out of reach. Only answers decide a loss early: an error waits for the rest,
    /// so that a round short of a quorum can tell "held elsewhere" (busy) from "unreachable"
    /// (69).
    fn decided_by<T>(&self, wins: impl Fn(&T) -> bool) -> impl Fn(&[Option<Reply<T>>]) -> bool {
        let (n, q) = (self.n(), self.needed);
        move |replies: &[Option<Reply<T>>]| {
            let won = replies
                .iter()
                .filter(|r| matches!(r, Some(Ok(v)) if wins(v)))
                .count();
            let lost = replies
                .iter()
                .filter(|r| matches!(r, Some(Ok(v)) if !wins(v)))
                .count();
            won >= q || lost > n - q
        }
    }

    /// Send `op` to every instance, and stop waiting once `decided` says so (it sees the
    /// replies so far, in server order) or the round's time is up.
    pub fn round<T, F>(&self, what: &str, op: F, decided: impl Fn(&[Option<Reply<T>>]) -> bool) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        self.round_on(what, &vec![true; self.n()], None, op, decided)
    }

    /// The same on the instances marked in `targets` only: the others are not asked, not
    /// traced, and their replies read "not asked" (`lock` asks a resource's decider alone).
    /// With `wait`, stop waiting after that long (at most the round's time): the requests
    /// still run, in order, on their instances.
    pub fn round_on<T, F>(
        &self,
        what: &str,
        targets: &[bool],
        wait: Option<Duration>,
        op: F,
        decided: impl Fn(&[Option<Reply<T>>]) -> bool,
    ) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        self.round_lingering(
            what,
            targets,
            Pace {
                wait,
                ..Pace::default()
            },
            op,
            decided,
        )
    }

    /// Like [`Quorum::round_on`], with `decided` also asked every `poll` while nothing
    /// arrives: for a decision that depends on time as well as on replies.
    pub fn round_on_polling<T, F>(
        &self,
        what: &str,
        targets: &[bool],
        poll: Duration,
        op: F,
        decided: impl Fn(&[Option<Reply<T>>]) -> bool,
    ) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        self.round_lingering(
            what,
            targets,
            Pace {
                poll: Some(poll),
                ..Pace::default()
            },
            op,
            decided,
        )
    }

    /// Like [`Quorum::round_until_decided`], and once decided, the rest get up to
    /// [`SETTLE_GRACE`] more to answer: a release is done at its quorum "plus at most a few
    /// milliseconds for the other instances" (docs/run.md, "Step by step" 4), and what they say
    /// in that time is counted.
    pub fn round_prompt<T, F>(&self, what: &str, op: F, wins: impl Fn(&T) -> bool) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        let all = vec![true; self.n()];
        self.round_lingering(
            what,
            &all,
            Pace {
                linger: Some(SETTLE_GRACE),
                ..Pace::default()
            },
            op,
            self.decided_by(wins),
        )
    }

    fn round_lingering<T, F>(
        &self,
        what: &str,
        targets: &[bool],
        pace: Pace,
        op: F,
        decided: impl Fn(&[Option<Reply<T>>]) -> bool,
    ) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        let Pace { wait, linger, poll } = pace;
        let asked = |i: usize| targets.get(i).copied().unwrap_or(false);
        let started = Instant::now();
        let wait_until = started + wait.map_or(self.round_limit, |w| w.min(self.round_limit));
        let (tx, rx) = mpsc::channel::<(usize, Reply<T>)>();
        // When each instance's reply is due: the op timeout after the request went out, plus
        // the connect timeout where it waits for a connection first.
        let mut due: Vec<Option<Instant>> = vec![None; self.n()];
        for i in (0..self.n()).filter(|i| asked(*i)) {
            let mut call = op(i);
            let request = std::mem::replace(
                &mut call.request,
                crate::engine::wire::Request {
                    packed: Vec::new(),
                    by_hash: None,
                },
            );
            let tx = tx.clone();
            // With -v, an answer that comes after the round was over is listed too.
            let late = self
                .trace
                .clone()
                .map(|t| (t, format!("{what}: {}", self.servers[i])));
            let deliver: Deliver = Box::new(move |reply| {
                if let Err(mpsc::SendError((_, reply))) = tx.send((i, call.finish(reply))) {
                    if let Some((t, who)) = late {
                        let status = match &reply {
                            Ok(_) => "ok".to_string(),
                            Err(e) => format!("error: {}", (t.error)(e)),
                        };
                        (t.line)(&format!(
                            "{who} {status} after {:.1}ms (after the round was over)",
                            started.elapsed().as_secs_f64() * 1e3
                        ));
                    }
                }
            });
            due[i] = Some(match &self.wire {
                Some(wire) => started + wire.send(i, request, deliver),
                None => {
                    deliver(Err(InstanceError::new(
                        ErrorClass::Unreachable,
                        "cannot start the I/O thread",
                    )));
                    started
                }
            });
        }
        drop(tx);

        let mut replies: Vec<Option<Reply<T>>> = (0..self.n()).map(|_| None).collect();
        let mut pending = (0..self.n()).filter(|i| asked(*i)).count();
        let mut decided_at: Option<Instant> = None;
        while pending > 0 {
            let now = Instant::now();
            if decided_at.is_none() && decided(&replies) {
                decided_at = Some(now);
            }
            let mut next = wait_until;
            match (decided_at, linger) {
                (Some(_), None) => break,
                (Some(at), Some(linger)) if now >= at + linger => break,
                (Some(at), Some(linger)) => next = next.min(at + linger),
                _ => {}
            }
            for (i, due) in due.iter().enumerate() {
                match due {
                    Some(at) if replies[i].is_none() && *at <= now => {
                        // Still on the wire; a late reply is dropped.
                        self.trace(&format!("{what}: {} timed out", self.servers[i]));
                        replies[i] = Some(Err(InstanceError::new(ErrorClass::Timeout, "timed out")));
                        pending -= 1;
                    }
                    Some(at) if replies[i].is_none() => next = next.min(*at),
                    _ => {}
                }
            }
            if pending == 0 || now >= wait_until {
                break;
            }
            if decided_at.is_none() && decided(&replies) {
                continue;
            }
            if let Some(poll) = poll {
                next = next.min(now + poll);
            }
            match rx.recv_timeout(next.saturating_duration_since(now)) {
                Ok((i, reply)) if replies[i].is_none() => {
                    if let Some(t) = &self.trace {
                        let status = match &reply {
                            Ok(_) => "ok".to_string(),
                            Err(e) => format!("error: {}", (t.error)(e)),
                        };
                        self.trace(&format!(
                            "{what}: {} {status} after {:.1}ms",
                            self.servers[i],
                            started.elapsed().as_secs_f64() * 1e3
                        ));
                    }
                    replies[i] = Some(reply);
                    pending -= 1;
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let elapsed = started.elapsed();
        let timed_out = Instant::now() >= wait_until;
        let replies: Vec<Reply<T>> = replies
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(if !asked(i) {
                        InstanceError::new(ErrorClass::NotAwaited, "not asked")
                    } else if timed_out {
                        InstanceError::new(
                            ErrorClass::Timeout,
                            format!(
                                "no answer within {}ms",
                                wait_until.duration_since(started).as_millis()
                            ),
                        )
                    } else {
                        InstanceError::new(ErrorClass::NotAwaited, "not waited for")
                    })
                })
            })
            .collect();
        if wait == Some(Duration::ZERO) {
            self.trace(&format!("{what}: sent, not awaited"));
        } else {
            self.trace_round(what, replies.as_slice(), elapsed);
        }
        {
            // A round its caller cut short (`wait`) did not give the others their time: their
            // silence says nothing about them.
            let cut_short = wait.is_some_and(|w| w < self.round_limit);
            let mut failing = crate::engine::sync::lock(&self.failing);
            for (i, r) in replies.iter().enumerate() {
                match r {
                    Ok(_) => failing[i] = None,
                    Err(e) if e.class == ErrorClass::NotAwaited => {}
                    Err(e) if e.class == ErrorClass::Timeout && cut_short => {}
                    Err(e) => failing[i] = Some(e.clone()),
                }
            }
        }
        Round {
            replies,
            started,
            elapsed,
        }
    }
}

impl Quorum {
    /// The `-v` line that ends a round, naming the instances it did not wait for (their
    /// answers, if any come, are listed as they arrive).
    fn trace_round<T>(&self, what: &str, replies: &[Reply<T>], elapsed: Duration) {
        if self.trace.is_none() {
            return;
        }
        let unawaited: Vec<String> = replies
            .iter()
            .zip(&self.servers)
            .filter(
                |(r, _)| matches!(r, Err(e) if e.class == ErrorClass::NotAwaited && e.message != "not asked"),
            )
            .map(|(_, s)| s.to_string())
            .collect();
        let rest = if unawaited.is_empty() {
            String::new()
        } else {
            format!("; decided without waiting for {}", unawaited.join(", "))
        };
        self.trace(&format!(
            "{what}: round done in {:.1}ms{rest}",
            elapsed.as_secs_f64() * 1e3
        ));
    }
}

/// The clock drift we allow for: 1% of the ttl plus 2 ms (the Redlock paper's margin).
pub fn drift(ttl: Duration) -> Duration {
    ttl / 100 + Duration::from_millis(2)
}

/// What is left of a lease that was requested at `started` for `ttl`, as of `now`:
/// ttl − elapsed − drift, or `None` when nothing is left (safety property 2).
pub fn validity(ttl: Duration, started: Instant, now: Instant) -> Option<Duration> {
    ttl.checked_sub(now.saturating_duration_since(started))
        .and_then(|left| left.checked_sub(drift(ttl)))
        .filter(|v| !v.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_subtracts_elapsed_time_and_drift() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        // 10s - 1s - (100ms + 2ms)
        assert_eq!(
            validity(ttl, t0, t0 + Duration::from_secs(1)),
            Some(Duration::from_millis(8898))
        );
        assert_eq!(validity(ttl, t0, t0 + Duration::from_millis(9898)), None);
        assert_eq!(validity(Duration::from_millis(2), t0, t0), None);
    }
}
