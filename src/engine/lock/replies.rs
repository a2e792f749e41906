//! What the lock scripts answer, parsed into what an attempt or a round needs.

use std::time::Duration;

use redis::Value;

use crate::engine::holder::Busy;
use crate::engine::holder::{int, string, tally, Holder, Holding, Waiter};
use crate::engine::instance::{ErrorClass, InstanceError};
use crate::engine::quorum::Reply;

/// A round's replies so far: `None` for an instance not asked yet.
pub(super) type View = Vec<Option<Reply<Granted>>>;

#[derive(Clone, Debug)]
pub(super) enum Granted {
    /// Free here, and taken: `fence` is the one this instance handed out (its counter + 1).
    /// `hold` is which hold it is ('' the exclusive lock, else its id: see `Lease::hold`).
    Taken {
        fence: u64,
        hold: String,
        /// How long the instance has remembered the resource (`None` from scripts that do not
        /// say).
        up: Option<Duration>,
    },
    /// Already ours here: the hold count now, and the holder's fence.
    Reentered {
        count: i64,
        fence: u64,
        hold: String,
        /// The hold's N (it keeps its own mode, whatever the re-entry asked for).
        limit: u32,
    },
    /// Held by this holder (one of them), and beside the exclusive lock what is held there
    /// (see `Busy::holding`).
    Held(Holder, Option<Holding>),
    /// Room for us, but the decider's queue has another waiter first; what is held there
    /// beside the room (see `Busy::holding`).
    Queued(Waiter, Option<Holding>),
    /// Held with another N (`--limit`; exclusive and shared holds count as 1): by this holder.
    Mismatch { limit: u32, holder: Option<Holder> },
}

impl Granted {
    pub(super) fn ours(&self) -> bool {
        matches!(self, Granted::Taken { .. } | Granted::Reentered { .. })
    }

    /// Taken on an instance that has remembered the resource for less than `ttl`: one that may
    /// have restarted empty.
    pub(super) fn young(&self, ttl: Duration) -> bool {
        matches!(self, Granted::Taken { up: Some(up), .. } if *up < ttl)
    }

    /// Which hold an instance granted us, if it did.
    pub(super) fn hold(&self) -> Option<&str> {
        match self {
            Granted::Taken { hold, .. } | Granted::Reentered { hold, .. } => Some(hold),
            _ => None,
        }
    }
}

/// The holder seen on the most instances.
pub(super) fn busy_from(holders: &[&Holder], n: usize) -> Busy {
    let tallied = tally(holders.iter().copied());
    // The holder on the most instances; among equals, the one with the longest lease left.
    let best = tallied
        .iter()
        .filter(|(_, on)| Some(*on) == tallied.first().map(|(_, most)| *most))
        .max_by_key(|(h, _)| h.time_left);
    Busy {
        holder: best.map(|(h, _)| h.clone()),
        held_on: best.map_or(0, |(_, on)| *on),
        n,
        from_decider: false,
        turn_of: None,
        ahead: None,
        holding: None,
    }
}

pub(super) fn array(v: &Value) -> Reply<&[Value]> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(InstanceError::new(
            ErrorClass::Protocol,
            format!("unexpected reply {other:?}"),
        )),
    }
}

/// A script's {status, rest...} reply.
pub(super) fn parse_status(v: &Value) -> Reply<(i64, Vec<Value>)> {
    let items = array(v)?;
    let status = items
        .first()
        .and_then(int)
        .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "reply without a status"))?;
    Ok((status, items[1..].to_vec()))
}

pub(super) fn parse_granted(v: &Value) -> Reply<Granted> {
    let (status, rest) = parse_status(v)?;
    let num = |i: usize| rest.get(i).and_then(int).unwrap_or(0);
    match status {
        1 => Ok(Granted::Taken {
            fence: num(0).max(0) as u64,
            hold: rest.get(1).map(string).unwrap_or_default(),
            up: rest
                .get(2)
                .and_then(int)
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
        }),
        2 => Ok(Granted::Reentered {
            count: num(0),
            fence: num(1).max(0) as u64,
            hold: rest.get(2).map(string).unwrap_or_default(),
            limit: u32::try_from(num(3)).unwrap_or(1),
        }),
        4 => Ok(Granted::Mismatch {
            limit: u32::try_from(num(0)).unwrap_or(1),
            holder: rest.get(1..).and_then(Holder::from_values),
        }),
        3 => Ok(Granted::Queued(
            Waiter::parse(
                &rest.first().map(string).unwrap_or_default(),
                &rest.get(1).map(string).unwrap_or_default(),
            ),
            holding_at(&rest, 2),
        )),
        _ => Holder::from_values(&rest)
            .map(|h| Granted::Held(h, holding_at(&rest, 9)))
            .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "malformed holder in acquire reply")),
    }
}

/// `kind, k, N` at `at` in a reply: what is held beside the exclusive lock (`None`: nothing,
/// or the exclusive lock).
fn holding_at(rest: &[Value], at: usize) -> Option<Holding> {
    let kind = rest.get(at).map(string)?;
    let num = |i: usize| rest.get(at + i).and_then(int).unwrap_or(0);
    (kind == "shared" || kind == "limit").then(|| {
        (
            kind,
            usize::try_from(num(1)).unwrap_or(0),
            u32::try_from(num(2)).unwrap_or(1),
        )
    })
}

/// The instances where an attempt may hold the lock: granted, or a request that may have run.
pub(super) fn maybe_ours(view: &View) -> Vec<bool> {
    view.iter()
        .map(|r| match r {
            Some(Ok(g)) => g.ours(),
            Some(Err(e)) => e.maybe_applied(),
            None => false,
        })
        .collect()
}

pub(super) fn count_ours(view: &View) -> usize {
    view.iter()
        .filter(|r| matches!(r, Some(Ok(g)) if g.ours()))
        .count()
}

pub(super) fn count_ours_replies(view: &[Reply<Granted>]) -> usize {
    view.iter().filter(|r| matches!(r, Ok(g) if g.ours())).count()
}
