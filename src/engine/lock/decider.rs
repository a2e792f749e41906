//! Which instance decides a contended resource, and which ones to distrust for a while.

use std::time::{Duration, Instant};

use super::locker::*;
use crate::engine::holder::Holder;
use crate::engine::sync::lock;

/// How an attempt approaches the instances; see [`Locker::attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    /// Every instance at once: one round trip when the lock is free. A first attempt.
    Parallel,
    /// The decider alone first, the others only once the decider is ours. A waiter's retry.
    DeciderFirst,
}

// No split votes, no herd.
//
// With every instance asked at once, K waiters woken by the same release each reach the
// instances in a different order, and each can win a minority (one instance each of three):
// nobody has a quorum, all undo, all retry, and it can happen again. So the instances of a
// resource have a fixed order (rendezvous hashing of resource and host:port, the same in every
// process that lists the same servers), and the first of them that is up is the *decider*:
//
// 1. A waiter's retry asks the decider alone. Only the one contender the decider grants goes
//    on to the other instances; every other contender learns "held" from one command and has
//    taken nothing, so there is nothing to undo and nobody to split with. Redis runs one script
//    at a time, so the decider grants exactly one of any number of simultaneous requests.
// 2. A first attempt (usually uncontended), and the retry of the waiter first in line (`wait`),
//    ask all instances at once, to cost one round trip. If that gets no quorum, the contender
//    keeps its holds only if it holds the decider; otherwise it undoes at once. A contender
//    holding the decider but not a quorum asks the missing instances again for a few round
//    trips: contenders there hold no decider, so they are undoing, and a finished holder there
//    is usually the one whose release is still on its way to them. Among any set of
//    simultaneous contenders, then, the one holding the decider wins, unless a finished holder
//    still owns a quorum. With three instances two parallel contenders cannot split at all.
// 3. An undo announces nothing on the release channel (it publishes on `P undone:NAME`, which
//    nobody listens to): a waiter does not wake for a contender's retreat, only for a holder's
//    release, so one release wakes each waiter once and costs one command per waiter.
//
// The decider is a choice, not a dependency: an instance that fails us (or never confirms our
// subscription) is passed over until it answers again, and is asked but never waited for, so
// a stopped instance costs the op timeout once per process, not on every attempt while we hold
// the decider. A decider held for long by a contender that never finishes (it died between the
// decider and the rest) is passed over too, so the other instances still form a quorum. A
// finished hold on the decider that its holder's release never reached (the instance was
// stopped meanwhile) is caught by the waiter (`wait`): its fence is older than one already seen,
// or it is still there after a release woke us. Processes that disagree for a moment about
// which instance is up can still split; rule 2's bounded retries and the waiters' jitter end it.

/// An instance that failed us is not made the decider again until it answers us (in any
/// round, or with a release message), or at the latest after this long (plus jitter, so waiters
/// that all saw it fail at once do not all probe it again at once).
pub(super) const SUSPECT_FOR: Duration = Duration::from_secs(10);

impl Locker {
    /// The resource's instances in their fixed order (see "No split votes" above): every
    /// process that lists the same servers, in any order, computes the same one.
    pub fn order(&self, resource: &str) -> Vec<usize> {
        let servers = self.quorum.servers();
        let mut scored: Vec<(u64, usize)> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| (fnv1a(&[resource.as_bytes(), b"\0", s.short().as_bytes()]), i))
            .collect();
        scored.sort_by(|a, b| b.cmp(a));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// The first instance in the resource's order that has not failed us lately.
    pub fn decider(&self, resource: &str) -> Option<usize> {
        let now = Instant::now();
        let suspects = lock(&self.suspect_until);
        self.order(resource)
            .into_iter()
            .find(|&i| suspects[i].is_none_or(|until| until <= now))
    }

    /// Instance `i` did not answer us (a subscription that got no confirmation): do not make
    /// it the decider until it does.
    pub fn suspect(&self, i: usize) {
        if let Some(slot) = lock(&self.suspect_until).get_mut(i) {
            *slot = Some(Instant::now() + SUSPECT_FOR + crate::engine::wakeup::jitter(SUSPECT_FOR / 2));
        }
    }

