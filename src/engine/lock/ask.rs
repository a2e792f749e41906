//! One round of the acquire script, and what its grants count for: asking some instances
//! (with when to stop waiting), folding the replies into the attempt's view, and not counting
//! the grant of an instance that may have restarted empty.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::argv::AcquireArgs;
use super::decider::SUSPECT_FOR;
use super::locker::*;
use super::replies::{acquire_reply, AcquireReply, View};
use crate::engine::instance::{ErrorClass, InstanceError};
use crate::engine::quorum::{Reply, Round};
use crate::engine::scripts::scripts;
use crate::engine::sync::lock;

/// How long, at least, an attempt that has a quorum waits for the deciding instance's answer
/// (whose turn it is) beyond what the quorum took; see `ask`.
const DECIDER_PATIENCE: Duration = Duration::from_millis(5);
/// What a grant of an instance that restarted lately counts as (`distrust_restarted`).
const RESTARTED_LATELY: &str = "granted, but up for less than the ttl (it may have restarted empty)";

/// Whom a round asks, and when it is over.
pub(super) struct Asking<'a> {
    /// The instances asked.
    pub targets: &'a [bool],
    /// Over once the attempt's outcome is decided, counting what the view already holds;
    /// otherwise once every target answered.
    pub by_quorum: bool,
    /// The instance whose queue says whose turn it is.
    pub deciding: Option<usize>,
    /// A `--limit` attempt asks for this slot alone (`agree_on_slot`), not the next free one.
    pub only: Option<&'a str>,
}

/// When a round of the acquire script is over (see [`Asking::by_quorum`]).
struct RoundEnd {
    asked: Vec<bool>,
    /// Asked, but not waited for (see `round_end`).
    suspected: Vec<bool>,
    by_quorum: bool,
    deciding: Option<usize>,
    /// Grants and refusals the view held before the round, from instances it does not ask.
    won_before: usize,
    lost_before: usize,
    n: usize,
    q: usize,
    ttl: Duration,
    asked_at: Instant,
    /// When the round first had a quorum.
    quorum_at: OnceLock<Instant>,
}

impl RoundEnd {
    fn reached(&self, replies: &[Option<Reply<Option<AcquireReply>>>]) -> bool {
        let (asked, suspected, ttl) = (&self.asked, &self.suspected, self.ttl);
        let mine = replies.iter().zip(asked).filter(|(_, a)| **a);
        let all = mine.clone().all(|(r, _)| r.is_some());
        if all || !self.by_quorum {
            return all;
        }
        // A young instance's grant does not count beside an older one's (see
        // `distrust_restarted`): while one has answered, wait for more.
        let old_granted = mine
            .clone()
            .any(|(r, _)| matches!(r, Some(Ok(Some(g))) if g.ours() && !g.young(ttl)));
        let won = mine
            .clone()
            .filter(|(r, _)| matches!(r, Some(Ok(Some(g))) if g.ours() && !(old_granted && g.young(ttl))))
            .count();
        let lost = mine
            .filter(|(r, _)| matches!(r, Some(r) if !matches!(r, Ok(Some(g)) if g.ours())))
            .count();
        let silent_suspects = replies
            .iter()
            .zip(suspected)
            .filter(|(r, s)| **s && r.is_none())
            .count();
        // A quorum is not enough while the deciding instance may yet say that it is
        // another waiter's turn (unless it is failing us: then it does not decide),
        // for about twice as long again as the quorum took: a stopped decider must not cost
        // the op timeout (its queue then only costs order, never progress).
        let decider_heard = self
            .deciding
            .is_none_or(|d| !asked[d] || suspected[d] || replies.get(d).is_some_and(Option::is_some));
        let quorum = self.won_before + won >= self.q;
        let patience_over = quorum && {
            let now = Instant::now();
            let at = *self.quorum_at.get_or_init(|| now);
            now >= at + ((at - self.asked_at) * 2).max(DECIDER_PATIENCE)
        };
        (quorum && (decider_heard || patience_over))
            || self.lost_before + lost + silent_suspects > self.n - self.q
            || replies
                .iter()
                .zip(asked)
                .zip(suspected)
                .all(|((r, a), s)| !*a || *s || r.is_some())
    }
}

