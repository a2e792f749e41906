//! Every instance's view of a lock and the verdict those views add up to (free, held by one
//! token on a quorum, split, or unknown), with the queue of waiters. Its words are in
//! `cli::output`. The listing of every lock is listing.rs's (which builds on this file; this
//! one does not refer to it).

use std::time::Duration;

use crate::engine::error::LockError;
use crate::engine::holder::{Holder, Waiter};
use crate::engine::instance::{ErrorClass, InstanceError, ServerError};
use crate::engine::lock::Locker;
use crate::engine::server::ServerUrl;

/// What one instance said about one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub holder: Option<Holder>,
    /// The last fence this instance handed out for the resource (it outlives the lock).
    pub last_fence: u64,
    /// The waiters queued there, in order.
    pub queue: Vec<Waiter>,
    /// The holds beside the exclusive lock (`--shared`, `--limit N`), oldest first, with their
    /// mode (`shared`, `limit`; empty when there are none) and N.
    pub holds: Vec<Holder>,
    pub mode: String,
    pub limit: u32,
}

impl Seen {
    /// read.lua's reply: {holder..., counter, mode, N, k, k holders..., waiters...}.
    pub fn parse(fields: &[redis::Value]) -> Seen {
        use crate::engine::holder::waiters;
        use crate::engine::value::{int, string};
        let k = fields.get(12).and_then(int).unwrap_or(0).max(0) as usize;
        let holds_end = (13 + 9 * k).min(fields.len());
        Seen {
            holder: Holder::from_values(fields),
            last_fence: fields.get(9).and_then(int).unwrap_or(0).max(0) as u64,
            mode: fields.get(10).map(string).unwrap_or_default(),
            limit: fields
                .get(11)
                .and_then(int)
                .map_or(0, |n| u32::try_from(n).unwrap_or(0)),
            holds: fields
                .get(13..holds_end)
                .unwrap_or_default()
                .chunks(9)
                .filter_map(Holder::from_values)
                .collect(),
            queue: waiters(fields, holds_end),
        }
    }
}

/// One instance's answer about one lock, or why it gave none.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub server: ServerUrl,
    pub seen: Result<Seen, InstanceError>,
}

/// What the instances' views add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A quorum answered and none of them has a holder.
    Free,
    /// One token holds it on a quorum.
    Held {
        /// The holder with the most recent values its instances report (see [`tally`](crate::engine::holder::tally)).
        holder: Holder,
        held_on: usize,
        /// How long a quorum keeps it: the q-th longest time left among the instances that
        /// hold it (`None`: no expiry set there).
        expires_in: Option<Duration>,
    },
    /// A quorum answered, someone holds it somewhere, and no token has a quorum.
    Split {
        /// Each token seen (with its holder, merged as in [`tally`](crate::engine::holder::tally)) and on how many instances.
        tokens: Vec<(Holder, usize)>,
        free: usize,
        failed: usize,
    },
    /// Held beside the exclusive lock: `--limit N` (mode `limit`) or `--shared` holds, each
    /// on a quorum (the holds on fewer count for nothing), oldest first.
    Holds {
        mode: String,
        limit: u32,
        holders: Vec<(Holder, usize)>,
    },
    /// Fewer than a quorum answered: nothing can be said for sure.
    Unknown { answered: usize },
}

/// One lock as every instance sees it.
#[derive(Debug, Clone)]
pub struct LockState {
    pub resource: String,
    pub quorum: usize,
    pub instances: Vec<InstanceView>,
    pub verdict: Verdict,
    /// The waiters, as the resource's decider (or the first instance after it in the order
    /// that answered) has them: that copy of the queue decides whose turn it is.
    pub queue: Vec<Waiter>,
}

impl LockState {
    /// Take the queue from the first instance in `order` that answered: the resource's
    /// decider, whose queue decides whose turn it is (`lock::decider`).
    pub fn with_queue_of(mut self, order: &[usize]) -> LockState {
        self.queue = order
            .iter()
            .find_map(|&i| self.instances.get(i)?.seen.as_ref().ok())
            .map(|seen| seen.queue.clone())
            .unwrap_or_default();
        self
    }

    pub fn new(resource: &str, instances: Vec<InstanceView>, quorum: usize) -> LockState {
        let verdict = verdict(&instances, quorum);
        LockState {
            resource: resource.to_string(),
            quorum,
            instances,
            verdict,
            queue: vec![],
        }
    }

    pub fn n(&self) -> usize {
        self.instances.len()
    }

