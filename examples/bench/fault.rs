//! The part `fault`: the K=8 handoff with the resource's decider SIGSTOPped for 5 s, against
//! the same handoff unfaulted.

use std::time::Duration;

use redlock::engine::lock::Locker;
use redlock::engine::settings::{Settings, Verbosity};

use crate::contenders::ITERATIONS;
use crate::handoff::{handoff, Fault, Stats};
use crate::table::{ms, Table, NA};
use crate::tool::Tool;
use crate::world::{column_name, progress, Env};

/// `unfaulted`: each redlock binary's median K=8 wall (s) from `handoff8`, when it ran.
pub fn fault(env: &Env, table: &mut Table, unfaulted: Option<Vec<f64>>) {
    let n = env.bins.len();
    let unfaulted = unfaulted.unwrap_or_else(|| unfaulted_walls(env));
    let (decider, resources) = decided_by_one(env);
    let mut runs: Vec<Stats> = vec![Stats::default(); n];
    for b in env.order(1) {
        progress(&format!(
            "handoff K=8 with the decider stopped for 5 s, redlock {}",
            column_name(b)
        ));
        let tool = Tool::Redlock {
            bin: b,
            resource: resources[b].clone(),
        };
        let fault = Fault {
            pid: env.pids[decider],
            at: Duration::from_secs(1),
            hold: Duration::from_secs(5),
        };
        runs[b] = handoff(env, 8, &tool, Some(fault), &format!("fault-{b}"));
    }
    add_rows(table, &runs, &unfaulted);
}

/// One unfaulted K=8 run of each redlock binary: its wall, s.
fn unfaulted_walls(env: &Env) -> Vec<f64> {
    let mut walls = vec![f64::NAN; env.bins.len()];
    for b in env.order(0) {
        progress(&format!("handoff K=8 unfaulted, redlock {}", column_name(b)));
        let resource = format!("handoff-unfaulted-{b}");
        let tool = Tool::Redlock { bin: b, resource };
        walls[b] = handoff(env, 8, &tool, None, &format!("unfaulted-{b}")).wall;
    }
    walls
}

/// The instance that decides for the resource (the worst one to lose), as this checkout's
/// library orders the instances, and a resource for each binary: each its own (no leftovers
/// of the other's run), chosen so that the same instance decides for both.
fn decided_by_one(env: &Env) -> (usize, Vec<String>) {
    let settings = Settings {
        servers: env.servers(3).split(',').filter_map(|u| u.parse().ok()).collect(),
        prefix: "redlock:".into(),
        connect_timeout: Duration::from_millis(250),
        op_timeout: Duration::from_millis(250),
        verbosity: Verbosity::Quiet,
        classic: None,
    };
    let locker = Locker::new(&settings, None);
    let decider_of = |resource: &str| locker.order(resource).first().copied().unwrap_or(0);
    let decider = decider_of("handoff-fault-0");
    let resources = (0..env.bins.len())
        .map(|b| {
            (0..100)
                .map(|i| format!("handoff-fault-{b}-{i}"))
                .find(|r| decider_of(r) == decider)
                .unwrap_or_else(|| format!("handoff-fault-{b}"))
        })
        .collect();
    (decider, resources)
}

fn add_rows(table: &mut Table, runs: &[Stats], unfaulted: &[f64]) {
    let sections = (8 * ITERATIONS) as f64;
    let wall = |(s, u): (&Stats, &f64)| {
        let (w, u) = (s.wall, *u);
        if w.is_finite() && u.is_finite() {
            format!("{w:.2} s = {:.2} × {u:.2} s", w / u)
        } else if w.is_finite() {
            format!("{w:.2} s")
        } else {
            "timed out".into()
        }
    };
    table.add_redlock(
        "decider stopped 5 s: wall",
        "K=8 × 25 runs × 20 ms on 3 instances, the resource's decider SIGSTOPped from 1 s to 6 s; wall against the unfaulted K=8 wall (median of its rounds above)",
        runs.iter().zip(unfaulted).map(wall).collect(),
    );
    let in_window = |(s, u): (&Stats, &f64)| {
        let pace = if u.is_finite() {
            format!("{:.0}", sections / u * 5.0)
        } else {
            NA.into()
        };
        format!("{} (unfaulted pace {pace})", s.in_fault)
    };
    table.add_redlock(
        "decider stopped 5 s: sections in the window",
        "sections that ended while the instance was stopped (unfaulted pace: 200 sections in the unfaulted wall, scaled to 5 s)",
        runs.iter().zip(unfaulted).map(in_window).collect(),
    );
    let gaps = |s: &Stats| {
        format!(
            "{}; {} / {}; {} overlaps, {} failed",
            ms(s.gap_max),
            ms(s.gap_p50),
            ms(s.gap_p99),
            s.overlaps,
            s.failures
        )
    };
    table.add_redlock(
        "decider stopped 5 s: gaps",
        "longest gap; gap p50 / p99; overlaps and failed runs in that run",
        runs.iter().map(gaps).collect(),
    );
}
