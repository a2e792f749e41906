//! Giving a lock back: one hold of a token, every hold (`--force`), and reading it.

use std::time::Duration;

use super::locker::*;
use super::replies::{array, force_reply, release_reply, ReleaseReply};
use crate::engine::holder::Holder;
use crate::engine::instance::{ErrorClass, ServerError};
use crate::engine::quorum::Round;
use crate::engine::scripts::scripts;

/// The outcome of a release round.
#[derive(Debug)]
pub struct Released {
    /// Instances where one hold was dropped.
    pub released: usize,
    /// Holds left (0 when the lock is gone, or kept only for --min-hold).
    pub remaining: i64,
    /// Instances where it was already free.
    pub free: usize,
    /// Other tokens' holds that were left untouched.
    pub others: Vec<Holder>,
    /// Instances that did not confirm the release: their index and error.
    pub failed: Vec<(usize, ServerError)>,
}

/// The outcome of a force release.
#[derive(Debug)]
pub struct Forced {
    /// Who held it, per instance where it was held.
    pub holders: Vec<Holder>,
    /// Instances that did not answer, with their errors.
    pub failed: Vec<ServerError>,
}

impl Locker {
    /// Drop one hold of `token` on every instance. `keep` > 0 (--min-hold) leaves the key in
    /// place for that long instead of deleting it.
    pub fn release(&self, resource: &str, token: &str, keep: Duration) -> Released {
        let keys = self.keys(resource);
        let args = [
            token.to_string(),
            keep.as_millis().to_string(),
            keys.channel.clone(),
            keys.wake_prefix.clone(),
            keys.hold_prefix.clone(),
        ];
        // Done once a quorum confirmed (released, or free already), or answered otherwise:
        // the rest have the request on the wire, in order behind ours, and run it however
        // late (docs/how-it-works.md, "The wire": settle).
        let round = self
            .quorum
            .ask("release", move |_| {
                keys.eval(
                    &scripts().release,
                    &[&keys.lock, &keys.queue, &keys.qinfo, &keys.holds],
                    &args.each_ref().map(String::as_str),
                    |v| release_reply(&v),
                )
            })
            .until_quorum(|r| matches!(r, ReleaseReply::Released { .. } | ReleaseReply::Free))
            .settling()
            .gather();
        let mut out = Released {
            released: 0,
            remaining: 0,
            free: 0,
            others: vec![],
            failed: vec![],
        };
        for r in &round.replies {
            match r {
                Ok(ReleaseReply::Released { remaining }) => {
                    out.released += 1;
                    out.remaining = out.remaining.max(*remaining);
                }
                Ok(ReleaseReply::Free) => out.free += 1,
                Ok(ReleaseReply::Held { holder }) => out.others.extend(holder.clone()),
                Err(_) => {}
            }
        }
        let servers = self.quorum.servers();
        out.failed = round
            .replies
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Err(e) if e.class != ErrorClass::NotAwaited => Some((
                    i,
                    ServerError {
                        server: servers[i].clone(),
                        error: e.clone(),
                    },
                )),
                _ => None,
            })
            .collect();
        out
    }

    /// Break every hold of the resource whoever holds it, on every instance.
    pub fn force_release(&self, resource: &str) -> Forced {
        let keys = self.keys(resource);
        let round = self
            .quorum
            .ask("force", move |_| {
                keys.eval(
                    &scripts().force,
                    &[&keys.lock, &keys.queue, &keys.qinfo, &keys.holds],
                    &[&keys.channel, &keys.wake_prefix, &keys.hold_prefix],
                    |v| force_reply(&v),
                )
            })
            .gather();
        let holders = round.replies.iter().flatten().flatten().cloned().collect();
        Forced {
            holders,
            failed: round.errors(&self.quorum.servers()),
        }
    }

    /// Each instance's view of one lock: its holder (if any), its fence counter, and the
    /// waiters queued there, in order.
    pub fn read(&self, resource: &str) -> Round<crate::engine::state::Seen> {
        let keys = self.keys(resource);
        self.quorum
            .ask("read", move |_| {
                keys.eval(
                    &scripts().read,
                    &[&keys.lock, &keys.fence, &keys.queue, &keys.qinfo, &keys.holds],
                    &[&keys.wake_prefix, &keys.hold_prefix],
                    |v| Ok(crate::engine::state::Seen::parse(array(&v)?)),
                )
            })
            .gather()
    }
}