    /// Instance `i` answered us (a release message came from it): it may decide again.
    pub fn trust(&self, i: usize) {
        if let Some(slot) = lock(&self.suspect_until).get_mut(i) {
            *slot = None;
        }
    }

    pub(super) fn suspected(&self, i: usize) -> bool {
        lock(&self.suspect_until)[i].is_some_and(|until| until > Instant::now())
    }

    /// Whether `h`, a contender that has not finished (fence 0), has held the decider far
    /// longer than an acquisition takes: by the server's clock (its lease's ttl minus what is
    /// left), or by its own `since` against ours (with a second for clock skew; a request that
    /// waited in a stopped server's socket is old by that measure and new by the first).
    pub(super) fn stuck(&self, h: &Holder) -> bool {
        let limit = (self.settings.connect_timeout + self.settings.op_timeout) * 2;
        let held = match (h.ttl, h.time_left) {
            (Some(ttl), Some(left)) => ttl.saturating_sub(left),
            _ => Duration::ZERO,
        };
        let age_ms = h.since_unix_ms.map_or(0, |since| {
            crate::engine::holder::now_unix_ms().saturating_sub(since)
        });
        held > limit || Duration::from_millis(age_ms) > limit + Duration::from_secs(1)
    }
}

/// FNV-1a, 64 bits: a hash that is the same in every build and on every machine (std's
/// hasher promises neither), for the resource's instance order.
pub(super) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::settings::{Settings, Verbosity};

    fn locker(urls: &[&str]) -> Locker {
        let settings = Settings {
            servers: urls.iter().map(|u| u.parse().expect("url")).collect(),
            prefix: "redlock:".into(),
            connect_timeout: Duration::from_millis(250),
            op_timeout: Duration::from_millis(250),
            verbosity: Verbosity::Quiet,
            classic: None,
        };
        Locker::new(&settings, None)
    }

    #[test]
    fn every_process_agrees_on_a_resources_decider_whatever_order_it_lists_servers_in() {
        let a = locker(&[
            "redis://10.0.0.1:6379",
            "redis://10.0.0.2:6379",
            "redis://10.0.0.3:6379",
        ]);
        let b = locker(&[
            "redis://10.0.0.3:6379",
            "redis://10.0.0.1:6379",
            "redis://10.0.0.2:6379",
        ]);
        let servers_a = a.quorum().servers();
        let servers_b = b.quorum().servers();
        let mut deciders = std::collections::HashSet::new();
        for resource in ["deploy", "backup", "cron-7", "x"] {
            let by_a: Vec<String> = a.order(resource).iter().map(|i| servers_a[*i].short()).collect();
            let by_b: Vec<String> = b.order(resource).iter().map(|i| servers_b[*i].short()).collect();
            assert_eq!(by_a, by_b, "{resource}");
            deciders.insert(by_a[0].clone());
        }
        // Resources spread over the instances rather than all landing on one.
        assert!(deciders.len() > 1, "{deciders:?}");
    }

    #[test]
    fn a_suspected_instance_is_passed_over_until_it_is_trusted_again() {
        let l = locker(&[
            "redis://10.0.0.1:6379",
            "redis://10.0.0.2:6379",
            "redis://10.0.0.3:6379",
        ]);
        let order = l.order("deploy");
        assert_eq!(l.decider("deploy"), Some(order[0]));
        l.suspect(order[0]);
        assert_eq!(l.decider("deploy"), Some(order[1]));
        l.suspect(order[1]);
        l.suspect(order[2]);
        assert_eq!(l.decider("deploy"), None);
        l.trust(order[0]);
        assert_eq!(l.decider("deploy"), Some(order[0]));
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of FNV-1a 64.
        assert_eq!(fnv1a(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&[b"fo", b"obar"]), 0x8594_4171_f739_67e8);
    }
}
