//! The bench's processes, each bounded: started and reaped through one registry (so a watchdog
//! or a signal can kill them all), run to their end under a time limit, and servers stopped
//! for a while.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long a single process of the short workloads may take before it is killed.
pub const PROCESS_LIMIT: Duration = Duration::from_secs(10);

/// Every child not yet reaped: what a watchdog or a signal kills.
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// A lock whose holder panicked still guards usable data here (sets and counters).
pub fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn spawn(cmd: &mut Command) -> Option<Child> {
    let child = cmd.spawn().ok()?;
    guard(&CHILDREN).insert(child.id());
    Some(child)
}

pub fn reap(child: &mut Child) -> Option<ExitStatus> {
    let status = child.wait().ok();
    guard(&CHILDREN).remove(&child.id());
    status
}

/// Spawns and reaps `cmd`: whether it started and exited 0.
pub fn succeeds(cmd: &mut Command) -> bool {
    spawn(cmd).is_some_and(|mut child| reap(&mut child).is_some_and(|s| s.success()))
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill only sends a signal to a process this bench started (or a server the
    // script started); a pid already gone gets ESRCH, ignored.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

pub fn kill_children() {
    for pid in guard(&CHILDREN).iter() {
        signal(*pid, libc::SIGKILL);
    }
}

/// SIGINT, SIGTERM, SIGHUP: kill every child (a `redlock run` SIGKILLed takes its command
/// with it, by its parent-death signal), continue any stopped server, and exit 128 + n.
/// scripts/bench then stops the servers and etcd.
pub fn stop_children_on_signals(redis_pids: Vec<u32>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        eprintln!("bench: cannot catch signals; an interrupted bench may leave processes behind");
        return;
    };
    thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            kill_children();
            for pid in &redis_pids {
                signal(*pid, libc::SIGCONT);
            }
            eprintln!("bench: interrupted");
            std::process::exit(128 + sig);
        }
    });
}

/// One process, run to its end.
#[derive(Clone)]
pub struct Ran {
    /// Spawn to reaped, ms; NaN when it was killed at its limit or could not start.
    pub wall: f64,
    /// User + system CPU of the process and its own reaped children, ms.
    pub cpu: f64,
    pub ok: bool,
    pub stdout: String,
}

/// Runs `cmd` (stdout captured when `capture`) and kills it after `limit`. CPU comes from
/// getrusage(RUSAGE_CHILDREN) before and after: exact only while no other child of ours is
/// reaped meanwhile, so callers that want CPU run one process at a time.
pub fn run_bounded(cmd: &mut Command, limit: Duration, capture: bool) -> Ran {
    if capture {
        cmd.stdout(Stdio::piped());
    }
    let cpu0 = children_cpu_ms();
    let t0 = Instant::now();
    let Some(mut child) = spawn(cmd) else {
        return Ran {
            wall: f64::NAN,
            cpu: f64::NAN,
            ok: false,
            stdout: String::new(),
        };
    };
    let pid = child.id();
    let (done, wait_done) = mpsc::channel::<()>();
    let killer = thread::spawn(move || {
        let late = wait_done.recv_timeout(limit) == Err(RecvTimeoutError::Timeout);
        if late {
            signal(pid, libc::SIGKILL);
        }
        late
    });
    let status = reap(&mut child);
    let wall = t0.elapsed().as_secs_f64() * 1e3;
    drop(done);
    let killed = killer.join().unwrap_or(true);
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    Ran {
        wall: if killed { f64::NAN } else { wall },
        cpu: children_cpu_ms() - cpu0,
        ok: !killed && status.is_some_and(|s| s.success()),
        stdout,
    }
}

/// The resource usage of our reaped children (RUSAGE_CHILDREN): CPU for `run_bounded`, peak
/// RSS for `bench rss`.
pub fn children_usage() -> libc::rusage {
    // SAFETY: getrusage only writes the struct we pass, zero-initialised on our stack.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage
}

fn children_cpu_ms() -> f64 {
    let usage = children_usage();
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What `cmd` printed, when it exited 0 within 5 s.
pub fn output_of(cmd: &mut Command) -> Option<String> {
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    let ran = run_bounded(cmd, Duration::from_secs(5), true);
    ran.ok.then_some(ran.stdout)
}

/// `cmd` with no stdio: the bench's own output is the table.
pub fn quiet(cmd: &mut Command) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
}

/// A server SIGSTOPped until this is dropped (SIGCONT), so no early return leaves it stopped.
pub struct Stopped(u32);

impl Stopped {
    pub fn new(pid: u32) -> Stopped {
        signal(pid, libc::SIGSTOP);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}
