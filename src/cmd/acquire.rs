//! `redlock acquire`: take the lock for a shell script and print its token.

use std::sync::Arc;

use anyhow::{Context as _, Result};

use super::{new_token, print, Context};
use crate::cli::args::AcquireArgs;
use crate::cli::exit;
use crate::engine::holder::HolderMeta;
use crate::engine::lock::Request;
use crate::engine::wakeup::Wakeup;
use crate::process::signals::SignalWatch;

pub fn execute(ctx: &Context, args: &AcquireArgs) -> Result<i32> {
    let lock = crate::cli::config::lock_settings(&args.lock);
    // `acquire` exits at once; the process that holds the lock for the user is the shell
    // (or script) that called it, so that is the pid and command an operator is shown.
    let parent = std::os::unix::process::parent_id();
    let req = Request {
        resource: lock.resource.clone(),
        token: lock.token.clone().unwrap_or_else(new_token),
        ttl: lock.ttl,
        mode: lock.mode,
        meta: HolderMeta::new(parent, &command_line_of(parent)),
    };

    // A signal while waiting ends the wait with 128 + N; the attempt in flight undoes itself.
    let wakeup = Arc::new(Wakeup::new());
    let w = Arc::clone(&wakeup);
    let watch = SignalWatch::start(move |sig| {
        if crate::process::signals::aborts_wait(sig) {
            w.interrupt(sig);
        }
    })
    .context("cannot install signal handlers")?;
    let acquired = ctx.acquire_waiting(&req, &lock, &wakeup);
    watch.stop();
    let lease = acquired?;

    let text = if args.json {
        let json = serde_json::json!({
            "resource": lease.resource,
            "token": lease.token,
            "fence": lease.fence,
            "ttl_ms": lease.ttl.as_millis() as u64,
            "validity_ms": lease.validity().as_millis() as u64,
        });
        format!("{json}\n")
    } else {
        format!("{}\n", lease.token)
    };
    if let Err(e) = print(&text) {
        // Nobody learned the token, so nobody could release it: give it back now.
        ctx.locker
            .release(&lease.resource, &lease.token, std::time::Duration::ZERO);
        return Err(e).context("cannot print the token (released the lock again)");
    }
    ctx.locker.settle();
    Ok(exit::OK)
}

/// The command line of process `pid`, from /proc, or a placeholder where there is none.
fn command_line_of(pid: u32) -> String {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) if !raw.is_empty() => raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" "),
        _ => "redlock acquire".to_string(),
    }
}
