//! Holds beside the exclusive lock (CONTRACT.md, "Capacity"): which slot a `--limit N`
//! attempt asks for, keeping the one slot an attempt holds on a quorum, and the refusal of a
//! request whose N differs from the holders'.
//!
//! Each of the N slots is a lock of its own (a hash at `P hold:NAME#i`), taken and kept on a
//! quorum exactly as the exclusive lock is, so at most one token holds each slot, and at most N
//! tokens hold the resource. (Counting holders per instance instead would not do: with N = 2 and
//! three instances, a on {1, 2}, b on {2, 3} and c on {1, 3} leave two holders on each instance,
//! yet three tokens each hold a quorum.) docs/capacity.md has the whole argument.

use std::collections::BTreeMap;
use std::time::Instant;

use super::locker::*;
use super::replies::Granted;
use crate::engine::error::LockError;
use crate::engine::holder::Holder;
use crate::engine::instance::{ErrorClass, InstanceError};
use crate::engine::quorum::Reply;
use crate::engine::sync::lock;

impl Locker {
    /// The slot a `--limit N` attempt asks for first (an instance gives the next free one when
    /// that is taken): the one an earlier attempt of ours was granted most, else one spread by
    /// the token, so that simultaneous contenders mostly ask for different slots.
    pub(super) fn first_slot(&self, req: &Request) -> u32 {
        let n = req.mode.n().max(1);
        if let Some(hint) = *lock(&self.slot_hint) {
            return hint % n;
        }
        (super::decider::fnv1a(&[req.token.as_bytes()]) % u64::from(n)) as u32
    }

    /// Instances may grant one attempt different slots (each took the first free one from the
    /// slot asked for): only the slot granted on the most instances counts (among equals the
    /// lowest). The others are given back at once and count as not granted. Returns the hold
    /// the attempt is about ('' for the exclusive lock).
    pub(super) fn one_hold(&self, req: &Request, view: &mut [Reply<Granted>], started: Instant) -> String {
        let mut granted: BTreeMap<String, usize> = BTreeMap::new();
        for hold in view
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(Granted::hold))
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
                    *r = Err(InstanceError::new(ErrorClass::NotAwaited, "granted another slot"));
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
