//! One round on all instances at once (safety property 5): every request is sent before any
//! reply is awaited, and the round ends as soon as its outcome is decided or its time is up,
//! so it costs the slowest *needed* reply, and an unreachable instance costs at most the
//! timeouts. Also the quorum and validity arithmetic.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::engine::instance::{ErrorClass, Instance, InstanceError, Session};
use crate::engine::server::ServerUrl;
use crate::engine::settings::Settings;

pub type Reply<T> = Result<T, InstanceError>;

/// Where `-v` lines go; the engine never prints on its own.
pub type Trace = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Quorum {
    instances: Vec<Instance>,
    needed: usize,
    /// The longest a round waits: a connect plus a request, and a little scheduling slack.
    round_limit: Duration,
    trace: Option<Trace>,
}

/// What one round heard, in server order.
pub struct Round<T> {
    pub replies: Vec<Reply<T>>,
    pub started: Instant,
    pub elapsed: Duration,
}

impl<T> Round<T> {
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

    /// "host:port: error" for each instance that gave no answer.
    pub fn errors<'a>(&'a self, servers: &'a [ServerUrl]) -> Vec<String> {
        self.replies
            .iter()
            .zip(servers)
            .filter_map(|(r, s)| match r {
                Err(e) if e.class != ErrorClass::NotAwaited => Some(format!("{s}: {e}")),
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
        let instances = settings
            .servers
            .iter()
            .map(|s| Instance::start(s.clone(), settings.connect_timeout, settings.op_timeout))
            .collect();
        Quorum {
            instances,
            needed: settings.quorum(),
            round_limit: round_limit(settings),
            trace,
        }
    }

    pub fn n(&self) -> usize {
        self.instances.len()
    }

    /// N/2 + 1.
    pub fn needed(&self) -> usize {
        self.needed
    }

    pub fn servers(&self) -> Vec<ServerUrl> {
        self.instances.iter().map(|i| i.server.clone()).collect()
    }

    pub fn trace(&self, line: &str) {
        if let Some(t) = &self.trace {
            t(line);
        }
    }

    /// Wait (within one round's time) until every request already sent has run. Rounds that
    /// end at a quorum leave the slowest instance's request queued; a short-lived command
    /// calls this before it exits, so that request is not lost with the process.
    pub fn settle(&self) {
        self.round("settle", |_, _| Ok(()), |_| false);
    }

    /// Send `op` to every instance, and wait until every instance answered or the round's
    /// time is up.
    pub fn round_all<T, F>(&self, what: &str, op: F) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize, &mut Session) -> Reply<T> + Send + Sync + 'static,
    {
        self.round(what, op, |_| false)
    }

    /// Send `op` to every instance, and stop waiting as soon as `wins` replies reached the
    /// quorum or so many *answered* otherwise that the quorum is out of reach. Replies still in flight
    /// then show as timeouts; their requests still run, in order, on their instance.
    pub fn round_until_decided<T, F>(&self, what: &str, op: F, wins: impl Fn(&T) -> bool) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize, &mut Session) -> Reply<T> + Send + Sync + 'static,
    {
        let (n, q) = (self.n(), self.needed);
        self.round(what, op, move |replies: &[Option<Reply<T>>]| {
            let won = replies
                .iter()
                .filter(|r| matches!(r, Some(Ok(v)) if wins(v)))
                .count();
            // Only answers decide a loss early: an error waits for the rest, so that a round
            // short of a quorum can tell "held elsewhere" (busy) from "unreachable" (69).
            let lost = replies
                .iter()
                .filter(|r| matches!(r, Some(Ok(v)) if !wins(v)))
                .count();
            won >= q || lost > n - q
        })
    }

    /// Send `op` to every instance, and stop waiting once `decided` says so (it sees the
    /// replies so far, in server order) or the round's time is up.
    pub fn round<T, F>(&self, what: &str, op: F, decided: impl Fn(&[Option<Reply<T>>]) -> bool) -> Round<T>
    where
        T: Send + 'static,
        F: Fn(usize, &mut Session) -> Reply<T> + Send + Sync + 'static,
    {
        self.round_on(what, &vec![true; self.n()], None, op, decided)
    }

    /// The same on the instances marked in `targets` only: the others are not asked, not
    /// traced, and their replies read "not asked" (`lock` asks a resource's decider alone).
    /// With `wait`, stop waiting after that long (at most the round's time): the requests
    /// still run, in order, when each worker gets to them within the round's time.
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
        F: Fn(usize, &mut Session) -> Reply<T> + Send + Sync + 'static,
    {
        let asked = |i: usize| targets.get(i).copied().unwrap_or(false);
        let started = Instant::now();
        let deadline = started + self.round_limit;
        let wait_until = started + wait.map_or(self.round_limit, |w| w.min(self.round_limit));
        let op = Arc::new(op);
        let (tx, rx) = mpsc::channel::<(usize, Reply<T>)>();
        for (i, instance) in self.instances.iter().enumerate().filter(|(i, _)| asked(*i)) {
            let (op, tx_ok, tx_late) = (Arc::clone(&op), tx.clone(), tx.clone());
            instance.submit(
                deadline,
                move |session| {
                    let _ = tx_ok.send((i, op(i, session)));
                },
                move || {
                    let _ = tx_late.send((
                        i,
                        Err(InstanceError::new(
                            ErrorClass::Unreachable,
                            "busy with an earlier request",
                        )),
                    ));
                },
            );
        }
        drop(tx);

        let mut replies: Vec<Option<Reply<T>>> = (0..self.n()).map(|_| None).collect();
        let mut pending = (0..self.n()).filter(|i| asked(*i)).count();
        while pending > 0 && !decided(&replies) {
            let left = wait_until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((i, reply)) => {
                    if self.trace.is_some() {
                        let status = match &reply {
                            Ok(_) => "ok".to_string(),
                            Err(e) => format!("error: {e}"),
                        };
                        self.trace(&format!(
                            "{what}: {} {status} after {:.1}ms",
                            self.instances[i].server,
                            started.elapsed().as_secs_f64() * 1e3
                        ));
                    }
                    replies[i] = Some(reply);
                    pending -= 1;
                }
                // Time is up, or every worker is gone.
                Err(_) => break,
            }
        }
        let elapsed = started.elapsed();
        let timed_out = Instant::now() >= wait_until;
        let replies = replies
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
        self.trace(&format!(
            "{what}: round done in {:.1}ms",
            elapsed.as_secs_f64() * 1e3
        ));
        Round {
            replies,
            started,
            elapsed,
        }
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
