//! The part `overhead`: the critical section's own start-up, then one process around `true`
//! (`redlock run`, `flock FILE true`, `etcdctl lock N -- true`): wall, CPU and peak RSS.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::clock::monotonic_ns;
use crate::procs::{children_usage, output_of, quiet, run_bounded, Ran, PROCESS_LIMIT};
use crate::sections::read_sections;
use crate::stats::{median, median_by};
use crate::table::{mib, ms, na, Table};
use crate::watchdog::Watchdog;
use crate::world::Env;

/// Median time from spawning `critical` (with a 0 ms section) to its first clock reading.
pub fn critical_startup(env: &Env) -> f64 {
    let log = env.dir.join("startup.log");
    let mut samples = vec![];
    for _ in 0..40 {
        let _ = std::fs::remove_file(&log);
        let t0 = monotonic_ns();
        let mut cmd = Command::new(&env.critical);
        cmd.arg(&log).args(["0", "0"]);
        run_bounded(&mut cmd, PROCESS_LIMIT, false);
        if let Some(s) = read_sections(&log).first() {
            samples.push((s.enter.saturating_sub(t0)) as f64 / 1e6);
        }
    }
    median(&samples)
}

/// 40 runs of each, interleaved: `true` alone, each redlock on 1 and on 3 instances, flock,
/// and etcd when it runs.
struct Samples {
    alone: Vec<Ran>,
    /// Per redlock binary, on 1 instance and on 3.
    one: Vec<Vec<Ran>>,
    three: Vec<Vec<Ran>>,
    flock: Vec<Ran>,
    etcd: Vec<Ran>,
}

fn sample(env: &Env, lockfile: &Path) -> Samples {
    let (s1, s3) = (env.servers(1), env.servers(3));
    let n = env.bins.len();
    let (mut alone, mut flock, mut etcd) = (vec![], vec![], vec![]);
    let (mut one, mut three) = (vec![vec![]; n], vec![vec![]; n]);
    for i in 0..40 {
        alone.push(run_bounded(&mut Command::new("true"), PROCESS_LIMIT, false));
        for b in env.order(i) {
            one[b].push(run_bounded(
                &mut env.run_true(b, "overhead", &s1),
                PROCESS_LIMIT,
                false,
            ));
            three[b].push(run_bounded(
                &mut env.run_true(b, "overhead", &s3),
                PROCESS_LIMIT,
                false,
            ));
        }
        let mut cmd = Command::new("flock");
        cmd.arg(lockfile).arg("true");
        quiet(&mut cmd);
        flock.push(run_bounded(&mut cmd, PROCESS_LIMIT, false));
        if let Some(ep) = env.etcd_endpoint() {
            let mut cmd = env.etcdctl(ep, &["lock", "overhead", "--", "true"]);
            etcd.push(run_bounded(&mut cmd, PROCESS_LIMIT, false));
        }
    }
    Samples {
        alone,
        one,
        three,
        flock,
        etcd,
    }
}

pub fn overhead(env: &Env, table: &mut Table, startup: f64) {
    let _watchdog = Watchdog::start("overhead", Duration::from_secs(60));
    let lockfile = env.dir.join("overhead.lock");
    let s = sample(env, &lockfile);
    table.add(
        "critical-section program start-up",
        "spawn of examples/critical to its first clock reading (part of every handoff gap, for every tool)",
        vec![ms(startup); env.bins.len()],
        ms(startup),
        if env.etcd.is_ok() { ms(startup) } else { na() },
        na(),
    );
    let wall = |r: &[Ran]| median_by(r, |x| x.wall);
    let cpu = |r: &[Ran]| median_by(r, |x| x.cpu);
    let etcd = |f: &dyn Fn(&[Ran]) -> f64| (!s.etcd.is_empty()).then(|| f(&s.etcd));
    for (servers, runs) in [(1, &s.one), (3, &s.three)] {
        let walls: Vec<f64> = runs.iter().map(|r| wall(r)).collect();
        let failed: usize = runs.iter().flatten().filter(|r| !r.ok).count();
        table.add_figure(
            &format!("`run -- true`, {servers} instance{}: wall", plural(servers)),
            &format!(
                "median wall of the whole process, spawn to reaped, 40 runs interleaved (`true` alone: {}); flock: `flock FILE true`; etcd: `etcdctl lock N -- true` on 1 node{}",
                ms(wall(&s.alone)),
                if failed > 0 { format!("; {failed} redlock runs failed") } else { String::new() }
            ),
            &walls,
            wall(&s.flock),
            etcd(&wall),
            ms,
        );
    }
    for (servers, runs) in [(1, &s.one), (3, &s.three)] {
        let cpus: Vec<f64> = runs.iter().map(|r| cpu(r)).collect();
        table.add_figure(
            &format!("`run -- true`, {servers} instance{}: CPU", plural(servers)),
            &format!(
                "median user + system CPU per process, its `true` included (getrusage of reaped children; `true` alone: {})",
                ms(cpu(&s.alone))
            ),
            &cpus,
            cpu(&s.flock),
            etcd(&cpu),
            ms,
        );
    }
    peak_rss(env, table, &lockfile);
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The peak RSS row: each tool's process measured by `bench rss` (a child of ours of its own,
/// so that no other process's peak counts).
fn peak_rss(env: &Env, table: &mut Table, lockfile: &Path) {
    let s3 = env.servers(3);
    let bins: Vec<f64> = env
        .bins
        .iter()
        .map(|b| {
            let args = ["-q", "run", "-r", "rss", "-s", &s3, "--", "true"].map(OsStr::new);
            rss(b.path.as_os_str(), &args)
        })
        .collect();
    let flock = rss(OsStr::new("flock"), &[lockfile.as_os_str(), OsStr::new("true")]);
    let etcd = env.etcd_endpoint().map(|ep| {
        let endpoints = format!("--endpoints={ep}");
        rss(
            OsStr::new("etcdctl"),
            &[&endpoints, "lock", "rss", "--", "true"].map(OsStr::new),
        )
    });
    table.add_figure(
        "peak RSS",
        "largest resident set of `redlock run … -- true` (3 instances) / `flock FILE true` / `etcdctl lock N -- true`, over 5 runs",
        &bins,
        flock,
        etcd,
        mib,
    );
}

/// `bench rss PROGRAM ARGS…` as a child: its peak RSS, MiB; NaN when it failed.
fn rss(program: &OsStr, args: &[&OsStr]) -> f64 {
    let Ok(me) = std::env::current_exe() else {
        return f64::NAN;
    };
    let mut cmd = Command::new(me);
    cmd.arg("rss").arg(program).args(args);
    output_of(&mut cmd)
        .and_then(|o| o.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `bench rss PROGRAM ARGS…`: run it 5 times and print the largest child RSS in KiB.
pub fn rss_mode(args: &[String]) {
    let Some((program, rest)) = args.split_first() else {
        return;
    };
    for _ in 0..5 {
        let mut cmd = Command::new(program);
        cmd.args(rest);
        quiet(&mut cmd);
        run_bounded(&mut cmd, PROCESS_LIMIT, false);
    }
    println!("{}", children_usage().ru_maxrss);
}
