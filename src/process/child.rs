//! The command `redlock run` protects: spawn it (inherited stdio, `REDLOCK_*` variables, its
//! own process group, the terminal), signal its whole group, and reap it, reporting how it
//! ended as an [`Exit`] (docs/run.md, "Step by step" 2 and 4, "Exit status", "Signals and the
//! terminal"). Taking and giving back the
//! terminal is terminal.rs's job, the stop ladder ladder.rs's, and the exit codes these facts
//! become are cli/exit.rs's.
//!
//! Threads: [`Child::spawn`] runs on the main thread; a [`Waiter`] (from [`Child::waiter`] or
//! [`Child::spawn_waiter`]) blocks on another thread until the command exits; meanwhile the main
//! thread may call [`Child::signal_group`] and drive ladder.rs's `Ladder` (which builds on this
//! file; this one does not refer to it).
//! The waiter first *observes* the exit without reaping (`waitid(WNOWAIT)`), then reaps under
//! the same lock that `signal_group` takes. So while `signal_group` holds the lock the command
//! is at worst an unreaped zombie, whose pid — and with it the process group id — the kernel
//! cannot hand to another process; once it is reaped, `signal_group` does nothing. No signal
//! can hit a stranger that inherited a recycled pid.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{self, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{self, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{self, Pid};

use crate::process::terminal::{Handoff, Terminal};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// argv as given, no shell: `argv[0]` is looked up in `PATH` unless it contains a `/`.
    Argv(Vec<OsString>),
    /// A shell string, run as `sh -c STRING` (`redlock run -c`).
    Shell(String),
}

/// How the command ended, as the waiter saw it. `redlock run` turns it into its own exit code
/// (cli/exit.rs: the status itself, or 128 + N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// Signal N killed it (with or without a core dump).
    Signal(i32),
}

impl Exit {
    /// The final status in `status`; `None` for a stop or continue report, which is not one.
    pub fn from_status(status: ExitStatus) -> Option<Exit> {
        match (status.code(), status.signal()) {
            (Some(code), _) => Some(Exit::Code(code)),
            (None, Some(signal)) => Some(Exit::Signal(signal)),
            (None, None) => None,
        }
    }
}

/// Why the command could not be started (docs/run.md, "Exit status": 126 / 127). The string is what
/// follows the colon in the message: the program, and for a program that cannot be executed
/// the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The program does not exist (ENOENT). `"foo"` → `command not found: foo`.
    NotFound(String),
    /// The program exists but cannot be executed (EACCES, a directory, a bad format, …).
    /// `"./x (permission denied: not marked executable)"`.
    NotExecutable(String),
    /// Anything else that kept it from starting (fork failed, a NUL byte in an argument). GNU
    /// timeout reports every exec failure other than ENOENT alike, and so does `run`.
    Other(String),
}

impl SpawnError {
    fn from_io(name: &str, err: &io::Error) -> SpawnError {
        let path = Path::new(name);
        // Only a name with a slash is a path; a bare name was searched for in PATH.
        let as_path = name.contains('/');
        let reason = match err.raw_os_error() {
            // execve also says ENOENT for a script whose `#!` interpreter is missing.
            Some(libc::ENOENT) if as_path && path.exists() => {
                return SpawnError::NotFound(format!("{name} (its #! interpreter does not exist)"));
            }
            Some(libc::ENOENT) => return SpawnError::NotFound(name.to_owned()),
            Some(libc::EACCES) if as_path && path.is_dir() => "is a directory",
            Some(libc::EACCES) if as_path && lacks_execute_bits(path) => {
                "permission denied: not marked executable"
            }
            Some(libc::EACCES) => "permission denied",
            Some(libc::EPERM) => "operation not permitted",
            Some(libc::ENOEXEC) => "not a program or script this system can run",
            Some(libc::ETXTBSY) => "the file is open for writing",
            Some(libc::ELOOP) => "too many levels of symbolic links",
            Some(libc::ENAMETOOLONG) => "name too long",
            Some(libc::ENOTDIR) => "a component of the path is not a directory",
            Some(libc::E2BIG) => "argument list too long",
            _ => return SpawnError::Other(format!("{name} ({err})")),
        };
        SpawnError::NotExecutable(format!("{name} ({reason})"))
    }
}

