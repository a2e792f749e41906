//! What the lock scripts answer, decoded in one place: one enum (or struct) per script's reply,
//! one function from the reply to it, each status as the script's header comment lists it.

use std::time::Duration;

use redis::Value;

use crate::engine::holder::Busy;
use crate::engine::holder::{tally, Holder, Holding, Waiter};
use crate::engine::instance::{ErrorClass, InstanceError};
use crate::engine::quorum::Reply;
use crate::engine::value::{int, string};

/// A round's replies so far: `None` for an instance not asked yet.
pub(super) type View = Vec<Option<Reply<AcquireReply>>>;

/// acquire.lua's reply on one instance (see the script's header), and what the attempt makes
/// of it.
#[derive(Clone, Debug)]
pub(super) enum AcquireReply {
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
    /// Held by `holder` (one of them), and beside the exclusive lock what is held there (see
    /// `Busy::holding`).
    Held {
        holder: Holder,
        holding: Option<Holding>,
    },
    /// Room for us, but the decider's queue has `waiter` first; what is held there beside the
    /// room (see `Busy::holding`).
    OthersTurn {
        waiter: Waiter,
        holding: Option<Holding>,
    },
    /// Held with another N (`--limit`; exclusive and shared holds count as 1): by this holder.
    LimitMismatch { limit: u32, holder: Option<Holder> },
    /// No reply, but what the attempt makes of a grant of another `--limit` slot once it gave
    /// that back (`one_hold`): neither ours nor lost (the instance is asked for the slot kept),
    /// and maybe still ours until the undo lands.
    GaveBack,
}

impl AcquireReply {
    pub(super) fn ours(&self) -> bool {
        matches!(self, AcquireReply::Taken { .. } | AcquireReply::Reentered { .. })
    }

    /// Taken on an instance that has remembered the resource for less than `ttl`: one that may
    /// have restarted empty.
    pub(super) fn young(&self, ttl: Duration) -> bool {
        matches!(self, AcquireReply::Taken { up: Some(up), .. } if *up < ttl)
    }

    /// Which hold an instance granted us, if it did.
    pub(super) fn hold(&self) -> Option<&str> {
        match self {
            AcquireReply::Taken { hold, .. } | AcquireReply::Reentered { hold, .. } => Some(hold),
            _ => None,
        }
    }
}

/// extend.lua's reply on one instance.
#[derive(Clone, Debug)]
pub(super) enum ExtendReply {
    /// Renewed: which hold ('' the exclusive lock, else its id).
    Renewed { hold: String },
    /// No hold of ours here (it expired, or the instance restarted empty): one to take back.
    Gone,
    /// Held by another token: who, when the reply says.
    Held { holder: Option<Holder> },
}

/// release.lua's reply on one instance.
#[derive(Clone, Debug)]
pub(super) enum ReleaseReply {
    /// One hold dropped; `remaining` holds are left (0: gone, or kept for `--min-hold`).
    Released { remaining: i64 },
    /// No hold of ours here.
    Free,
    /// Held by another token, and left untouched: who, when the reply says.
    Held { holder: Option<Holder> },
}

/// fence.lua's reply on one instance.
#[derive(Clone, Copy, Debug)]
pub(super) struct FenceReply {
    /// The fence was recorded there.
    pub recorded: bool,
    /// The instance's fence counter.
    pub counter: u64,
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
fn parse_status(v: &Value) -> Reply<(i64, Vec<Value>)> {
    let items = array(v)?;
    let status = items
        .first()
        .and_then(int)
        .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "reply without a status"))?;
    Ok((status, items[1..].to_vec()))
}

/// acquire.lua's reply.
pub(super) fn acquire_reply(v: &Value) -> Reply<AcquireReply> {
    let (status, rest) = parse_status(v)?;
    let num = |i: usize| rest.get(i).and_then(int).unwrap_or(0);
    match status {
        1 => Ok(AcquireReply::Taken {
            fence: num(0).max(0) as u64,
            hold: rest.get(1).map(string).unwrap_or_default(),
            up: rest
                .get(2)
                .and_then(int)
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
        }),
        2 => Ok(AcquireReply::Reentered {
            count: num(0),
            fence: num(1).max(0) as u64,
            hold: rest.get(2).map(string).unwrap_or_default(),
            limit: u32::try_from(num(3)).unwrap_or(1),
        }),
        4 => Ok(AcquireReply::LimitMismatch {
            limit: u32::try_from(num(0)).unwrap_or(1),
            holder: rest.get(1..).and_then(Holder::from_values),
        }),
        3 => Ok(AcquireReply::OthersTurn {
            waiter: Waiter::parse(
                &rest.first().map(string).unwrap_or_default(),
                &rest.get(1).map(string).unwrap_or_default(),
            ),
            holding: holding_at(&rest, 2),
        }),
        _ => Holder::from_values(&rest)
            .map(|holder| AcquireReply::Held {
                holder,
                holding: holding_at(&rest, 9),
            })
            .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "malformed holder in acquire reply")),
    }
}

/// extend.lua's reply (a status no script sends counts as a holder nobody can name).
pub(super) fn extend_reply(v: &Value) -> Reply<ExtendReply> {
    let (status, rest) = parse_status(v)?;
    Ok(match status {
        1 => ExtendReply::Renewed {
            hold: rest.get(1).map(string).unwrap_or_default(),
        },
        2 => ExtendReply::Gone,
        0 => ExtendReply::Held {
            holder: Holder::from_values(&rest),
        },
        _ => ExtendReply::Held { holder: None },
    })
}

