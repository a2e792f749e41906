//! `redlock inspect`: who holds a lock, on every instance; or every lock under the prefix.
//! Exit 0 when a quorum answered, 69 otherwise, printing what was seen either way.

use anyhow::Result;

use super::{print, Context};
use crate::cli::args::InspectArgs;
use crate::cli::exit;
use crate::cli::messages;
use crate::cli::output::{self, Style};
use crate::engine::state::{self, LockState, Verdict};

pub fn execute(ctx: &Context, args: &InspectArgs) -> Result<i32> {
    let style = Style::detect();
    let (text, unavailable) = match &args.resource {
        Some(resource) => {
            let lock = state::read_lock(&ctx.locker, resource);
            let text = if args.json {
                json(&output::lock_json(&lock))
            } else {
                output::lock_table(&lock, style)
            };
            let unavailable = matches!(lock.verdict, Verdict::Unknown { .. }).then(|| lock.unavailable());
            (text, unavailable)
        }
        None => {
            let listing = crate::engine::listing::list(&ctx.locker);
            let text = if args.json {
                json(&output::listing_json(&listing))
            } else {
                output::listing_table(&listing, style)
            };
            // A lock read by fewer than a quorum (an instance went away after the SCAN)
            // counts too: its verdict is unknown.
            let unknown = listing
                .locks
                .iter()
                .find(|l| matches!(l.verdict, Verdict::Unknown { .. }));
            let unavailable = if listing.answered() < listing.quorum {
                Some(listing.unavailable())
            } else {
                unknown.map(LockState::unavailable)
            };
            (text, unavailable)
        }
    };
    print(&text)?;
    match unavailable {
        Some(err) => Err(messages::unavailable(&err, "to tell who holds what").into()),
        None => Ok(exit::OK),
    }
}

fn json(value: &serde_json::Value) -> String {
    // Serialising a `Value` cannot fail; fall back to the compact form just in case.
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    format!("{text}\n")
}
