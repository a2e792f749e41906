//! `redlock __keep`: the keeper `acquire` leaves behind. It renews the lease with `run`'s
//! heartbeat ([`crate::engine::heartbeat`]) until the hold ends, and ends it when its owner
//! exits (docs/keeper.md).
//!
//! One event loop on one channel, as in `run`: the heartbeat (renewed, failing, lost), the
//! owner's exit (from a thread waiting on its pidfd) and signals. Each ending has one handler:
//! - the owner exited: release every hold of the token, remove the record, exit 0;
//! - `redlock release` is ending the hold (the record says `releasing`, then a SIGTERM): stop
//!   renewing and exit 0 without a word, release does the rest;
//! - the lease is lost, or a signal from anyone else stops the keeper: the lock is not kept any
//!   more, so the owner must not carry on believing it holds it: one `redlock: ` line on the
//!   kept stderr, the loss in the record for a later `release`/`extend`, SIGTERM to the owner,
//!   and whatever is left of the hold released.

use std::ffi::OsString;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Parser;
use nix::sys::signal::Signal;

use super::Context;
use crate::cli::exit;
use crate::cli::keep::{KeepArgs, KeepCli};
use crate::cli::messages;
use crate::engine::heartbeat::{Beat, Heartbeat, Lost, Timing};
use crate::engine::holder::{now_unix_ms, HolderMeta};
use crate::engine::lock::{Lease, Mode};
use crate::engine::settings::Verbosity;
use crate::process::keeper;
use crate::process::kept::Record;
use crate::process::owner::{Owner, OwnerWatch};
use crate::process::signals::{self, SignalWatch};

enum Event {
    Beat(Beat),
    OwnerGone,
    Signal(i32),
}

/// The whole keeper, from its argv (without the program name) to its exit code. Until it is
/// ready, every failure is said on the pipe to `acquire`, which reports it and releases.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    keeper::close_inherited();
    let cli = match KeepCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            keeper::say(&format!("error: {}", first_line(&e.to_string())));
            return exit::USAGE;
        }
    };
    let settings = match crate::cli::config::settings(&cli.global) {
        Ok(s) => s,
        Err(msg) => {
            keeper::say(&format!("error: {msg}"));
            return exit::USAGE;
        }
    };
    let settings = crate::engine::settings::Settings {
        verbosity: Verbosity::Quiet,
        classic: cli.keep.classic_key_prefix.clone(),
        ..settings
    };
    match keep(&Context::new(settings), &cli.keep) {
        Ok(code) => code,
        Err(err) => {
            keeper::say(&format!("error: {}", first_line(&format!("{err:#}"))));
            exit::FAILURE
        }
    }
}

fn first_line(text: &str) -> String {
    let text = text.trim().trim_start_matches("error: ");
    text.lines().next().unwrap_or("").to_string()
}

fn keep(ctx: &Context, args: &KeepArgs) -> Result<i32> {
    let owner = Owner {
        pid: args.owner,
        start: args.owner_start,
    };
    if !owner.alive() {
        anyhow::bail!("its owner, pid {}, has already exited", owner.pid);
    }
    // Signals are caught before the record names us: `release` signals only a keeper it finds
    // there, and its SIGTERM must never find the default action (death without a word).
    let (events, inbox) = mpsc::channel();
    let tx = events.clone();
    let _watch = SignalWatch::start(move |sig| {
        let _ = tx.send(Event::Signal(sig));
    })
    .context("cannot install signal handlers")?;
    let me = Owner::of(std::process::id()).context("cannot read the keeper's own /proc entry")?;
    let record = Record::for_keeper(ctx.locker.prefix(), &args.resource, &args.token)
        .context("no private directory for the keeper's record")?;
    record
        .create(me)
        .with_context(|| format!("cannot write the keeper's record {}", record.path().display()))?;
    let kept = keep_recorded(ctx, args, owner, me, &record, events, &inbox);
    if kept.is_err() {
        // acquire releases and reports it: no keeper will have kept anything.
        record.remove();
    }
    kept
}

/// The keeper once its record exists: the owner's watch, the heartbeat, `ready`, the loop.
fn keep_recorded(
    ctx: &Context,
    args: &KeepArgs,
    owner: Owner,
    me: Owner,
    record: &Record,
    events: mpsc::Sender<Event>,
    inbox: &mpsc::Receiver<Event>,
) -> Result<i32> {
    let lease = lease(ctx, args, owner);
    let watch = OwnerWatch::new(owner);
    let tx = events.clone();
    // Blocks until the owner exits; left running if we end first (the process ends with it).
    thread::Builder::new()
        .name("redlock-owner".into())
        .spawn(move || {
            watch.wait();
            let _ = tx.send(Event::OwnerGone);
        })
        .context("cannot start a thread to watch the owner")?;

    let timing = Timing::new(lease.ttl, &ctx.settings);
    thread::scope(|scope| {
        let tx = events.clone();
        let heartbeat = Heartbeat::start(scope, &ctx.locker, lease.clone(), timing, move |beat| {
            let _ = tx.send(Event::Beat(beat));
        })
        .context("cannot start the heartbeat thread")?;
        drop(events);
        keeper::say("ready");
        // For `inspect`: which process renews this hold (after `ready`, so that acquire does
        // not wait for an instance that is down).
        crate::engine::keeper::mark(&ctx.locker, &lease.resource, &lease.token, me.pid);
        let keeping = Keeping {
            ctx,
            lease: &lease,
            owner,
            record,
        };
        Ok(keeping.event_loop(inbox, heartbeat))
    })
}

