//! The owner of a kept hold (docs/keeper.md, "The owner"): which process it
//! is, told apart from a later process with the same pid, and watching it until it exits.
//!
//! The owner is the process that ran `redlock acquire` — the calling script — looking through
//! wrappers that only wait for redlock (`timeout 20 redlock acquire …`, `sudo redlock acquire
//! …`): those exit as soon as acquire returns, and taking one for the owner would end the hold
//! at once while the script believes it holds the lock. A pid alone could name a later process
//! once the owner is gone, so an owner is its pid and its start time (/proc/PID/stat, field 22).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Programs that run redlock for someone else and end when it does (docs/keeper.md, "The
/// owner", lists them).
const WRAPPERS: [&str; 6] = ["timeout", "sudo", "doas", "su", "runuser", "time"];

/// How often a kernel without pidfd_open (Linux < 5.3) is asked whether the owner still lives:
/// the hold ends within about this of the owner's exit.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// A process, as of when it was found: a later process reusing the pid is not it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Clock ticks after boot at which it started (/proc/PID/stat field 22).
    pub start: u64,
}

impl Owner {
    /// Process `pid` as it is now; `None` when there is no such process.
    pub fn of(pid: u32) -> Option<Owner> {
        Some(Owner {
            pid,
            start: start_time(pid)?,
        })
    }

    /// The process that ran us, looking through `WRAPPERS` to the process that ran them.
    pub fn of_caller() -> Option<Owner> {
        let mut pid = std::os::unix::process::parent_id();
        // A chain of wrappers (`sudo timeout 20 redlock …`, sudo's own monitor process) is
        // short; the bound only guards against a loop in a /proc we cannot trust.
        for _ in 0..8 {
            if pid <= 1 || !is_wrapper(pid) {
                break;
            }
            match parent_of(pid) {
                Some(parent) => pid = parent,
                None => break,
            }
        }
        Owner::of(pid)
    }

    /// Whether it still runs (not exited, not a zombie, its pid not reused).
    pub fn alive(&self) -> bool {
        state(self.pid).is_some_and(|(state, start)| state != 'Z' && state != 'X' && start == self.start)
    }

    /// Send it `sig`, unless it is gone (so a reused pid is never signalled) or init.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> bool {
        if self.pid <= 1 || !self.alive() {
            return false;
        }
        let Ok(pid) = i32::try_from(self.pid) else {
            return false;
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok()
    }
}

/// The command line of process `pid` (arguments joined by spaces), if it can be read.
pub fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<_> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn is_wrapper(pid: u32) -> bool {
    let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
        return false;
    };
    WRAPPERS.contains(&comm.trim_end())
}

/// Process state letter, parent pid and start time, from /proc/PID/stat. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn stat(pid: u32) -> Option<(char, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, ppid 4, starttime 22 (proc(5)); here 0, 1 and 19.
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, start))
}

fn state(pid: u32) -> Option<(char, u64)> {
    stat(pid).map(|(state, _, start)| (state, start))
}

fn parent_of(pid: u32) -> Option<u32> {
    stat(pid).map(|(_, ppid, _)| ppid)
}

fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, _, start)| start)
}

/// Waiting for an owner to exit: a pidfd where the kernel has pidfd_open (it becomes readable
/// when the process exits, zombie or not), else asking every `POLL_EVERY`.
pub struct OwnerWatch {
    owner: Owner,
    pidfd: Option<OwnedFd>,
}

impl OwnerWatch {
    /// Start watching `owner`. A pidfd is opened and the start time checked again after, so the
    /// fd cannot name a process that took the pid in between.
    pub fn new(owner: Owner) -> OwnerWatch {
        let pidfd = pidfd_open(owner.pid).filter(|_| owner.alive());
        OwnerWatch { owner, pidfd }
    }

    /// Block until the owner has exited. Meant for a thread of its own.
    pub fn wait(&self) {
        if let Some(fd) = &self.pidfd {
            loop {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: `pfd` is one valid pollfd that lives across the call, and the count
                // passed is 1; poll(2) writes only its `revents`.
                let n = unsafe { libc::poll(&mut pfd, 1, -1) };
                if n > 0 {
                    return;
                }
                if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
        }
        while self.owner.alive() {
            std::thread::sleep(POLL_EVERY);
        }
    }
}

/// pidfd_open(2) (Linux 5.3); `None` where the kernel or libc lacks it or the pid is gone.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags (0) and returns a new fd or -1; no memory is
    // passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just returned this fd to us, open and owned by no one else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn we_are_alive_and_have_a_command_line() {
        let me = Owner::of(std::process::id()).expect("our own /proc entry");
        assert!(me.alive());
        assert!(command_line(me.pid).is_some());
        let reused = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(!reused.alive(), "another start time is another process");
    }

    /// A child that exits after 0.2 s, watched by the watch `make` builds; the watch must
    /// return once it has exited. It is not reaped while watched: it stays a zombie, which has
    /// exited all the same.
    fn watch_returns_when_a_child_exits(make: impl FnOnce(Owner) -> OwnerWatch) {
        let mut child = Command::new("sleep").arg("0.2").spawn().expect("sleep");
        let owner = Owner::of(child.id()).expect("the child");
        let watch = make(owner);
        let started = Instant::now();
        watch.wait();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!owner.alive());
        let _ = child.wait();
    }

    #[test]
    fn the_watch_returns_once_the_owner_exits() {
        // (On a kernel without pidfd_open this is the polling test below again.)
        watch_returns_when_a_child_exits(OwnerWatch::new);
    }

    #[test]
    fn without_a_pidfd_the_watch_polls_and_sees_a_zombie_as_gone() {
        // As on a kernel without pidfd_open.
        watch_returns_when_a_child_exits(|owner| OwnerWatch { owner, pidfd: None });
    }

    #[test]
    fn a_wrapper_is_known_by_its_name() {
        let mut child = Command::new("timeout")
            .args(["5", "sleep", "5"])
            .spawn()
            .expect("timeout");
        let pid = child.id();
        let found = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            is_wrapper(pid)
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(found);
        assert!(!is_wrapper(std::process::id()));
    }
}