    pub fn answered(&self) -> usize {
        self.instances.iter().filter(|v| v.seen.is_ok()).count()
    }

    /// Every token seen and on how many instances, most first.
    pub fn tokens(&self) -> Vec<(Holder, usize)> {
        crate::engine::holder::tally(holders(&self.instances))
    }

    /// Each instance that gave no answer, with its error.
    pub fn errors(&self) -> Vec<ServerError> {
        self.instances
            .iter()
            .filter_map(|v| {
                v.seen.as_ref().err().map(|e| ServerError {
                    server: v.server.clone(),
                    error: e.clone(),
                })
            })
            .collect()
    }

    /// Too few instances answered to tell who holds it (exit 69), as the engine's error.
    pub fn unavailable(&self) -> LockError {
        let failures = self.instances.iter().filter_map(|v| v.seen.as_ref().err());
        unavailable(self.answered(), self.n(), self.quorum, failures, self.errors())
    }
}

/// What the instances' views add up to (pure: the heart of `inspect`).
pub fn verdict(views: &[InstanceView], quorum: usize) -> Verdict {
    let answered = views.iter().filter(|v| v.seen.is_ok()).count();
    if answered < quorum {
        return Verdict::Unknown { answered };
    }
    let tokens = crate::engine::holder::tally(holders(views));
    let Some((top, held_on)) = tokens.first().cloned() else {
        return holds_verdict(views, quorum, answered);
    };
    if held_on >= quorum {
        // Sorted longest first; the lock stays held on a quorum until the q-th one runs out.
        let mut left: Vec<Option<Duration>> = holders(views)
            .filter(|h| h.token == top.token)
            .map(|h| h.time_left)
            .collect();
        left.sort_by_key(|l| std::cmp::Reverse(l.unwrap_or(Duration::MAX)));
        let expires_in = left.get(quorum - 1).copied().flatten();
        return Verdict::Held {
            holder: top,
            held_on,
            expires_in,
        };
    }
    let free = views
        .iter()
        .filter(|v| matches!(&v.seen, Ok(s) if s.holder.is_none()))
        .count();
    Verdict::Split {
        tokens,
        free,
        failed: views.len() - answered,
    }
}

/// No exclusive holder anywhere: free, or the `--shared` / `--limit N` holds on a quorum.
fn holds_verdict(views: &[InstanceView], quorum: usize, answered: usize) -> Verdict {
    let seen = || views.iter().filter_map(|v| v.seen.as_ref().ok());
    let all = crate::engine::holder::tally(seen().flat_map(|s| s.holds.iter()));
    if all.is_empty() {
        return Verdict::Free;
    }
    let mut holders: Vec<(Holder, usize)> = all.iter().filter(|(_, on)| *on >= quorum).cloned().collect();
    if holders.is_empty() {
        return Verdict::Split {
            tokens: all,
            free: seen().filter(|s| s.holds.is_empty()).count(),
            failed: views.len() - answered,
        };
    }
    holders.sort_by_key(|(h, _)| h.since_unix_ms);
    let mode = seen()
        .find(|s| !s.mode.is_empty())
        .map(|s| s.mode.clone())
        .unwrap_or_default();
    let limit = seen().map(|s| s.limit).max().unwrap_or(1);
    Verdict::Holds { mode, limit, holders }
}

fn holders(views: &[InstanceView]) -> impl Iterator<Item = &Holder> {
    views
        .iter()
        .filter_map(|v| v.seen.as_ref().ok().and_then(|s| s.holder.as_ref()))
}

/// Read one lock on every instance.
pub fn read_lock(locker: &Locker, resource: &str) -> LockState {
    let round = locker.read(resource);
    let instances = locker
        .quorum()
        .servers()
        .into_iter()
        .zip(round.replies)
        .map(|(server, r)| InstanceView { server, seen: r })
        .collect();
    LockState::new(resource, instances, locker.quorum().needed()).with_queue_of(&locker.order(resource))
}

/// Too few instances answered (exit 69), as the engine's error.
pub(crate) fn unavailable<'a>(
    answered: usize,
    n: usize,
    needed: usize,
    mut failures: impl Iterator<Item = &'a InstanceError>,
    errors: Vec<ServerError>,
) -> LockError {
    LockError::Unavailable {
        answered,
        n,
        needed,
        refused: failures.any(|e| e.class == ErrorClass::Refused),
        errors,
    }
}

