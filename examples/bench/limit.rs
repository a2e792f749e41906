//! The part `limit4`: 16 contenders × 25 runs around a 20 ms section on `--limit 4`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contenders::{critical_under, worker_thread, CRITICAL_MS, ITERATIONS};
use crate::sections::read_sections;
use crate::stats::{median_by, most_inside};
use crate::table::{plain, Table};
use crate::watchdog::Watchdog;
use crate::world::Env;

const LIMIT_K: usize = 16;
const LIMIT_N: usize = 4;

/// One round of `--limit 4`: LIMIT_K contenders × ITERATIONS runs.
struct LimitRun {
    wall_over_ideal: f64,
    most: usize,
    failed: usize,
    sections: usize,
}

fn limit_run(env: &Env, bin: usize, tag: &str) -> LimitRun {
    let log = env.dir.join(format!("{tag}.log"));
    let _ = std::fs::remove_file(&log);
    let ideal = (LIMIT_K * ITERATIONS) as f64 * CRITICAL_MS as f64 / LIMIT_N as f64 / 1e3;
    let watchdog = Arc::new(Watchdog::start(tag, Duration::from_secs_f64(ideal * 6.0 + 20.0)));
    let limit = LIMIT_N.to_string();
    let t0 = Instant::now();
    let workers: Vec<_> = (0..LIMIT_K)
        .map(|w| {
            let cmds = (0..ITERATIONS)
                .map(|_| critical_under(env, bin, &["-l", &limit], tag, &log, w))
                .collect();
            worker_thread(cmds, Arc::clone(&watchdog))
        })
        .collect();
    let failed: usize = workers.into_iter().map(|h| h.join().unwrap_or(ITERATIONS)).sum();
    let wall = t0.elapsed().as_secs_f64();
    let sections = read_sections(&log);
    LimitRun {
        wall_over_ideal: if watchdog.expired() {
            f64::NAN
        } else {
            wall / ideal
        },
        most: most_inside(&sections),
        failed: failed + usize::from(watchdog.expired()),
        sections: sections.len(),
    }
}

pub fn limit(env: &Env, table: &mut Table) {
    let mut runs: Vec<Vec<LimitRun>> = (0..env.bins.len()).map(|_| vec![]).collect();
    let what = format!("--limit {LIMIT_N}, K={LIMIT_K}");
    for round in 0..env.rounds {
        env.round_of_each(round, env.rounds, &what, |b| {
            runs[b].push(limit_run(env, b, &format!("limit-{b}-{round}")));
        });
    }
    let ideal = LIMIT_K * ITERATIONS * CRITICAL_MS as usize / LIMIT_N;
    table.add_redlock(
        &format!("`--limit {LIMIT_N}`: wall / ideal"),
        &format!(
            "{LIMIT_K} contenders × {ITERATIONS} runs around a 20 ms section, up to {LIMIT_N} at once; ideal = {LIMIT_K} × {ITERATIONS} × 20 ms / {LIMIT_N} = {ideal} ms; median of rounds"
        ),
        runs.iter().map(|r| plain(median_by(r, |s| s.wall_over_ideal))).collect(),
    );
    let safety = |r: &Vec<LimitRun>| {
        format!(
            "{} at most, {} failed, {} sections",
            r.iter().map(|s| s.most).max().unwrap_or(0),
            r.iter().map(|s| s.failed).sum::<usize>(),
            r.iter().map(|s| s.sections).sum::<usize>()
        )
    };
    table.add_redlock(
        &format!("`--limit {LIMIT_N}`: safety"),
        &format!("most sections inside at once (at most {LIMIT_N}), failed runs, over all rounds"),
        runs.iter().map(safety).collect(),
    );
}
