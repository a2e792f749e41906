//! What `inspect --json` prints: a stable document for programs, whose fields keep their
//! names and meaning from one release to the next (docs/inspect.md): durations in ms, times in
//! RFC 3339 UTC, a field that could not be read listed in `unreadable`.

use std::time::Duration;

use serde_json::{json, Value};

use super::summary;
use crate::cli::words;
use crate::engine::holder::{Holder, Waiter};
use crate::engine::listing::Listing;
use crate::engine::state::{InstanceView, LockState, Verdict};

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn holder_json(h: &Holder) -> Value {
    json!({
        "token": h.token,
        "count": h.count,
        "host": h.host,
        "pid": h.pid,
        "command": h.cmd,
        "since": h.since().map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "ttl_ms": h.ttl.map(ms),
        "time_left_ms": h.time_left.map(ms),
        "fence": h.fence,
        "unreadable": h.unreadable.names(),
        "other_client": h.other_client,
    })
}

/// One lock, as `inspect -r NAME --json` prints it and as each element of the listing's `locks`.
pub fn lock_json(state: &LockState) -> Value {
    let (state_name, token, held_on, expires_in_ms, holder) = match &state.verdict {
        Verdict::Free => ("free", None, 0, None, None),
        Verdict::Held {
            holder,
            held_on,
            expires_in,
        } => (
            "held",
            Some(holder.token.clone()),
            *held_on,
            expires_in.map(ms),
            Some(holder_json(holder)),
        ),
        Verdict::Holds { .. } => ("held", None, 0, None, None),
        Verdict::Split { .. } => ("split", None, 0, None, None),
        Verdict::Unknown { .. } => ("unknown", None, 0, None, None),
    };
    let (mode, limit, holders) = holds_json(&state.verdict);
    let tokens: Vec<Value> = state
        .tokens()
        .iter()
        .map(|(h, on)| json!({"token": h.token, "held_on": on}))
        .collect();
    let instances: Vec<Value> = state.instances.iter().map(instance_json).collect();
    json!({
        "resource": state.resource,
        "state": state_name,
        "summary": summary(state),
        "n": state.n(),
        "quorum": state.quorum,
        "answered": state.answered(),
        "token": token,
        "held_on": held_on,
        "expires_in_ms": expires_in_ms,
        "holder": holder,
        "mode": mode,
        "limit": limit,
        "holders": holders,
        "tokens": tokens,
        "instances": instances,
        "queue": state.queue.iter().enumerate().map(|(i, w)| waiter_json(i + 1, w)).collect::<Vec<_>>(),
    })
}

/// Every hold, whatever the mode: the exclusive holder, or the --shared / --limit ones, each
/// with how many instances it is held on; and the mode and limit they hold in.
fn holds_json(verdict: &Verdict) -> (Option<&str>, Option<u32>, Vec<Value>) {
    match verdict {
        Verdict::Held { holder, held_on, .. } => {
            let mut j = holder_json(holder);
            j["held_on"] = json!(held_on);
            (Some("exclusive"), Some(1), vec![j])
        }
        Verdict::Holds { mode, limit, holders } => (
            Some(mode.as_str()),
            Some(*limit),
            holders
                .iter()
                .map(|(h, on)| {
                    let mut j = holder_json(h);
                    j["held_on"] = json!(on);
                    j
                })
                .collect(),
        ),
        _ => (None, None, vec![]),
    }
}

/// What one instance holds of the lock, or why it did not answer.
fn instance_json(v: &InstanceView) -> Value {
    match &v.seen {
        Ok(seen) => json!({
            "server": v.server.to_string(),
            "reachable": true,
            "error": null,
            "holder": seen.holder.as_ref().map(holder_json),
            "holds": seen.holds.iter().map(holder_json).collect::<Vec<_>>(),
            "last_fence": seen.last_fence,
        }),
        Err(e) => json!({
            "server": v.server.to_string(),
            "reachable": false,
            "error": words::instance_error(e),
            "holder": null,
            "holds": null,
            "last_fence": null,
        }),
    }
}

/// One waiter of the queue: its place (1 = next), who it is, since when, in which mode.
fn waiter_json(place: usize, w: &Waiter) -> Value {
    json!({
        "place": place,
        "token": w.token,
        "host": w.host,
        "pid": w.pid,
        "command": w.cmd,
        "waiting_since": w.since().map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "mode": w.mode,
        "unreadable": w.unreadable.names(),
    })
}

/// Every lock under the prefix, as `inspect --json` prints it.
pub fn listing_json(listing: &Listing) -> Value {
    let servers: Vec<Value> = listing
        .servers
        .iter()
        .map(|s| match &s.locks {
            Ok(count) => json!({"server": s.server.to_string(), "reachable": true, "error": null, "locks": count}),
            Err(e) => json!({"server": s.server.to_string(), "reachable": false, "error": words::instance_error(e), "locks": null}),
        })
        .collect();
    json!({
        "prefix": listing.prefix,
        "n": listing.n(),
        "quorum": listing.quorum,
        "answered": listing.answered(),
        "servers": servers,
        "locks": listing.locks.iter().map(lock_json).collect::<Vec<_>>(),
    })
}