fn lacks_execute_bits(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 == 0)
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NotFound(what) => write!(f, "command not found: {what}"),
            SpawnError::NotExecutable(what) => write!(f, "command not executable: {what}"),
            SpawnError::Other(what) => write!(f, "cannot start command: {what}"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// The running command. Its pid is also its process group id.
#[derive(Debug)]
pub struct Child {
    shared: Arc<Shared>,
}

/// Waits for the command from any thread: see the module comment.
#[derive(Debug)]
pub struct Waiter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The command's pid, which is also its process group id (`process_group(0)`).
    pid: Pid,
    /// Set when the command got the terminal's foreground at spawn.
    terminal: Option<Terminal>,
    /// The command until it is reaped, then how it ended. The lock orders reaping against
    /// `signal_group` (module comment).
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    /// Not reaped yet: std's handle, which reaps it (`waitpid`, retried on EINTR).
    Running(process::Child),
    Reaped(Exit),
}

impl Child {
    /// Spawn `program` with stdin, stdout and stderr inherited and `env` added to redlock's own
    /// environment, as the leader of a new process group.
    ///
    /// **Call this from the main thread.** On Linux the command gets `PR_SET_PDEATHSIG(SIGKILL)`
    /// so that it dies with a SIGKILLed `redlock` (timeout.c does the same); the kernel fires it
    /// when the *thread* that spawned the command exits, not the process, so spawning from a
    /// short-lived thread would kill the command as soon as that thread ends. The death signal
    /// reaches the command itself, not processes it started (they keep running until the lease
    /// they were protected by expires), and is cleared if it execs a set-uid program.
    pub fn spawn(program: &Program, env: &[(String, String)]) -> Result<Child, SpawnError> {
        let (mut command, name) = match program {
            Program::Argv(argv) => {
                let Some((first, rest)) = argv.split_first() else {
                    return Err(SpawnError::Other("empty command line".to_owned()));
                };
                let mut command = Command::new(first);
                command.args(rest);
                (command, first.to_string_lossy().into_owned())
            }
            Program::Shell(script) => {
                let mut command = Command::new("sh");
                command.arg("-c").arg(script);
                (command, "sh".to_owned())
            }
        };
        command
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());

        // Process group and terminal — the trade-off.
        //
        // The command leads its own process group (nextest: `process_group(0)`, then `killpg`
        // on timeout), so a lost lease or `--timeout` can stop everything it started, not just
        // the `sh -c` shell in front of it (watchexec's note on signalling only the shell).
        // A group of its own is, to the terminal, a background job: Ctrl-C would reach only
        // `redlock` (which forwards it: once), but an interactive command reading the terminal
        // would be stopped by SIGTTIN. GNU timeout.c avoids "worry[ing] about foreground and
        // background groups" by moving *itself* into the new group, and offers `--foreground`
        // ("allow COMMAND to read from the TTY and get TTY signals; in this mode, children of
        // COMMAND will not be timed out") for the interactive case. We do what a job-control
        // shell does instead: when stdin is a terminal and `redlock` is in its foreground, the
        // command's group becomes the foreground (tcsetpgrp, done in the child before exec so
        // it can read at once). Then Ctrl-C, Ctrl-\ and terminal hangup go to the command's
        // group directly — exactly once, since `redlock`, outside that group, gets nothing to
        // forward — the command can read the terminal, and the group can still be killed.
        // Ctrl-Z stops the command; the waiter then hands the terminal back and stops `redlock`
        // too, so the shell regains control, and on `fg`/`bg` continues the command (see
        // `Shared::follow_stop`). The cost: a process sharing `redlock`'s group, such as a pager
        // in `redlock run -- cmd | less`, is in the background while the command runs and stops
        // if it touches the terminal. Without a terminal (cron, CI, pipes into stdin) none of
        // this applies: the command is a plain background group and signals are forwarded.
        command.process_group(0);
        let terminal = Terminal::foreground();
        let handoff = terminal.as_ref().map(Terminal::handoff);
        let parent = unistd::getpid();
        let realtime = crate::process::signals::realtime();
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: `in_child_before_exec` makes raw syscalls through
        // nix's thin wrappers (signal, prctl, getppid, getpid, sigprocmask, tcsetpgrp on fd 0, which
        // the `Stdin` handle lends without taking its lock) and neither allocates nor locks;
        // its errors are bare OS error codes, which need no allocation.
        unsafe {
            command.pre_exec(move || in_child_before_exec(parent, handoff.as_ref(), realtime.clone()));
        }

