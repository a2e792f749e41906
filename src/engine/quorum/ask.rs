//! How a round is asked for: [`Quorum::ask`] names it and its request, each method of [`Ask`]
//! says one thing about how it waits, and `Ask::gather` (in `round.rs`, with the loop) runs it.

use std::time::Duration;

use super::{Call, Quorum, Reply, SETTLE_GRACE};

/// Whether the replies so far (in server order, `None` for not yet) decide the round.
pub(super) type Decided<'a, T> = Box<dyn Fn(&[Option<Reply<T>>]) -> bool + 'a>;

/// A round being set up: [`Quorum::ask`] names it and its request, each method says one thing
/// about how it waits, and [`Ask::gather`] runs it. Unless told otherwise, it asks every
/// instance and waits for every answer, or until the round's time is up.
#[must_use = "a round is sent only by `gather`"]
pub struct Ask<'a, T, F> {
    pub(super) quorum: &'a Quorum,
    pub(super) what: &'a str,
    pub(super) op: F,
    /// The instances asked (`None`: all of them).
    pub(super) targets: Option<&'a [bool]>,
    pub(super) decided: Decided<'a, T>,
    /// Stop waiting after this long (at most the round's time).
    pub(super) wait: Option<Duration>,
    /// Once decided, give the rest this long more to answer.
    pub(super) linger: Option<Duration>,
    /// Ask `decided` again this often while nothing arrives.
    pub(super) poll: Option<Duration>,
}

impl Quorum {
    /// A round named `what` (in `-v` lines) that sends `op(i)` to instance `i`.
    pub fn ask<'a, T, F>(&'a self, what: &'a str, op: F) -> Ask<'a, T, F>
    where
        T: Send + 'static,
        F: Fn(usize) -> Call<T>,
    {
        Ask {
            quorum: self,
            what,
            op,
            targets: None,
            decided: Box::new(|_| false),
            wait: None,
            linger: None,
            poll: None,
        }
    }
}

impl<'a, T, F> Ask<'a, T, F>
where
    T: Send + 'static,
    F: Fn(usize) -> Call<T>,
{
    /// Ask only the instances marked in `targets`: the others are not asked, not traced, and
    /// their replies read "not asked" (`lock` asks a resource's decider alone).
    pub fn on(self, targets: &'a [bool]) -> Self {
        Ask {
            targets: Some(targets),
            ..self
        }
    }

    /// Stop waiting once `decided` says so; it sees the replies so far, in server order.
    pub fn until(self, decided: impl Fn(&[Option<Reply<T>>]) -> bool + 'a) -> Self {
        Ask {
            decided: Box::new(decided),
            ..self
        }
    }

    /// Stop waiting as soon as `wins` replies reached the quorum or so many *answered*
    /// otherwise that the quorum is out of reach. Only answers decide a loss early: an error
    /// waits for the rest, so that a round short of a quorum can tell "held elsewhere" (busy)
    /// from "unreachable" (69). Replies still in flight then show as not waited for; their
    /// requests still run, in order, on their instance.
    pub fn until_quorum(self, wins: impl Fn(&T) -> bool + 'a) -> Self {
        let (n, q) = (self.quorum.n(), self.quorum.needed());
        self.until(move |replies| {
            let answers = replies.iter().filter_map(|r| r.as_ref()?.as_ref().ok());
            let won = answers.clone().filter(|v| wins(v)).count();
            let lost = answers.filter(|v| !wins(v)).count();
            won >= q || lost > n - q
        })
    }

    /// Stop waiting after `wait` (at most the round's time): the requests still run, in
    /// order, on their instances. `Duration::ZERO` sends without waiting at all.
    pub fn wait_at_most(self, wait: Duration) -> Self {
        Ask {
            wait: Some(wait),
            ..self
        }
    }

    /// Once decided, give the rest up to [`SETTLE_GRACE`] more to answer, and count what they
    /// say: a release is done at its quorum "plus at most a few milliseconds for the other
    /// instances" (docs/run.md, "Step by step" 4).
    pub fn settling(self) -> Self {
        Ask {
            linger: Some(SETTLE_GRACE),
            ..self
        }
    }

    /// Ask `decided` again every `poll` while nothing arrives: for a decision that depends on
    /// time as well as on replies.
    pub fn polling(self, poll: Duration) -> Self {
        Ask {
            poll: Some(poll),
            ..self
        }
    }
}
