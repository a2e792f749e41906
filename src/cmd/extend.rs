//! `redlock extend`: renew the lease of a lock the token holds.

use anyhow::Result;

use super::Context;
use crate::cli::ExtendArgs;
use crate::exit;

pub fn execute(ctx: &Context, args: &ExtendArgs) -> Result<i32> {
    let extended = ctx.locker.extend(&args.resource, &args.token, args.ttl, None)?;
    ctx.locker.settle();
    if extended.renewed < ctx.locker.quorum().n() {
        ctx.notice(&format!(
            "lock '{}' renewed on {} of {} instances",
            args.resource,
            extended.renewed,
            ctx.locker.quorum().n()
        ));
    }
    Ok(exit::OK)
}
