//! The benchmark driver behind `scripts/bench` (which builds it, starts the redis-servers and
//! cleans up): `bench REDLOCK CRITICAL DIR PORTS PIDS` runs every workload the issue names and
//! prints one table. A measuring tool, not a test: it never fails on a number, and every
//! workload has a watchdog, so a livelock shows as "timed out" instead of a hang.
//!
//! Figures (median over BENCH_ROUNDS rounds, default 3, redlock and flock(1) rounds alternating;
//! at K=32 one round fewer of redlock and one of flock):
//! - handoff: K contender threads each run 25 `redlock run` processes in a row around
//!   `critical` (examples/critical.rs: a 20 ms sleep between two CLOCK_MONOTONIC readings,
//!   appended to a log); from the log: wall / ideal, the gaps between one section's end and
//!   the next one's start, how often the lock passed to another contender, the longest wait
//!   against a fair share, and any overlap (there must be none).
//! - the same with `flock LOCKFILE critical …`, the kernel's lock: the floor.
//! - overhead: `redlock run -r x -- true` against `true`, on 1 and 3 instances; peak RSS.
//! - fan-out: acquire + release on 5 instances each behind a proxy adding 10 ms each way.
//! - Redis work: requests and commands per handoff, from INFO commandstats deltas.
//! - under a fault: K=8 with the resource's decider instance SIGSTOPped for 5 s mid-run.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const CRITICAL_MS: u64 = 20;
const ITERATIONS: usize = 25;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("rss") {
        return rss_mode(&args[2..]);
    }
    if args.len() != 6 {
        eprintln!("usage: bench REDLOCK CRITICAL DIR PORTS PIDS   (run scripts/bench instead)");
        std::process::exit(2);
    }
    let csv = |s: &str| {
        s.split(',')
            .map(|p| p.parse().expect("a number"))
            .collect::<Vec<u32>>()
    };
    let env = Env {
        redlock: PathBuf::from(&args[1]),
        critical: PathBuf::from(&args[2]),
        dir: PathBuf::from(&args[3]),
        ports: csv(&args[4]).into_iter().map(|p| p as u16).collect(),
        pids: csv(&args[5]),
        rounds: std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3),
    };
    assert!(env.ports.len() >= 5, "the bench needs 5 redis-servers");
    let started = Instant::now();
    let mut table = Table::default();

    // BENCH_ONLY=overhead,handoff8,handoff32,fault,fanout runs only those parts.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p == name);
    if part("overhead") {
        progress("critical section program start-up");
        let startup = critical_startup(&env);
        progress("overhead of `redlock run -- true`");
        overhead(&env, &mut table, startup);
    }
    for k in [8, 32] {
        if part(&format!("handoff{k}")) {
            handoff_figures(&env, &mut table, k);
        }
    }
    if part("fault") {
        progress("K=8 with the decider instance stopped for 5 s");
        fault(&env, &mut table);
    }
    if part("fanout") {
        progress("fan-out through 5 delayed proxies");
        fanout(&env, &mut table);
    }

    table.print();
    println!(
        "\nmachine: {} cores, loopback; rounds per figure: {} (K=32: {} of redlock, 1 of flock); bench took {:.0} s",
        thread::available_parallelism().map_or(0, |n| n.get()),
        env.rounds,
        env.rounds.saturating_sub(1).max(1),
        started.elapsed().as_secs_f64()
    );
}

struct Env {
    redlock: PathBuf,
    critical: PathBuf,
    dir: PathBuf,
    ports: Vec<u16>,
    pids: Vec<u32>,
    rounds: usize,
}

impl Env {
    fn servers(&self, n: usize) -> String {
        self.ports[..n]
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn redlock(&self) -> Command {
        let mut cmd = Command::new(&self.redlock);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REDLOCK_") {
                cmd.env_remove(key);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
}

fn progress(what: &str) {
    eprintln!("bench: {what} …");
}

// ---------------------------------------------------------------- the table

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

struct Row {
    figure: String,
    describe: String,
    redlock: String,
    flock: String,
    ratio: String,
    target: String,
    verdict: String,
}

impl Table {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        figure: &str,
        describe: &str,
        redlock: String,
        flock: String,
        ratio: String,
        target: &str,
        met: Option<bool>,
    ) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        self.rows.push(Row {
            figure: figure.into(),
            describe: describe.into(),
            redlock,
            flock,
            ratio,
            target: target.into(),
            verdict: verdict.into(),
        });
    }

