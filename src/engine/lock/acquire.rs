//! One acquisition attempt: ask the instances (the decider first, or all at once), complete
//! a near-quorum, then conclude: a fenced lease with validity left, or an undo everywhere the
//! attempt may have landed (safety property 3) and who holds the lock.

use std::time::{Duration, Instant};

use super::ask::Asking;
use super::decider::{Approach, SUSPECT_FOR};
use super::fence::{fencing, Fencing};
use super::locker::*;
use super::replies::{busy_from, count_ours, count_ours_replies, maybe_ours, AcquireReply, View};
use crate::engine::error::LockError;
use crate::engine::holder::Busy;
use crate::engine::holder::Holder;
use crate::engine::instance::{ErrorClass, InstanceError};
use crate::engine::quorum::{validity, Reply};
use crate::engine::sync::lock;

/// How often a contender holding the decider asks the missing instances again (rule 2).
const COMPLETE_TRIES: usize = 5;

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
        let mut view: View = (0..n).map(|_| None).collect();
        let mut started = None;
        let decider = self.decider(&req.resource);
        // The instance whose queue says whose turn it is: the decider, or the one after it in
        // the order that stood in for it in this attempt.
        let mut deciding = decider;
        if approach == Approach::DeciderFirst {
            let order = self.order(&req.resource);
            let mut next = decider;
            while let Some(d) = next {
                deciding = Some(d);
                let targets = single(n, d);
                let asking = Asking {
                    targets: &targets,
                    by_quorum: false,
                    deciding,
                    only: None,
                };
                let round = self.ask("acquire on the decider", req, &view, asking);
                started.get_or_insert(round.started);
                self.merge(&mut view, round);
                match &view[d] {
                    Some(Ok(AcquireReply::Held { holder: h, .. }))
                        if h.fence == 0 && !h.other_client && self.stuck(h) =>
                    {
                        // A contender that never finished (it died between the decider and the
                        // rest): pass the decider over while its hold lasts, and ask the rest.
                        lock(&self.suspect_until)[d] =
                            Some(Instant::now() + h.time_left.unwrap_or(SUSPECT_FOR));
                        break;
                    }
                    Some(Ok(AcquireReply::Held { holder: h, .. })) => {
                        return Ok(Attempt::Busy(Busy {
                            holder: Some(h.clone()),
                            held_on: 1,
                            n,
                            from_decider: true,
                            turn_of: None,
                            ahead: None,
                            holding: None,
                        }));
                    }
                    Some(Ok(AcquireReply::LimitMismatch { limit, holder })) => {
                        return Err(self.mismatch(req, *limit, holder.clone()));
                    }
                    Some(Ok(AcquireReply::OthersTurn { waiter: w, holding })) => {
                        return Ok(Attempt::Busy(Busy {
                            holder: None,
                            held_on: 0,
                            n,
                            from_decider: true,
                            turn_of: Some(w.clone()),
                            ahead: None,
                            holding: holding.clone(),
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
        // The rest are asked for the slot the decider gave us (`--limit`).
        if let Some(Some(Ok(g))) = deciding.map(|d| &view[d]) {
            g.hold().inspect(|h| self.prefer(h));
        }
        let rest: Vec<bool> = view.iter().map(Option::is_none).collect();
        if rest.contains(&true) {
            let round = self.ask(
                "acquire",
                req,
                &view,
                Asking {
                    targets: &rest,
                    by_quorum: true,
                    deciding,
                    only: None,
                },
            );
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
            let round = self.ask(
                "acquire (the rest)",
                req,
                &view,
                Asking {
                    targets: &unknown,
                    by_quorum: false,
                    deciding,
                    only: None,
                },
            );
            self.merge(&mut view, round);
        }
        let started = started.unwrap_or_else(Instant::now);
        let mut maybe_ours = maybe_ours(&view);
        // Not our turn: the deciding instance's queue has someone first. Whatever else granted
        // us is given back, so the head of the queue finds the lock free everywhere.
        if let Some(Some(Ok(AcquireReply::OthersTurn { waiter: w, holding }))) = deciding.map(|d| &view[d]) {
            let (turn_of, holding) = (w.clone(), holding.clone());
            let replies: Vec<Reply<AcquireReply>> = view
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(InstanceError::new(ErrorClass::NotAwaited, "not asked"))))
                .collect();
            self.undo(&req.resource, &req.token, &maybe_ours, &replies, started);
            let held: Vec<&Holder> = replies
                .iter()
                .filter_map(|r| match r {
                    Ok(AcquireReply::Held { holder: h, .. }) => Some(h),
                    _ => None,
                })
                .collect();
            let mut busy = busy_from(&held, n);
            busy.turn_of = Some(turn_of);
            busy.holding = holding;
            busy.from_decider = true;
            return Ok(Attempt::Busy(busy));
        }
        self.settle_slot(req, &mut view, &mut maybe_ours, deciding, started);
        if count_ours(&view) < self.quorum.needed() {
            self.complete(req, decider, &mut view, &mut maybe_ours);
        }
        self.conclude(req, view, &maybe_ours, started)
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

    /// The attempt's outcome from what every instance said: a lease (fenced, with validity
    /// left) on a quorum, or busy / unavailable with every hold undone.
    pub(super) fn conclude(
        &self,
        req: &Request,
        view: View,
        maybe_ours: &[bool],
        started: Instant,
    ) -> Result<Attempt, LockError> {
        let q = self.quorum.needed();
        let n = self.quorum.n();
        let mut view: Vec<Reply<AcquireReply>> = view
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(InstanceError::new(ErrorClass::NotAwaited, "not asked"))))
            .collect();
        let hold = self.one_hold(req, &mut view, started);
        Self::distrust_restarted(req.ttl, &mut view);
        if count_ours_replies(&view) < q {
            self.undo(&req.resource, &req.token, maybe_ours, &view, started);
            let mismatch = view.iter().find_map(|r| match r {
                Ok(AcquireReply::LimitMismatch { limit, holder }) => Some((*limit, holder.clone())),
                _ => None,
            });
            if let Some((limit, holder)) = mismatch {
                return Err(self.mismatch(req, limit, holder));
            }
            return self.busy_or_unavailable(&view).map(Attempt::Busy);
        }

        // One round for a fence (safety property 7), and when a second is needed.
        //
        // acquire.lua, taking a free lock, hands out its instance's counter + 1 and leaves the
        // counter there. When every instance that took it for us handed out the same F, and
        // they are a quorum, then:
        // - F is on a majority already: our own scripts wrote it there. Every later quorum
        //   overlaps ours, so it reads a counter of at least F and hands out more.
        // - F is above every earlier fence E: E was on a majority before it was used (by this
        //   same argument, or by a write-back), that majority meets our quorum on an instance
        //   whose counter was at least E, and there our script handed out counter + 1 = F.
        // So F may be used at once, with no second round; both points hold as long as a
        // majority of instances keep their data, as the contract says. When the fences differ
        // (an instance restarted empty, missed updates, or had its counter set by hand), the
        // highest is above every earlier fence by the second point but may sit on one instance
        // only: it is written back to a quorum (fence.lua raises the counter where lower) and
        // waited for before anyone may use it. A counter bumped by an attempt that then fails,
        // or by an instance whose answer came too late to count, is harmless: fences need only
        // rise, and a gap between two of them is fine.
        //
        // The hash's fence stays 0 until fence.lua records it: that is the mark that a holder
        // finished acquiring, which the decider (`stuck`) and waiters (`recheck_reason`) go by,
        // and which acquire.lua needs to tell our own re-entry from a leftover of our own failed
        // attempt. After one round it is sent without waiting (`mark_finished`).
        //
        // A re-entry keeps the holder's fence, on a quorum since the holder acquired; an
        // instance that took it afresh under a re-entry (it had lost the key) is written the
        // holder's fence before the lease is used.
        let Fencing {
            fence,
            reentered,
            count,
            write_back,
        } = fencing(&view);
        let mut fence = fence;
        if write_back {
            let (recorded, claimed) = self.write_back(req, fence, reentered);
            fence = claimed;
            if recorded.count(|ok| *ok) < q {
                self.undo(&req.resource, &req.token, maybe_ours, &view, started);
                if recorded.failed() > n - q {
                    return Err(self.unavailable(&recorded));
                }
                if validity(req.ttl, started, Instant::now()).is_some() {
                    // Lost to a force release between the two rounds: try again.
                    return Ok(Attempt::Busy(Busy {
                        holder: None,
                        held_on: 0,
                        n,
                        from_decider: false,
                        turn_of: None,
                        ahead: None,
                        holding: None,
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
            });
        };
        if !write_back {
            // Where the fence is not recorded yet: instances that took it afresh, and those whose
            // answer was not awaited (their request may yet take it). The write-back round,
            // sent to every instance, did that already.
            let unmarked: Vec<bool> = maybe_ours
                .iter()
                .zip(&view)
                .map(|(m, r)| *m && !matches!(r, Ok(AcquireReply::Reentered { .. })))
                .collect();
            self.mark_finished(req, fence, &unmarked);
        }
        Ok(Attempt::Acquired(Lease {
            resource: req.resource.clone(),
            token: req.token.clone(),
            ttl: req.ttl,
            fence,
            mode: Self::mode_of(req, &view, &hold),
            hold,
            reentered,
            count,
            started,
            valid_until: Instant::now() + left,
            meta: req.meta.clone(),
            since_unix_ms: crate::engine::holder::now_unix_ms(),
            maybe_held: maybe_ours.to_vec(),
            missing: view.iter().any(|r| match r {
                Ok(g) => !g.ours(),
                Err(_) => false,
            }),
        }))
    }
}