/// A holder and an instance's view, for the tests of the verdict and of its wording.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn holder(token: &str, left_ms: Option<u64>) -> Holder {
        Holder {
            token: token.into(),
            count: 1,
            host: "web-3".into(),
            pid: Some(4121),
            cmd: "./deploy.sh".into(),
            since_unix_ms: Some(0),
            fence: 1,
            ttl: Some(Duration::from_secs(30)),
            time_left: left_ms.map(Duration::from_millis),
            unreadable: Default::default(),
            other_client: false,
        }
    }

    /// `None`: no answer; `Some(None)`: free; `Some(Some(h))`: held by `h`.
    pub fn view(seen: Option<Option<Holder>>) -> InstanceView {
        InstanceView {
            server: "redis://127.0.0.1:1".parse().expect("url"),
            seen: match seen {
                Some(holder) => Ok(Seen {
                    holder,
                    last_fence: 1,
                    queue: vec![],
                    holds: vec![],
                    mode: String::new(),
                    limit: 0,
                }),
                None => Err(InstanceError::new(ErrorClass::Unreachable, "connection refused")),
            },
        }
    }

    /// An instance with `--limit limit` holds (or `--shared` ones when `limit` is 1).
    pub fn holds(tokens: &[&str], limit: u32) -> InstanceView {
        let mut v = view(Some(None));
        if let Ok(seen) = &mut v.seen {
            seen.holds = tokens.iter().map(|t| holder(t, Some(9_000))).collect();
            seen.mode = if limit > 1 { "limit" } else { "shared" }.into();
            seen.limit = limit;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn holds_on_a_quorum_count_and_those_on_fewer_do_not() {
        let views = [
            holds(&["a", "b"], 3),
            holds(&["a", "b", "c"], 3),
            holds(&["a"], 3),
        ];
        let Verdict::Holds { mode, limit, holders } = verdict(&views, 2) else {
            panic!("not held")
        };
        assert_eq!((mode.as_str(), limit), ("limit", 3));
        let tokens: Vec<&str> = holders.iter().map(|(h, _)| h.token.as_str()).collect();
        assert_eq!(tokens, ["a", "b"], "c holds one instance only");
        let shared = [holds(&["r1", "r2"], 1), holds(&["r1", "r2"], 1), view(None)];
        assert!(
            matches!(verdict(&shared, 2), Verdict::Holds { ref mode, ref holders, .. }
            if mode == "shared" && holders.len() == 2)
        );
        let scattered = [holds(&["a"], 2), holds(&["b"], 2), view(Some(None))];
        assert!(matches!(verdict(&scattered, 2), Verdict::Split { free: 1, .. }));
    }

    #[test]
    fn free_needs_a_quorum_of_answers() {
        assert_eq!(
            verdict(&[view(Some(None)), view(Some(None)), view(None)], 2),
            Verdict::Free
        );
        let views = [view(Some(Some(holder("a", Some(1))))), view(None), view(None)];
        let state = LockState::new("x", views.to_vec(), 2);
        assert_eq!(state.verdict, Verdict::Unknown { answered: 1 });
    }

    #[test]
    fn held_expires_when_the_quorum_runs_out() {
        let views = [
            view(Some(Some(holder("a", Some(5_000))))),
            view(Some(Some(holder("a", Some(9_000))))),
            view(Some(Some(holder("a", Some(7_000))))),
        ];
        let Verdict::Held {
            held_on, expires_in, ..
        } = verdict(&views, 2)
        else {
            panic!("not held")
        };
        assert_eq!((held_on, expires_in), (3, Some(Duration::from_secs(7))));
    }

    #[test]
    fn the_holder_takes_the_most_recent_values_of_its_instances() {
        let mut lagging = holder("a", Some(29_000));
        lagging.fence = 0;
        let mut renewed = holder("a", Some(59_000));
        renewed.ttl = Some(Duration::from_secs(60));
        renewed.count = 2;
        let views = [view(Some(Some(lagging))), view(Some(Some(renewed))), view(None)];
        let Verdict::Held { holder, .. } = verdict(&views, 2) else {
            panic!("not held")
        };
        assert_eq!((holder.count, holder.fence), (2, 1));
        assert_eq!(
            (holder.ttl, holder.time_left),
            (Some(Duration::from_secs(60)), Some(Duration::from_secs(59)))
        );
    }

    #[test]
    fn no_token_with_a_quorum_is_split() {
        let views = [
            view(Some(Some(holder("a", Some(1))))),
            view(Some(Some(holder("b", Some(1))))),
            view(Some(None)),
        ];
        let state = LockState::new("x", views.to_vec(), 2);
        assert!(matches!(
            state.verdict,
            Verdict::Split {
                free: 1,
                failed: 0,
                ..
            }
        ));
    }
}
