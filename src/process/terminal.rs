//! Taking the terminal's foreground for the command's process group and giving it back to
//! `redlock`'s, as a job-control shell does. Why the command gets the terminal at all is
//! written down at the spawn site, in child.rs.
//!
//! The terminal is always stdin's. Every call here is a safe wrapper (std's or nix's); the one that runs
//! in the forked child ([`Handoff::claim_in_child`]) makes only async-signal-safe syscalls.

use std::io::{self, IsTerminal, Stdin};

use nix::sys::signal::{pthread_sigmask, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{self, Pid};

/// The controlling terminal on stdin, when `redlock` is its foreground process group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terminal {
    /// `redlock`'s own process group, which had the foreground at spawn.
    ours: Pid,
}

/// What the forked child needs to take the foreground: stdin's handle, made in the parent so
/// that the child neither allocates nor locks to get it.
#[derive(Debug)]
pub(crate) struct Handoff {
    stdin: Stdin,
}

impl Terminal {
    /// `Some` when stdin is a terminal and `redlock`'s group is its foreground group.
    pub(crate) fn foreground() -> Option<Terminal> {
        let stdin = io::stdin();
        let is_tty = stdin.is_terminal();
        // tcgetpgrp fails for a terminal that is not our controlling terminal.
        let foreground = unistd::tcgetpgrp(&stdin).ok();
        let ours = unistd::getpgrp();
        (is_tty && foreground == Some(ours)).then_some(Terminal { ours })
    }

    /// The handle for [`Handoff::claim_in_child`].
    pub(crate) fn handoff(&self) -> Handoff {
        Handoff { stdin: io::stdin() }
    }

    fn foreground_group(&self) -> Option<Pid> {
        unistd::tcgetpgrp(io::stdin()).ok()
    }

    /// Whether `redlock`'s group has the foreground (after `fg`, not after `bg`).
    pub(crate) fn ours_in_foreground(&self) -> bool {
        self.foreground_group() == Some(self.ours)
    }

    /// Give the foreground to the command's group again (after `fg`). Failure is not fatal: the
    /// command then runs as a background job.
    pub(crate) fn hand_over(&self, command: Pid) {
        let _ = tcsetpgrp_quietly(&io::stdin(), command, Mask::Thread);
    }

    /// Give the foreground back to `redlock`'s group, but only from the command's group: if the
    /// shell has taken it meanwhile (we were continued with `bg`), it is not ours to take.
    pub(crate) fn take_back(&self, command: Pid) {
        if self.foreground_group() == Some(command) {
            let _ = tcsetpgrp_quietly(&io::stdin(), self.ours, Mask::Thread);
        }
    }
}

impl Handoff {
    /// In the forked child, before exec: make the child's group (std has already run
    /// `setpgid(0, 0)`, so our pid is our group id) the terminal's foreground. Async-signal-safe:
    /// getpid, sigprocmask and tcsetpgrp only, no allocation. Failure is not fatal: the command
    /// then runs as a background job, as it would without a terminal.
    pub(crate) fn claim_in_child(&self) {
        let _ = tcsetpgrp_quietly(&self.stdin, unistd::getpid(), Mask::Process);
    }
}

/// Which call blocks SIGTTOU: `sigprocmask` is async-signal-safe (for the forked child, which
/// has one thread); `pthread_sigmask` is the one defined for a threaded process.
#[derive(Clone, Copy)]
enum Mask {
    Process,
    Thread,
}

/// tcsetpgrp with SIGTTOU blocked for the calling thread: a background process asking for the
/// foreground would otherwise be stopped by SIGTTOU (the kernel skips the signal when it is
/// blocked or ignored). Blocking, unlike ignoring, changes nothing for other threads. The old
/// mask is restored before returning.
fn tcsetpgrp_quietly(stdin: &Stdin, pgrp: Pid, mask: Mask) -> nix::Result<()> {
    let set_mask = match mask {
        Mask::Process => sigprocmask,
        Mask::Thread => pthread_sigmask,
    };
    let mut block = SigSet::empty();
    block.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    set_mask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut old))?;
    let result = unistd::tcsetpgrp(stdin, pgrp);
    let _ = set_mask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}
