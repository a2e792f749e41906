//! One acquisition attempt: ask the instances (the decider first, or all at once), give way
//! to the waiter whose turn it is, complete a near-quorum, then conclude (conclude.rs).

use std::time::{Duration, Instant};

use super::ask::Asking;
use super::decider::{Approach, SUSPECT_FOR};
use super::locker::*;
use super::replies::{answers, busy_from, count_ours, holders, maybe_ours, AcquireReply, View};
use crate::engine::error::LockError;
use crate::engine::holder::{Busy, Holding, Waiter};
use crate::engine::instance::ErrorClass;
use crate::engine::sync::lock;

/// How often a contender holding the decider asks the missing instances again (rule 2).
const COMPLETE_TRIES: usize = 5;

/// What an attempt has heard so far.
struct Heard {
    view: View,
    /// When its first round started: validity is counted from there.
    started: Option<Instant>,
    /// The instance whose queue says whose turn it is: the decider, or the one after it in the
    /// order that stood in for it in this attempt.
    deciding: Option<usize>,
}

impl Heard {
    fn record(&mut self, locker: &Locker, round: crate::engine::quorum::Round<Option<AcquireReply>>) {
        self.started.get_or_insert(round.started);
        locker.merge(&mut self.view, round);
    }
}

impl Locker {
    /// One attempt: take the lock on a quorum with validity left, or undo everything it
    /// may have taken and say who holds it. `Err` is a failure no waiting cures: a quorum
    /// unreachable (69), or a ttl too short to ever be valid (1). Asks every instance at once.
    pub fn try_acquire(&self, req: &Request) -> Result<Attempt, LockError> {
        self.attempt(req, Approach::Parallel)
    }

    /// One attempt, approaching the instances as `approach` says (see "No split votes").
    pub fn attempt(&self, req: &Request, approach: Approach) -> Result<Attempt, LockError> {
        let n = self.quorum.n();
        let decider = self.decider(&req.resource);
        let mut heard = Heard {
            view: (0..n).map(|_| None).collect(),
            started: None,
            deciding: decider,
        };
        if approach == Approach::DeciderFirst {
            if let Some(busy) = self.ask_deciders(req, &mut heard)? {
                return Ok(Attempt::Busy(busy));
            }
        }
        self.ask_the_rest(req, &mut heard);
        let Heard {
            mut view,
            started,
            deciding,
        } = heard;
        let started = started.unwrap_or_else(Instant::now);
        let mut maybe_ours = maybe_ours(&view);
        // Not our turn: the deciding instance's queue has someone first.
        if let Some(Some(Ok(AcquireReply::OthersTurn { waiter, holding }))) = deciding.map(|d| &view[d]) {
            let (waiter, holding) = (waiter.clone(), holding.clone());
            return Ok(Attempt::Busy(self.give_way(
                req,
                view,
                &maybe_ours,
                started,
                waiter,
                holding,
            )));
        }
        self.agree_on_slot(req, &mut view, &mut maybe_ours, deciding, started);
        if count_ours(&view) < self.quorum.needed() {
            self.complete(req, decider, &mut view, &mut maybe_ours);
        }
        self.conclude(req, view, &maybe_ours, started)
    }