    fn print(&self) {
        println!();
        println!("| figure | redlock | flock(1) | ratio | target | |");
        println!("|---|---:|---:|---:|---|---|");
        for r in &self.rows {
            println!(
                "| **{}**<br>{} | {} | {} | {} | {} | {} |",
                r.figure, r.describe, r.redlock, r.flock, r.ratio, r.target, r.verdict
            );
        }
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

fn ms(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2} ms")
    } else {
        "timed out".into()
    }
}

// ---------------------------------------------------------------- clocks and stats

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass, which lives on our stack.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nearest-rank percentile of `xs` (sorted here); NaN when empty.
fn pct(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    if v.iter().any(|x| !x.is_finite()) {
        return f64::NAN;
    }
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn wall_of(cmd: &mut Command) -> f64 {
    let t0 = Instant::now();
    let _ = cmd.status();
    t0.elapsed().as_secs_f64() * 1e3
}

// ---------------------------------------------------------------- start-up and overhead

/// Median time from spawning `critical` (with a 0 ms section) to its first clock reading.
fn critical_startup(env: &Env) -> f64 {
    let log = env.dir.join("startup.log");
    let mut samples = vec![];
    for _ in 0..40 {
        let _ = std::fs::remove_file(&log);
        let t0 = monotonic_ns();
        let _ = Command::new(&env.critical).arg(&log).args(["0", "0"]).status();
        if let Some(s) = read_sections(&log).first() {
            samples.push((s.enter.saturating_sub(t0)) as f64 / 1e6);
        }
    }
    median(&samples)
}

fn overhead(env: &Env, table: &mut Table, startup: f64) {
    let lockfile = env.dir.join("overhead.lock");
    let (s1, s3) = (env.servers(1), env.servers(3));
    let (mut t, mut r1, mut r3, mut fl) = (vec![], vec![], vec![], vec![]);
    let run = |servers: &str| {
        let mut c = env.redlock();
        c.args(["-q", "run", "-r", "overhead", "-s", servers, "--", "true"]);
        c
    };
    for _ in 0..40 {
        t.push(wall_of(Command::new("true").stdout(Stdio::null())));
        r1.push(wall_of(&mut run(&s1)));
        r3.push(wall_of(&mut run(&s3)));
        fl.push(wall_of(Command::new("flock").arg(&lockfile).arg("true")));
    }
    let (t, r1, r3, fl) = (median(&t), median(&r1), median(&r3), median(&fl));
    let rss = |program: &str, args: &[&str]| -> f64 {
        let out = Command::new(std::env::current_exe().expect("own path"))
            .arg("rss")
            .arg(program)
            .args(args)
            .output();
        out.ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let redlock = env.redlock.to_string_lossy().into_owned();
    let rss_redlock = rss(&redlock, &["-q", "run", "-r", "rss", "-s", &s3, "--", "true"]) / 1024.0;
    let rss_flock = rss("flock", &[&lockfile.to_string_lossy(), "true"]) / 1024.0;

    table.add(
        "critical-section program start-up",
        "spawn of examples/critical to its first clock reading (part of every gap below, for both tools)",
        ms(startup),
        ms(startup),
        "–".into(),
        "(reported separately)",
        None,
    );
    table.add(
        "overhead, 1 instance",
        "median wall of `redlock run -r x -- true` minus `true` alone (flock: `flock FILE true` minus `true`)",
        ms(r1 - t),
        ms(fl - t),
        ratio(r1 - t, fl - t),
        "",
        None,
    );
    table.add(
        "overhead, 3 instances",
        "the same on 3 instances (40 runs each, interleaved)",
        ms(r3 - t),
        ms(fl - t),
        ratio(r3 - t, fl - t),
        "≤ 3 ms above `true`",
        Some(r3 - t <= 3.0),
    );
    table.add(
        "peak RSS",
        "largest resident set of `redlock run … -- true` (3 instances) / of `flock FILE true`",
        format!("{rss_redlock:.1} MiB"),
        format!("{rss_flock:.1} MiB"),
        ratio(rss_redlock, rss_flock),
        "≤ 8 MiB",
        Some(rss_redlock <= 8.0),
    );
    eprintln!("bench: true {t:.2} ms, run(1) {r1:.2} ms, run(3) {r3:.2} ms, flock {fl:.2} ms");
}

/// `bench rss PROGRAM ARGS…`: run it 5 times and print the largest child RSS in KiB.
fn rss_mode(args: &[String]) {
    let Some((program, rest)) = args.split_first() else {
        return;
    };
    for _ in 0..5 {
        let _ = Command::new(program)
            .args(rest)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    // SAFETY: getrusage only writes the struct we pass, zero-initialised on our stack.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN covers the children waited for above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    println!("{}", usage.ru_maxrss);
}

// ---------------------------------------------------------------- handoff

#[derive(Clone, Copy)]
struct Section {
    enter: u64,
    exit: u64,
    worker: usize,
}

fn read_sections(log: &Path) -> Vec<Section> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out: Vec<Section> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Section {
                enter: f.first()?.parse().ok()?,
                exit: f.get(1)?.parse().ok()?,
                worker: f.get(2)?.parse().ok()?,
            })
        })
        .collect();
    out.sort_by_key(|s| s.enter);
    out
}

