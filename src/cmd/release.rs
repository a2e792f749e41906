//! `redlock release`: drop one hold of a token, or break the lock with --force.

use std::time::Duration;

use anyhow::Result;

use super::{kept, print, Context};
use crate::cli::args::ReleaseArgs;
use crate::cli::exit::{self, Failure};
use crate::cli::messages;
use crate::cli::words;
use crate::engine::error::LockError;
use crate::engine::holder::tally;

pub fn execute(ctx: &Context, args: &ReleaseArgs) -> Result<i32> {
    let quorum = ctx.locker.quorum();
    let (n, q) = (quorum.n(), quorum.needed());
    let resource = &args.resource;
    let Some(token) = args.token.as_deref().filter(|_| !args.force) else {
        return force(ctx, resource);
    };
    // A kept hold: a keeper that lost it said why, for us to tell; one still keeping it is
    // stopped first when this release ends the hold (it must not renew after the release, nor
    // report the release as a loss), and left alone when a re-entry's hold remains.
    let record = kept::record(ctx, resource, token);
    if let Some(lost) = kept::lost(ctx, resource, token) {
        ctx.locker.release(resource, token, Duration::ZERO);
        ctx.locker.settle();
        if let Some(record) = &record {
            record.remove();
        }
        return Err(Failure::NotHolder(lost).into());
    }
    if record.is_some() && kept::last_hold(ctx, resource, token) {
        kept::end_keeper(ctx, resource, token);
    }
    let released = ctx.locker.release(resource, token, Duration::ZERO);
    if let Some(record) = &record {
        if released.remaining <= 0 && released.failed.len() <= n - q {
            record.remove();
        }
    }
    if released.failed.len() > n - q {
        return Err(Failure::Unavailable(format!(
            "released lock '{resource}' on {} of {n} instances; the others did not answer ({}): \
             it stays held there until its lease runs out",
            released.released,
            released
                .failed
                .iter()
                .map(|(_, e)| words::server_error(e))
                .collect::<Vec<_>>()
                .join("; ")
        ))
        .into());
    }
    if released.released > 0 {
        if released.remaining > 0 {
            ctx.notice(&format!(
                "lock '{resource}' is still held: {} holds left",
                released.remaining
            ));
        }
        return Ok(exit::OK);
    }
    let message = match released.others.first() {
        Some(h) => format!(
            "lock '{resource}' is {}, not by that token; nothing released (use --force to break it)",
            words::holder(h)
        ),
        None => format!(
            "lock '{resource}' is not held by that token: it is free (already released, or its lease expired)"
        ),
    };
    Err(Failure::NotHolder(message).into())
}

/// `release --force`: break the lock, whoever holds it, and say whose holds were broken.
fn force(ctx: &Context, resource: &str) -> Result<i32> {
    let quorum = ctx.locker.quorum();
    let (n, q) = (quorum.n(), quorum.needed());
    let forced = ctx.locker.force_release(resource);
    if forced.failed.len() > n - q {
        let err = LockError::Unavailable {
            answered: n - forced.failed.len(),
            n,
            needed: q,
            refused: false,
            errors: forced.failed,
        };
        return Err(messages::unavailable(&err, &format!("to break lock '{resource}'")).into());
    }
    let mut text = String::new();
    for (h, _) in tally(&forced.holders) {
        text.push_str(&format!(
            "broke lock '{resource}' {} (token {})\n",
            words::holder(&h),
            h.token
        ));
    }
    if text.is_empty() {
        text = format!("lock '{resource}' was not held\n");
    }
    print(&text)?;
    Ok(exit::OK)
}
