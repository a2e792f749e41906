//! Taking the terminal's foreground for the command's process group and giving it back to
//! `redlock`'s, as a job-control shell does. Why the command gets the terminal at all is
//! written down at the spawn site, in child.rs.

use std::io;

/// tcsetpgrp with SIGTTOU blocked for the calling thread: a background process asking for the
/// foreground would otherwise be stopped by SIGTTOU (the kernel skips the signal when it is
/// blocked or ignored). Blocking, unlike ignoring, changes nothing for other threads.
///
/// # Safety
/// `in_forked_child` selects sigprocmask, which is async-signal-safe; the caller must pass
/// `true` when running between fork and exec.
pub(crate) unsafe fn tcsetpgrp_quietly(
    fd: libc::c_int,
    pgrp: libc::pid_t,
    in_forked_child: bool,
) -> io::Result<()> {
    // SAFETY: the sigset_t values are plain data initialised by sigemptyset before use; the
    // mask calls read and write only those values; tcsetpgrp reads its two integers. The old
    // mask is restored before returning.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        if in_forked_child {
            libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        } else {
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        }
        let rc = libc::tcsetpgrp(fd, pgrp);
        let result = if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        };
        if in_forked_child {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        } else {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        result
    }
}

pub(crate) fn set_foreground(fd: libc::c_int, pgrp: libc::pid_t) -> io::Result<()> {
    // SAFETY: not in a forked child, so pthread_sigmask is fine (see tcsetpgrp_quietly).
    unsafe { tcsetpgrp_quietly(fd, pgrp, false) }
}

/// The controlling terminal on stdin, when `redlock` is its foreground process group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terminal {
    pub(crate) fd: libc::c_int,
    /// `redlock`'s own process group, which had the foreground at spawn.
    ours: libc::pid_t,
}

impl Terminal {
    pub(crate) fn foreground() -> Option<Terminal> {
        let fd = libc::STDIN_FILENO;
        // SAFETY: isatty, tcgetpgrp and getpgrp only read kernel state about an fd or us.
        let (is_tty, foreground, ours) =
            unsafe { (libc::isatty(fd) == 1, libc::tcgetpgrp(fd), libc::getpgrp()) };
        // tcgetpgrp fails (-1) for a terminal that is not our controlling terminal.
        (is_tty && foreground > 0 && foreground == ours).then_some(Terminal { fd, ours })
    }

    fn foreground_group(&self) -> libc::pid_t {
        // SAFETY: tcgetpgrp only reads kernel state; -1 on error.
        unsafe { libc::tcgetpgrp(self.fd) }
    }

    pub(crate) fn ours_in_foreground(&self) -> bool {
        self.foreground_group() == self.ours
    }

    /// Give the foreground back to `redlock`'s group, but only from the command's group: if the
    /// shell has taken it meanwhile (we were continued with `bg`), it is not ours to take.
    pub(crate) fn take_back(&self, command: libc::pid_t) {
        if self.foreground_group() == command {
            let _ = set_foreground(self.fd, self.ours);
        }
    }
}
