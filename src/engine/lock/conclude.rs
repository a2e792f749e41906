//! An attempt's outcome from what every instance said: a fenced lease with validity left on a
//! quorum, or an undo everywhere the attempt may have landed (safety property 3) and who holds
//! the lock (busy) or that too few answered (unavailable).

use std::time::Instant;

use super::fence::{fencing, Fencing};
use super::locker::*;
use super::replies::{answers, busy_from, count_ours_replies, AcquireReply, View};
use crate::engine::error::LockError;
use crate::engine::holder::Busy;
use crate::engine::quorum::{validity, Reply};

impl Locker {
    /// The attempt's outcome from what every instance said: a lease (fenced, with validity
    /// left) on a quorum, or busy / unavailable with every hold undone.
    pub(super) fn conclude(
        &self,
        req: &Request,
        view: View,
        maybe_ours: &[bool],
        started: Instant,
    ) -> Result<Attempt, LockError> {
        let mut view = answers(view);
        let hold = self.one_hold(req, &mut view, started);
        Self::distrust_restarted(req.ttl, &mut view);
        if count_ours_replies(&view) < self.quorum.needed() {
            self.undo(&req.resource, &req.token, maybe_ours, &view, started);
            return self.fall_short(req, &view).map(Attempt::Busy);
        }

        // One round for a fence (safety property 7), and when a second is needed: `fencing`.
        let mut fencing = fencing(&view);
        if fencing.write_back {
            if let Some(busy) = self.write_back_or_undo(req, &mut fencing, &view, maybe_ours, started)? {
                return Ok(Attempt::Busy(busy));
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
        if !fencing.write_back {
            // The hash's fence stays 0 until fence.lua records it: that is the mark that a holder
            // finished acquiring, which the decider (`stuck`) and waiters (`recheck_reason`) go by,
            // and which acquire.lua needs to tell our own re-entry from a leftover of our own failed
            // attempt. After one round it is sent without waiting (`mark_finished`).
            //
            // Where the fence is not recorded yet: instances that took it afresh, and those whose
            // answer was not awaited (their request may yet take it). The write-back round,
            // sent to every instance, did that already.
            let unmarked: Vec<bool> = maybe_ours
                .iter()
                .zip(&view)
                .map(|(m, r)| *m && !matches!(r, Ok(AcquireReply::Reentered { .. })))
                .collect();
            self.mark_finished(req, fencing.fence, &unmarked);
        }
        let Fencing {
            fence,
            reentered,
            count,
            ..
        } = fencing;
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
            missing: view.iter().any(|r| matches!(r, Ok(g) if !g.ours())),
        }))
    }

    /// Why an attempt without a quorum of grants (already undone) failed: another `--limit`,
    /// else busy or unavailable.
    fn fall_short(&self, req: &Request, view: &[Reply<AcquireReply>]) -> Result<Busy, LockError> {
        let mismatch = view.iter().find_map(|r| match r {
            Ok(AcquireReply::LimitMismatch { limit, holder }) => Some((*limit, holder.clone())),
            _ => None,
        });
        if let Some((limit, holder)) = mismatch {
            return Err(self.mismatch(req, limit, holder));
        }
        self.busy_or_unavailable(view)
    }

    /// The write-back round for a fence the quorum did not agree on (see `conclude`), taking
    /// the fence it claimed. Where it reached no quorum, the attempt is undone: unavailable when
    /// too many failed, `Some` (busy, to try again) while validity is left, as a force release
    /// between the two rounds does; else `None`, and the validity check fails the attempt.
    fn write_back_or_undo(
        &self,
        req: &Request,
        fencing: &mut Fencing,
        view: &[Reply<AcquireReply>],
        maybe_ours: &[bool],
        started: Instant,
    ) -> Result<Option<Busy>, LockError> {
        let (n, q) = (self.quorum.n(), self.quorum.needed());
        let (recorded, claimed) = self.write_back(req, fencing.fence, fencing.reentered);
        fencing.fence = claimed;
        if recorded.count(|ok| *ok) >= q {
            return Ok(None);
        }
        self.undo(&req.resource, &req.token, maybe_ours, view, started);
        if recorded.failed() > n - q {
            return Err(self.unavailable(&recorded));
        }
        // Lost to a force release between the two rounds: try again.
        Ok(validity(req.ttl, started, Instant::now()).map(|_| busy_from(&[], n)))
    }
}
