//! The keeper's mark on a kept hold, so that `inspect` can show that a keeper renews it
//! (keeper.lua; docs/keeper.md, and `keepers` in docs/inspect.md). The keeper itself is
//! `cmd::keep`; its renewals are the heartbeat's.

use std::collections::BTreeMap;

use crate::engine::instance::{Call, ErrorClass, InstanceError};
use crate::engine::lock::Locker;
use crate::engine::quorum::Round;
use crate::engine::scripts::scripts;
use crate::engine::value::{int, string};

/// Mark `token`'s hold of `resource` as kept by process `keeper_pid` (on the holder's host),
/// on every instance that answers; the instances where it was marked.
pub fn mark(locker: &Locker, resource: &str, token: &str, keeper_pid: u32) -> usize {
    let prefix = locker.keys(resource).hold_prefix;
    let args = ["mark", &prefix, token, &keeper_pid.to_string()].map(String::from);
    let round = keeper_round(locker, resource, args.into(), |v| Ok(int(&v).unwrap_or(0)));
    round.count(|marked| *marked == 1)
}

/// Each token whose hold of `resource` some instance says a keeper renews, with the keeper's
/// pid.
pub fn read(locker: &Locker, resource: &str) -> BTreeMap<String, u32> {
    let prefix = locker.keys(resource).hold_prefix;
    let round = keeper_round(locker, resource, vec!["read".into(), prefix], |v| pairs(&v));
    round.replies.into_iter().flatten().flatten().collect()
}

/// keeper.lua with `args` on every instance, each answer read by `parse`.
fn keeper_round<T: Send + 'static>(
    locker: &Locker,
    resource: &str,
    args: Vec<String>,
    parse: fn(redis::Value) -> Result<T, InstanceError>,
) -> Round<T> {
    let keys = locker.keys(resource);
    locker
        .quorum()
        .ask("keeper", move |_| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Call::eval(&scripts().keeper, &[&keys.lock, &keys.holds], &args, parse)
        })
        .gather()
}

fn pairs(v: &redis::Value) -> Result<Vec<(String, u32)>, InstanceError> {
    let redis::Value::Array(fields) = v else {
        return Err(InstanceError::new(
            ErrorClass::Protocol,
            format!("unexpected reply {v:?}"),
        ));
    };
    Ok(fields
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .filter_map(|pair| Some((string(&pair[0]), string(&pair[1]).parse().ok()?)))
        .collect())
}