#[derive(Clone)]
enum Tool {
    Redlock { servers: String, resource: String },
    Flock { lockfile: PathBuf },
}

struct Fault {
    pid: u32,
    at: Duration,
    hold: Duration,
}

/// What one handoff run measured.
#[derive(Default, Clone)]
struct Stats {
    wall_over_ideal: f64,
    gap_p50: f64,
    gap_p99: f64,
    gap_max: f64,
    to_other: f64,
    /// The longest single wait (spawn to section start) over the fair share (K−1 cycles).
    max_wait_share: f64,
    overlaps: usize,
    failures: usize,
    sections: usize,
    /// Top-level requests (scripts, SUBSCRIBE) and all commands (script-internal included),
    /// per handoff.
    requests: f64,
    commands: f64,
}

fn handoff(env: &Env, k: usize, iterations: usize, tool: &Tool, fault: Option<Fault>, tag: &str) -> Stats {
    let log = env.dir.join(format!("handoff-{tag}.log"));
    let _ = std::fs::remove_file(&log);
    let before = commandstats(&env.ports[..3]);
    let ideal = (k * iterations) as f64 * CRITICAL_MS as f64 / 1e3;
    let limit = Duration::from_secs_f64(ideal * 6.0 + 20.0);
    let abort = Arc::new(AtomicBool::new(false));
    let children: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(vec![]));
    let spawns: Arc<Mutex<Vec<Vec<u64>>>> = Arc::new(Mutex::new(vec![vec![]; k]));
    let failures = Arc::new(Mutex::new(0usize));
    let t0 = Instant::now();
    let fault_thread = fault.map(|f| {
        thread::spawn(move || {
            thread::sleep(f.at);
            signal(f.pid, libc::SIGSTOP);
            thread::sleep(f.hold);
            signal(f.pid, libc::SIGCONT);
        })
    });
    let workers: Vec<_> = (0..k)
        .map(|w| {
            let (abort, children, spawns, failures) = (
                Arc::clone(&abort),
                Arc::clone(&children),
                Arc::clone(&spawns),
                Arc::clone(&failures),
            );
            let (log, tool, critical, redlock) = (
                log.clone(),
                tool.clone(),
                env.critical.clone(),
                env.redlock.clone(),
            );
            thread::spawn(move || {
                for _ in 0..iterations {
                    if abort.load(Ordering::SeqCst) {
                        return;
                    }
                    let mut cmd = match &tool {
                        Tool::Redlock { servers, resource } => {
                            let mut c = Command::new(&redlock);
                            c.args(["-q", "run", "-r", resource, "-s", servers, "--"]);
                            for (key, _) in std::env::vars_os() {
                                if key.to_string_lossy().starts_with("REDLOCK_") {
                                    c.env_remove(key);
                                }
                            }
                            c
                        }
                        Tool::Flock { lockfile } => {
                            let mut c = Command::new("flock");
                            c.arg(lockfile);
                            c
                        }
                    };
                    cmd.arg(&critical)
                        .arg(&log)
                        .arg(w.to_string())
                        .arg(CRITICAL_MS.to_string());
                    cmd.stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null());
                    // BENCH_TRACE=1: `-v` lines, stamped with CLOCK_MONOTONIC, in LOG.trace.
                    let trace =
                        std::env::var_os("BENCH_TRACE").is_some() && matches!(tool, Tool::Redlock { .. });
                    if trace {
                        let mut args: Vec<std::ffi::OsString> =
                            cmd.get_args().map(|a| a.to_owned()).collect();
                        args.retain(|a| a != "-q");
                        args.insert(0, "-v".into());
                        let mut c = Command::new(cmd.get_program());
                        c.args(args)
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped());
                        cmd = c;
                    }
                    spawns.lock().unwrap_or_else(|p| p.into_inner())[w].push(monotonic_ns());
                    let Ok(mut child) = cmd.spawn() else {
                        *failures.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                        continue;
                    };
                    children
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(child.id());
                    if let Some(mut err) = child.stderr.take() {
                        let path = log.with_extension("trace");
                        let tag = format!("w{w} pid {}", child.id());
                        thread::spawn(move || {
                            let mut buf = Vec::new();
                            let mut byte = [0u8; 1];
                            let mut out = std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&path)
                                .ok();
                            while let Ok(1) = err.read(&mut byte) {
                                if byte[0] == b'\n' {
                                    let line = format!(
                                        "{} {tag} {}\n",
                                        monotonic_ns(),
                                        String::from_utf8_lossy(&buf)
                                    );
                                    if let Some(o) = out.as_mut() {
                                        let _ = o.write_all(line.as_bytes());
                                    }
                                    buf.clear();
                                } else {
                                    buf.push(byte[0]);
                                }
                            }
                        });
                    }
                    let ok = child.wait().is_ok_and(|s| s.success());
                    if !ok {
                        *failures.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                    }
                }
            })
        })
        .collect();
    // Watchdog: past the limit, stop everything and report what was done.
    let mut timed_out = false;
    while !workers.iter().all(|w| w.is_finished()) {
        if t0.elapsed() > limit {
            timed_out = true;
            abort.store(true, Ordering::SeqCst);
            for pid in children.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                // SAFETY: kill only sends a signal; a pid already reaped gets ESRCH, ignored.
                unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    let wall = t0.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.join();
    }
    if let Some(f) = fault_thread {
        let _ = f.join();
    }
    let after = commandstats(&env.ports[..3]);

    let sections = read_sections(&log);
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
    // Waits: a worker's sections come in the order it spawned its processes.
    let spawns = spawns.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut seen = vec![0usize; k];
    let mut max_wait: f64 = 0.0;
    for s in &sections {
        if let Some(spawned) = spawns.get(s.worker).and_then(|v| v.get(seen[s.worker])) {
            max_wait = max_wait.max((s.enter.saturating_sub(*spawned)) as f64 / 1e6);
        }
        if s.worker < k {
            seen[s.worker] += 1;
        }
    }
    let cycle_ms = wall * 1e3 / sections.len().max(1) as f64;
    let handoffs = sections.len().saturating_sub(1).max(1) as f64;
    let (requests, commands) = match (&before, &after) {
        (Some(b), Some(a)) => {
            let delta = |pick: &dyn Fn(&str) -> bool| -> f64 {
                a.iter()
                    .filter(|(c, _)| pick(c))
                    .map(|(c, n)| n - b.get(c).copied().unwrap_or(0.0))
                    .sum::<f64>()
            };
            let top = |c: &str| matches!(c, "evalsha" | "eval" | "subscribe" | "unsubscribe" | "ping");
            (delta(&top) / handoffs, delta(&|c: &str| c != "info") / handoffs)
        }
        _ => (f64::NAN, f64::NAN),
    };
    let nan_if = |x: f64| if timed_out { f64::NAN } else { x };
    let failed = *failures.lock().unwrap_or_else(|p| p.into_inner());
    Stats {
        wall_over_ideal: nan_if(wall / ideal),
        gap_p50: pct(&gaps, 50.0),
        gap_p99: pct(&gaps, 99.0),
        gap_max: pct(&gaps, 100.0),
        to_other: if gaps.is_empty() {
            f64::NAN
        } else {
            to_other as f64 / gaps.len() as f64
        },
        max_wait_share: nan_if(max_wait / (cycle_ms * (k as f64 - 1.0))),
        overlaps,
        failures: failed + usize::from(timed_out),
        sections: sections.len(),
        requests,
        commands,
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill only sends a signal to the redis-server the bench script started.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// `cmdstat_NAME` → calls, summed over `ports`.
fn commandstats(ports: &[u16]) -> Option<HashMap<String, f64>> {
    let mut total: HashMap<String, f64> = HashMap::new();
    for port in ports {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(2)).ok()?;
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut conn).ok()?;
        for line in info.lines() {
            let Some(rest) = line.strip_prefix("cmdstat_") else {
                continue;
            };
            let Some((name, fields)) = rest.split_once(':') else {
                continue;
            };
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0);
            *total.entry(name.to_string()).or_default() += calls;
        }
    }
    Some(total)
}

