//! `redlock extend`: renew the lease of a lock the token holds.

use anyhow::Result;

use super::Context;
use crate::cli::args::ExtendArgs;
use crate::cli::exit;

pub fn execute(ctx: &Context, args: &ExtendArgs) -> Result<i32> {
    ctx.locker.extend(&args.resource, &args.token, args.ttl, None)?;
    // The round ends once a quorum renewed; let the rest land before we exit.
    ctx.locker.settle();
    Ok(exit::OK)
}
