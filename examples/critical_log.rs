//! The critical section of the fault-injection suite (tests/faults.rs), run by `redlock run`:
//! a deliberately non-atomic read-sleep-write of a counter file, with enter and end times
//! (CLOCK_MONOTONIC, in ns) and the fence appended to a shared log.
//!
//!     critical_log LOG COUNTER SLEEP_MS
//!
//! Log lines, each one `write(2)` to a file opened with O_APPEND:
//!     enter RUN PID FENCE T
//!     exit  RUN PID FENCE T VALUE     the counter was written as VALUE
//!     abort RUN PID FENCE T           SIGTERM (redlock lost the lock): nothing written, exit 143
//! RUN is `$CRITICAL_RUN` (the suite's name for this run), FENCE is `$REDLOCK_FENCE`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(log), Some(counter), Some(sleep_ms)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: critical_log LOG COUNTER SLEEP_MS");
        std::process::exit(2);
    };
    let Ok(sleep_ms) = sleep_ms.parse::<u64>() else {
        eprintln!("critical_log: SLEEP_MS must be a number of milliseconds");
        std::process::exit(2);
    };
    // SIGTERM sets a flag instead of killing us, so an aborted section is logged with its time.
    let term = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&term)) {
        eprintln!("critical_log: cannot handle SIGTERM: {e}");
        std::process::exit(1);
    }
    let run = std::env::var("CRITICAL_RUN").unwrap_or_else(|_| "-".into());
    let fence = std::env::var("REDLOCK_FENCE").unwrap_or_else(|_| "-".into());
    let pid = std::process::id();
    let log = Path::new(log);

    append(log, &format!("enter {run} {pid} {fence} {}\n", monotonic_ns()));
    let seen: u64 = std::fs::read_to_string(counter)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let until = Instant::now() + Duration::from_millis(sleep_ms);
    while Instant::now() < until && !term.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1).min(until.saturating_duration_since(Instant::now())));
    }
    if term.load(Ordering::SeqCst) {
        append(log, &format!("abort {run} {pid} {fence} {}\n", monotonic_ns()));
        std::process::exit(143);
    }
    if let Err(e) = std::fs::write(counter, format!("{}\n", seen + 1)) {
        eprintln!("critical_log: cannot write {counter}: {e}");
        std::process::exit(1);
    }
    append(
        log,
        &format!("exit {run} {pid} {fence} {} {}\n", monotonic_ns(), seen + 1),
    );
}

/// One write with O_APPEND: lines from concurrent writers never interleave.
fn append(path: &Path, line: &str) {
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("critical_log: cannot append to {}: {e}", path.display());
        std::process::exit(1);
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine, unaffected by
/// wall-clock steps (the suite reads the same clock to mark its faults).
fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        eprintln!("critical_log: clock_gettime failed");
        std::process::exit(1);
    }
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}
