//! The benchmark driver behind `scripts/bench` (which builds it, starts the redis-servers and
//! etcd, and cleans up): `bench REDLOCK CRITICAL DIR PORTS PIDS` runs every workload and prints
//! one table, with `flock(1)` and `etcdctl lock` in the same run where they apply, and a second
//! redlock binary beside the first when BENCH_REDLOCK2 names one. A measuring tool, not a test:
//! it never fails on a number and prints no verdicts; every workload has a watchdog, so a
//! livelock shows as "timed out" instead of a hang. docs/bench.md describes each figure.
//!
//! Environment (set by scripts/bench): BENCH_REDLOCK2 (a second redlock binary), BENCH_ETCD
//! (the endpoint of a single-node etcd) or BENCH_ETCD_UNAVAILABLE (why there is none),
//! BENCH_ROUNDS, BENCH_ONLY, BENCH_TRACE.
//!
//! The parts, in the order they run (BENCH_ONLY names), and the module of each:
//! - `overhead` (overhead.rs): `redlock run -- true` against `flock FILE true` and
//!   `etcdctl lock N -- true`: wall, CPU (getrusage of the reaped children) and peak RSS per
//!   process.
//! - `stopped` (stopped.rs): `redlock run -- true` on 3 instances, one of them SIGSTOPped,
//!   beside all up.
//! - `leftover` (stopped.rs): an instance stopped during a whole `run`, continued after it:
//!   does it still hold the finished holder's key 200 ms later?
//! - `fanout` (fanout.rs, through proxy.rs): acquire, release and run on 5 instances each
//!   behind a proxy adding 50 ms each way.
//! - `handoff8`, `handoff32` (handoff_rows.rs; one run in handoff.rs, the tools in tool.rs,
//!   the instances' counters in work.rs): K contenders × 25 runs around a 20 ms section,
//!   every tool.
//! - `fault` (fault.rs): the K=8 handoff with the resource's decider SIGSTOPped for 5 s.
//! - `limit4` (limit.rs): 16 contenders × 25 runs around a 20 ms section on `--limit 4`.
//! - `shared8` (shared.rs): 8 readers looping on `--shared` (and `flock -s`), one writer
//!   arriving among them.
//!
//! What they share: world.rs (the binaries, servers and etcd given), procs.rs (bounded
//! processes) and watchdog.rs, contenders.rs (the critical section and its contenders),
//! stats.rs, table.rs (the table and its cells); in ../common/, Redis by hand and the
//! sections' log (queue_bench reads them too) and the clock (examples/critical's).

#[path = "../common/clock.rs"]
mod clock;
#[path = "../common/redis.rs"]
mod redis_by_hand;
#[path = "../common/sections.rs"]
mod sections;

mod contenders;
mod fanout;
mod fault;
mod handoff;
mod handoff_rows;
mod limit;
mod overhead;
mod procs;
mod proxy;
mod shared;
mod stats;
mod stopped;
mod table;
mod tool;
mod watchdog;
mod work;
mod world;

use std::thread;
use std::time::Instant;

use handoff_rows::k32_rounds;
use table::Table;
use world::{column_name, progress, Env};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("rss") {
        return overhead::rss_mode(&args[2..]);
    }
    let env = match Env::from_args(&args) {
        Ok(env) => env,
        Err(line) => {
            eprintln!("{line}");
            std::process::exit(2);
        }
    };
    procs::stop_children_on_signals(env.pids.clone());
    let started = Instant::now();
    let load_before = loadavg();
    let mut table = Table::new(&env);
    run_parts(&env, &mut table);
    table.print();
    println!();
    print_world(&env, started, &load_before);
}

/// The parts BENCH_ONLY names (all when it is empty or unset), in their fixed order.
fn run_parts(env: &Env, table: &mut Table) {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p.trim() == name);
    if part("overhead") {
        progress("critical-section program start-up");
        let startup = overhead::critical_startup(env);
        progress("overhead of one process around `true`");
        overhead::overhead(env, table, startup);
    }
    if part("stopped") {
        stopped::stopped(env, table);
    }
    if part("leftover") {
        stopped::leftover(env, table);
    }
    if part("fanout") {
        fanout::fanout(env, table);
    }
    let mut unfaulted = None;
    for k in [8, 32] {
        if part(&format!("handoff{k}")) {
            let walls = handoff_rows::handoff_figures(env, table, k);
            if k == 8 {
                unfaulted = Some(walls);
            }
        }
    }
    if part("fault") {
        fault::fault(env, table, unfaulted);
    }
    if part("limit4") {
        limit::limit(env, table);
    }
    if part("shared8") {
        shared::shared(env, table);
    }
}

/// Below the table: what ran, where, and how busy the machine was.
fn print_world(env: &Env, started: Instant, load_before: &str) {
    for (i, bin) in env.bins.iter().enumerate() {
        println!("{}: {} ({})", column_name(i), bin.label, bin.path.display());
    }
    match &env.etcd {
        Ok(etcd) => println!(
            "etcd: {} on {} (1 node, data on {})",
            etcd.version, etcd.endpoint, etcd.data
        ),
        Err(why) => println!("etcd: not available ({why})"),
    }
    println!(
        "machine: {} cores, loopback; rounds: {} (K=32: {} of each redlock, 1 of flock and etcd); bench took {:.0} s",
        thread::available_parallelism().map_or(0, |n| n.get()),
        env.rounds,
        k32_rounds(env),
        started.elapsed().as_secs_f64()
    );
    println!(
        "load average (1 min, /proc/loadavg) at start and end: {} and {}",
        load_before,
        loadavg()
    );
}

/// The 1-minute load average: other work on the machine shows in every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
