//! The terminate ladder for a lost lease and `--timeout` (docs/run.md, "Lock loss"; GNU
//! timeout's `--kill-after`): SIGTERM to the command's group now, SIGKILL to the group
//! `kill_after` later if the command has not exited.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::process::child::Child;

/// The ladder's state. No sleeping here: the caller's event loop waits on its channel until
/// [`Ladder::deadline`] and then calls [`Ladder::escalate_if_due`].
#[derive(Debug, Clone)]
pub struct Ladder {
    kill_after: Duration,
    rung: Rung,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rung {
    Idle,
    Terminating { kill_at: Instant },
    Killed,
}

impl Ladder {
    pub fn new(kill_after: Duration) -> Ladder {
        Ladder {
            kill_after,
            rung: Rung::Idle,
        }
    }

    /// First rung: SIGTERM to the command's group, then SIGCONT so a stopped group receives
    /// it (timeout.c does the same). Returns when SIGKILL is due. Starting again (a timeout
    /// after a lost lease) sends nothing more and keeps the first deadline.
    pub fn start(&mut self, child: &Child) -> Instant {
        match self.rung {
            Rung::Terminating { kill_at } => kill_at,
            Rung::Killed => Instant::now(),
            Rung::Idle => {
                child.signal_group(Signal::SIGTERM);
                child.signal_group(Signal::SIGCONT);
                let now = Instant::now();
                // A kill_after too long for Instant means "practically never".
                let kill_at = now
                    .checked_add(self.kill_after)
                    .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
                    .unwrap_or(now);
                self.rung = Rung::Terminating { kill_at };
                kill_at
            }
        }
    }

    /// When [`Ladder::escalate`] is due: `Some` only between `start` and the SIGKILL.
    pub fn deadline(&self) -> Option<Instant> {
        match self.rung {
            Rung::Terminating { kill_at } => Some(kill_at),
            Rung::Idle | Rung::Killed => None,
        }
    }

    /// Second rung: SIGKILL to the command's group (a no-op once the command is reaped).
    pub fn escalate(&mut self, child: &Child) {
        child.signal_group(Signal::SIGKILL);
        self.rung = Rung::Killed;
    }

    /// [`Ladder::escalate`] if the deadline has passed at `now`; true if it did.
    pub fn escalate_if_due(&mut self, child: &Child, now: Instant) -> bool {
        match self.rung {
            Rung::Terminating { kill_at } if now >= kill_at => {
                self.escalate(child);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::child::Exit;
    use crate::process::testing::{argv, shell, wait_until, watch, BOUND};
    use std::sync::mpsc;

    #[test]
    fn ladder_escalates_to_sigkill_when_sigterm_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready = dir.path().join("ready");
        let script = format!("trap '' TERM; : > '{}'; sleep 100", ready.display());
        let child = Child::spawn(&shell(&script), &[]).expect("spawn");
        let rx = watch(&child);
        wait_until("the trap is set", || ready.exists());

        let kill_after = Duration::from_millis(300);
        let mut ladder = Ladder::new(kill_after);
        assert_eq!(ladder.deadline(), None);
        let started = Instant::now();
        let kill_at = ladder.start(&child);
        assert!(kill_at >= started + kill_after);
        assert_eq!(ladder.start(&child), kill_at, "a second start keeps the deadline");

        // The event loop: wait for an exit until the deadline, then escalate.
        let mut exit = None;
        while exit.is_none() {
            let wait = ladder
                .deadline()
                .map_or(BOUND, |at| at.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(result) => exit = Some(result.expect("wait")),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    assert!(
                        ladder.escalate_if_due(&child, Instant::now()),
                        "nothing ended the wait but the deadline"
                    );
                }
                Err(err) => panic!("waiter gone: {err}"),
            }
            assert!(started.elapsed() < BOUND, "ladder did not finish");
        }
        assert_eq!(
            exit,
            Some(Exit::Signal(libc::SIGKILL)),
            "SIGTERM was ignored, SIGKILL was not"
        );
        assert!(started.elapsed() >= kill_after);
        assert_eq!(ladder.deadline(), None);
    }

    #[test]
    fn ladder_stops_at_sigterm_when_the_command_obeys() {
        let mut child = Child::spawn(&argv(&["sleep", "100"]), &[]).expect("spawn");
        let mut ladder = Ladder::new(BOUND);
        ladder.start(&child);
        assert_eq!(child.wait().expect("wait"), Exit::Signal(libc::SIGTERM));
        assert!(!ladder.escalate_if_due(&child, Instant::now()));
    }
}