    /// Ask the decider alone, then (when it is down or slow) the next instance in the order,
    /// until one answers. `Some` when that one says no: it is held there, or another waiter's
    /// turn; nothing was taken anywhere, so there is nothing to undo.
    fn ask_deciders(&self, req: &Request, heard: &mut Heard) -> Result<Option<Busy>, LockError> {
        let n = self.quorum.n();
        let order = self.order(&req.resource);
        let mut next = heard.deciding;
        while let Some(d) = next {
            heard.deciding = Some(d);
            let targets = single(n, d);
            let asking = Asking {
                targets: &targets,
                by_quorum: false,
                deciding: Some(d),
                only: None,
            };
            let round = self.ask("acquire on the decider", req, &heard.view, asking);
            heard.record(self, round);
            let on_decider = Busy {
                from_decider: true,
                ..busy_from(&[], n)
            };
            match &heard.view[d] {
                Some(Ok(AcquireReply::Held { holder: h, .. }))
                    if h.fence == 0 && !h.other_client && self.stuck(h) =>
                {
                    // A contender that never finished (it died between the decider and the
                    // rest): pass the decider over while its hold lasts, and ask the rest.
                    lock(&self.suspect_until)[d] = Some(Instant::now() + h.time_left.unwrap_or(SUSPECT_FOR));
                    return Ok(None);
                }
                Some(Ok(AcquireReply::Held { holder: h, .. })) => {
                    return Ok(Some(Busy {
                        holder: Some(h.clone()),
                        held_on: 1,
                        ..on_decider
                    }));
                }
                Some(Ok(AcquireReply::LimitMismatch { limit, holder })) => {
                    return Err(self.mismatch(req, *limit, holder.clone()));
                }
                Some(Ok(AcquireReply::OthersTurn { waiter, holding })) => {
                    return Ok(Some(Busy {
                        turn_of: Some(waiter.clone()),
                        holding: holding.clone(),
                        ..on_decider
                    }));
                }
                Some(Err(_)) => {
                    // Down or slow: the next instance in the order decides, now.
                    let view = &heard.view;
                    next = order
                        .iter()
                        .copied()
                        .find(|&i| view[i].is_none() && !self.suspected(i));
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Ask every instance not asked yet, for the slot the deciding instance gave us
    /// (`--limit`), and then, when the answers cannot make a quorum, wait once for those not
    /// waited for.
    fn ask_the_rest(&self, req: &Request, heard: &mut Heard) {
        let deciding = heard.deciding;
        if let Some(Some(Ok(g))) = deciding.map(|d| &heard.view[d]) {
            g.hold().inspect(|h| self.prefer(h));
        }
        let rest: Vec<bool> = heard.view.iter().map(Option::is_none).collect();
        if rest.contains(&true) {
            let asking = Asking {
                targets: &rest,
                by_quorum: true,
                deciding,
                only: None,
            };
            let round = self.ask("acquire", req, &heard.view, asking);
            heard.record(self, round);
        }
        // Instances not waited for (suspected) can hide a lost majority: when the answers so far
        // cannot make a quorum, wait for those once, so that "unreachable" (69) is told from
        // "busy" within about the timeouts, as the contract says.
        let answered = heard.view.iter().filter(|r| matches!(r, Some(Ok(_)))).count();
        let unknown: Vec<bool> = heard
            .view
            .iter()
            .map(|r| matches!(r, Some(Err(e)) if e.class == ErrorClass::NotAwaited))
            .collect();
        if answered < self.quorum.needed() && unknown.contains(&true) {
            let asking = Asking {
                targets: &unknown,
                by_quorum: false,
                deciding,
                only: None,
            };
            let round = self.ask("acquire (the rest)", req, &heard.view, asking);
            self.merge(&mut heard.view, round);
        }
    }

    /// It is `waiter`'s turn, by the deciding instance's queue: whatever else granted us is
    /// given back, so the head of the queue finds the lock free everywhere.
    fn give_way(
        &self,
        req: &Request,
        view: View,
        maybe_ours: &[bool],
        started: Instant,
        waiter: Waiter,
        holding: Option<Holding>,
    ) -> Busy {
        let replies = answers(view);
        self.undo(&req.resource, &req.token, maybe_ours, &replies, started);
        Busy {
            turn_of: Some(waiter),
            holding,
            from_decider: true,
            ..busy_from(&holders(&replies), self.quorum.n())
        }
    }

    /// Rule 2: holding the decider but no quorum, ask again the instances held by others, for
    /// a few round trips: a contender that has not finished holds no decider, so it is undoing;
    /// a finished holder is most likely the one whose release woke us, still on its way there.
    pub(super) fn complete(
        &self,
        req: &Request,
        decider: Option<usize>,
        view: &mut View,
        maybe_ours: &mut [bool],
    ) {
        let Some(d) = decider else { return };
        if !matches!(&view[d], Some(Ok(g)) if g.ours()) {
            return;
        }
        let q = self.quorum.needed();
        for _ in 0..COMPLETE_TRIES {
            let held: Vec<bool> = view
                .iter()
                .map(|r| matches!(r, Some(Ok(AcquireReply::Held { .. }))))
                .collect();
            if count_ours(view) + held.iter().filter(|h| **h).count() < q {
                return;
            }
            // About one round trip: the time their undo or release takes to land.
            let pause =
                Duration::from_micros(200) + crate::engine::wakeup::jitter(Duration::from_micros(300));
            std::thread::sleep(pause);
            let round = self.ask(
                "acquire again",
                req,
                view,
                Asking {
                    targets: &held,
                    by_quorum: true,
                    deciding: None,
                    only: None,
                },
            );
            self.merge(view, round);
            for (m, r) in maybe_ours.iter_mut().zip(self::maybe_ours(view)) {
                *m |= r;
            }
            if count_ours(view) >= q {
                return;
            }
        }
    }
}
