//! Starting the keeper of a kept hold, detached from whoever ran `redlock acquire`, and the
//! keeper's side of that handshake (docs/keeper.md, "Detached, and never in the way of a pipe").
//!
//! Why re-exec and not fork: `acquire` has threads by then (the wire's I/O thread, the signal
//! thread), and a forked copy of a threaded process may only make async-signal-safe calls until
//! it execs. So the keeper is redlock itself (/proc/self/exe), run as `redlock __keep`.
//!
//! Detached means: its own session (no terminal, no hangup or Ctrl-C from the caller's), stdin
//! /dev/null, and no pipe of the caller kept open. Its stdout is a pipe to `acquire` that says
//! `ready` (or why not) once, and is then pointed at /dev/null: `tok=$(redlock acquire …)`
//! returns as soon as acquire exits. The caller's stderr is kept only where it is a terminal or
//! a regular file, where a loss line can be read later; a pipe or socket held open by the keeper
//! would make `out=$(redlock acquire … 2>&1)`, cron's mailer or any program capturing the
//! output wait for the keeper to end.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The first word after the program name that makes redlock a keeper. Hidden: no help, no
/// completions, no man page mentions it.
pub const SUBCOMMAND: &str = "__keep";

/// A keeper that said it is ready.
#[derive(Debug)]
pub struct Started {
    pub pid: u32,
}

/// Start `redlock __keep ARGS` with `env` added (and every other `REDLOCK_*` variable of ours
/// removed), and wait up to `limit` for it to say it is ready. `Err` carries what it said
/// instead, or why it could not be started; a keeper that did not get ready is killed.
pub fn start(args: &[OsString], env: &[(String, String)], limit: Duration) -> Result<Started, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find redlock's own program: {e}"))?;
    // /proc/self/exe is this very program, even if an upgrade replaced or removed the file
    // since it started: the keeper never runs another version than the acquire that started
    // it. argv[0] stays the program's path, for `ps`.
    let own = Path::new("/proc/self/exe");
    let mut command = Command::new(if own.exists() { own } else { exe.as_path() });
    command.arg0(&exe).arg(SUBCOMMAND).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REDLOCK_") {
            command.env_remove(&key);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        // A daemon's habit: it must not keep the caller's directory busy (an unmount, a
        // removed build tree); every path it is given is absolute.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if stderr_is_kept() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: setsid(2) is one, through nix's thin wrapper, which neither allocates
    // nor locks; its error is a bare errno.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the keeper process: {e}"))?;
    let pid = child.id();
    let Some(stdout) = child.stdout.take() else {
        return Err("cannot start the keeper process: no pipe to it".into());
    };
    let (tx, rx) = mpsc::channel();
    // The read has a bound through the channel: a keeper that hangs is not waited for.
    let reader = std::thread::Builder::new()
        .name("redlock-keeper-ready".into())
        .spawn(move || {
            let mut line = String::new();
            let said = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(said);
        })
        .map_err(|e| format!("cannot start a thread to hear the keeper: {e}"))?;
    let said = rx.recv_timeout(limit);
    let failure = match said {
        Ok(Ok(line)) if line.trim_end() == "ready" => {
            let _ = reader.join();
            // Not waited for: it outlives us, and init (or the nearest subreaper) reaps it.
            drop(child);
            return Ok(Started { pid });
        }
        Ok(Ok(line)) if !line.trim().is_empty() => line.trim().trim_start_matches("error: ").to_string(),
        Ok(Ok(_)) | Ok(Err(_)) => match child.wait() {
            Ok(status) => format!("the keeper process ended at once ({status})"),
            Err(e) => format!("the keeper process ended at once ({e})"),
        },
        Err(_) => format!("the keeper process did not get ready within {}s", limit.as_secs()),
    };
    let _ = child.kill();
    let _ = child.wait();
    Err(failure)
}

/// Whether the keeper keeps our stderr: a terminal or a regular file (a log), never a pipe or a
/// socket. (/dev/null is neither, and the keeper gets its own /dev/null: the same.)
fn stderr_is_kept() -> bool {
    let stderr = io::stderr();
    if stderr.is_terminal() {
        return true;
    }
    stderr
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_file())
}

/// The keeper's side: tell `acquire` we are ready (or why not), then let go of its pipe by
/// pointing stdout at /dev/null, so that whoever reads acquire's output sees its end now.
pub fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2(2) on two open descriptors we own (the /dev/null file and fd 1); it
        // touches no memory. stdout's lock is held, so no write is under way.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        }
    }
}

/// The keeper's first act: close every descriptor above stderr that it inherited. A script's
/// `exec 9>f; flock 9`, or a pipe some caller passed on to acquire, would otherwise stay open
/// (a lock held, a reader waiting for its end) for as long as the keeper runs. Nothing of ours
/// is open yet: Rust opens its own descriptors close-on-exec, and the keeper opens none before.
pub fn close_inherited() {
    // SAFETY: close_range(2) (Linux 5.9) takes three integers and closes descriptors; none
    // above 2 is in use in this process yet (see above), so no owner of one is left dangling.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    // Older kernels: the descriptors /proc lists. They are collected first, so the directory's
    // own descriptor (closed with the iterator) is not among those closed.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: closing a descriptor number: at worst EBADF for the directory's own, which
        // is closed already; nothing of ours uses any of them (see above).
        unsafe {
            libc::close(fd);
        }
    }
}

/// CLOCK_MONOTONIC now, the clock `Instant` reads on Linux: a deadline passed to the keeper as
/// this clock's time means the same moment in both processes (the exec in between costs
/// nothing off a lease's validity).
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we own, and reads nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}
