//! One handoff run, measured: K contenders × ITERATIONS runs of a tool around the critical
//! section, optionally with a server SIGSTOPped for a while, and what its sections' log and
//! the instances' counters show.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::clock::monotonic_ns;
use crate::contenders::{CRITICAL_MS, ITERATIONS};
use crate::procs::{guard, reap, spawn, Stopped};
use crate::sections::{read_sections, Section};
use crate::stats::pct;
use crate::tool::{copy_trace, Tool};
use crate::watchdog::Watchdog;
use crate::work::{per_handoff, redis_work};
use crate::world::Env;

/// A server SIGSTOPped `at` into the run, for `hold`.
pub struct Fault {
    pub pid: u32,
    pub at: Duration,
    pub hold: Duration,
}

impl Fault {
    /// The fault on a thread of its own, which returns when it was on (CLOCK_MONOTONIC, ns).
    fn start(self) -> thread::JoinHandle<(u64, u64)> {
        thread::spawn(move || {
            thread::sleep(self.at);
            let from = monotonic_ns();
            let stop = Stopped::new(self.pid);
            thread::sleep(self.hold);
            drop(stop);
            (from, monotonic_ns())
        })
    }
}

/// What one handoff run measured.
#[derive(Default, Clone)]
pub struct Stats {
    pub wall: f64,
    pub wall_over_ideal: f64,
    pub gap_p50: f64,
    pub gap_p99: f64,
    pub gap_max: f64,
    pub to_other: f64,
    /// The longest single wait (spawn to section start) over the fair share (K−1 cycles).
    pub max_wait_share: f64,
    pub overlaps: usize,
    pub failures: usize,
    pub sections: usize,
    /// Per handoff: requests (commands a client sends itself), commands (those inside scripts
    /// included) and new connections, on the 3 instances.
    pub requests: f64,
    pub commands: f64,
    pub connections: f64,
    /// Sections that ended while the fault was on.
    pub in_fault: usize,
}

pub fn handoff(env: &Env, k: usize, tool: &Tool, fault: Option<Fault>, tag: &str) -> Stats {
    let log = env.dir.join(format!("handoff-{tag}.log"));
    let _ = std::fs::remove_file(&log);
    let before = redis_work(&env.ports[..3]);
    let ideal = (k * ITERATIONS) as f64 * CRITICAL_MS as f64 / 1e3;
    let watchdog = Arc::new(Watchdog::start(
        &format!("handoff {tag}"),
        Duration::from_secs_f64(ideal * 6.0 + 20.0),
    ));
    let t0 = Instant::now();
    let fault_thread = fault.map(Fault::start);
    let (spawns, failed) = contend(env, k, tool, &log, &watchdog);
    let wall = t0.elapsed().as_secs_f64();
    let window = fault_thread.and_then(|f| f.join().ok());
    let timed_out = watchdog.expired();
    let after = redis_work(&env.ports[..3]);

    let sections = read_sections(&log);
    let (gaps, overlaps, to_other) = gaps(&sections);
    let cycle_ms = wall * 1e3 / sections.len().max(1) as f64;
    let handoffs = sections.len().saturating_sub(1).max(1) as f64;
    let (requests, commands, connections) = per_handoff(&before, &after, 3, handoffs);
    let in_fault = window.map_or(0, |(from, to)| {
        sections.iter().filter(|s| s.exit >= from && s.exit <= to).count()
    });
    let nan_if = |x: f64| if timed_out { f64::NAN } else { x };
    Stats {
        wall: nan_if(wall),
        wall_over_ideal: nan_if(wall / ideal),
        gap_p50: pct(&gaps, 50.0),
        gap_p99: pct(&gaps, 99.0),
        gap_max: pct(&gaps, 100.0),
        to_other: if gaps.is_empty() {
            f64::NAN
        } else {
            to_other as f64 / gaps.len() as f64
        },
        max_wait_share: nan_if(longest_wait(&sections, &spawns, k) / (cycle_ms * (k as f64 - 1.0))),
        overlaps,
        failures: failed + usize::from(timed_out),
        sections: sections.len(),
        requests,
        commands,
        connections,
        in_fault,
    }
}

/// K contenders, each a thread running its ITERATIONS processes one after another: when each
/// worker spawned each process (CLOCK_MONOTONIC, ns), and how many failed.
fn contend(env: &Env, k: usize, tool: &Tool, log: &Path, watchdog: &Arc<Watchdog>) -> (Vec<Vec<u64>>, usize) {
    let spawns: Arc<Mutex<Vec<Vec<u64>>>> = Arc::new(Mutex::new(vec![vec![]; k]));
    let failures = Arc::new(Mutex::new(0usize));
    let workers: Vec<_> = (0..k)
        .map(|w| {
            let (watchdog, spawns, failures) =
                (Arc::clone(watchdog), Arc::clone(&spawns), Arc::clone(&failures));
            let mut cmds: Vec<_> = (0..ITERATIONS).map(|_| tool.around(env, log, w)).collect();
            let trace = log.with_extension("trace");
            thread::spawn(move || {
                for cmd in cmds.iter_mut() {
                    if watchdog.expired() {
                        return;
                    }
                    guard(&spawns)[w].push(monotonic_ns());
                    let Some(mut child) = spawn(cmd) else {
                        *guard(&failures) += 1;
                        continue;
                    };
                    if let Some(err) = child.stderr.take() {
                        copy_trace(err, &trace, format!("w{w} pid {}", child.id()));
                    }
                    if !reap(&mut child).is_some_and(|s| s.success()) {
                        *guard(&failures) += 1;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let spawns = guard(&spawns).clone();
    let failed = *guard(&failures);
    (spawns, failed)
}

/// Between each section and the next: the gaps (ms), how many overlapped, and how many
/// passed to another worker.
fn gaps(sections: &[Section]) -> (Vec<f64>, usize, usize) {
    let mut gaps = vec![];
    let (mut overlaps, mut to_other) = (0, 0);
    for pair in sections.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.enter < a.exit {
            overlaps += 1;
        }
        gaps.push((b.enter as f64 - a.exit as f64) / 1e6);
        if a.worker != b.worker {
            to_other += 1;
        }
    }
    (gaps, overlaps, to_other)
}

/// The longest wait, spawn to section start, ms. A worker's sections come in the order it
/// spawned its processes.
fn longest_wait(sections: &[Section], spawns: &[Vec<u64>], k: usize) -> f64 {
    let mut seen = vec![0usize; k];
    let mut max_wait: f64 = 0.0;
    for s in sections {
        if let Some(spawned) = spawns.get(s.worker).and_then(|v| v.get(seen[s.worker])) {
            max_wait = max_wait.max((s.enter.saturating_sub(*spawned)) as f64 / 1e6);
        }
        if s.worker < k {
            seen[s.worker] += 1;
        }
    }
    max_wait
}
