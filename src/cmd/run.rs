//! `redlock run`: hold the lock for exactly as long as a command runs (docs/run.md).
//!
//! Shape: acquire (a signal aborts the wait), spawn the command from the main thread, then one
//! event loop on one channel fed by three sources: the waiter thread (the command exited), the
//! signal watch (a signal to forward) and the heartbeat (renewed, failing, lost). The two timers,
//! `--timeout` and the SIGKILL rung of the terminate ladder, are the loop's receive timeout.
//! Each event has one handler. The lock lives in a `Holding`, whose release stops the
//! heartbeat and then releases on every instance; it runs on every way out, the early ones
//! included (by `Drop`), and always after the command has exited or been killed.

mod holding;

use std::ffi::OsString;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, Scope};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context as _, Result};
use nix::sys::signal::Signal;

use super::{new_token, Context};
use crate::cli::args::RunArgs;
use crate::cli::exit::{self, Failure};
use crate::cli::messages;
use crate::cli::words::{clock_time, human};
use crate::engine::heartbeat::{Beat, Heartbeat, Lost, Timing};
use crate::engine::holder::HolderMeta;
use crate::engine::lock::Request;
use crate::engine::wakeup::Wakeup;
use crate::process::child::{Child, Exit, Program, SpawnError};
use crate::process::ladder::Ladder;
use crate::process::signals::{self, SignalWatch};
use holding::Holding;

/// How long the loop sleeps when no timer is set (it wakes for events long before).
const IDLE: Duration = Duration::from_secs(3600);

/// Everything the event loop hears.
enum Event {
    /// The command exited (how it ended), or waiting for it failed.
    Exited(io::Result<Exit>),
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT reached `redlock`.
    Signal(i32),
    Beat(Beat),
}

/// Why the command is being stopped.
enum Ending {
    Lost,
    TimedOut(Duration),
}

pub fn execute(ctx: &Context, args: &RunArgs) -> Result<i32> {
    let lock = crate::cli::config::lock_settings(&args.lock);
    let program = match &args.shell {
        Some(script) => Program::Shell(script.clone()),
        None => Program::Argv(args.command.clone()),
    };
    let req = Request {
        resource: lock.resource.clone(),
        token: lock.token.clone().unwrap_or_else(new_token),
        ttl: lock.ttl,
        mode: lock.mode,
        meta: HolderMeta::new(std::process::id(), &command_line(&program)),
    };

    let (events, inbox) = mpsc::channel::<Event>();
    // One watch for the whole run: signal-hook leaves the four signals ignored once a watch
    // stops, so a second watch for the command phase could miss one. While waiting, a signal
    // interrupts the wait (130/143, no partial hold); once the command runs, the same signal
    // is an event for the loop, which forwards it.
    let wakeup = Arc::new(Wakeup::new());
    let (interrupt, signals) = (Arc::clone(&wakeup), events.clone());
    let _watch = SignalWatch::start(move |sig| {
        if signals::aborts_wait(sig) {
            interrupt.interrupt(sig);
        }
        let _ = signals.send(Event::Signal(sig));
    })
    .context("cannot install signal handlers")?;

    let lease = ctx.acquire_waiting(&req, &lock, &wakeup)?;
    if let Some(signal) = wakeup.interrupted() {
        // It came during the attempt that succeeded: the user asked to stop before the
        // command started. (A signal after this check is forwarded to the command.)
        ctx.locker.release(&lease.resource, &lease.token, Duration::ZERO);
        return Err(Failure::Interrupted {
            signal,
            message: format!(
                "interrupted by {} before the command started; lock '{}' was released",
                signals::name(signal),
                lease.resource
            ),
        }
        .into());
    }
    // Before the command's own output: the lock is held, on fewer instances than all.
    ctx.warn_if_degraded();
    let keep_until = args.min_hold.and_then(|d| Instant::now().checked_add(d));
    thread::scope(|scope| {
        let mut holding = Holding {
            ctx,
            lease,
            keep_until,
            heartbeat: None,
            released: false,
        };
        let outcome = hold(scope, &mut holding, args, &program, events, &inbox);
        holding.release(holding.keep());
        if outcome.is_ok() {
            // An instance refused may answer after the acquisition's quorum did: the release
            // round hears it, and a degraded quorum is never silent (docs/operator.md). Only
            // a change from what was said already is said.
            holding.ctx.warn_if_degraded();
        }
        outcome
    })
}