fn med_of(runs: &[Stats], f: impl Fn(&Stats) -> f64) -> f64 {
    median(&runs.iter().map(f).collect::<Vec<_>>())
}

fn handoff_figures(env: &Env, table: &mut Table, k: usize) {
    let lockfile = env.dir.join(format!("handoff-{k}.lock"));
    let (mut red, mut flo) = (vec![], vec![]);
    // K=32 runs take four times as long: one round fewer keeps the bench near three minutes.
    let rounds = if k >= 32 {
        env.rounds.saturating_sub(1).max(1)
    } else {
        env.rounds
    };
    for round in 0..rounds {
        progress(&format!("handoff K={k}, round {} of {rounds}", round + 1));
        let tool = Tool::Redlock {
            servers: env.servers(3),
            resource: format!("handoff-{k}-{round}"),
        };
        red.push(handoff(
            env,
            k,
            ITERATIONS,
            &tool,
            None,
            &format!("redlock-{k}-{round}"),
        ));
        flo.push(handoff(
            env,
            k,
            ITERATIONS,
            &Tool::Flock {
                lockfile: lockfile.clone(),
            },
            None,
            &format!("flock-{k}-{round}"),
        ));
        let s = red
            .last()
            .map(|s| (s.wall_over_ideal, s.gap_p50, s.gap_p99))
            .unwrap_or_default();
        eprintln!(
            "bench:   redlock wall/ideal {:.3} gap p50 {:.2} p99 {:.2} ms",
            s.0, s.1, s.2
        );
    }
    let m = |runs: &[Stats], f: &dyn Fn(&Stats) -> f64| med_of(runs, f);
    let (rw, fw) = (m(&red, &|s| s.wall_over_ideal), m(&flo, &|s| s.wall_over_ideal));
    let (r50, f50) = (m(&red, &|s| s.gap_p50), m(&flo, &|s| s.gap_p50));
    let (r99, f99) = (m(&red, &|s| s.gap_p99), m(&flo, &|s| s.gap_p99));
    let (ro, fo) = (m(&red, &|s| s.to_other), m(&flo, &|s| s.to_other));
    let (rs, fs) = (
        red.iter().map(|s| s.max_wait_share).fold(0.0, f64::max),
        flo.iter().map(|s| s.max_wait_share).fold(0.0, f64::max),
    );
    let overlaps: usize = red.iter().chain(&flo).map(|s| s.overlaps).sum();
    let failures: usize = red.iter().chain(&flo).map(|s| s.failures).sum();
    let sections: usize = red.iter().map(|s| s.sections).sum();
    let ideal = k * ITERATIONS * CRITICAL_MS as usize;
    let name = |what: &str| format!("handoff K={k}: {what}");
    let (wall_target, wall_met) = if k == 8 {
        ("within 5 % of flock's".to_string(), rw <= fw * 1.05)
    } else {
        ("≤ 1.20, no livelock".to_string(), rw <= 1.20)
    };
    table.add(
        &name("wall / ideal"),
        &format!("{k} contenders × {ITERATIONS} runs around a 20 ms section; ideal = {ideal} ms"),
        format!("{rw:.3}"),
        format!("{fw:.3}"),
        ratio(rw, fw),
        &wall_target,
        Some(wall_met),
    );
    table.add(
        &name("gap p50"),
        "one section's end to the next one's start, median",
        ms(r50),
        ms(f50),
        ratio(r50, f50),
        if k == 8 { "≤ 1.5 ms" } else { "" },
        (k == 8).then_some(r50 <= 1.5),
    );
    table.add(
        &name("gap p99"),
        "the same, 99th percentile",
        ms(r99),
        ms(f99),
        ratio(r99, f99),
        if k == 8 { "≤ 10 ms" } else { "" },
        (k == 8).then_some(r99 <= 10.0),
    );
    table.add(
        &name("passed to another waiter"),
        "share of handoffs where the next section is another contender's",
        format!("{:.1} %", ro * 100.0),
        format!("{:.1} %", fo * 100.0),
        ratio(ro, fo),
        if k == 8 { "≥ 90 %" } else { "" },
        (k == 8).then_some(ro >= 0.9),
    );
    table.add(
        &name("longest wait / fair share"),
        "longest single wait (spawn to section start) over (K−1) mean cycles, worst round",
        format!("{rs:.2}"),
        format!("{fs:.2}"),
        ratio(rs, fs),
        if k == 32 { "≤ 5" } else { "" },
        (k == 32).then_some(rs <= 5.0),
    );
    let (rq, rc) = (m(&red, &|s| s.requests), m(&red, &|s| s.commands));
    table.add(
        &name("Redis work per handoff"),
        "requests (scripts, SUBSCRIBE) / commands incl. those inside scripts, INFO commandstats deltas on 3 instances",
        format!("{rq:.1} / {rc:.1}"),
        "–".into(),
        "–".into(),
        "linear in K (compare K=8 and K=32)",
        None,
    );
    table.add(
        &name("safety"),
        "overlapping sections (must be 0) and failed runs, over all rounds of both tools",
        format!("{overlaps} overlaps, {failures} failed, {sections} sections"),
        String::new(),
        String::new(),
        "0 overlaps",
        Some(overlaps == 0),
    );
}