        let spawned = command.spawn().map_err(|err| SpawnError::from_io(&name, &err))?;
        // From here on the pid is ours to wait for: std's `Child` (which holds no pipes, stdio
        // being inherited) is kept for the `Waiter` to reap under the lock.
        let pid = i32::try_from(spawned.id())
            .map(Pid::from_raw)
            .map_err(|_| SpawnError::Other(format!("{name} (pid out of range)")))?;
        Ok(Child {
            shared: Arc::new(Shared {
                pid,
                terminal,
                state: Mutex::new(State::Running(spawned)),
            }),
        })
    }

    /// The command's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.shared.pid.as_raw().unsigned_abs()
    }

    /// Send `sig` to the command's whole process group (killpg). Does nothing once the command
    /// has been reaped, and ignores a group that has already gone (ESRCH).
    pub fn signal_group(&self, sig: Signal) {
        self.shared.signal_group(sig);
    }

    /// A handle that waits for the command from another thread; see [`Waiter::wait`].
    pub fn waiter(&self) -> Waiter {
        Waiter {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Wait on a new thread (`redlock-waiter`) and call `on_exit` with [`Waiter::wait`]'s result,
    /// e.g. `child.spawn_waiter(move |exit| { let _ = tx.send(Event::Exited(exit)); })`.
    pub fn spawn_waiter<F>(&self, on_exit: F) -> io::Result<JoinHandle<()>>
    where
        F: FnOnce(io::Result<Exit>) + Send + 'static,
    {
        let waiter = self.waiter();
        thread::Builder::new()
            .name("redlock-waiter".into())
            .spawn(move || on_exit(waiter.wait()))
    }

    /// Block until the command exits; [`Waiter::wait`] on the calling thread.
    pub fn wait(&mut self) -> io::Result<Exit> {
        self.waiter().wait()
    }

    /// `Some(exit)` once the command has been reaped.
    pub fn exit(&self) -> Option<Exit> {
        match *self.shared.lock() {
            State::Reaped(exit) => Some(exit),
            State::Running(_) => None,
        }
    }

    /// Give the terminal's foreground back to `redlock`'s group, if the command's group still
    /// has it. The waiter does this itself as soon as the command is reaped; call it on any
    /// path that leaves without waiting. Harmless to repeat, and a no-op without a terminal.
    pub fn restore_terminal(&self) {
        self.shared.restore_terminal();
    }
}

impl Waiter {
    /// Block until the command exits, reap it, give the terminal back, and say how it ended.
    ///
    /// Only one thread should wait; a second waiter returns the same exit once the first has
    /// reaped. Errors are the OS's (e.g. ECHILD if something else reaped the pid).
    pub fn wait(self) -> io::Result<Exit> {
        let shared = &self.shared;
        let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        if shared.terminal.is_some() {
            // Job control: hear about Ctrl-Z so the terminal does not stay with a stopped group.
            flags |= WaitPidFlag::WSTOPPED;
        }
        loop {
            match waitid(shared.pid, flags) {
                Ok(WaitStatus::Stopped(_, stop_signal)) => {
                    // WNOWAIT left the stop report in place; consume it (WSTOPPED only: this can
                    // never reap) so the next waitid does not see it again.
                    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG;
                    if waitid(shared.pid, flags)? != WaitStatus::StillAlive {
                        shared.follow_stop(stop_signal);
                    }
                }
                Ok(WaitStatus::StillAlive) => {}
                // nix names only the classic signals (its `Signal` has no SIGRTMIN+n), so a
                // death by a real-time signal comes back as EINVAL, which waitid itself never
                // returns for these flags. Either way the command has exited, and the reap
                // reads its status exactly.
                Ok(_) | Err(Errno::EINVAL) => return shared.reap(),
                Err(err) => return Err(err.into()),
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The guarded value is replaced by a single assignment; a panic elsewhere cannot leave
        // it half-done, so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn signal_group(&self, sig: Signal) {
        let state = self.lock();
        if let State::Running(_) = *state {
            // The group id is our unreaped child's pid (held under the lock that reaping takes),
            // so it names the command's group. Errors are ignored: ESRCH means the group is
            // empty already.
            let _ = signal::killpg(self.pid, sig);
        }
    }

    /// Reap the command, which `waitid(WNOWAIT)` has seen exit, and record how it ended.
    fn reap(&self) -> io::Result<Exit> {
        let mut state = self.lock();
        let exit = match &mut *state {
            State::Reaped(exit) => return Ok(*exit),
            State::Running(child) => {
                // The child is already a zombie, so this returns at once.
                let status = child.wait()?;
                Exit::from_status(status)
                    .ok_or_else(|| io::Error::other(format!("not a final status: {status}")))?
            }
        };
        *state = State::Reaped(exit);
        drop(state);
        self.restore_terminal();
        Ok(exit)
    }

    fn restore_terminal(&self) {
        if let Some(terminal) = self.terminal {
            terminal.take_back(self.pid);
        }
    }

    /// The command was stopped (Ctrl-Z reaches only its group). Do what its shell would see
    /// from a job: take the terminal back, stop `redlock` with the same signal (nextest stops
    /// itself with `raise` too), and when continued hand the terminal over again if we were
    /// put in the foreground (`fg`; not after `bg`) and continue the command's group. While
    /// `redlock` is stopped its heartbeat is too, so a long stop ends in a lost lease.
    fn follow_stop(&self, stop_signal: Signal) {
        let Some(terminal) = self.terminal else {
            return;
        };
        terminal.take_back(self.pid);
        // A stop signal's default action stops the whole process, and this thread stays
        // stopped until SIGCONT before raise returns. (The kernel discards SIGTSTP for an
        // orphaned process group: then we just go on.)
        let _ = signal::raise(stop_signal);
        if terminal.ours_in_foreground() {
            terminal.hand_over(self.pid);
        }
        self.signal_group(Signal::SIGCONT);
    }
}

/// Runs in the forked child, before exec: async-signal-safe calls only, no allocation.
fn in_child_before_exec(
    parent: Pid,
    terminal: Option<&Handoff>,
    realtime: std::ops::RangeInclusive<i32>,
) -> io::Result<()> {
    crate::process::signals::restore_realtime_in_child(realtime);
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        // If redlock died between fork and prctl, the death signal will never come: give up.
        if unistd::getppid() != parent {
            return Err(Errno::ESRCH.into());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    if let Some(handoff) = terminal {
        handoff.claim_in_child();
    }
    Ok(())
}

/// One `waitid` on `pid`, retried on EINTR.
fn waitid(pid: Pid, flags: WaitPidFlag) -> nix::Result<WaitStatus> {
    loop {
        match wait::waitid(Id::Pid(pid), flags) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}
