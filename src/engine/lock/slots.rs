//! Holds beside the exclusive lock (docs/capacity.md): which slot a `--limit N`
//! attempt asks for, keeping the one slot an attempt holds on a quorum, and the refusal of a
//! request whose N differs from the holders'.
//!
//! Each of the N slots is a lock of its own (a hash at `P hold:NAME#i`), taken and kept on a
//! quorum exactly as the exclusive lock is, so at most one token holds each slot, and at most N
//! tokens hold the resource. (Counting holders per instance instead would not do: with N = 2 and
//! three instances, a on {1, 2}, b on {2, 3} and c on {1, 3} leave two holders on each instance,
//! yet three tokens each hold a quorum.) docs/capacity.md has the whole argument.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ask::Asking;
use super::locker::*;
use super::replies::{answers, maybe_ours as maybe_ours_of, AcquireReply, View};
use crate::engine::error::LockError;
use crate::engine::holder::Holder;
use crate::engine::quorum::Reply;
use crate::engine::sync::lock;

/// How often the slot is asked for again where an unfinished contender has it.
const SETTLE_TRIES: usize = 4;

impl Locker {
    /// The slot a `--limit N` attempt asks for first (an instance gives the next free one when
    /// that is taken): the one an earlier attempt of ours was granted most, else one spread by
    /// the token, so that simultaneous contenders mostly ask for different slots.
    pub(super) fn first_slot(&self, req: &Request) -> u32 {
        let n = req.mode.n().max(1);
        match *lock(&self.slot_hint) {
            Some(hint) => hint % n,
            None => (super::decider::fnv1a(&[req.token.as_bytes()]) % u64::from(n)) as u32,
        }
    }

    /// A `--limit` attempt whose instances granted different slots keeps the one granted most
    /// and gives the others back (`one_hold`), then asks every instance that answered without
    /// granting it for that slot alone. A slot held on a bare quorum is one restart-empty away
    /// from a second holder (the forgotten instance and the one where the slot is free make a
    /// quorum for anyone), so a holder holds its slot wherever it can.
    pub(super) fn agree_on_slot(
        &self,
        req: &Request,
        view: &mut View,
        maybe_ours: &mut [bool],
        deciding: Option<usize>,
        started: Instant,
    ) {
        if !matches!(req.mode, Mode::Limit(_)) {
            return;
        }
        let mut replies = answers(view.clone());
        let best = self.one_hold(req, &mut replies, started);
        if best.is_empty() {
            return;
        }
        for (v, r) in view.iter_mut().zip(replies) {
            if v.is_some() {
                *v = Some(r);
            }
        }
        let missing: Vec<bool> = view
            .iter()
            .map(|r| matches!(r, Some(Ok(g)) if g.hold() != Some(best.as_str())))
            .collect();
        if !missing.contains(&true) {
            return;
        }
        let mut targets = missing;
        for _ in 0..SETTLE_TRIES {
            let asking = Asking {
                targets: &targets,
                by_quorum: false,
                deciding,
                only: Some(&best),
            };
            let round = self.ask("acquire the slot", req, view, asking);
            self.merge(view, round);
            for (m, r) in maybe_ours.iter_mut().zip(maybe_ours_of(view)) {
                *m |= r;
            }
            // Where another has the slot, it is most likely giving it back: a contender that
            // has not finished (another attempt's grant of a slot it is giving back), or the
            // holder whose release made room for us, still on its way there. Both land within
            // a round: ask there again shortly.
            targets = view
                .iter()
                .zip(&targets)
                .map(|(r, t)| *t && matches!(r, Some(Ok(AcquireReply::Held { .. }))))
                .collect();
            if !targets.contains(&true) {
                return;
            }
            std::thread::sleep(
                Duration::from_micros(200) + crate::engine::wakeup::jitter(Duration::from_micros(300)),
            );
        }
    }

    /// Instances may grant one attempt different slots (each took the first free one from the
    /// slot asked for): only the slot granted on the most instances counts (among equals the
    /// lowest). The others are given back at once and count as not granted. Returns the hold
    /// the attempt is about ('' for the exclusive lock).
    pub(super) fn one_hold(
        &self,
        req: &Request,
        view: &mut [Reply<AcquireReply>],
        started: Instant,
    ) -> String {
        let mut granted: BTreeMap<String, usize> = BTreeMap::new();
        for hold in view
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(AcquireReply::hold))
        {
            *granted.entry(hold.to_string()).or_default() += 1;
        }
        let Some(best) = granted
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(hold, _)| hold.clone())
        else {
            return String::new();
        };
        if granted.len() > 1 {
            let others: Vec<bool> = view
                .iter()
                .map(|r| matches!(r, Ok(g) if g.hold().is_some_and(|h| h != best)))
                .collect();
            self.undo(&req.resource, &req.token, &others, view, started);
            for (r, other) in view.iter_mut().zip(&others) {
                if *other {
                    *r = Ok(AcquireReply::GaveBack);
                }
            }
        }
        self.prefer(&best);
        best
    }

    /// Ask for `hold` first next time, if it is a slot.
    pub(super) fn prefer(&self, hold: &str) {
        if let Ok(slot) = hold.parse::<u32>() {
            *lock(&self.slot_hint) = Some(slot);
        }
    }

    /// The mode of the hold an attempt got: a re-entry's is the hold's own (an exclusive
    /// request re-entering a shared hold of its token re-enters that shared hold).
    pub(super) fn mode_of(req: &Request, view: &[Reply<AcquireReply>], hold: &str) -> Mode {
        let reentered = view.iter().find_map(|r| match r {
            Ok(AcquireReply::Reentered { hold: h, limit, .. }) if h == hold => Some(*limit),
            _ => None,
        });
        match reentered {
            None => req.mode,
            Some(_) if hold.is_empty() => Mode::Exclusive,
            Some(_) if hold.starts_with("r:") => Mode::Shared,
            Some(limit) => Mode::limit(limit),
        }
    }

    /// The request's N differs from the holders' `theirs` (exit 1, nothing changed).
    pub(super) fn mismatch(&self, req: &Request, theirs: u32, holder: Option<Holder>) -> LockError {
        LockError::LimitMismatch {
            resource: req.resource.clone(),
            ours: req.mode.n(),
            theirs,
            holder,
        }
    }
}
