//! The parts `handoff8` and `handoff32`: rounds of K contenders for every tool in the same
//! run, and their rows in the table.

use crate::contenders::{CRITICAL_MS, ITERATIONS};
use crate::handoff::{handoff, Stats};
use crate::stats::median_by;
use crate::table::{ms, na, plain, share, two, Table};
use crate::tool::Tool;
use crate::world::{progress, Env};

/// Rounds of redlock at K=32: one fewer than at K=8, whose runs take a quarter as long.
pub fn k32_rounds(env: &Env) -> usize {
    env.rounds.saturating_sub(1).max(1)
}

/// The handoff rows at K contenders, every tool in the same run; returns each redlock
/// binary's median wall (s), the unfaulted figure for `fault`.
pub fn handoff_figures(env: &Env, table: &mut Table, k: usize) -> Vec<f64> {
    let rounds = run_rounds(env, k);
    add_rows(env, table, k, &rounds);
    rounds.redlock.iter().map(|r| median_by(r, |s| s.wall)).collect()
}

/// Each tool's runs: one list per redlock binary, flock's, etcd's.
struct Rounds {
    redlock: Vec<Vec<Stats>>,
    flock: Vec<Stats>,
    etcd: Vec<Stats>,
}

fn run_rounds(env: &Env, k: usize) -> Rounds {
    let lockfile = env.dir.join(format!("handoff-{k}.lock"));
    let mut all = Rounds {
        redlock: vec![vec![]; env.bins.len()],
        flock: vec![],
        etcd: vec![],
    };
    // K=32 runs take four times as long: one round fewer of redlock, one of flock and etcd
    // (whose figures vary little between rounds), keep the bench within minutes.
    let (rounds, others) = if k >= 32 {
        (k32_rounds(env), 1)
    } else {
        (env.rounds, env.rounds)
    };
    for round in 0..rounds {
        env.round_of_each(round, rounds, &format!("handoff K={k}"), |b| {
            let resource = format!("handoff-{k}-{round}-{b}");
            let tool = Tool::Redlock { bin: b, resource };
            let s = handoff(env, k, &tool, None, &format!("redlock{b}-{k}-{round}"));
            eprintln!(
                "bench:   wall/ideal {:.3}, gap p50 {:.2} ms, p99 {:.2} ms",
                s.wall_over_ideal, s.gap_p50, s.gap_p99
            );
            all.redlock[b].push(s);
        });
        if round < others {
            progress(&format!("handoff K={k}, round {} of {others}, flock", round + 1));
            let tool = Tool::Flock {
                lockfile: lockfile.clone(),
            };
            all.flock
                .push(handoff(env, k, &tool, None, &format!("flock-{k}-{round}")));
            if let Some(endpoint) = env.etcd_endpoint() {
                progress(&format!("handoff K={k}, round {} of {others}, etcd", round + 1));
                let (endpoint, name) = (endpoint.to_string(), format!("handoff-{k}-{round}"));
                let tool = Tool::Etcd { endpoint, name };
                all.etcd
                    .push(handoff(env, k, &tool, None, &format!("etcd-{k}-{round}")));
            }
        }
    }
    all
}

/// A figure every tool has: its name after "handoff K=k: ", what it shows, how a tool's
/// rounds make one number, and how that number is written.
type Figure = (&'static str, String, fn(&[Stats]) -> f64, fn(f64) -> String);

fn figures(k: usize) -> [Figure; 5] {
    let ideal = k * ITERATIONS * CRITICAL_MS as usize;
    let median_of_rounds = format!(
        "{k} contenders × {ITERATIONS} runs around a 20 ms section; ideal = {ideal} ms; median of rounds"
    );
    [
        (
            "wall / ideal",
            median_of_rounds,
            |r| median_by(r, |s| s.wall_over_ideal),
            plain,
        ),
        (
            "gap p50",
            "one section's end to the next one's start, median".into(),
            |r| median_by(r, |s| s.gap_p50),
            ms,
        ),
        (
            "gap p99",
            "the same, 99th percentile".into(),
            |r| median_by(r, |s| s.gap_p99),
            ms,
        ),
        (
            "passed to another waiter",
            "share of handoffs where the next section is another contender's".into(),
            |r| median_by(r, |s| s.to_other),
            share,
        ),
        (
            "longest wait / fair share",
            "longest single wait (spawn to section start) over (K−1) mean cycles, worst round".into(),
            |r| r.iter().map(|s| s.max_wait_share).fold(f64::NAN, f64::max),
            two,
        ),
    ]
}

fn add_rows(env: &Env, table: &mut Table, k: usize, all: &Rounds) {
    for (figure, describe, of_rounds, show) in figures(k) {
        let bins: Vec<f64> = all.redlock.iter().map(|r| of_rounds(r)).collect();
        let etcd = env.etcd.is_ok().then(|| of_rounds(&all.etcd));
        let figure = format!("handoff K={k}: {figure}");
        table.add_figure(&figure, &describe, &bins, of_rounds(&all.flock), etcd, show);
    }
    let work = |s: &[Stats]| {
        format!(
            "{:.1} / {:.1} / {:.2}",
            median_by(s, |s| s.requests),
            median_by(s, |s| s.commands),
            median_by(s, |s| s.connections)
        )
    };
    table.add_redlock(
        &format!("handoff K={k}: Redis work per handoff"),
        "requests (commands a client sends itself: scripts, SUBSCRIBE, PING, connection set-up) / commands (those inside scripts included) / new connections; INFO deltas on the 3 instances",
        all.redlock.iter().map(|r| work(r)).collect(),
    );
    let safety = |runs: &[Stats]| {
        format!(
            "{} overlaps, {} failed, {} sections",
            runs.iter().map(|s| s.overlaps).sum::<usize>(),
            runs.iter().map(|s| s.failures).sum::<usize>(),
            runs.iter().map(|s| s.sections).sum::<usize>()
        )
    };
    table.add(
        &format!("handoff K={k}: safety"),
        "overlapping sections (there must be none) and failed runs, over all rounds",
        all.redlock.iter().map(|r| safety(r)).collect(),
        safety(&all.flock),
        if env.etcd.is_ok() { safety(&all.etcd) } else { na() },
        na(),
    );
}
