//! Running processes from tests with a bound on every wait: our binary, timeouts, signals.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use redlock::process::owner::Owner;

/// How long output pipes may stay open after the process exited (a grandchild that
/// inherited them) before we stop reading and keep what we have.
const PIPE_GRACE: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(5);

/// `redlock` with every `REDLOCK_*` variable and `NO_COLOR` removed from its environment,
/// so the developer's shell never leaks into a test.
pub fn redlock() -> Command {
    scrubbed(env!("CARGO_BIN_EXE_redlock"))
}

/// Any program (a shell that calls redlock, say) with the same scrubbed environment.
pub fn scrubbed(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("REDLOCK_") || key == OsStr::new("NO_COLOR") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// Whether process `pid` runs: not exited and not a zombie (an orphan may stay a zombie a while
/// where PID 1 reaps slowly). The library's own test of a keeper's owner.
pub fn alive(pid: u32) -> bool {
    Owner::of(pid).is_some_and(|p| p.alive())
}

/// What a finished process did.
#[derive(Debug)]
pub struct Out {
    /// Exit code, `None` if it died of a signal.
    pub code: Option<i32>,
    /// The signal it died of, if any.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `cmd` with stdin null and its output captured. Panics (after SIGKILLing it) if it
/// is still running after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Out {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    // Read both pipes on threads so a chatty process never blocks on a full pipe.
    let stdout = Capture::start(child.stdout.take());
    let stderr = Capture::start(child.stderr.take());

    let status = wait_timeout(&mut child, timeout);
    let elapsed = start.elapsed();
    let Some(status) = status else {
        signal(child.id(), libc::SIGKILL);
        let _ = wait_timeout(&mut child, Duration::from_secs(5));
        panic!(
            "timed out after {timeout:?}: {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            stdout.finish(Instant::now() + PIPE_GRACE),
            stderr.finish(Instant::now() + PIPE_GRACE),
        );
    };
    let pipes_deadline = Instant::now() + PIPE_GRACE;
    Out {
        code: status.code(),
        signal: status.signal(),
        stdout: stdout.finish(pipes_deadline),
        stderr: stderr.finish(pipes_deadline),
        elapsed,
    }
}

/// Waits up to `timeout` for `child` to exit, polling every 5 ms; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let id = child.id();
    poll(Instant::now() + timeout, || match child.try_wait() {
        Ok(status) => status,
        Err(e) => panic!("waiting for pid {id}: {e}"),
    })
}

/// Calls `f` every 5 ms until it returns `Some`, or `None` once `deadline` has passed (after
/// one last call). Every wait of the harness for a condition ends up here.
pub fn poll<T>(deadline: Instant, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll_every(POLL, deadline, f)
}

/// [`poll`], calling `f` every `every`: for a condition that is costly to check.
pub fn poll_every<T>(every: Duration, deadline: Instant, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep(every.min(deadline - now));
    }
}

/// Calls `check` every `every` for `span` (it asserts what must hold all that time: a lease
/// still renewed, a process still running), or until it returns false (nothing left to
/// check). Here the time passing is the point: nothing must happen during it.
pub fn throughout(span: Duration, every: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + span;
    while check() {
        let now = Instant::now();
        if now >= until {
            return;
        }
        thread::sleep(every.min(until - now));
    }
}

/// The lines of a file a test's commands append to; none while it does not exist yet.
pub fn file_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Polls `cond` until it holds; panics with "timed out waiting for {what}" after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    if poll(Instant::now() + timeout, || cond().then_some(())).is_none() {
        panic!("timed out waiting for {what} ({timeout:?})");
    }
}

/// Sends `sig` to `pid`; panics if it cannot be delivered. Any signal number: tests send
/// real-time signals too, which nix's `Signal` cannot name, hence libc here.
pub fn signal(pid: u32, sig: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits in pid_t");
    // SAFETY: kill(2) only reads its two integer arguments.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        panic!("kill({pid}, {sig}) failed: {}", std::io::Error::last_os_error());
    }
}

/// Sends `sig` to every process of group `pgid`, as a terminal's Ctrl-C does; panics if it
/// cannot be delivered.
pub fn signal_group(pgid: i32, sig: i32) {
    let signal = Signal::try_from(sig).unwrap_or_else(|err| panic!("signal {sig}: {err}"));
    if let Err(err) = killpg(Pid::from_raw(pgid), signal) {
        panic!("killpg({pgid}, {sig}) failed: {err}");
    }
}

/// One output pipe read to the end on its own thread, into a buffer we can take early.
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Capture {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Capture {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let reader = pipe.map(|mut pipe| {
            let buf = Arc::clone(&buf);
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => buf
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            })
        });
        Capture { buf, reader }
    }

    /// The output so far, once the pipe closed or `deadline` passed (the reader thread is
    /// then left to end when the last writer closes the pipe).
    fn finish(self, deadline: Instant) -> String {
        if let Some(reader) = self.reader {
            if poll(deadline, || reader.is_finished().then_some(())).is_some() {
                let _ = reader.join();
            }
        }
        let bytes = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A `redlock` (or any command) running in the background, its stdout and stderr going to
/// files in `dir`; killed and reaped on drop if still running.
pub struct Bg {
    pub child: Child,
    stderr: std::path::PathBuf,
}

impl Bg {
    pub fn start(cmd: &mut Command, dir: &std::path::Path) -> Bg {
        let stderr = dir.join("redlock.stderr");
        let file = |name: &str| std::fs::File::create(dir.join(name)).expect("output file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file("redlock.stdout"))
            .stderr(file("redlock.stderr"))
            .spawn()
            .expect("spawn");
        Bg { child, stderr }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Its exit code, within `limit`; panics if it is still running or died of a signal.
    pub fn code(&mut self, limit: Duration) -> i32 {
        let Some(status) = wait_timeout(&mut self.child, limit) else {
            panic!("still running after {limit:?}; stderr: {}", self.stderr());
        };
        status
            .code()
            .unwrap_or_else(|| panic!("died of a signal: {status:?}; {}", self.stderr()))
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