/// Run the command under the lock `holding` has; returns its exit code, or the failure. The
/// caller releases when this returns (after the command has exited, or been killed).
fn hold<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    holding: &mut Holding<'env, 'scope>,
    args: &RunArgs,
    program: &Program,
    events: Sender<Event>,
    inbox: &Receiver<Event>,
) -> Result<i32> {
    let ctx = holding.ctx;
    let lease = holding.lease.clone();
    // A re-entered run renews too: its holder may be a script's `acquire`, with nobody else
    // renewing, and its command must be stopped if the lease is lost. A renewal never
    // shortens the lease (extend.lua), so a shorter inner ttl cannot cut the outer's.
    {
        let tx = events.clone();
        let timing = Timing::new(lease.ttl, &ctx.settings);
        let heartbeat = Heartbeat::start(scope, &ctx.locker, lease.clone(), timing, move |beat| {
            let _ = tx.send(Event::Beat(beat));
        })
        .context("cannot start the heartbeat thread (the lock was released)")?;
        holding.heartbeat = Some(heartbeat);
    }

    let env = [
        ("REDLOCK_RESOURCE".to_string(), lease.resource.clone()),
        ("REDLOCK_TOKEN".to_string(), lease.token.clone()),
        ("REDLOCK_FENCE".to_string(), lease.fence.to_string()),
        ("REDLOCK_MODE".to_string(), lease.mode.name().to_string()),
        ("REDLOCK_LIMIT".to_string(), lease.mode.n().to_string()),
    ];
    // The main thread spawns (the parent-death signal follows the spawning thread); child.rs
    // explains the process group and terminal choices at its spawn site.
    let child = match Child::spawn(program, &env) {
        Ok(child) => child,
        Err(err) => {
            holding.release(Duration::ZERO);
            return Err(spawn_failure(&err, &lease.resource).into());
        }
    };
    let tx = events.clone();
    if let Err(err) = child.spawn_waiter(move |exit| {
        let _ = tx.send(Event::Exited(exit));
    }) {
        // Without a waiter the loop would never learn of the exit: end the command now.
        child.signal_group(Signal::SIGKILL);
        child.restore_terminal();
        return Err(err).context("cannot start a thread to wait for the command (it was killed)");
    }
    drop(events);

    let mut running = Running {
        ctx,
        resource: &lease.resource,
        timeout: args
            .timeout
            .and_then(|d| Some((d, Instant::now().checked_add(d)?))),
        ladder: Ladder::new(args.kill_after),
        kill_after: args.kill_after,
        keep_until: holding.keep_until,
        child,
        ending: None,
    };
    running.event_loop(inbox)
}

/// The command phase: the command, its ladder and timers, and why it is being stopped.
struct Running<'a> {
    ctx: &'a Context,
    resource: &'a str,
    child: Child,
    ladder: Ladder,
    kill_after: Duration,
    /// `--min-hold`: the release only shortens the lease to this.
    keep_until: Option<Instant>,
    /// `--timeout` and when it fires; `None` once it has fired.
    timeout: Option<(Duration, Instant)>,
    ending: Option<Ending>,
}

