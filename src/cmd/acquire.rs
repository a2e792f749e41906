//! `redlock acquire`: take the lock for a shell script, leave a keeper to hold it for as long
//! as the script runs (unless --no-keep), and print its token.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

use super::{new_token, print, Context};
use crate::cli::args::AcquireArgs;
use crate::cli::exit;
use crate::engine::holder::HolderMeta;
use crate::engine::lock::{Lease, Request};
use crate::engine::settings::Settings;
use crate::engine::wakeup::Wakeup;
use crate::process::keeper;
use crate::process::owner::{self, Owner};
use crate::process::signals::SignalWatch;

/// How long a keeper may take to start before acquire gives up (and releases).
const KEEPER_READY: Duration = Duration::from_secs(10);

pub fn execute(ctx: &Context, args: &AcquireArgs) -> Result<i32> {
    let lock = crate::cli::config::lock_settings(&args.lock);
    // `acquire` exits at once; the process that holds the lock for the user is the script
    // that called it (the owner), so that is the pid and command an operator is shown.
    let owner = if args.no_keep {
        None
    } else {
        Some(find_owner(args.owner)?)
    };
    let shown = owner.map_or_else(std::os::unix::process::parent_id, |o| o.pid);
    let req = Request {
        resource: lock.resource.clone(),
        token: lock.token.clone().unwrap_or_else(new_token),
        ttl: lock.ttl,
        mode: lock.mode,
        meta: HolderMeta::new(
            shown,
            &owner::command_line(shown).unwrap_or_else(|| "redlock acquire".into()),
        ),
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

    // A re-entry is kept (or not) by whoever took the hold first: a second keeper would end the
    // whole hold when this inner owner exits.
    let keeper = match owner.filter(|_| !lease.reentered) {
        Some(owner) => match start_keeper(ctx, &lease, owner, &req.meta.cmd) {
            Ok(started) => Some(started),
            Err(why) => {
                ctx.locker.release(&lease.resource, &lease.token, Duration::ZERO);
                ctx.locker.settle();
                return Err(anyhow!(
                    "cannot keep lock '{}' ({why}); it was released again; use --no-keep for a bare \
                     lease of --ttl",
                    lease.resource
                ));
            }
        },
        None => None,
    };

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
        if keeper.is_some() {
            super::kept::end_keeper(ctx, &lease.resource, &lease.token);
        }
        ctx.locker.release(&lease.resource, &lease.token, Duration::ZERO);
        return Err(e).context("cannot print the token (released the lock again)");
    }
    ctx.locker.settle();
    Ok(exit::OK)
}

/// `--owner PID`, or the process that ran us, looking through wrappers.
fn find_owner(given: Option<u32>) -> Result<Owner> {
    let found = match given {
        Some(pid) => Owner::of(pid),
        None => Owner::of_caller(),
    };
    found.ok_or_else(|| match given {
        Some(pid) => anyhow!("process {pid} (--owner) has exited; give the pid of a running process"),
        None => anyhow!(
            "cannot tell which process runs redlock (is /proc mounted?); name it with --owner PID, \
             or use --no-keep"
        ),
    })
}

/// Start the keeper of `lease` for `owner`; what it needs goes in its arguments, and what `ps`
/// must not show (the server URLs with their passwords, the token) in its environment.
fn start_keeper(ctx: &Context, lease: &Lease, owner: Owner, cmd: &str) -> Result<keeper::Started, String> {
    let valid_until = keeper::monotonic_now() + lease.validity();
    let args: Vec<OsString> = [
        ("--resource", lease.resource.clone()),
        ("--ttl", format!("{}ms", lease.ttl.as_millis())),
        ("--mode", lease.mode.name().to_string()),
        ("--limit", lease.mode.n().to_string()),
        ("--fence", lease.fence.to_string()),
        ("--since", lease.since_unix_ms.to_string()),
        ("--valid-until-ns", valid_until.as_nanos().to_string()),
        ("--owner", owner.pid.to_string()),
        ("--owner-start", owner.start.to_string()),
    ]
    .into_iter()
    .chain(
        ctx.settings
            .classic
            .as_ref()
            .map(|p| ("--classic-key-prefix", p.clone())),
    )
    .flat_map(|(flag, value)| [OsString::from(flag), OsString::from(value)])
    .collect();
    let mut env = settings_env(&ctx.settings);
    env.push(("REDLOCK_TOKEN".into(), lease.token.clone()));
    env.push(("REDLOCK_KEEP_HOLD".into(), lease.hold.clone()));
    env.push(("REDLOCK_KEEP_CMD".into(), cmd.to_string()));
    let started = keeper::start(&args, &env, KEEPER_READY)?;
    if ctx.settings.verbosity == crate::engine::settings::Verbosity::Verbose {
        eprintln!(
            "redlock: debug: keeper pid {} keeps lock '{}' for pid {}",
            started.pid, lease.resource, owner.pid
        );
    }
    Ok(started)
}

/// The servers and their options as the keeper reads them (the global options' variables).
fn settings_env(settings: &Settings) -> Vec<(String, String)> {
    let servers = settings
        .servers
        .iter()
        .map(|s| s.url().as_str().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut env = vec![
        ("REDLOCK_SERVERS".to_string(), servers),
        ("REDLOCK_PREFIX".to_string(), settings.prefix.clone()),
        (
            "REDLOCK_CONNECT_TIMEOUT".to_string(),
            format!("{}ms", settings.connect_timeout.as_millis()),
        ),
        (
            "REDLOCK_OP_TIMEOUT".to_string(),
            format!("{}ms", settings.op_timeout.as_millis()),
        ),
    ];
    // The TLS files, by absolute path: what the user named relative to here.
    if let Some(tls) = settings.servers.iter().find(|s| s.is_tls()).map(|s| s.tls()) {
        let absolute = |p: &std::path::Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .to_string_lossy()
                .into_owned()
        };
        if let Some(ca) = &tls.ca {
            env.push(("REDLOCK_TLS_CA".into(), absolute(ca.path())));
        }
        if let Some((cert, key)) = &tls.client {
            env.push(("REDLOCK_TLS_CERT".into(), absolute(cert.path())));
            env.push(("REDLOCK_TLS_KEY".into(), absolute(key.path())));
        }
    }
    env
}