/// release.lua's reply.
pub(super) fn release_reply(v: &Value) -> Reply<ReleaseReply> {
    let (status, rest) = parse_status(v)?;
    Ok(match status {
        1 => ReleaseReply::Released {
            remaining: rest.first().and_then(int).unwrap_or(0),
        },
        2 => ReleaseReply::Free,
        _ => ReleaseReply::Held {
            holder: Holder::from_values(&rest),
        },
    })
}

/// fence.lua's reply.
pub(super) fn fence_reply(v: &Value) -> Reply<FenceReply> {
    let (status, rest) = parse_status(v)?;
    Ok(FenceReply {
        recorded: status == 1,
        counter: rest.first().and_then(int).unwrap_or(0).max(0) as u64,
    })
}

/// force.lua's reply: the holds it broke, each as a holder array.
pub(super) fn force_reply(v: &Value) -> Reply<Vec<Holder>> {
    let (status, rest) = parse_status(v)?;
    Ok(match status {
        1 => rest.chunks(9).filter_map(Holder::from_values).collect(),
        _ => vec![],
    })
}

/// restore.lua's reply: whether the hold is ours there now.
pub(super) fn restore_reply(v: &Value) -> Reply<bool> {
    Ok(int(v) == Some(1))
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

/// A view as every instance's reply: one not asked answers "not asked" (not awaited).
pub(super) fn answers(view: View) -> Vec<Reply<AcquireReply>> {
    view.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(InstanceError::new(ErrorClass::NotAwaited, "not asked"))))
        .collect()
}

/// The holders the replies name.
pub(super) fn holders(replies: &[Reply<AcquireReply>]) -> Vec<&Holder> {
    replies
        .iter()
        .filter_map(|r| match r {
            Ok(AcquireReply::Held { holder, .. }) => Some(holder),
            _ => None,
        })
        .collect()
}

/// The instances where an attempt may hold the lock: granted, or a request that may have run.
pub(super) fn maybe_ours(view: &View) -> Vec<bool> {
    view.iter()
        .map(|r| match r {
            Some(Ok(AcquireReply::GaveBack)) => true,
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

pub(super) fn count_ours_replies(view: &[Reply<AcquireReply>]) -> usize {
    view.iter().filter(|r| matches!(r, Ok(g) if g.ours())).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(items: &[Value]) -> Value {
        Value::Array(items.to_vec())
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// A holder array as the scripts send it: {pttl, token, count, host, pid, cmd, since, fence, ttl}.
    fn holder(token: &str) -> Vec<Value> {
        let mut h = vec![Value::Int(5000), bulk(token)];
        h.extend(["1", "web-3", "4121", "./deploy.sh", "1700000000000", "7", "30000"].map(bulk));
        h
    }

    #[test]
    fn each_acquire_status_is_its_own_variant() {
        let taken = acquire_reply(&reply(&[Value::Int(1), Value::Int(8), bulk(""), Value::Int(90)]));
        assert!(
            matches!(taken, Ok(AcquireReply::Taken { fence: 8, ref hold, up: Some(up) })
            if hold.is_empty() && up == Duration::from_millis(90))
        );
        let again = [2, 3, 7]
            .map(Value::Int)
            .into_iter()
            .chain([bulk("1"), Value::Int(2)]);
        assert!(matches!(
            acquire_reply(&reply(&again.collect::<Vec<_>>())),
            Ok(AcquireReply::Reentered { count: 3, fence: 7, ref hold, limit: 2 }) if hold == "1"
        ));
        let held = [vec![Value::Int(0)], holder("other")].concat();
        assert!(
            matches!(acquire_reply(&reply(&held)), Ok(AcquireReply::Held { ref holder, holding: None })
            if holder.token == "other")
        );
        let turn = [
            Value::Int(3),
            bulk("w1"),
            bulk(""),
            bulk("free"),
            Value::Int(0),
            Value::Int(1),
        ];
        assert!(
            matches!(acquire_reply(&reply(&turn)), Ok(AcquireReply::OthersTurn { ref waiter, .. })
            if waiter.token == "w1")
        );
        let mismatch = [vec![Value::Int(4), Value::Int(3)], holder("other")].concat();
        assert!(matches!(
            acquire_reply(&reply(&mismatch)),
            Ok(AcquireReply::LimitMismatch {
                limit: 3,
                holder: Some(_)
            })
        ));
        assert!(acquire_reply(&Value::Okay).is_err());
    }

    #[test]
    fn extend_and_release_replies_name_what_happened() {
        let renewed = reply(&[Value::Int(1), Value::Int(1), bulk("r:t")]);
        assert!(matches!(extend_reply(&renewed), Ok(ExtendReply::Renewed { ref hold }) if hold == "r:t"));
        assert!(matches!(
            extend_reply(&reply(&[Value::Int(2)])),
            Ok(ExtendReply::Gone)
        ));
        let held = [vec![Value::Int(0)], holder("other")].concat();
        assert!(matches!(
            extend_reply(&reply(&held)),
            Ok(ExtendReply::Held { holder: Some(_) })
        ));
        assert!(matches!(
            release_reply(&reply(&[Value::Int(1), Value::Int(2)])),
            Ok(ReleaseReply::Released { remaining: 2 })
        ));
        assert!(matches!(
            release_reply(&reply(&[Value::Int(2)])),
            Ok(ReleaseReply::Free)
        ));
        assert!(matches!(
            release_reply(&reply(&held)),
            Ok(ReleaseReply::Held { holder: Some(_) })
        ));
    }
}
