//! What `release` and `extend` do about a kept hold: end its keeper before the last hold is
//! released, and say when and why the lock was lost when its keeper lost it (docs/keeper.md).

use std::time::{Duration, Instant, UNIX_EPOCH};

use nix::sys::signal::Signal;

use super::Context;
use crate::cli::words::clock_time;
use crate::process::kept::Record;

/// How long a keeper may take to stop: it finishes a renewal in flight first, which the
/// connect and op timeouts bound.
const KEEPER_STOPS: Duration = Duration::from_secs(5);

/// The keeper's record of `token`'s hold, where there is one on this host.
pub fn record(ctx: &Context, resource: &str, token: &str) -> Option<Record> {
    let record = Record::of(ctx.locker.prefix(), resource, token).ok()?;
    record.read().is_some().then_some(record)
}

/// `lock 'X' was lost at 21:40:02 +01:00 while its keeper held it for its owner: REASON`,
/// where the keeper of `token`'s hold lost it.
pub fn lost(ctx: &Context, resource: &str, token: &str) -> Option<String> {
    let (at, reason) = record(ctx, resource, token)?.read()?.lost?;
    let when = clock_time(UNIX_EPOCH + Duration::from_millis(at));
    Some(format!(
        "lock '{resource}' was lost at {when} while its keeper held it: {reason}; its owner was sent \
         SIGTERM, and the token holds nothing any more"
    ))
}

/// Whether dropping one hold of `token` ends the hold (its count is 1, or it is not seen at
/// all), as the instances that answer see it.
pub fn last_hold(ctx: &Context, resource: &str, token: &str) -> bool {
    let round = ctx.locker.read(resource);
    let count = round
        .replies
        .iter()
        .flatten()
        .flat_map(|seen| seen.holder.iter().chain(seen.holds.iter()))
        .filter(|h| h.token == token)
        .map(|h| h.count)
        .max()
        .unwrap_or(0);
    count <= 1
}

/// Stop the keeper of `token`'s hold without a loss report, and wait until it has stopped, so
/// no renewal of it (which could take back an instance) lands after the release that follows.
pub fn end_keeper(ctx: &Context, resource: &str, token: &str) {
    let Some(record) = record(ctx, resource, token) else {
        return;
    };
    let Some(keeper) = record.read().and_then(|k| k.keeper).filter(|k| k.alive()) else {
        return;
    };
    if record.mark_releasing().is_err() {
        return;
    }
    keeper.signal(Signal::SIGTERM);
    let deadline = Instant::now() + KEEPER_STOPS;
    while keeper.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}
