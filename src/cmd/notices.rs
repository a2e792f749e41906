//! The waiting notice, kept true over a long wait: printed after about a second, and again
//! when the holder changes or the waiter's place changes by a lot, at most once every few
//! seconds (docs/operator.md, "Notices that stay true").

use std::time::{Duration, Instant};

use crate::engine::holder::Holding;
use crate::engine::lock::{Busy, Locker};
use crate::engine::state::{self, Verdict};

/// The fewest seconds between two notices of one wait.
pub const NOTICE_GAP: Duration = Duration::from_secs(5);

/// What the last notice said, and when.
#[derive(Debug, Default)]
pub struct Told {
    last: Option<(Said, Instant)>,
}

/// What a notice said that a later one may contradict.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    /// The holder named (or the waiter whose turn it is), or how many hold a shared or
    /// `--limit` resource.
    who: Option<String>,
    ahead: Option<usize>,
}

impl Said {
    fn of(busy: &Busy) -> Said {
        let who = match (&busy.holding, &busy.holder, &busy.turn_of) {
            (Some((mode, k, _)), _, _) => Some(format!("{mode} {k}")),
            (None, Some(h), _) => Some(h.token.clone()),
            (None, None, Some(w)) => Some(format!("waiter {}", w.token)),
            (None, None, None) => None,
        };
        Said {
            who,
            ahead: busy.ahead,
        }
    }
}

impl Told {
    /// Whether `busy` is worth a notice at `now`: the first one, or one that says something
    /// else than the last (another holder; a place halved or doubled) once [`NOTICE_GAP`] has
    /// passed since it.
    pub fn is_news(&mut self, busy: &Busy, now: Instant) -> bool {
        let said = Said::of(busy);
        let news = match &self.last {
            None => true,
            Some((last, at)) => {
                now.duration_since(*at) >= NOTICE_GAP
                    && (said.who.is_some() && said.who != last.who || moved_a_lot(last.ahead, said.ahead))
            }
        };
        if news {
            self.last = Some((said, now));
        }
        news
    }
}

/// A place halved or doubled (2 ahead → 1, 1 → you are next, 3 → 8); unknown places never.
fn moved_a_lot(before: Option<usize>, now: Option<usize>) -> bool {
    match (before, now) {
        (Some(b), Some(n)) if b != n => n * 2 <= b || n >= (b * 2).max(b + 2),
        _ => false,
    }
}

/// How full a `--limit` or `--shared` resource is, read from every instance, for a notice
/// whose attempt did not say (another waiter's turn, seen on the decider alone).
pub fn how_full(locker: &Locker, resource: &str) -> Option<Holding> {
    match state::read_lock(locker, resource).verdict {
        Verdict::Holds { mode, limit, holders } => Some((mode, holders.len(), limit)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(holder: &str, ahead: Option<usize>) -> Busy {
        let mut h = crate::engine::holder::sample(1, None);
        h.token = holder.into();
        Busy {
            holder: Some(h),
            held_on: 3,
            n: 3,
            from_decider: false,
            turn_of: None,
            ahead,
            holding: None,
        }
    }

    #[test]
    fn a_new_holder_is_news_but_not_more_than_once_every_few_seconds() {
        let t0 = Instant::now();
        let mut told = Told::default();
        assert!(told.is_news(&busy("a", Some(3)), t0));
        assert!(
            !told.is_news(&busy("a", Some(3)), t0 + NOTICE_GAP * 10),
            "nothing new"
        );
        assert!(
            !told.is_news(&busy("b", Some(3)), t0 + Duration::from_secs(1)),
            "too soon"
        );
        assert!(told.is_news(&busy("b", Some(3)), t0 + NOTICE_GAP));
    }

    #[test]
    fn a_place_that_moved_a_lot_is_news() {
        assert!(moved_a_lot(Some(10), Some(4)));
        assert!(moved_a_lot(Some(1), Some(0)));
        assert!(moved_a_lot(Some(2), Some(1)));
        assert!(!moved_a_lot(Some(10), Some(9)));
        assert!(moved_a_lot(Some(3), Some(8)));
        assert!(!moved_a_lot(Some(0), Some(1)));
        assert!(!moved_a_lot(None, Some(1)));
    }
}