/// The lease `acquire` got, rebuilt from what it passed.
fn lease(ctx: &Context, args: &KeepArgs, owner: Owner) -> Lease {
    let now = Instant::now();
    let left = Duration::from_nanos(args.valid_until_ns).saturating_sub(keeper::monotonic_now());
    let valid_until = now + left;
    let mode = match args.mode.as_str() {
        "shared" => Mode::Shared,
        _ => Mode::limit(args.limit),
    };
    Lease {
        resource: args.resource.clone(),
        token: args.token.clone(),
        ttl: args.ttl,
        fence: args.fence,
        mode,
        hold: args.hold.clone(),
        reentered: false,
        count: 1,
        // Counted back from the validity: the heartbeat schedules from here.
        started: valid_until.checked_sub(args.ttl).unwrap_or(now),
        valid_until,
        meta: HolderMeta::new(owner.pid, &args.cmd),
        since_unix_ms: args.since,
        maybe_held: vec![true; ctx.locker.quorum().n()],
        missing: false,
    }
}

struct Keeping<'a> {
    ctx: &'a Context,
    lease: &'a Lease,
    owner: Owner,
    record: &'a Record,
}

impl Keeping<'_> {
    fn event_loop(&self, inbox: &mpsc::Receiver<Event>, heartbeat: Heartbeat<'_>) -> i32 {
        loop {
            let Ok(event) = inbox.recv() else {
                // Every sender is gone (cannot happen while the owner watch lives): stop.
                heartbeat.stop();
                return self.lost("the keeper lost track of its owner and its heartbeat".into());
            };
            match event {
                Event::Beat(Beat::Lost { reason }) => {
                    heartbeat.stop();
                    if self.releasing() {
                        return exit::OK;
                    }
                    return self.lost(match reason {
                        Lost::NotOurs(e) => messages::text(&e),
                        Lost::NoRenewal(e) => format!(
                            "no renewal reached a quorum before its validity ran out ({})",
                            messages::text(&e)
                        ),
                    });
                }
                Event::Beat(_) => {}
                Event::OwnerGone => {
                    heartbeat.stop();
                    // The record goes first: a keeper stopped half-way leaves a lease that
                    // runs out, never a record naming a process that is gone.
                    let releasing = self.releasing();
                    self.record.remove();
                    if !releasing {
                        self.release_all();
                    }
                    return exit::OK;
                }
                Event::Signal(sig) if sig == libc::SIGWINCH => {}
                Event::Signal(sig) => {
                    heartbeat.stop();
                    if self.releasing() {
                        return exit::OK;
                    }
                    return self.lost(format!("its keeper was stopped by {}", signals::name(sig)));
                }
            }
        }
    }

    /// Whether a `release` is ending the hold.
    fn releasing(&self) -> bool {
        self.record.read().is_some_and(|k| k.releasing)
    }

    /// The hold is no longer kept: say so, remember it, stop the owner, give back what is left.
    fn lost(&self, reason: String) -> i32 {
        let resource = &self.lease.resource;
        let _ = self.record.record_loss(now_unix_ms(), &reason);
        let told = self.owner.signal(Signal::SIGTERM);
        let owner = if told {
            format!("sent SIGTERM to its owner, pid {}", self.owner.pid)
        } else {
            format!("its owner, pid {}, has exited", self.owner.pid)
        };
        // Lock loss is never silent: said whatever the verbosity, where stderr was kept.
        eprintln!(
            "redlock: lock '{resource}' kept for pid {} was lost: {reason}; {owner}; check the servers \
             with `redlock inspect -r {resource}`",
            self.owner.pid
        );
        self.release_all();
        exit::LOCK_LOST
    }

    /// Drop every hold of the token: the owner is gone, and with it any re-entry it made.
    fn release_all(&self) {
        // A hold count is small (nested acquires of one script); the bound guards against a
        // count that never falls (an instance answering oddly).
        for _ in 0..64 {
            let released = self
                .ctx
                .locker
                .release(&self.lease.resource, &self.lease.token, Duration::ZERO);
            if released.released == 0 || released.remaining <= 0 {
                break;
            }
        }
        self.ctx.locker.settle();
    }
}