impl Locker {
    /// Ask the instances `asking` names for the lock (see [`Asking`]); the others answer
    /// `None` at once, without I/O.
    pub(super) fn ask(
        &self,
        what: &str,
        req: &Request,
        view: &View,
        asking: Asking,
    ) -> Round<Option<AcquireReply>> {
        let keys = self.keys(&req.resource);
        let slot = asking
            .only
            .map_or_else(|| self.first_slot(req).to_string(), |slot| format!("={slot}"));
        let args = AcquireArgs::new(req, &keys, slot);
        let deciding = asking.deciding;
        let end = self.round_end(req, view, &asking);
        let mut round = self
            .quorum
            .ask(what, move |i| {
                // The deciding instance also answers whose turn it is (acquire.lua).
                let argv = AcquireArgs {
                    decides: Some(i) == deciding,
                    ..args.clone()
                }
                .argv();
                keys.eval(
                    &scripts().acquire,
                    &[
                        &keys.lock,
                        &keys.fence,
                        &keys.queue,
                        &keys.qinfo,
                        &keys.holds,
                        &keys.fenced_by,
                        &keys.data_since,
                    ],
                    &argv.each_ref().map(String::as_str),
                    |v| acquire_reply(&v).map(Some),
                )
            })
            .on(asking.targets)
            .polling(DECIDER_PATIENCE)
            .until(move |replies: &[Option<Reply<Option<AcquireReply>>>]| end.reached(replies))
            .gather();
        // Those not asked have nothing to say.
        for (reply, asked) in round.replies.iter_mut().zip(asking.targets) {
            if !*asked {
                *reply = Ok(None);
            }
        }
        round
    }

    /// When a round that `asking` describes is over, counting what `view` already holds.
    fn round_end(&self, req: &Request, view: &View, asking: &Asking) -> RoundEnd {
        let targets = asking.targets;
        // What the instances not asked this time already said (a request still in flight may
        // yet be ours, so it counts as neither).
        let others = view.iter().zip(targets).filter(|(_, t)| !**t).map(|(r, _)| r);
        let won_before = others
            .clone()
            .filter(|r| matches!(r, Some(Ok(g)) if g.ours()))
            .count();
        let lost_before = others
            .filter(|r| match r {
                Some(Ok(AcquireReply::GaveBack)) => false,
                Some(Ok(g)) => !g.ours(),
                Some(Err(e)) => e.class != ErrorClass::NotAwaited,
                None => false,
            })
            .count();
        let n = self.quorum.n();
        RoundEnd {
            asked: targets.to_vec(),
            // An instance that failed us lately is asked all the same, but not waited for:
            // while its answer would decide nothing the others cannot, waiting for it (the op
            // timeout, while we may hold the decider) stalls every other waiter. The first
            // attempt of a process knows of no such instance yet.
            suspected: (0..n).map(|i| targets[i] && self.suspected(i)).collect(),
            by_quorum: asking.by_quorum,
            deciding: asking.deciding,
            won_before,
            lost_before,
            n,
            q: self.quorum.needed(),
            ttl: req.ttl,
            asked_at: Instant::now(),
            quorum_at: OnceLock::new(),
        }
    }

    /// Fold a round's replies for the instances it asked into `view`, and learn which
    /// instances are up.
    pub(super) fn merge(&self, view: &mut View, round: Round<Option<AcquireReply>>) {
        let now = Instant::now();
        let mut suspects = lock(&self.suspect_until);
        for (i, reply) in round.replies.into_iter().enumerate() {
            let reply = match reply {
                Ok(None) => continue,
                Ok(Some(g)) => Ok(g),
                Err(e) => Err(e),
            };
            match &reply {
                Ok(_) => suspects[i] = None,
                Err(e)
                    if matches!(
                        e.class,
                        ErrorClass::Unreachable | ErrorClass::Timeout | ErrorClass::Refused
                    ) =>
                {
                    suspects[i] = Some(now + SUSPECT_FOR + crate::engine::wakeup::jitter(SUSPECT_FOR / 2));
                }
                Err(_) => {}
            }
            view[i] = Some(reply);
        }
    }

    /// Delayed restarts (the Redlock paper's rule), kept by the client: an instance that has
    /// remembered the resource for less than the lease's ttl (`P data-since:NAME`, written by
    /// its first acquisition there) may have restarted empty and forgotten a hold that still
    /// runs (one held on a bare quorum that included it), so its grant does not count while an
    /// instance with an older memory of it granted too. When every instance that granted is
    /// that young (a resource's first use, or a majority wiped at once, which nothing can tell
    /// apart), they count.
    /// The grant stays ours there (it is released with the rest).
    ///
    /// "The lease's ttl" is the longest of ours and those of the holders this attempt saw: a
    /// holder that renews a 30 s lease every 10 s may be back on the instance only that late.
    pub(super) fn distrust_restarted(ttl: Duration, view: &mut [Reply<AcquireReply>]) {
        let ttl = view
            .iter()
            .filter_map(|r| match r {
                Ok(AcquireReply::Held { holder: h, .. }) => h.ttl,
                _ => None,
            })
            .fold(ttl, Duration::max);
        let old = view
            .iter()
            .any(|r| matches!(r, Ok(g @ AcquireReply::Taken { .. }) if !g.young(ttl)));
        if !old {
            return;
        }
        for r in view.iter_mut() {
            if matches!(r, Ok(g) if g.young(ttl)) {
                *r = Err(InstanceError::new(ErrorClass::NotAwaited, RESTARTED_LATELY));
            }
        }
    }
}
