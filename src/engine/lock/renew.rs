//! Renewing a lease: extend on a quorum, and take back instances that lost the key.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::argv::restore_argv;
use super::locker::*;
use super::replies::{busy_from, extend_reply, restore_reply, ExtendReply};
use crate::engine::error::LockError;
use crate::engine::holder::Holder;
use crate::engine::quorum::{validity, Round};
use crate::engine::scripts::scripts;

/// The outcome of an extend round.
#[derive(Debug)]
pub struct Extended {
    pub valid_until: Instant,
    pub renewed: usize,
    /// Instances that had lost the key and were taken back.
    pub restored: usize,
}

impl Locker {
    /// Renew `token`'s lease on every instance. With `restore`, an instance that lost the
    /// key and is free is taken back with the lease's metadata, so a restart does not quietly
    /// shrink the quorum. `Err(LockError::NotHolder)` when the token does not hold it on a
    /// quorum (or `LeaseTooShort` when it answered too late); `Unavailable` when too few
    /// instances answered.
    pub fn extend(
        &self,
        resource: &str,
        token: &str,
        ttl: Duration,
        restore: Option<&Lease>,
    ) -> Result<Extended, LockError> {
        let keys = self.keys(resource);
        // Which hold: the lease's own (a leftover of another is dropped), or for `extend` from
        // the command line whichever the token has (only the one on the most instances counts).
        let hold = restore.map_or("*".to_string(), |l| l.hold.clone());
        let args = [
            token.to_string(),
            ttl.as_millis().to_string(),
            keys.hold_prefix.clone(),
            hold,
        ];
        let k = keys.clone();
        let op = move |_| {
            k.eval(
                &scripts().extend,
                &[&k.lock, &k.holds],
                &args.each_ref().map(String::as_str),
                |v| extend_reply(&v),
            )
        };
        // With `restore`, hear every instance (within the round's time): a lost key is only seen
        // where the reply is awaited, and a restarted instance, reconnecting, answers last.
        let round = match restore {
            Some(_) => self.quorum.ask("extend", op).gather(),
            None => self
                .quorum
                .ask("extend", op)
                .until_quorum(|r| matches!(r, ExtendReply::Renewed { .. }))
                .gather(),
        };
        let renewed = renewed_on(&round);
        if renewed < self.quorum.needed() {
            return Err(self.not_renewed(resource, &round, renewed));
        }
        let Some(left) = validity(ttl, round.started, Instant::now()) else {
            return Err(LockError::LeaseTooShort {
                resource: resource.to_string(),
                ttl,
                elapsed: round.started.elapsed(),
                drift: crate::engine::quorum::drift(ttl),
            });
        };
        let valid_until = Instant::now() + left;
        let free: Vec<bool> = round
            .replies
            .iter()
            .map(|r| matches!(r, Ok(ExtendReply::Gone)))
            .collect();
        let restored = match restore {
            Some(lease) if free.contains(&true) => self.restore(keys, lease, ttl, &free),
            _ => 0,
        };
        Ok(Extended {
            valid_until,
            renewed,
            restored,
        })
    }

    /// Why a renewal reached no quorum: too few answered (unavailable), or the token does
    /// not hold it there (and who does).
    fn not_renewed(&self, resource: &str, round: &Round<ExtendReply>, renewed: usize) -> LockError {
        let (n, q) = (self.quorum.n(), self.quorum.needed());
        if round.failed() > n - q {
            return self.unavailable(round);
        }
        let holders: Vec<&Holder> = round
            .replies
            .iter()
            .filter_map(|r| match r {
                Ok(ExtendReply::Held { holder: Some(h) }) => Some(h),
                _ => None,
            })
            .collect();
        LockError::NotHolder {
            resource: resource.to_string(),
            renewed,
            n,
            needed: q,
            holder: busy_from(&holders, n).holder,
        }
    }

    /// Take `lease` back on the `free` instances (they lost the key); how many took it.
    fn restore(&self, keys: Keys, lease: &Lease, ttl: Duration, free: &[bool]) -> usize {
        let args = restore_argv(lease, ttl, &keys);
        let back = self
            .quorum
            .ask("restore", move |_| {
                keys.eval(
                    &scripts().restore,
                    &[&keys.lock, &keys.fence, &keys.holds, &keys.fenced_by],
                    &args.each_ref().map(String::as_str),
                    |v| restore_reply(&v),
                )
            })
            .on(free)
            .gather();
        back.count(|ok| *ok)
    }
}

/// On how many instances the token's hold was renewed: only the hold renewed on the most
/// counts (a leftover hold of an attempt is no lease).
fn renewed_on(round: &Round<ExtendReply>) -> usize {
    let mut per_hold: BTreeMap<&str, usize> = BTreeMap::new();
    for r in round.replies.iter().flatten() {
        if let ExtendReply::Renewed { hold } = r {
            *per_hold.entry(hold).or_default() += 1;
        }
    }
    per_hold.values().copied().max().unwrap_or(0)
}