fn fault(env: &Env, table: &mut Table) {
    // Stop the instance that decides for this resource: the worst one to lose.
    let resource = "handoff-fault";
    let settings = redlock::engine::settings::Settings {
        servers: env.servers(3).split(',').filter_map(|u| u.parse().ok()).collect(),
        prefix: "redlock:".into(),
        connect_timeout: Duration::from_millis(250),
        op_timeout: Duration::from_millis(250),
        verbosity: redlock::engine::settings::Verbosity::Quiet,
    };
    let decider = redlock::engine::lock::Locker::new(&settings, None).order(resource)[0];
    let fault = Fault {
        pid: env.pids[decider],
        at: Duration::from_millis(1500),
        hold: Duration::from_secs(5),
    };
    let tool = Tool::Redlock {
        servers: env.servers(3),
        resource: resource.into(),
    };
    // 48 runs each, so the 5 s stop sits in the middle of a ~8 s run.
    let s = handoff(env, 8, 48, &tool, Some(fault), "fault");
    table.add(
        "under a fault: longest gap",
        "K=8 × 48 runs on 3 instances, the resource's decider SIGSTOPped from 1.5 s to 6.5 s; op timeout 250 ms",
        ms(s.gap_max),
        "–".into(),
        "–".into(),
        "≤ op timeout + 100 ms = 350 ms",
        Some(s.gap_max <= 350.0),
    );
    table.add(
        "under a fault: the rest",
        "wall / ideal, gap p50 / p99, overlaps and failed runs in that run",
        format!(
            "{:.3}, {} / {}, {} overlaps, {} failed",
            s.wall_over_ideal,
            ms(s.gap_p50),
            ms(s.gap_p99),
            s.overlaps,
            s.failures
        ),
        "–".into(),
        "–".into(),
        "0 overlaps",
        Some(s.overlaps == 0),
    );
}

