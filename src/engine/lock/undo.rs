//! Giving back what a failed attempt may have taken (safety property 3), and telling "held
//! elsewhere" from "unreachable" when an attempt falls short.

use std::time::{Duration, Instant};

use super::locker::*;
use super::replies::{busy_from, AcquireReply};
use crate::engine::error::LockError;
use crate::engine::holder::{Busy, Holder};
use crate::engine::instance::ErrorClass;
use crate::engine::quorum::{Reply, Round};
use crate::engine::scripts::scripts;

/// The least an undo waits for its replies (see `undo`).
const UNDO_GRACE_MIN: Duration = Duration::from_millis(10);

impl Locker {
    /// Release what a failed attempt may have taken, on every instance where it may have
    /// landed, all at once (safety property 3). The release script drops only our token's
    /// hold, so a re-entry's undo gives back just the hold it added. It announces on the
    /// `undone` channel, which nobody listens to: waiters wake for releases, not retreats.
    pub(super) fn undo(
        &self,
        resource: &str,
        token: &str,
        maybe_ours: &[bool],
        view: &[Reply<AcquireReply>],
        started: Instant,
    ) {
        if !maybe_ours.contains(&true) {
            return;
        }
        for (u, ours) in crate::engine::sync::lock(&self.undone).iter_mut().zip(maybe_ours) {
            *u |= *ours;
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
        let nobody_listens = format!("{}undone:{resource}", self.prefix);
        let token = token.to_string();
        self.quorum
            .ask("undo", move |_| {
                keys.eval(
                    &scripts().release,
                    &[&keys.lock, &keys.queue, &keys.qinfo, &keys.holds],
                    &[&token, "0", &nobody_listens, "", &keys.hold_prefix],
                    |_| Ok(()),
                )
            })
            .on(maybe_ours)
            .wait_at_most(grace)
            .until(move |replies: &[Option<Reply<()>>]| {
                replies.iter().zip(&awaited).all(|(r, a)| r.is_some() || !*a)
            })
            .gather();
    }

    pub(super) fn busy_or_unavailable(&self, view: &[Reply<AcquireReply>]) -> Result<Busy, LockError> {
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
            return Err(self.unavailable(&round));
        }
        let holders: Vec<&Holder> = view
            .iter()
            .filter_map(|r| match r {
                Ok(AcquireReply::Held { holder: h, .. }) => Some(h),
                _ => None,
            })
            .collect();
        let mut busy = busy_from(&holders, self.quorum.n());
        busy.holding = view.iter().find_map(|r| match r {
            Ok(AcquireReply::Held { holding, .. }) => holding.clone(),
            _ => None,
        });
        Ok(busy)
    }

    /// Too few instances answered `round` (exit 69).
    pub fn unavailable<T>(&self, round: &Round<T>) -> LockError {
        LockError::Unavailable {
            answered: self.quorum.n() - round.failed(),
            n: self.quorum.n(),
            needed: self.quorum.needed(),
            refused: round
                .replies
                .iter()
                .any(|r| matches!(r, Err(e) if e.class == ErrorClass::Refused)),
            errors: round.errors(&self.quorum.servers()),
        }
    }
}
