//! `redlock inspect`: who holds a lock, on every instance; or every lock under the prefix.
//! Exit 0 when a quorum answered, 69 otherwise, printing what was seen either way.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{print, Context};
use crate::cli::args::InspectArgs;
use crate::cli::exit;
use crate::cli::messages;
use crate::cli::output::{self, Style};
use crate::engine::holder::Holder;
use crate::engine::state::{self, LockState, Verdict};

pub fn execute(ctx: &Context, args: &InspectArgs) -> Result<i32> {
    let style = Style::detect();
    let (text, unavailable) = match &args.resource {
        Some(resource) => {
            let lock = state::read_lock(&ctx.locker, resource);
            let kept = kept_holds(&lock, &crate::engine::keeper::read(&ctx.locker, resource));
            let text = if args.json {
                let mut value = output::lock_json(&lock);
                value["keepers"] = kept.iter().map(kept_json).collect();
                json(&value)
            } else {
                let mut text = output::lock_table(&lock, style);
                for (h, keeper) in &kept {
                    text.push_str(&kept_line(h, *keeper));
                }
                text
            };
            let unavailable = matches!(lock.verdict, Verdict::Unknown { .. }).then(|| lock.unavailable());
            (text, unavailable)
        }
        None => {
            let listing = crate::engine::listing::list(&ctx.locker);
            let text = if args.json {
                let mut value = output::listing_json(&listing);
                // Which holds a keeper renews is read for one lock at a time (inspect -r NAME).
                for lock in value["locks"].as_array_mut().into_iter().flatten() {
                    lock["keepers"] = serde_json::Value::Null;
                }
                json(&value)
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

/// The holds a keeper renews (`redlock acquire` without --no-keep), each with its keeper's
/// pid: the holders any instance shows, with the keeper's mark on some instance.
fn kept_holds(lock: &LockState, keepers: &BTreeMap<String, u32>) -> Vec<(Holder, u32)> {
    let mut kept: Vec<(Holder, u32)> = vec![];
    let seen = lock.instances.iter().filter_map(|v| v.seen.as_ref().ok());
    for h in seen.flat_map(|s| s.holder.iter().chain(s.holds.iter())) {
        if let Some(pid) = keepers.get(&h.token) {
            if !kept.iter().any(|(k, _)| k.token == h.token) {
                kept.push((h.clone(), *pid));
            }
        }
    }
    kept
}

/// `kept: TOKEN is renewed by keeper pid 4122 on web-3 for its owner, pid 4121 (./migrate.sh),
/// until the owner releases it or exits`
fn kept_line(h: &Holder, keeper: u32) -> String {
    let owner = h
        .pid
        .map_or("its owner".to_string(), |p| format!("its owner, pid {p}"));
    let cmd = if h.cmd.is_empty() {
        String::new()
    } else {
        format!(" ({})", h.cmd)
    };
    format!(
        "kept: {} is renewed by keeper pid {keeper} on {} for {owner}{cmd}, until the owner releases \
         it or exits\n",
        h.token, h.host
    )
}

fn kept_json((h, keeper): &(Holder, u32)) -> serde_json::Value {
    serde_json::json!({
        "token": h.token,
        "host": h.host,
        "keeper_pid": keeper,
        "owner_pid": h.pid,
        "owner_command": h.cmd,
    })
}

fn json(value: &serde_json::Value) -> String {
    // Serialising a `Value` cannot fail; fall back to the compact form just in case.
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    format!("{text}\n")
}
