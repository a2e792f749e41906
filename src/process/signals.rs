//! Which signal arrived, as an event: every signal that would end `redlock` becomes a call on
//! a background thread. No policy lives here; `run` decides what a signal means (docs/run.md,
//! "Signals and the terminal": no catchable signal ends redlock while it holds the lock).
//!
//! The handlers come from `signal_hook::iterator::Signals`: the real handler only writes a byte
//! to a self-pipe, and an ordinary thread reads the pipe and calls back, so the callback may do
//! anything (send on a channel, take a lock) without async-signal-safety worries. (This is why
//! signal-hook and not the `ctrlc` crate: its one handler cannot tell which signal arrived, and
//! forwarding needs that.)

use std::io;
use std::thread::{self, JoinHandle};

use nix::sys::signal::Signal;
use signal_hook::iterator::{Handle, Signals};

/// What a service manager, a terminal or a person sends: handed to the command once.
/// SIGTSTP/SIGTTIN/SIGTTOU are left alone: job control stays the terminal's business.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Every other catchable signal whose default action would end `redlock` while it holds the
/// lock: caught, so that the lock is always released. They mean nothing to the command.
/// Not here: SIGKILL and SIGSTOP (cannot be caught); SIGSEGV, SIGBUS, SIGILL and SIGFPE (a
/// fault in redlock itself: a handler that returns would re-run the faulting instruction);
/// SIGPIPE, which Rust programs ignore from the start (a closed pipe gives EPIPE instead), and
/// an ignored signal ends nothing. Real-time signals are added by [`caught`].
const ALSO_CAUGHT: [i32; 11] = [
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSTKFLT,
    libc::SIGSYS,
    libc::SIGTRAP,
    libc::SIGABRT,
];

/// Whether `sig` is one the command is sent when it reaches `redlock` (see [`FORWARDED`]).
pub fn is_forwarded(sig: i32) -> bool {
    forwarded(sig).is_some()
}

/// `sig` as the signal to send the command, when it is one of [`FORWARDED`].
pub fn forwarded(sig: i32) -> Option<Signal> {
    FORWARDED.into_iter().find(|forwarded| *forwarded as i32 == sig)
}

/// Whether `sig`, arriving while `redlock` waits for the lock, ends the wait. A terminal's
/// resize (SIGWINCH) does not.
pub fn aborts_wait(sig: i32) -> bool {
    sig != libc::SIGWINCH
}

/// Every signal a watch catches: [`FORWARDED`] and [`ALSO_CAUGHT`].
fn caught() -> Vec<i32> {
    FORWARDED
        .iter()
        .map(|sig| *sig as i32)
        .chain(ALSO_CAUGHT)
        .filter(|sig| !signal_hook::consts::FORBIDDEN.contains(sig))
        .collect()
}

/// The real-time signals, whose default action also ends a process. They are ignored while a
/// watch lives rather than caught: signal-hook's registry costs time quadratic in the number
/// of signals it holds, and catching these 31 too tripled the CPU a `redlock run` spends
/// before its command starts (callgrind: 56% of all instructions). Nobody sends them to a
/// process that did not ask for them; ignored, they cannot end `redlock` while it holds the
/// lock, but they do not end a wait either. The command gets them back at their default
/// ([`restore_realtime_in_child`]).
pub fn realtime() -> std::ops::RangeInclusive<i32> {
    libc::SIGRTMIN()..=libc::SIGRTMAX()
}

fn ignore_realtime() {
    for sig in realtime() {
        // SAFETY: signal(2) only sets the disposition of `sig` to SIG_IGN, which runs no code
        // of ours; no handler is involved, so nothing here needs to be async-signal-safe.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

/// In the forked child before exec: an ignored signal stays ignored across exec, so give the
/// real-time signals back their default. `signals` is [`realtime`], computed before the fork.
/// Async-signal-safe: signal(2) only.
pub fn restore_realtime_in_child(signals: std::ops::RangeInclusive<i32>) {
    for sig in signals {
        // SAFETY: signal(2) with SIG_DFL is async-signal-safe and sets only the disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// `SIGINT`, `SIGUSR1`, `SIGRTMIN+3`: a signal's name as people write it.
pub fn name(sig: i32) -> String {
    let known = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGSYS, "SIGSYS"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGPIPE, "SIGPIPE"),
    ];
    if let Some((_, n)) = known.iter().find(|(s, _)| *s == sig) {
        return (*n).to_string();
    }
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - libc::SIGRTMIN());
    }
    format!("signal {sig}")
}