impl Running<'_> {
    fn event_loop(&mut self, inbox: &Receiver<Event>) -> Result<i32> {
        loop {
            let wait = self
                .next_timer()
                .map_or(IDLE, |at| at.saturating_duration_since(Instant::now()));
            match inbox.recv_timeout(wait) {
                Ok(Event::Exited(exit)) => return self.on_exit(exit),
                Ok(Event::Signal(sig)) => self.on_signal(sig),
                Ok(Event::Beat(beat)) => self.on_beat(beat),
                Err(RecvTimeoutError::Timeout) => self.on_timer(Instant::now()),
                Err(RecvTimeoutError::Disconnected) => {
                    self.child.signal_group(Signal::SIGKILL);
                    return Err(anyhow!(
                        "lost track of the command (its waiter thread ended); it was killed"
                    ));
                }
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let timeout = self.timeout.map(|(_, at)| at);
        match (timeout, self.ladder.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The command is gone: its code (its status, or 128 + N), or why it was stopped.
    fn on_exit(&mut self, exit: io::Result<Exit>) -> Result<i32> {
        let code = match exit {
            Ok(exit) => exit::status_code(exit),
            Err(err) => {
                self.child.signal_group(Signal::SIGKILL);
                self.child.restore_terminal();
                return Err(err).context("cannot wait for the command (it was killed)");
            }
        };
        self.debug(&format!("command exited: status {code}"));
        let resource = self.resource;
        match self.ending.take() {
            None => Ok(code),
            // The reason was printed when the loss was found; this line is the outcome.
            Some(Ending::Lost) => Err(Failure::LockLost(format!(
                "lock '{resource}' was lost while the command ran; the command was stopped (exit \
                 status {code}); check the servers with `redlock inspect -r {resource}` before running \
                 it again"
            ))
            .into()),
            Some(Ending::TimedOut(limit)) => Err(Failure::TimedOut(format!(
                "the command was still running after --timeout {}; it was stopped (exit status {code}) \
                 and lock '{resource}' {}; give it a longer --timeout if it needs more time",
                human(limit),
                released_or_kept(self.keep_until)
            ))
            .into()),
        }
    }

    /// HUP, INT, QUIT, TERM, USR1, USR2 and WINCH sent to `redlock` go to the command's group,
    /// once each; then we wait for it to exit as usual. (A Ctrl-C typed at a terminal, or a
    /// resize, goes to the command's group directly and never reaches `redlock`: see child.rs.)
    /// Any other signal was caught only so that it cannot end `redlock` while it holds the
    /// lock: the command runs on, and the lock is released when it exits.
    fn on_signal(&mut self, sig: i32) {
        let name = signals::name(sig);
        if let Some(forwarded) = signals::forwarded(sig) {
            self.debug(&format!("forwarding {name} to the command"));
            self.child.signal_group(forwarded);
        } else {
            self.debug(&format!("ignoring {name}: the command runs on under the lock"));
        }
    }

    fn on_beat(&mut self, beat: Beat) {
        match beat {
            Beat::Renewed {
                valid_until,
                renewed,
                restored,
                recovered,
            } => {
                self.debug(&format!(
                    "heartbeat: renewed on {renewed} instance(s), took back {restored}; valid for {}",
                    human(valid_until.saturating_duration_since(Instant::now()))
                ));
                if recovered {
                    self.ctx
                        .notice(&format!("lock '{}' renewed again", self.resource));
                }
                // An instance lost or back since the last warning: said once per change.
                self.ctx.warn_if_degraded();
            }
            Beat::Failing { error, give_up_at } => self.ctx.notice(&format!(
                "cannot renew lock '{}' ({}); retrying for {} before stopping the command",
                self.resource,
                messages::text(&error),
                human(give_up_at.saturating_duration_since(Instant::now()))
            )),
            Beat::Lost { reason } => {
                let reason = match reason {
                    Lost::NotOurs(e) => messages::text(&e),
                    Lost::NoRenewal(e) => format!(
                        "no renewal reached a quorum before its validity ran out ({})",
                        messages::text(&e)
                    ),
                };
                // Said at once, whatever the verbosity (lock loss is never silent), so it is in
                // the log next to what the command prints while it stops; the exit line gives
                // the outcome.
                eprintln!(
                    "redlock: lock '{}' lost: {reason}; stopping the command (SIGTERM now, SIGKILL after {})",
                    self.resource,
                    human(self.kill_after)
                );
                self.ending.get_or_insert(Ending::Lost);
                self.ladder.start(&self.child);
            }
        }
    }

    fn on_timer(&mut self, now: Instant) {
        if let Some((limit, at)) = self.timeout {
            if now >= at {
                self.timeout = None;
                self.debug(&format!(
                    "--timeout {} ran out: stopping the command",
                    human(limit)
                ));
                self.ending.get_or_insert(Ending::TimedOut(limit));
                self.ladder.start(&self.child);
            }
        }
        if self.ladder.escalate_if_due(&self.child, now) {
            self.ctx.notice(&format!(
                "the command is still running {} after SIGTERM: sent SIGKILL",
                human(self.kill_after)
            ));
        }
    }

    fn debug(&self, line: &str) {
        self.ctx.debug(line);
    }
}

/// What the release at the end does: `released`, or `kept by --min-hold until 03:00:41`.
fn released_or_kept(keep_until: Option<Instant>) -> String {
    let left = keep_until.map_or(Duration::ZERO, |until| {
        until.saturating_duration_since(Instant::now())
    });
    if left.is_zero() {
        return "released".into();
    }
    format!(
        "kept by --min-hold until {}",
        clock_time(SystemTime::now() + left)
    )
}

/// The 126 / 127 failure for a command that could not be started, with the next step.
fn spawn_failure(err: &SpawnError, resource: &str) -> Failure {
    let hint = match err {
        SpawnError::NotFound(_) => "check its name and PATH",
        SpawnError::NotExecutable(_) => "check that it is a program or a script with a #! line, and chmod +x",
        SpawnError::Other(_) => "check the command line and the system's limits",
    };
    Failure::Spawn {
        message: format!("{err}; {hint} (lock '{resource}' was released)"),
        code: exit::spawn_code(err),
    }
}

/// What the holder metadata shows as the command: argv joined by spaces, or the `-c` string.
fn command_line(program: &Program) -> String {
    match program {
        Program::Shell(script) => script.clone(),
        // Masked word by word, so that a value with spaces is masked whole.
        Program::Argv(argv) => crate::engine::secrets::mask_argv(
            &argv
                .iter()
                .map(OsString::as_os_str)
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        )
        .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_argv_joined_or_the_shell_string() {
        let argv = Program::Argv(vec!["./deploy.sh".into(), "--env".into(), "prod".into()]);
        assert_eq!(command_line(&argv), "./deploy.sh --env prod");
        assert_eq!(
            command_line(&Program::Shell("make && make install".into())),
            "make && make install"
        );
    }

    #[test]
    fn spawn_failures_keep_their_exit_codes_and_say_what_next() {
        let f = spawn_failure(&SpawnError::NotFound("foo".into()), "x");
        assert_eq!(f.code(), 127);
        assert_eq!(
            f.message(),
            "command not found: foo; check its name and PATH (lock 'x' was released)"
        );
        assert_eq!(
            spawn_failure(&SpawnError::NotExecutable("./a (is a directory)".into()), "x").code(),
            126
        );
    }
}
