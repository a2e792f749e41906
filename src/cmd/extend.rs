//! `redlock extend`: renew the lease of a lock the token holds.

use anyhow::Result;

use super::{kept, Context};
use crate::cli::args::ExtendArgs;
use crate::cli::exit::{self, Failure};

pub fn execute(ctx: &Context, args: &ExtendArgs) -> Result<i32> {
    if let Err(err) = ctx.locker.extend(&args.resource, &args.token, args.ttl, None) {
        // Where the hold's keeper lost it, that is the news, not "not held".
        if let Some(lost) = kept::lost(ctx, &args.resource, &args.token) {
            return Err(Failure::NotHolder(lost).into());
        }
        return Err(err.into());
    }
    // The round ends once a quorum renewed; let the rest land before we exit.
    ctx.locker.settle();
    Ok(exit::OK)
}