// ---------------------------------------------------------------- fan-out

fn fanout(env: &Env, table: &mut Table) {
    let delay = Duration::from_millis(10);
    let proxies: Vec<u16> = env.ports[..5].iter().map(|p| delay_proxy(*p, delay)).collect();
    let servers = proxies
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    // The round trip through one proxy, as a client sees it.
    let rtt = {
        let mut samples = vec![];
        if let Ok(mut conn) = redis::Client::open(format!("redis://127.0.0.1:{}", proxies[0]))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        {
            for _ in 0..7 {
                let t0 = Instant::now();
                let _: redis::RedisResult<String> = redis::cmd("PING").query(&mut conn);
                samples.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        median(&samples)
    };
    let (mut acq, mut rel) = (vec![], vec![]);
    for i in 0..8 {
        let t0 = Instant::now();
        let out = env
            .redlock()
            .args(["-q", "-s", &servers, "acquire", "-r", "fanout"])
            .stdout(Stdio::piped())
            .output();
        let a = t0.elapsed().as_secs_f64() * 1e3;
        let token = out
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let t0 = Instant::now();
        let _ = env
            .redlock()
            .args(["-q", "-s", &servers, "release", "-r", "fanout", "--token", &token])
            .status();
        let r = t0.elapsed().as_secs_f64() * 1e3;
        if i > 0 {
            // The first loads the scripts on the instances (EVALSHA → NOSCRIPT → EVAL).
            acq.push(a);
            rel.push(r);
        }
    }
    // The same through the library with warm connections: rounds only, no process start.
    let settings = redlock::engine::settings::Settings {
        servers: servers.split(',').filter_map(|u| u.parse().ok()).collect(),
        prefix: "redlock:".into(),
        connect_timeout: Duration::from_millis(250),
        op_timeout: Duration::from_millis(250),
        verbosity: redlock::engine::settings::Verbosity::Quiet,
    };
    let locker = redlock::engine::lock::Locker::new(&settings, None);
    let mut lib = vec![];
    for i in 0..8 {
        let req = redlock::engine::lock::Request {
            resource: "fanout-lib".into(),
            token: format!("bench-{i}"),
            ttl: Duration::from_secs(10),
            meta: redlock::engine::holder::HolderMeta::new(std::process::id(), "bench"),
        };
        let t0 = Instant::now();
        if let Ok(redlock::engine::lock::Attempt::Acquired(lease)) = locker.try_acquire(&req) {
            let took = t0.elapsed().as_secs_f64() * 1e3;
            if i > 0 {
                lib.push(took);
            }
            locker.release(&lease.resource, &lease.token, Duration::ZERO);
        }
    }
    let (a, r, l) = (median(&acq), median(&rel), median(&lib));
    table.add(
        "fan-out: acquire",
        &format!("`redlock acquire` (a fresh process) on 5 instances each behind a proxy adding 10 ms each way; round trip measured {rtt:.1} ms"),
        format!("{} = {:.2} RTT", ms(a), a / rtt),
        "–".into(),
        "–".into(),
        "≤ 1.5 round trips",
        Some(a <= 1.5 * rtt),
    );
    table.add(
        "fan-out: acquire, warm library",
        "the same attempt through the library with open connections (rounds only)",
        format!("{} = {:.2} RTT", ms(l), l / rtt),
        "–".into(),
        "–".into(),
        "",
        None,
    );
    table.add(
        "fan-out: release",
        "`redlock release` (a fresh process) on the same 5 instances",
        format!("{} = {:.2} RTT", ms(r), r / rtt),
        "–".into(),
        "–".into(),
        "",
        None,
    );
}

/// A TCP proxy to 127.0.0.1:`port` adding `delay` in each direction (latency, not bandwidth:
/// each chunk is forwarded `delay` after it was read). Runs until the process exits.
fn delay_proxy(port: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
    let local = listener.local_addr().expect("proxy address").port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            if let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) {
                pump(client, u2, delay);
                pump(upstream, c2, delay);
            }
        }
    });
    local
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (at, bytes) in rx {
            let due = at + delay;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
