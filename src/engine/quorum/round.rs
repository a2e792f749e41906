//! The loop behind every round: send every request first, then gather replies until the
//! round is decided (and has lingered), every asked instance answered or timed out, or the
//! round's time is up; then note which instances are failing.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ask::{Ask, Decided};
use super::verbose::reply_line;
use super::{Call, ErrorClass, InstanceError, Quorum, Reply, Round};
use crate::engine::wire::{Deliver, Request};

impl<T, F> Ask<'_, T, F>
where
    T: Send + 'static,
    F: Fn(usize) -> Call<T>,
{
    /// Send the requests, gather the replies as set up, trace the round and note which
    /// instances are failing.
    pub fn gather(self) -> Round<T> {
        let quorum = self.quorum;
        let targets = self.targets;
        let asked = |i: usize| targets.map_or(i < quorum.n(), |t| t.get(i).copied().unwrap_or(false));
        let started = Instant::now();
        let wait_until = started
            + self
                .wait
                .map_or(quorum.round_limit, |w| w.min(quorum.round_limit));
        let (tx, rx) = mpsc::channel::<(usize, Reply<T>)>();
        let due = quorum.send_all(self.what, &asked, started, &self.op, tx);
        let mut gather = Gather {
            quorum,
            what: self.what,
            started,
            wait_until,
            pending: due.iter().filter(|d| d.is_some()).count(),
            due,
            replies: (0..quorum.n()).map(|_| None).collect(),
            decided_at: None,
        };
        gather.wait(&rx, self.linger, self.poll, &self.decided);
        let elapsed = started.elapsed();
        let replies = gather.finish(&asked);
        if self.wait == Some(Duration::ZERO) {
            quorum.trace(&format!("{}: sent, not awaited", self.what));
        } else {
            quorum.trace_round(self.what, replies.as_slice(), elapsed);
        }
        quorum.note_failing(&replies, self.wait);
        Round {
            replies,
            started,
            elapsed,
        }
    }
}

/// A round under way: what it waits for, and what it heard so far.
struct Gather<'q, T> {
    quorum: &'q Quorum,
    what: &'q str,
    started: Instant,
    /// When the round stops waiting, whatever it heard.
    wait_until: Instant,
    /// When each asked instance's reply is due (`None`: not asked).
    due: Vec<Option<Instant>>,
    /// What each instance answered so far, in server order.
    replies: Vec<Option<Reply<T>>>,
    /// Asked instances with neither a reply nor a timeout yet.
    pending: usize,
    decided_at: Option<Instant>,
}

impl Quorum {
    /// Send `op` to every asked instance, each reply to `tx`; returns when each reply is due:
    /// the op timeout after the request went out, plus the connect timeout where it waits for
    /// a connection first.
    fn send_all<T, F>(
        &self,
        what: &str,
        asked: &impl Fn(usize) -> bool,
        started: Instant,
        op: &F,
        tx: mpsc::Sender<(usize, Reply<T>)>,
    ) -> Vec<Option<Instant>>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        let mut due: Vec<Option<Instant>> = vec![None; self.n()];
        for i in (0..self.n()).filter(|i| asked(*i)) {
            let mut call = op(i);
            let request = std::mem::replace(
                &mut call.request,
                Request {
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
                        (t.line)(&reply_line(&t, &who, &reply, started, true));
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
        due
    }

    /// What the round heard of each instance becomes what [`Quorum::failing`] reports. A
    /// round its caller cut short (`wait`) did not give the others their time: their silence
    /// says nothing about them.
    fn note_failing<T>(&self, replies: &[Reply<T>], wait: Option<Duration>) {
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
}

impl<T> Gather<'_, T> {
    /// Take replies until the round is over: decided (and lingered, with `linger`),
    /// nothing pending, or its time up.
    fn wait(
        &mut self,
        rx: &mpsc::Receiver<(usize, Reply<T>)>,
        linger: Option<Duration>,
        poll: Option<Duration>,
        decided: &Decided<T>,
    ) {
        while self.pending > 0 {
            let now = Instant::now();
            if self.decided_at.is_none() && decided(&self.replies) {
                self.decided_at = Some(now);
            }
            let mut next = self.wait_until;
            match (self.decided_at, linger) {
                (Some(_), None) => break,
                (Some(at), Some(linger)) if now >= at + linger => break,
                (Some(at), Some(linger)) => next = next.min(at + linger),
                _ => {}
            }
            if let Some(due) = self.time_out(now) {
                next = next.min(due);
            }
            if self.pending == 0 || now >= self.wait_until {
                break;
            }
            if self.decided_at.is_none() && decided(&self.replies) {
                continue;
            }
            if let Some(poll) = poll {
                next = next.min(now + poll);
            }
            match rx.recv_timeout(next.saturating_duration_since(now)) {
                Ok((i, reply)) => self.heard(i, reply),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Count every instance whose reply is overdue as of `now` as timed out; returns when the
    /// next outstanding reply is due.
    fn time_out(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for (i, due) in self.due.iter().enumerate() {
            match due {
                Some(at) if self.replies[i].is_none() && *at <= now => {
                    // Still on the wire; a late reply is dropped.
                    let what = self.what;
                    self.quorum
                        .trace(&format!("{what}: {} timed out", self.quorum.servers[i]));
                    self.replies[i] = Some(Err(InstanceError::new(ErrorClass::Timeout, "timed out")));
                    self.pending -= 1;
                }
                Some(at) if self.replies[i].is_none() => {
                    next = Some(next.map_or(*at, |n| n.min(*at)));
                }
                _ => {}
            }
        }
        next
    }

    /// Instance `i` answered; an answer after its timeout was counted is dropped.
    fn heard(&mut self, i: usize, reply: Reply<T>) {
        if self.replies[i].is_some() {
            return;
        }
        if let Some(t) = &self.quorum.trace {
            let who = format!("{}: {}", self.what, self.quorum.servers[i]);
            self.quorum
                .trace(&reply_line(t, &who, &reply, self.started, false));
        }
        self.replies[i] = Some(reply);
        self.pending -= 1;
    }

    /// Every instance's reply: what it answered, or why there is none (not asked, no answer in
    /// the round's time, or not waited for once the round was decided).
    fn finish(self, asked: &impl Fn(usize) -> bool) -> Vec<Reply<T>> {
        let timed_out = Instant::now() >= self.wait_until;
        let (started, wait_until) = (self.started, self.wait_until);
        self.replies
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
            .collect()
    }
}
