//! Fencing (safety property 7): the fence a new lease gets from what the instances granted,
//! whether it may be used at once or must first be written back to a quorum (the argument is
//! at `fencing`), and the two ways fence.lua records it.

use std::time::Duration;

use super::locker::*;
use super::replies::{fence_reply, AcquireReply, FenceReply};
use crate::engine::instance::Call;
use crate::engine::quorum::{Reply, Round};
use crate::engine::scripts::scripts;

/// How many fences a hold that may have company tries to claim before it gives up the attempt.
const CLAIM_TRIES: usize = 4;

/// What the grants of an attempt that reached a quorum say about its fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fencing {
    pub fence: u64,
    /// Some instance already had our token's finished hold: this is a re-entry, and the fence
    /// is that holder's.
    pub reentered: bool,
    /// Our hold count after this acquisition (the largest an instance reported).
    pub count: i64,
    /// The fence is not known to be on a quorum yet: record it there (and wait for that)
    /// before anyone may use it.
    pub write_back: bool,
}

/// The fence of an attempt whose `view` holds a quorum of grants: one round for a fence, and
/// when a second is needed.
///
/// acquire.lua, taking a free lock, hands out its instance's counter + 1 and leaves the
/// counter there. When every instance that took it for us handed out the same F, and
/// they are a quorum, then:
/// - F is on a majority already: our own scripts wrote it there. Every later quorum
///   overlaps ours, so it reads a counter of at least F and hands out more.
/// - F is above every earlier fence E: E was on a majority before it was used (by this
///   same argument, or by a write-back), that majority meets our quorum on an instance
///   whose counter was at least E, and there our script handed out counter + 1 = F.
///
/// So F may be used at once, with no second round; both points hold as long as a
/// majority of instances keep their data, as the contract says. When the fences differ
/// (an instance restarted empty, missed updates, or had its counter set by hand), the
/// highest is above every earlier fence by the second point but may sit on one instance
/// only: it is written back to a quorum (fence.lua raises the counter where lower) and
/// waited for before anyone may use it. A counter bumped by an attempt that then fails,
/// or by an instance whose answer came too late to count, is harmless: fences need only
/// rise, and a gap between two of them is fine.
///
/// A re-entry keeps the holder's fence, on a quorum since the holder acquired; an
/// instance that took it afresh under a re-entry (it had lost the key) is written the
/// holder's fence before the lease is used.
///
/// So:
/// - Every instance took it afresh and handed out the same fence: that fence, at once.
/// - They handed out different ones: the highest, once written back to a quorum.
/// - A re-entry: the holder's fence (the highest the re-entered instances report); written
///   back only when some instance took it afresh (it had lost the key), so that one records
///   the holder's fence rather than the one it handed out.
pub(super) fn fencing(view: &[Reply<AcquireReply>]) -> Fencing {
    let reentered = view
        .iter()
        .any(|r| matches!(r, Ok(AcquireReply::Reentered { .. })));
    let mut taken = vec![];
    let (mut count, mut fence) = (1, 0);
    for g in view.iter().flatten() {
        match g {
            AcquireReply::Taken { fence: f, .. } => taken.push(*f),
            AcquireReply::Reentered {
                count: c, fence: f, ..
            } => {
                count = count.max(*c);
                fence = fence.max(*f);
            }
            AcquireReply::Held { .. }
            | AcquireReply::OthersTurn { .. }
            | AcquireReply::LimitMismatch { .. }
            | AcquireReply::GaveBack => {}
        }
    }
    if !reentered {
        fence = taken.iter().copied().max().unwrap_or(0);
    }
    let agreed = !reentered && taken.iter().all(|f| *f == fence);
    Fencing {
        fence,
        reentered,
        count,
        write_back: !taken.is_empty() && !agreed,
    }
}

impl Locker {
    /// The write-back round: record `fence` where `token` holds, and wait until a quorum
    /// recorded it (or cannot). A hold that may have company (`--shared`, `--limit`) claims the
    /// fence as its own alone (see fence.lua): where another token got it first, the next
    /// fence above every counter seen is claimed instead, a few times at most. Returns each
    /// instance's answer (recorded or not) and the fence.
    ///
    /// A re-entry never claims: its fence is the holder's, which it keeps.
    pub(super) fn write_back(&self, req: &Request, fence: u64, reentered: bool) -> (Round<bool>, u64) {
        let claim = req.mode != Mode::Exclusive && !reentered;
        let mut fence = fence;
        let mut tries = 0;
        loop {
            let round = self.record_fence(req, fence, claim);
            tries += 1;
            let recorded = round.count(|r| r.recorded);
            let highest = round
                .replies
                .iter()
                .flatten()
                .map(|r| r.counter)
                .max()
                .unwrap_or(0);
            let claimed = recorded >= self.quorum.needed();
            if claim && claimed {
                // Where the claim was refused (the counter is past it there), the hold is ours
                // all the same: mark it finished there too, with the fence it has.
                let refused: Vec<bool> = round
                    .replies
                    .iter()
                    .map(|r| matches!(r, Ok(FenceReply { recorded: false, .. })))
                    .collect();
                self.mark_finished(req, fence, &refused);
            }
            if !claim || claimed || tries >= CLAIM_TRIES || highest < fence {
                return (round.map(|r| r.recorded), fence);
            }
            fence = highest + 1;
        }
    }