/// A running watch over every signal that would end `redlock` ([`FORWARDED`] and the others).
/// While it lives, those signals no longer terminate `redlock`; each arrival becomes one call
/// of the callback given to [`SignalWatch::start`].
#[derive(Debug)]
pub struct SignalWatch {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalWatch {
    /// Install handlers for every caught signal (replacing the default action, termination) and call
    /// `on_signal(signo)` for each arrival, from a background thread named `redlock-signals`.
    /// The caller maps the number into its own event type, e.g.
    /// `SignalWatch::start(move |sig| { let _ = tx.send(Event::Signal(sig)); })`.
    ///
    /// The handlers are in place when this returns, so a signal raised afterwards is seen.
    /// Arrivals of the same signal that come faster than the thread reads them are merged into
    /// one call (POSIX signals are not queued either). Children spawned later do not inherit
    /// the handlers: `exec` resets caught signals to their default action.
    pub fn start<F>(on_signal: F) -> io::Result<SignalWatch>
    where
        F: Fn(i32) + Send + 'static,
    {
        let mut signals = Signals::new(caught())?;
        ignore_realtime();
        let handle = signals.handle();
        let spawned = thread::Builder::new()
            .name("redlock-signals".into())
            .spawn(move || {
                // `forever` ends once `Handle::close` is called (SignalWatch::stop or drop).
                for signo in signals.forever() {
                    on_signal(signo);
                }
            });
        match spawned {
            Ok(thread) => Ok(SignalWatch {
                handle,
                thread: Some(thread),
            }),
            Err(err) => {
                handle.close();
                Err(err)
            }
        }
    }

    /// Stop delivering and join the thread. Dropping the watch does the same.
    ///
    /// Note: signal-hook does not restore the default action when its handlers are removed,
    /// so after `stop` the caught signals are *ignored* until the process exits. Keep one watch
    /// for the whole life of a command and stop it on the way out (or start a new one).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            // A panicking callback already reported itself; nothing more to do with it here.
            let _ = thread.join();
        }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::raise;
    use std::sync::mpsc;
    use std::time::Duration;

    const BOUND: Duration = Duration::from_secs(5);

    #[test]
    fn each_forwarded_signal_arrives_as_one_event() {
        let (tx, rx) = mpsc::channel();
        let watch = SignalWatch::start(move |sig| {
            let _ = tx.send(sig);
        })
        .expect("install signal handlers");
        for sig in FORWARDED {
            // The handler installed above (signal-hook's self-pipe writer) replaces the default
            // action, so raising it does not terminate the test process.
            raise(sig).unwrap_or_else(|err| panic!("raise({sig}): {err}"));
            let got = rx
                .recv_timeout(BOUND)
                .unwrap_or_else(|err| panic!("signal {sig} not delivered within {BOUND:?}: {err}"));
            assert_eq!(got, sig as i32);
        }
        watch.stop();
        // The callback (and with it the sender) is gone once the thread has been joined.
        assert!(matches!(
            rx.recv_timeout(BOUND),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn every_signal_that_would_end_redlock_is_caught() {
        let caught = caught();
        for sig in [libc::SIGUSR1, libc::SIGALRM, libc::SIGWINCH] {
            assert!(caught.contains(&sig), "{}", name(sig));
        }
        assert!(realtime().contains(&libc::SIGRTMIN()) && realtime().contains(&libc::SIGRTMAX()));
        assert!(!caught.contains(&libc::SIGSEGV));
        assert_eq!(name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        assert!(is_forwarded(libc::SIGUSR2) && !is_forwarded(libc::SIGALRM));
        assert_eq!(forwarded(libc::SIGHUP), Some(Signal::SIGHUP));
        assert_eq!(forwarded(libc::SIGRTMIN()), None);
        assert!(aborts_wait(libc::SIGALRM) && !aborts_wait(libc::SIGWINCH));
    }
}
