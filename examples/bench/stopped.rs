//! The parts with one instance of 3 SIGSTOPped: `stopped` (how long a `run` takes then) and
//! `leftover` (whether that instance still holds the key once it is continued).

use std::thread;
use std::time::Duration;

use crate::procs::{run_bounded, Ran, Stopped, PROCESS_LIMIT};
use crate::redis_by_hand::{integer, query as redis_query};
use crate::stats::{median, median_by};
use crate::table::{ms, Table};
use crate::watchdog::Watchdog;
use crate::world::{progress, Env};

/// `redlock run -- true` on 3 instances with one SIGSTOPped (each in turn, 7 runs each),
/// interleaved with the same run with all up.
pub fn stopped(env: &Env, table: &mut Table) {
    progress("`redlock run -- true` with 1 of 3 instances stopped");
    let n = env.bins.len();
    let runs = 21;
    let watchdog = Watchdog::start("stopped", Duration::from_secs(150));
    let s3 = env.servers(3);
    let (mut up, mut down): (Vec<Vec<Ran>>, Vec<Vec<Ran>>) = (vec![vec![]; n], vec![vec![]; n]);
    for i in 0..runs {
        if watchdog.expired() {
            break;
        }
        for b in env.order(i) {
            let cmd = &mut env.run_true(b, &format!("up-{i}-{b}"), &s3);
            up[b].push(run_bounded(cmd, PROCESS_LIMIT, false));
        }
        let stop = Stopped::new(env.pids[i % 3]);
        for b in env.order(i) {
            let cmd = &mut env.run_true(b, &format!("stopped-{i}-{b}"), &s3);
            down[b].push(run_bounded(cmd, PROCESS_LIMIT, false));
        }
        drop(stop);
    }
    let timed_out = watchdog.expired();
    drop(watchdog);
    let cell = |b: usize| {
        let failed = down[b].iter().filter(|r| !r.ok).count();
        let wall = if timed_out {
            f64::NAN
        } else {
            median_by(&down[b], |r| r.wall)
        };
        let mut s = format!("{} (all up: {})", ms(wall), ms(median_by(&up[b], |r| r.wall)));
        if failed > 0 {
            s.push_str(&format!("; exit ≠ 0: {failed} of {}", down[b].len()));
        }
        s
    };
    table.add_redlock(
        "`run -- true`, 1 of 3 stopped: wall",
        &format!(
            "median wall over {runs} runs with one instance SIGSTOPped (each in turn, a fresh resource per run), beside the same run with all up, interleaved; op timeout 250 ms"
        ),
        (0..n).map(cell).collect(),
    );
}

const LEFTOVER_KEY: &str = "redlock:lock:pi3";

/// One redlock binary's `leftover` trials.
#[derive(Clone, Default)]
struct Leftovers {
    /// The key's remaining time, s, in each trial where it was still there.
    held: Vec<f64>,
    /// Per instance stopped: trials, and trials where the key was still there.
    by_instance: [(usize, usize); 3],
    unreadable: usize,
    walls: Vec<f64>,
}

/// `kill -STOP` one of 3; `redlock run -q -r pi3 -- true`; `kill -CONT`; 200 ms later, does
/// that instance still hold the finished holder's key?
pub fn leftover(env: &Env, table: &mut Table) {
    progress("an instance stopped during a whole `run`, then continued");
    let n = env.bins.len();
    let trials = 9;
    let watchdog = Watchdog::start("leftover", Duration::from_secs(120));
    let mut all = vec![Leftovers::default(); n];
    for t in 0..trials {
        if watchdog.expired() {
            break;
        }
        for b in env.order(t) {
            trial(env, b, t % 3, &mut all[b]);
        }
    }
    forget_key(env);
    let timed_out = watchdog.expired();
    drop(watchdog);
    table.add_redlock(
        "a stopped instance after a finished `run`",
        &format!(
            "trials where the instance SIGSTOPped during a whole `run -r pi3 -- true` (each of 3 in turn) still holds `{LEFTOVER_KEY}` 200 ms after SIGCONT, and per instance stopped (1st, 2nd, 3rd of `-s`); median wall of that run"
        ),
        all.iter().map(|l| leftover_cell(l, timed_out)).collect(),
    );
}

/// One trial of binary `bin` with instance `j` stopped during the whole run.
fn trial(env: &Env, bin: usize, j: usize, into: &mut Leftovers) {
    // No earlier trial's key anywhere: a key found below is this holder's.
    forget_key(env);
    let stop = Stopped::new(env.pids[j]);
    let ran = run_bounded(
        &mut env.run_true(bin, "pi3", &env.servers(3)),
        PROCESS_LIMIT,
        false,
    );
    drop(stop);
    thread::sleep(Duration::from_millis(200));
    into.walls.push(ran.wall);
    into.by_instance[j].0 += 1;
    match redis_query(env.ports[j], &["PTTL", LEFTOVER_KEY])
        .as_deref()
        .map(integer)
    {
        Some(Some(pttl)) if pttl > 0 || pttl == -1 => {
            into.held.push(pttl as f64 / 1e3);
            into.by_instance[j].1 += 1;
        }
        Some(Some(_)) => {}
        _ => into.unreadable += 1,
    }
}

fn forget_key(env: &Env) {
    for port in &env.ports[..3] {
        let _ = redis_query(*port, &["DEL", LEFTOVER_KEY]);
    }
}

fn leftover_cell(l: &Leftovers, timed_out: bool) -> String {
    let per: Vec<String> = l.by_instance.iter().map(|(t, h)| format!("{h}/{t}")).collect();
    let mut s = format!(
        "{} of {} (by instance: {})",
        l.held.len(),
        l.walls.len(),
        per.join(", ")
    );
    if !l.held.is_empty() {
        s.push_str(&format!(", expiring in {:.1} s (median)", median(&l.held)));
    }
    if l.unreadable > 0 {
        s.push_str(&format!(", {} unreadable", l.unreadable));
    }
    if timed_out {
        s.push_str(", timed out");
    }
    s.push_str(&format!("; run took {}", ms(median(&l.walls))));
    s
}