    /// Record `fence` on every instance where `token` holds, and wait until a quorum recorded
    /// it (or cannot). Each reply says whether it was recorded there, and the counter there.
    fn record_fence(&self, req: &Request, fence: u64, claim: bool) -> Round<FenceReply> {
        let keys = self.keys(&req.resource);
        let args = [
            req.token.clone(),
            fence.to_string(),
            keys.hold_prefix.clone(),
            if claim { "1" } else { "0" }.to_string(),
        ];
        self.quorum
            .ask("fence", move |_| {
                Call::eval(
                    &scripts().fence,
                    &[&keys.lock, &keys.fence, &keys.holds, &keys.fenced_by],
                    &args.each_ref().map(String::as_str),
                    |v| fence_reply(&v),
                )
            })
            .until_quorum(|r| r.recorded)
            .gather()
    }

    /// Record `fence` on the `targets` instances without waiting for them: the mark that the
    /// holder has finished acquiring (the hash's fence is 0 until then), for a fence that is on
    /// a quorum already. The requests run in order on each instance's connection, so they land
    /// before anything this process sends there later (a release, a renewal, a re-entry).
    pub(super) fn mark_finished(&self, req: &Request, fence: u64, targets: &[bool]) {
        if !targets.contains(&true) {
            return;
        }
        let keys = self.keys(&req.resource);
        let args = [
            req.token.clone(),
            fence.to_string(),
            keys.hold_prefix.clone(),
            "0".to_string(),
        ];
        self.quorum
            .ask("fence (not awaited)", move |_| {
                Call::eval(
                    &scripts().fence,
                    &[&keys.lock, &keys.fence, &keys.holds, &keys.fenced_by],
                    &args.each_ref().map(String::as_str),
                    |_| Ok(()),
                )
            })
            .on(targets)
            .wait_at_most(Duration::ZERO)
            .gather();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::instance::{ErrorClass, InstanceError};

    fn taken(fence: u64) -> Reply<AcquireReply> {
        Ok(AcquireReply::Taken {
            fence,
            hold: String::new(),
            up: None,
        })
    }

    fn reentered(count: i64, fence: u64) -> Reply<AcquireReply> {
        Ok(AcquireReply::Reentered {
            count,
            fence,
            hold: String::new(),
            limit: 1,
        })
    }

    fn late() -> Reply<AcquireReply> {
        Err(InstanceError::new(ErrorClass::NotAwaited, "not waited for"))
    }

    #[test]
    fn a_quorum_that_agrees_uses_its_fence_at_once() {
        let f = fencing(&[taken(8), taken(8), late()]);
        assert_eq!(
            f,
            Fencing {
                fence: 8,
                reentered: false,
                count: 1,
                write_back: false
            }
        );
    }

    #[test]
    fn a_quorum_that_differs_writes_the_highest_back_first() {
        let f = fencing(&[taken(101), taken(1), late()]);
        assert_eq!((f.fence, f.write_back), (101, true));
        // Even when the lower one is the quorum's majority.
        let f = fencing(&[taken(4), taken(4), taken(5), taken(4), late()]);
        assert_eq!((f.fence, f.write_back), (5, true));
    }

    #[test]
    fn a_reentry_keeps_the_holders_fence_and_records_it_where_the_key_was_lost() {
        let f = fencing(&[reentered(2, 7), reentered(2, 7), late()]);
        assert_eq!(
            f,
            Fencing {
                fence: 7,
                reentered: true,
                count: 2,
                write_back: false
            }
        );
        // The instance that took it afresh handed out 1 (it restarted empty), or 9: neither
        // is the holder's fence, which it must record.
        for handed_out in [1, 9] {
            let f = fencing(&[reentered(3, 7), taken(handed_out), late()]);
            assert_eq!((f.fence, f.reentered, f.count, f.write_back), (7, true, 3, true));
        }
    }
}
