//! The benchmark's critical section (scripts/bench): `critical LOG WORKER MS` reads
//! CLOCK_MONOTONIC, sleeps MS milliseconds, reads it again, and appends one line
//! `ENTER_NS EXIT_NS WORKER PID` to LOG with a single O_APPEND write (so concurrent writers
//! never interleave, and an overlap of two sections shows in the log).

use std::io::Write;
use std::time::Duration;

#[path = "common/clock.rs"]
mod clock;
use clock::monotonic_ns;

fn main() {
    let enter = monotonic_ns();
    let args: Vec<String> = std::env::args().collect();
    let (Some(log), Some(worker)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: critical LOG WORKER [MS]");
        std::process::exit(2);
    };
    let ms: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    std::thread::sleep(Duration::from_millis(ms));
    let exit = monotonic_ns();
    let line = format!("{enter} {exit} {worker} {}\n", std::process::id());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("critical: cannot append to {log}: {e}");
        std::process::exit(1);
    }
}
