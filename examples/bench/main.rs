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
//! The parts, in the order they run (BENCH_ONLY names):
//! - `overhead`: `redlock run -- true` against `flock FILE true` and `etcdctl lock N -- true`:
//!   wall, CPU (getrusage of the reaped children) and peak RSS per process.
//! - `stopped`: `redlock run -- true` on 3 instances, one of them SIGSTOPped, beside all up.
//! - `leftover`: an instance stopped during a whole `run`, continued after it: does it still
//!   hold the finished holder's key 200 ms later?
//! - `fanout`: acquire, release and run on 5 instances each behind a proxy adding 50 ms each way.
//! - `handoff8`, `handoff32`: K contenders × 25 runs around a 20 ms section, every tool.
//! - `fault`: the K=8 handoff with the resource's decider SIGSTOPped for 5 s.
//! - `limit4`: 16 contenders × 25 runs around a 20 ms section on `--limit 4`.
//! - `shared8`: 8 readers looping on `--shared` (and `flock -s`), one writer arriving among them.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../common/redis.rs"]
mod redis_by_hand;
#[path = "../common/sections.rs"]
mod sections;
use redis_by_hand::{command_calls, info_value, integer, is_request, query as redis_query, urls};
use sections::{read_sections, Section};

const CRITICAL_MS: u64 = 20;
const ITERATIONS: usize = 25;
/// The fan-out proxies add this in each direction: a round trip of about 100 ms.
const LINK_DELAY: Duration = Duration::from_millis(50);
/// How long a single process of the short workloads may take before it is killed.
const PROCESS_LIMIT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("rss") {
        return rss_mode(&args[2..]);
    }
    if args.len() != 6 {
        eprintln!("usage: bench REDLOCK CRITICAL DIR PORTS PIDS   (run scripts/bench instead)");
        std::process::exit(2);
    }
    let csv = |s: &str| -> Vec<u32> { s.split(',').filter_map(|p| p.parse().ok()).collect() };
    let mut paths = vec![PathBuf::from(&args[1])];
    if let Some(second) = std::env::var_os("BENCH_REDLOCK2").filter(|s| !s.is_empty()) {
        paths.push(PathBuf::from(second));
    }
    let env = Env {
        bins: labelled(paths),
        critical: PathBuf::from(&args[2]),
        dir: PathBuf::from(&args[3]),
        ports: csv(&args[4]).into_iter().map(|p| p as u16).collect(),
        pids: csv(&args[5]),
        rounds: std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r| r > 0)
            .unwrap_or(3),
        etcd: etcd_from_env(),
    };
    if env.ports.len() < 5 || env.pids.len() < 5 {
        eprintln!("bench: needs 5 redis-servers (ports and pids)");
        std::process::exit(2);
    }
    stop_children_on_signals(env.pids.clone());
    let started = Instant::now();
    let load_before = loadavg();
    let mut table = Table::new(&env);

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p.trim() == name);
    if part("overhead") {
        progress("critical-section program start-up");
        let startup = critical_startup(&env);
        progress("overhead of one process around `true`");
        overhead(&env, &mut table, startup);
    }
    if part("stopped") {
        stopped(&env, &mut table);
    }
    if part("leftover") {
        leftover(&env, &mut table);
    }
    if part("fanout") {
        fanout(&env, &mut table);
    }
    let mut unfaulted = None;
    for k in [8, 32] {
        if part(&format!("handoff{k}")) {
            let walls = handoff_figures(&env, &mut table, k);
            if k == 8 {
                unfaulted = Some(walls);
            }
        }
    }
    if part("fault") {
        fault(&env, &mut table, unfaulted);
    }
    if part("limit4") {
        limit(&env, &mut table);
    }
    if part("shared8") {
        shared(&env, &mut table);
    }

    table.print();
    println!();
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
        k32_rounds(&env),
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

// ---------------------------------------------------------------- the world

struct Bin {
    path: PathBuf,
    /// What `--version` printed: the column's name.
    label: String,
}

struct Etcd {
    endpoint: String,
    version: String,
    data: String,
}

struct Env {
    bins: Vec<Bin>,
    critical: PathBuf,
    dir: PathBuf,
    ports: Vec<u16>,
    pids: Vec<u32>,
    rounds: usize,
    etcd: Result<Etcd, String>,
}

fn labelled(paths: Vec<PathBuf>) -> Vec<Bin> {
    let mut bins: Vec<Bin> = paths
        .into_iter()
        .map(|path| {
            let label = output_of(Command::new(&path).arg("--version"))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| path.display().to_string());
            Bin { path, label }
        })
        .collect();
    if bins.len() == 2 && bins[0].label == bins[1].label {
        bins[1].label.push_str(" (REDLOCK_BIN2)");
    }
    bins
}

fn etcd_from_env() -> Result<Etcd, String> {
    if let Ok(why) = std::env::var("BENCH_ETCD_UNAVAILABLE") {
        return Err(why);
    }
    let endpoint = std::env::var("BENCH_ETCD").map_err(|_| "no BENCH_ETCD endpoint given".to_string())?;
    let version = output_of(Command::new("etcd").arg("--version"))
        .and_then(|v| v.lines().next().map(|l| l.replace("etcd Version: ", "etcd ")))
        .unwrap_or_else(|| "etcd".into());
    let data = std::env::var("BENCH_ETCD_DATA").unwrap_or_else(|_| "?".into());
    Ok(Etcd {
        endpoint,
        version,
        data,
    })
}

/// Column names: A (REDLOCK_BIN) and B (REDLOCK_BIN2).
fn column_name(i: usize) -> &'static str {
    ["A", "B"].get(i).copied().unwrap_or("?")
}

impl Env {
    fn servers(&self, n: usize) -> String {
        urls(&self.ports[..n])
    }

    /// `redlock ARGS` of binary `bin`, with no REDLOCK_* from our environment and no stdio.
    fn redlock(&self, bin: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bins[bin].path);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REDLOCK_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args);
        quiet(&mut cmd);
        cmd
    }

    /// `etcdctl --endpoints=ENDPOINT ARGS`, API v3, no ETCDCTL_* from our environment.
    fn etcdctl(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("etcdctl");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCDCTL_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoint}"))
            .args(args);
        quiet(&mut cmd);
        cmd
    }

    fn etcd_endpoint(&self) -> Option<&str> {
        self.etcd.as_ref().ok().map(|e| e.endpoint.as_str())
    }

    /// The redlock binaries in the order round `i` runs them: alternating, so neither always
    /// goes first (on a warm or a busy machine).
    fn order(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.bins.len()).collect();
        if i % 2 == 1 {
            v.reverse();
        }
        v
    }
}

fn quiet(cmd: &mut Command) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
}

fn progress(what: &str) {
    eprintln!("bench: {what} …");
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------- processes, bounded

/// Every child not yet reaped: what a watchdog or a signal kills.
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn spawn(cmd: &mut Command) -> Option<Child> {
    let child = cmd.spawn().ok()?;
    guard(&CHILDREN).insert(child.id());
    Some(child)
}

fn reap(child: &mut Child) -> Option<ExitStatus> {
    let status = child.wait().ok();
    guard(&CHILDREN).remove(&child.id());
    status
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill only sends a signal to a process this bench started (or a server the
    // script started); a pid already gone gets ESRCH, ignored.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

fn kill_children() {
    for pid in guard(&CHILDREN).iter() {
        signal(*pid, libc::SIGKILL);
    }
}

/// SIGINT, SIGTERM, SIGHUP: kill every child (a `redlock run` SIGKILLed takes its command
/// with it, by its parent-death signal), continue any stopped server, and exit 128 + n.
/// scripts/bench then stops the servers and etcd.
fn stop_children_on_signals(redis_pids: Vec<u32>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        eprintln!("bench: cannot catch signals; an interrupted bench may leave processes behind");
        return;
    };
    thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            kill_children();
            for pid in &redis_pids {
                signal(*pid, libc::SIGCONT);
            }
            eprintln!("bench: interrupted");
            std::process::exit(128 + sig);
        }
    });
}

/// A workload's watchdog: past `limit` it kills every child, again every 50 ms until dropped,
/// and `expired()` tells the workload to stop starting new ones.
struct Watchdog {
    expired: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(what: &str, limit: Duration) -> Watchdog {
        let expired = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let (flag, what) = (Arc::clone(&expired), what.to_string());
        let thread = thread::spawn(move || {
            if stopped.recv_timeout(limit) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            flag.store(true, Ordering::SeqCst);
            eprintln!("bench: {what}: still running after {limit:?}; stopping it");
            loop {
                kill_children();
                if stopped.recv_timeout(Duration::from_millis(50)) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
            }
        });
        Watchdog {
            expired,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One process, run to its end.
#[derive(Clone)]
struct Ran {
    /// Spawn to reaped, ms; NaN when it was killed at its limit or could not start.
    wall: f64,
    /// User + system CPU of the process and its own reaped children, ms.
    cpu: f64,
    ok: bool,
    stdout: String,
}

/// Runs `cmd` (stdout captured when `capture`) and kills it after `limit`. CPU comes from
/// getrusage(RUSAGE_CHILDREN) before and after: exact only while no other child of ours is
/// reaped meanwhile, so callers that want CPU run one process at a time.
fn run_bounded(cmd: &mut Command, limit: Duration, capture: bool) -> Ran {
    if capture {
        cmd.stdout(Stdio::piped());
    }
    let cpu0 = children_cpu_ms();
    let t0 = Instant::now();
    let Some(mut child) = spawn(cmd) else {
        return Ran {
            wall: f64::NAN,
            cpu: f64::NAN,
            ok: false,
            stdout: String::new(),
        };
    };
    let pid = child.id();
    let (done, wait_done) = mpsc::channel::<()>();
    let killer = thread::spawn(move || {
        let late = wait_done.recv_timeout(limit) == Err(RecvTimeoutError::Timeout);
        if late {
            signal(pid, libc::SIGKILL);
        }
        late
    });
    let status = reap(&mut child);
    let wall = t0.elapsed().as_secs_f64() * 1e3;
    drop(done);
    let killed = killer.join().unwrap_or(true);
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    Ran {
        wall: if killed { f64::NAN } else { wall },
        cpu: children_cpu_ms() - cpu0,
        ok: !killed && status.is_some_and(|s| s.success()),
        stdout,
    }
}

fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct we pass, zero-initialised on our stack.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn output_of(cmd: &mut Command) -> Option<String> {
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    let ran = run_bounded(cmd, Duration::from_secs(5), true);
    ran.ok.then_some(ran.stdout)
}

/// A server SIGSTOPped until this is dropped (SIGCONT), so no early return leaves it stopped.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal(pid, libc::SIGSTOP);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

// ---------------------------------------------------------------- the table

struct Row {
    figure: String,
    describe: String,
    /// One cell per redlock binary.
    bins: Vec<String>,
    flock: String,
    etcd: String,
    ratio: String,
}

struct Table {
    heads: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    fn new(env: &Env) -> Table {
        let heads = env
            .bins
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{}: {}", column_name(i), b.label))
            .collect();
        Table { heads, rows: vec![] }
    }

    fn add(
        &mut self,
        figure: &str,
        describe: &str,
        bins: Vec<String>,
        flock: String,
        etcd: String,
        ratio: String,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            describe: describe.into(),
            bins,
            flock,
            etcd,
            ratio,
        });
    }

    fn print(&self) {
        let names: Vec<&str> = (0..self.heads.len()).map(column_name).collect();
        println!();
        println!(
            "| figure | {} | flock(1) | etcdctl lock | {} ÷ flock |",
            self.heads.join(" | "),
            names.join(" / ")
        );
        println!("|---|{}---:|---:|---:|", "---:|".repeat(self.heads.len()));
        for r in &self.rows {
            println!(
                "| **{}**<br>{} | {} | {} | {} | {} |",
                r.figure,
                r.describe,
                r.bins.join(" | "),
                r.flock,
                r.etcd,
                r.ratio
            );
        }
    }
}

const NA: &str = "–";

fn na() -> String {
    NA.into()
}

fn ms(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2} ms")
    } else {
        "timed out".into()
    }
}

/// Each redlock figure over flock's, in column order ("2.66 / 2.10").
fn ratios(bins: &[f64], flock: f64) -> String {
    bins.iter()
        .map(|b| {
            if flock > 0.0 && b.is_finite() && flock.is_finite() {
                format!("{:.2}", b / flock)
            } else {
                NA.into()
            }
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

// ---------------------------------------------------------------- clocks and statistics

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass, which lives on our stack.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nearest-rank percentile of the finite values of `xs`; NaN when there are none.
fn pct(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// The median; NaN when empty or when any value is NaN (a run that timed out is not dropped).
fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() || xs.iter().any(|x| !x.is_finite()) {
        return f64::NAN;
    }
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn med_by(runs: &[Ran], f: impl Fn(&Ran) -> f64) -> f64 {
    median(&runs.iter().map(f).collect::<Vec<_>>())
}

// ---------------------------------------------------------------- start-up and overhead

/// Median time from spawning `critical` (with a 0 ms section) to its first clock reading.
fn critical_startup(env: &Env) -> f64 {
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

fn overhead(env: &Env, table: &mut Table, startup: f64) {
    let _watchdog = Watchdog::start("overhead", Duration::from_secs(60));
    let lockfile = env.dir.join("overhead.lock");
    let (s1, s3) = (env.servers(1), env.servers(3));
    let n = env.bins.len();
    let (mut t, mut fl, mut et) = (vec![], vec![], vec![]);
    let (mut r1, mut r3) = (vec![vec![]; n], vec![vec![]; n]);
    for i in 0..40 {
        t.push(run_bounded(&mut Command::new("true"), PROCESS_LIMIT, false));
        for b in env.order(i) {
            let one = ["-q", "run", "-r", "overhead", "-s", &s1, "--", "true"];
            r1[b].push(run_bounded(&mut env.redlock(b, &one), PROCESS_LIMIT, false));
            let three = ["-q", "run", "-r", "overhead", "-s", &s3, "--", "true"];
            r3[b].push(run_bounded(&mut env.redlock(b, &three), PROCESS_LIMIT, false));
        }
        let mut flock = Command::new("flock");
        flock.arg(&lockfile).arg("true");
        quiet(&mut flock);
        fl.push(run_bounded(&mut flock, PROCESS_LIMIT, false));
        if let Some(ep) = env.etcd_endpoint() {
            et.push(run_bounded(
                &mut env.etcdctl(ep, &["lock", "overhead", "--", "true"]),
                PROCESS_LIMIT,
                false,
            ));
        }
    }
    let wall = |r: &[Ran]| med_by(r, |x| x.wall);
    let cpu = |r: &[Ran]| med_by(r, |x| x.cpu);
    let etcd_or_na = |f: &dyn Fn(&[Ran]) -> f64| if et.is_empty() { na() } else { ms(f(&et)) };
    table.add(
        "critical-section program start-up",
        "spawn of examples/critical to its first clock reading (part of every handoff gap, for every tool)",
        vec![ms(startup); n],
        ms(startup),
        if env.etcd.is_ok() { ms(startup) } else { na() },
        na(),
    );
    for (servers, runs) in [(1, &r1), (3, &r3)] {
        let walls: Vec<f64> = runs.iter().map(|r| wall(r)).collect();
        let failed: usize = runs.iter().flatten().filter(|r| !r.ok).count();
        table.add(
            &format!("`run -- true`, {servers} instance{}: wall", if servers == 1 { "" } else { "s" }),
            &format!(
                "median wall of the whole process, spawn to reaped, 40 runs interleaved (`true` alone: {}); flock: `flock FILE true`; etcd: `etcdctl lock N -- true` on 1 node{}",
                ms(wall(&t)),
                if failed > 0 { format!("; {failed} redlock runs failed") } else { String::new() }
            ),
            walls.iter().map(|w| ms(*w)).collect(),
            ms(wall(&fl)),
            etcd_or_na(&wall),
            ratios(&walls, wall(&fl)),
        );
    }
    for (servers, runs) in [(1, &r1), (3, &r3)] {
        let cpus: Vec<f64> = runs.iter().map(|r| cpu(r)).collect();
        table.add(
            &format!("`run -- true`, {servers} instance{}: CPU", if servers == 1 { "" } else { "s" }),
            &format!(
                "median user + system CPU per process, its `true` included (getrusage of reaped children; `true` alone: {})",
                ms(cpu(&t))
            ),
            cpus.iter().map(|c| ms(*c)).collect(),
            ms(cpu(&fl)),
            etcd_or_na(&cpu),
            ratios(&cpus, cpu(&fl)),
        );
    }
    let rss = |program: &OsStr, args: &[&OsStr]| -> f64 {
        let Ok(me) = std::env::current_exe() else {
            return f64::NAN;
        };
        let mut cmd = Command::new(me);
        cmd.arg("rss").arg(program).args(args);
        output_of(&mut cmd)
            .and_then(|o| o.trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    let mib = |x: f64| {
        if x.is_finite() {
            format!("{x:.1} MiB")
        } else {
            na()
        }
    };
    let rss_bins: Vec<f64> = env
        .bins
        .iter()
        .map(|b| {
            let args = ["-q", "run", "-r", "rss", "-s", &s3, "--", "true"].map(OsStr::new);
            rss(b.path.as_os_str(), &args)
        })
        .collect();
    let rss_flock = rss(OsStr::new("flock"), &[lockfile.as_os_str(), OsStr::new("true")]);
    let rss_etcd = env.etcd_endpoint().map(|ep| {
        let endpoints = format!("--endpoints={ep}");
        rss(
            OsStr::new("etcdctl"),
            &[&endpoints, "lock", "rss", "--", "true"].map(OsStr::new),
        )
    });
    table.add(
        "peak RSS",
        "largest resident set of `redlock run … -- true` (3 instances) / `flock FILE true` / `etcdctl lock N -- true`, over 5 runs",
        rss_bins.iter().map(|r| mib(*r)).collect(),
        mib(rss_flock),
        rss_etcd.map_or_else(na, mib),
        ratios(&rss_bins, rss_flock),
    );
}

/// `bench rss PROGRAM ARGS…`: run it 5 times and print the largest child RSS in KiB.
fn rss_mode(args: &[String]) {
    let Some((program, rest)) = args.split_first() else {
        return;
    };
    for _ in 0..5 {
        let mut cmd = Command::new(program);
        cmd.args(rest);
        quiet(&mut cmd);
        run_bounded(&mut cmd, PROCESS_LIMIT, false);
    }
    // SAFETY: getrusage only writes the struct we pass, zero-initialised on our stack.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN covers the children waited for above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    println!("{}", usage.ru_maxrss);
}

// ---------------------------------------------------------------- one instance stopped

/// `redlock run -- true` on 3 instances with one SIGSTOPped (each in turn, 7 runs each),
/// interleaved with the same run with all up.
fn stopped(env: &Env, table: &mut Table) {
    progress("`redlock run -- true` with 1 of 3 instances stopped");
    let n = env.bins.len();
    let runs = 21;
    let watchdog = Watchdog::start("stopped", Duration::from_secs(150));
    let s3 = env.servers(3);
    let (mut up, mut down) = (vec![vec![]; n], vec![vec![]; n]);
    for i in 0..runs {
        if watchdog.expired() {
            break;
        }
        for b in env.order(i) {
            let r = format!("up-{i}-{b}");
            up[b].push(run_bounded(
                &mut env.redlock(b, &["-q", "run", "-r", &r, "-s", &s3, "--", "true"]),
                PROCESS_LIMIT,
                false,
            ));
        }
        let stop = Stopped::new(env.pids[i % 3]);
        for b in env.order(i) {
            let r = format!("stopped-{i}-{b}");
            down[b].push(run_bounded(
                &mut env.redlock(b, &["-q", "run", "-r", &r, "-s", &s3, "--", "true"]),
                PROCESS_LIMIT,
                false,
            ));
        }
        drop(stop);
    }
    let timed_out = watchdog.expired();
    drop(watchdog);
    let cell = |b: usize| {
        let failed = down[b].iter().filter(|r| !r.ok).count();
        let mut s = format!(
            "{} (all up: {})",
            ms(if timed_out {
                f64::NAN
            } else {
                med_by(&down[b], |r| r.wall)
            }),
            ms(med_by(&up[b], |r| r.wall))
        );
        if failed > 0 {
            s.push_str(&format!("; exit ≠ 0: {failed} of {}", down[b].len()));
        }
        s
    };
    table.add(
        "`run -- true`, 1 of 3 stopped: wall",
        &format!(
            "median wall over {runs} runs with one instance SIGSTOPped (each in turn, a fresh resource per run), beside the same run with all up, interleaved; op timeout 250 ms"
        ),
        (0..n).map(cell).collect(),
        na(),
        na(),
        na(),
    );
}

/// `kill -STOP` one of 3; `redlock run -q -r pi3 -- true`; `kill -CONT`; 200 ms later, does
/// that instance still hold the finished holder's key?
fn leftover(env: &Env, table: &mut Table) {
    progress("an instance stopped during a whole `run`, then continued");
    let n = env.bins.len();
    let trials = 9;
    let watchdog = Watchdog::start("leftover", Duration::from_secs(120));
    let s3 = env.servers(3);
    let key = "redlock:lock:pi3";
    let mut held = vec![vec![]; n];
    // Per binary, per instance stopped: trials, and trials where the key was still there.
    let mut by_instance = vec![[(0usize, 0usize); 3]; n];
    let mut unreadable = vec![0usize; n];
    let mut walls = vec![vec![]; n];
    for t in 0..trials {
        if watchdog.expired() {
            break;
        }
        let j = t % 3;
        for b in env.order(t) {
            // No earlier trial's key anywhere: a key found below is this holder's.
            for port in &env.ports[..3] {
                let _ = redis_query(*port, &["DEL", key]);
            }
            let stop = Stopped::new(env.pids[j]);
            let ran = run_bounded(
                &mut env.redlock(b, &["-q", "run", "-r", "pi3", "-s", &s3, "--", "true"]),
                PROCESS_LIMIT,
                false,
            );
            drop(stop);
            thread::sleep(Duration::from_millis(200));
            walls[b].push(ran.wall);
            by_instance[b][j].0 += 1;
            match redis_query(env.ports[j], &["PTTL", key]).as_deref().map(integer) {
                Some(Some(pttl)) if pttl > 0 || pttl == -1 => {
                    held[b].push(pttl as f64 / 1e3);
                    by_instance[b][j].1 += 1;
                }
                Some(Some(_)) => {}
                _ => unreadable[b] += 1,
            }
        }
    }
    for port in &env.ports[..3] {
        let _ = redis_query(*port, &["DEL", key]);
    }
    let timed_out = watchdog.expired();
    drop(watchdog);
    let cell = |b: usize| {
        let per: Vec<String> = by_instance[b].iter().map(|(t, h)| format!("{h}/{t}")).collect();
        let mut s = format!(
            "{} of {} (by instance: {})",
            held[b].len(),
            walls[b].len(),
            per.join(", ")
        );
        if !held[b].is_empty() {
            s.push_str(&format!(", expiring in {:.1} s (median)", median(&held[b])));
        }
        if unreadable[b] > 0 {
            s.push_str(&format!(", {} unreadable", unreadable[b]));
        }
        if timed_out {
            s.push_str(", timed out");
        }
        s.push_str(&format!("; run took {}", ms(median(&walls[b]))));
        s
    };
    table.add(
        "a stopped instance after a finished `run`",
        &format!(
            "trials where the instance SIGSTOPped during a whole `run -r pi3 -- true` (each of 3 in turn) still holds `{key}` 200 ms after SIGCONT, and per instance stopped (1st, 2nd, 3rd of `-s`); median wall of that run"
        ),
        (0..n).map(cell).collect(),
        na(),
        na(),
        na(),
    );
}

// ---------------------------------------------------------------- Redis, by hand

/// What the instances did, summed: commands by name (INFO commandstats) and connections.
struct RedisWork {
    calls: HashMap<String, f64>,
    connections: f64,
}

fn redis_work(ports: &[u16]) -> Option<RedisWork> {
    let mut work = RedisWork {
        calls: HashMap::new(),
        connections: 0.0,
    };
    for port in ports {
        for (name, calls) in command_calls(*port)? {
            *work.calls.entry(name).or_default() += calls;
        }
        let stats = redis_query(*port, &["INFO", "stats"])?;
        work.connections += info_value(&stats, "total_connections_received").unwrap_or(0.0);
    }
    Some(work)
}

// ---------------------------------------------------------------- fan-out

fn fanout(env: &Env, table: &mut Table) {
    progress("fan-out through 5 proxies adding 50 ms each way");
    let n = env.bins.len();
    let proxies: Vec<u16> = env.ports[..5]
        .iter()
        .filter_map(|p| delay_proxy(*p, LINK_DELAY))
        .collect();
    if proxies.len() < 5 {
        eprintln!("bench: cannot start the fan-out proxies; skipped");
        return;
    }
    let servers = urls(&proxies);
    let etcd_proxy = env.etcd_endpoint().and_then(|ep| {
        let port: u16 = ep.rsplit(':').next()?.parse().ok()?;
        delay_proxy(port, LINK_DELAY)
    });
    // The round trip through one proxy, as a client sees it: PING on an open connection.
    let rtt = {
        let mut samples = vec![];
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", proxies[0])) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.set_nodelay(true);
            let mut reader = BufReader::new(stream);
            for _ in 0..7 {
                let t0 = Instant::now();
                let mut line = String::new();
                let sent = reader.get_mut().write_all(b"PING\r\n").is_ok();
                if sent && reader.read_line(&mut line).is_ok() && line.starts_with("+PONG") {
                    samples.push(t0.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        median(&samples)
    };
    let watchdog = Watchdog::start("fan-out", Duration::from_secs(90));
    let (mut acq, mut rel, mut both, mut run) =
        (vec![vec![]; n], vec![vec![]; n], vec![vec![]; n], vec![vec![]; n]);
    let mut etcd = vec![];
    let mut failed = vec![0usize; n];
    // Round 0 loads the scripts on the instances (EVALSHA → NOSCRIPT → EVAL): not counted.
    for i in 0..7 {
        if watchdog.expired() {
            break;
        }
        for b in env.order(i) {
            let resource = format!("fanout-{b}");
            let a = run_bounded(
                &mut env.redlock(b, &["-q", "-s", &servers, "acquire", "-r", &resource]),
                PROCESS_LIMIT,
                true,
            );
            let token = a.stdout.trim().to_string();
            let r = run_bounded(
                &mut env.redlock(
                    b,
                    &[
                        "-q", "-s", &servers, "release", "-r", &resource, "--token", &token,
                    ],
                ),
                PROCESS_LIMIT,
                false,
            );
            let resource = format!("fanout-run-{b}");
            let x = run_bounded(
                &mut env.redlock(b, &["-q", "-s", &servers, "run", "-r", &resource, "--", "true"]),
                PROCESS_LIMIT,
                false,
            );
            if i > 0 {
                failed[b] += [&a, &r, &x].iter().filter(|r| !r.ok).count();
                acq[b].push(a.wall);
                rel[b].push(r.wall);
                both[b].push(a.wall + r.wall);
                run[b].push(x.wall);
            }
        }
        if let Some(port) = etcd_proxy {
            let ep = format!("127.0.0.1:{port}");
            let e = run_bounded(
                &mut env.etcdctl(&ep, &["lock", "fanout", "--", "true"]),
                PROCESS_LIMIT,
                false,
            );
            if i > 0 {
                etcd.push(if e.ok { e.wall } else { f64::NAN });
            }
        }
    }
    drop(watchdog);
    let in_rtt = |x: f64| {
        if x.is_finite() {
            format!("{} = {:.2} RTT", ms(x), x / rtt)
        } else {
            ms(x)
        }
    };
    let cells = |runs: &[Vec<f64>]| -> Vec<String> { runs.iter().map(|r| in_rtt(median(r))).collect() };
    let failures = failed.iter().sum::<usize>();
    let what = format!(
        "5 instances each behind a proxy adding 50 ms each way (round trip measured {rtt:.1} ms; connects are not delayed); a fresh process each, median of 6{}",
        if failures > 0 { format!("; {failures} redlock processes failed") } else { String::new() }
    );
    table.add("fan-out: `acquire`", &what, cells(&acq), na(), na(), na());
    table.add(
        "fan-out: `release`",
        "the lock just acquired, on the same 5 instances",
        cells(&rel),
        na(),
        na(),
        na(),
    );
    table.add(
        "fan-out: `acquire` + `release`",
        "the two processes above, one after the other",
        cells(&both),
        na(),
        na(),
        na(),
    );
    table.add(
        "fan-out: `run -- true`",
        "one process: acquire, run `true`, release; etcd: `etcdctl lock N -- true` to 1 node behind the same kind of proxy",
        cells(&run),
        na(),
        if etcd_proxy.is_some() { in_rtt(median(&etcd)) } else { na() },
        na(),
    );
}

/// A TCP proxy to 127.0.0.1:`port` adding `delay` in each direction (latency, not bandwidth:
/// each chunk is forwarded `delay` after it was read). Its threads end with the bench.
fn delay_proxy(port: u16, delay: Duration) -> Option<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let local = listener.local_addr().ok()?.port();
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
    Some(local)
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

// ---------------------------------------------------------------- handoff

#[derive(Clone)]
enum Tool {
    Redlock {
        bin: usize,
        servers: String,
        resource: String,
    },
    Flock {
        lockfile: PathBuf,
    },
    Etcd {
        endpoint: String,
        name: String,
    },
}

impl Tool {
    /// The tool's command around `program args…`.
    fn around(&self, env: &Env, program: &Path, args: &[OsString]) -> Command {
        let mut cmd = match self {
            Tool::Redlock {
                bin,
                servers,
                resource,
            } => {
                let mut c = env.redlock(*bin, &["-q", "run", "-r", resource, "-s", servers, "--"]);
                if std::env::var_os("BENCH_TRACE").is_some() {
                    // `-v` lines, stamped with CLOCK_MONOTONIC, go next to the section log.
                    c = env.redlock(*bin, &["-v", "run", "-r", resource, "-s", servers, "--"]);
                    c.stderr(Stdio::piped());
                }
                c
            }
            Tool::Flock { lockfile } => {
                let mut c = Command::new("flock");
                c.arg(lockfile);
                quiet(&mut c);
                c
            }
            Tool::Etcd { endpoint, name } => env.etcdctl(endpoint, &["lock", name, "--"]),
        };
        cmd.arg(program).args(args);
        cmd
    }
}

struct Fault {
    pid: u32,
    at: Duration,
    hold: Duration,
}

/// What one handoff run measured.
#[derive(Default, Clone)]
struct Stats {
    wall: f64,
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
    /// Per handoff: requests (commands a client sends itself), commands (those inside scripts
    /// included) and new connections, on the 3 instances.
    requests: f64,
    commands: f64,
    connections: f64,
    /// Sections that ended while the fault was on.
    in_fault: usize,
}

fn handoff(env: &Env, k: usize, iterations: usize, tool: &Tool, fault: Option<Fault>, tag: &str) -> Stats {
    let log = env.dir.join(format!("handoff-{tag}.log"));
    let _ = std::fs::remove_file(&log);
    let before = redis_work(&env.ports[..3]);
    let ideal = (k * iterations) as f64 * CRITICAL_MS as f64 / 1e3;
    let watchdog = Arc::new(Watchdog::start(
        &format!("handoff {tag}"),
        Duration::from_secs_f64(ideal * 6.0 + 20.0),
    ));
    let spawns: Arc<Mutex<Vec<Vec<u64>>>> = Arc::new(Mutex::new(vec![vec![]; k]));
    let failures = Arc::new(Mutex::new(0usize));
    let t0 = Instant::now();
    let fault_thread = fault.map(|f| {
        thread::spawn(move || {
            thread::sleep(f.at);
            let from = monotonic_ns();
            let stop = Stopped::new(f.pid);
            thread::sleep(f.hold);
            drop(stop);
            (from, monotonic_ns())
        })
    });
    let workers: Vec<_> = (0..k)
        .map(|w| {
            let (watchdog, spawns, failures) =
                (Arc::clone(&watchdog), Arc::clone(&spawns), Arc::clone(&failures));
            let args: Vec<OsString> = vec![
                log.clone().into(),
                w.to_string().into(),
                CRITICAL_MS.to_string().into(),
            ];
            let mut cmds: Vec<Command> = (0..iterations)
                .map(|_| tool.around(env, &env.critical, &args))
                .collect();
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
    let wall = t0.elapsed().as_secs_f64();
    let window = fault_thread.and_then(|f| f.join().ok());
    let timed_out = watchdog.expired();
    let after = redis_work(&env.ports[..3]);

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
    let spawns = guard(&spawns).clone();
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
    let (requests, commands, connections) = match (&before, &after) {
        (Some(b), Some(a)) => {
            let delta = |pick: &dyn Fn(&str) -> bool| -> f64 {
                a.calls
                    .iter()
                    .filter(|(c, _)| pick(c))
                    .map(|(c, n)| n - b.calls.get(c).copied().unwrap_or(0.0))
                    .sum::<f64>()
            };
            // Our own INFO connections: the two that read `after`, on each instance.
            let ours = env.ports[..3].len() as f64 * 2.0;
            (
                delta(&is_request) / handoffs,
                delta(&|c: &str| c != "info") / handoffs,
                (a.connections - b.connections - ours) / handoffs,
            )
        }
        _ => (f64::NAN, f64::NAN, f64::NAN),
    };
    let in_fault = window.map_or(0, |(from, to)| {
        sections.iter().filter(|s| s.exit >= from && s.exit <= to).count()
    });
    let nan_if = |x: f64| if timed_out { f64::NAN } else { x };
    let failed = *guard(&failures);
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
        max_wait_share: nan_if(max_wait / (cycle_ms * (k as f64 - 1.0))),
        overlaps,
        failures: failed + usize::from(timed_out),
        sections: sections.len(),
        requests,
        commands,
        connections,
        in_fault,
    }
}

/// BENCH_TRACE: each stderr line of a `redlock -v run`, stamped with CLOCK_MONOTONIC.
fn copy_trace(mut err: std::process::ChildStderr, path: &Path, tag: String) {
    let path = path.to_path_buf();
    thread::spawn(move || {
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        let (mut buf, mut byte) = (Vec::new(), [0u8; 1]);
        while let Ok(1) = err.read(&mut byte) {
            if byte[0] != b'\n' {
                buf.push(byte[0]);
                continue;
            }
            let line = format!("{} {tag} {}\n", monotonic_ns(), String::from_utf8_lossy(&buf));
            if let Some(o) = out.as_mut() {
                let _ = o.write_all(line.as_bytes());
            }
            buf.clear();
        }
    });
}

fn k32_rounds(env: &Env) -> usize {
    env.rounds.saturating_sub(1).max(1)
}

/// The handoff rows at K contenders, every tool in the same run; returns each redlock
/// binary's median wall (s), the unfaulted figure for `fault`.
fn handoff_figures(env: &Env, table: &mut Table, k: usize) -> Vec<f64> {
    let n = env.bins.len();
    let lockfile = env.dir.join(format!("handoff-{k}.lock"));
    let mut red: Vec<Vec<Stats>> = vec![vec![]; n];
    let (mut flo, mut etc) = (vec![], vec![]);
    // K=32 runs take four times as long: one round fewer of redlock, one of flock and etcd
    // (whose figures vary little between rounds), keep the bench within minutes.
    let (rounds, others) = if k >= 32 {
        (k32_rounds(env), 1)
    } else {
        (env.rounds, env.rounds)
    };
    for round in 0..rounds {
        for b in env.order(round) {
            progress(&format!(
                "handoff K={k}, round {} of {rounds}, redlock {}",
                round + 1,
                column_name(b)
            ));
            let tool = Tool::Redlock {
                bin: b,
                servers: env.servers(3),
                resource: format!("handoff-{k}-{round}-{b}"),
            };
            let s = handoff(
                env,
                k,
                ITERATIONS,
                &tool,
                None,
                &format!("redlock{b}-{k}-{round}"),
            );
            eprintln!(
                "bench:   wall/ideal {:.3}, gap p50 {:.2} ms, p99 {:.2} ms",
                s.wall_over_ideal, s.gap_p50, s.gap_p99
            );
            red[b].push(s);
        }
        if round < others {
            progress(&format!("handoff K={k}, round {} of {others}, flock", round + 1));
            let tool = Tool::Flock {
                lockfile: lockfile.clone(),
            };
            flo.push(handoff(
                env,
                k,
                ITERATIONS,
                &tool,
                None,
                &format!("flock-{k}-{round}"),
            ));
            if let Some(endpoint) = env.etcd_endpoint() {
                progress(&format!("handoff K={k}, round {} of {others}, etcd", round + 1));
                let tool = Tool::Etcd {
                    endpoint: endpoint.to_string(),
                    name: format!("handoff-{k}-{round}"),
                };
                etc.push(handoff(
                    env,
                    k,
                    ITERATIONS,
                    &tool,
                    None,
                    &format!("etcd-{k}-{round}"),
                ));
            }
        }
    }
    let med = |runs: &[Stats], f: &dyn Fn(&Stats) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let worst = |runs: &[Stats], f: &dyn Fn(&Stats) -> f64| runs.iter().map(f).fold(f64::NAN, f64::max);
    let etcd_on = env.etcd.is_ok();
    let mut row =
        |figure: &str, describe: &str, pick: &dyn Fn(&[Stats]) -> f64, show: &dyn Fn(f64) -> String| {
            let bins: Vec<f64> = red.iter().map(|r| pick(r)).collect();
            let f = pick(&flo);
            table.add(
                &format!("handoff K={k}: {figure}"),
                describe,
                bins.iter().map(|x| show(*x)).collect(),
                show(f),
                if etcd_on { show(pick(&etc)) } else { na() },
                ratios(&bins, f),
            );
        };
    let ideal = k * ITERATIONS * CRITICAL_MS as usize;
    let plain = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "timed out".into()
        }
    };
    let share = |x: f64| {
        if x.is_finite() {
            format!("{:.1} %", x * 100.0)
        } else {
            na()
        }
    };
    let two = |x: f64| {
        if x.is_finite() {
            format!("{x:.2}")
        } else {
            "timed out".into()
        }
    };
    row(
        "wall / ideal",
        &format!(
            "{k} contenders × {ITERATIONS} runs around a 20 ms section; ideal = {ideal} ms; median of rounds"
        ),
        &|r| med(r, &|s| s.wall_over_ideal),
        &plain,
    );
    row(
        "gap p50",
        "one section's end to the next one's start, median",
        &|r| med(r, &|s| s.gap_p50),
        &ms,
    );
    row(
        "gap p99",
        "the same, 99th percentile",
        &|r| med(r, &|s| s.gap_p99),
        &ms,
    );
    row(
        "passed to another waiter",
        "share of handoffs where the next section is another contender's",
        &|r| med(r, &|s| s.to_other),
        &share,
    );
    row(
        "longest wait / fair share",
        "longest single wait (spawn to section start) over (K−1) mean cycles, worst round",
        &|r| worst(r, &|s| s.max_wait_share),
        &two,
    );
    let work = |s: &[Stats]| {
        let m = |f: &dyn Fn(&Stats) -> f64| med(s, f);
        format!(
            "{:.1} / {:.1} / {:.2}",
            m(&|s| s.requests),
            m(&|s| s.commands),
            m(&|s| s.connections)
        )
    };
    table.add(
        &format!("handoff K={k}: Redis work per handoff"),
        "requests (commands a client sends itself: scripts, SUBSCRIBE, PING, connection set-up) / commands (those inside scripts included) / new connections; INFO deltas on the 3 instances",
        red.iter().map(|r| work(r)).collect(),
        na(),
        na(),
        na(),
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
        red.iter().map(|r| safety(r)).collect(),
        safety(&flo),
        if etcd_on { safety(&etc) } else { na() },
        na(),
    );
    red.iter().map(|r| med(r, &|s| s.wall)).collect()
}

// ---------------------------------------------------------------- under a fault

fn fault(env: &Env, table: &mut Table, unfaulted: Option<Vec<f64>>) {
    let n = env.bins.len();
    let unfaulted = unfaulted.unwrap_or_else(|| {
        let mut walls = vec![f64::NAN; n];
        for b in env.order(0) {
            progress(&format!("handoff K=8 unfaulted, redlock {}", column_name(b)));
            let tool = Tool::Redlock {
                bin: b,
                servers: env.servers(3),
                resource: format!("handoff-unfaulted-{b}"),
            };
            walls[b] = handoff(env, 8, ITERATIONS, &tool, None, &format!("unfaulted-{b}")).wall;
        }
        walls
    });
    // Stop the instance that decides for the resource (the worst one to lose), as this
    // checkout's library orders the instances. Each binary gets a resource of its own (no
    // leftovers of the other's run), chosen so that the same instance decides for both.
    let settings = redlock::engine::settings::Settings {
        servers: env.servers(3).split(',').filter_map(|u| u.parse().ok()).collect(),
        prefix: "redlock:".into(),
        connect_timeout: Duration::from_millis(250),
        op_timeout: Duration::from_millis(250),
        verbosity: redlock::engine::settings::Verbosity::Quiet,
        classic: None,
    };
    let locker = redlock::engine::lock::Locker::new(&settings, None);
    let decider_of = |resource: &str| locker.order(resource).first().copied().unwrap_or(0);
    let decider = decider_of("handoff-fault-0");
    let resources: Vec<String> = (0..n)
        .map(|b| {
            (0..100)
                .map(|i| format!("handoff-fault-{b}-{i}"))
                .find(|r| decider_of(r) == decider)
                .unwrap_or_else(|| format!("handoff-fault-{b}"))
        })
        .collect();
    let mut runs: Vec<Stats> = vec![Stats::default(); n];
    for b in env.order(1) {
        progress(&format!(
            "handoff K=8 with the decider stopped for 5 s, redlock {}",
            column_name(b)
        ));
        let tool = Tool::Redlock {
            bin: b,
            servers: env.servers(3),
            resource: resources[b].clone(),
        };
        let fault = Fault {
            pid: env.pids[decider],
            at: Duration::from_secs(1),
            hold: Duration::from_secs(5),
        };
        runs[b] = handoff(env, 8, ITERATIONS, &tool, Some(fault), &format!("fault-{b}"));
    }
    let sections = (8 * ITERATIONS) as f64;
    table.add(
        "decider stopped 5 s: wall",
        "K=8 × 25 runs × 20 ms on 3 instances, the resource's decider SIGSTOPped from 1 s to 6 s; wall against the unfaulted K=8 wall (median of its rounds above)",
        (0..n)
            .map(|b| {
                let (w, u) = (runs[b].wall, unfaulted[b]);
                if w.is_finite() && u.is_finite() {
                    format!("{w:.2} s = {:.2} × {u:.2} s", w / u)
                } else if w.is_finite() {
                    format!("{w:.2} s")
                } else {
                    "timed out".into()
                }
            })
            .collect(),
        na(),
        na(),
        na(),
    );
    table.add(
        "decider stopped 5 s: sections in the window",
        "sections that ended while the instance was stopped (unfaulted pace: 200 sections in the unfaulted wall, scaled to 5 s)",
        (0..n)
            .map(|b| {
                let pace = if unfaulted[b].is_finite() {
                    format!("{:.0}", sections / unfaulted[b] * 5.0)
                } else {
                    NA.into()
                };
                format!("{} (unfaulted pace {pace})", runs[b].in_fault)
            })
            .collect(),
        na(),
        na(),
        na(),
    );
    table.add(
        "decider stopped 5 s: gaps",
        "longest gap; gap p50 / p99; overlaps and failed runs in that run",
        (0..n)
            .map(|b| {
                let s = &runs[b];
                format!(
                    "{}; {} / {}; {} overlaps, {} failed",
                    ms(s.gap_max),
                    ms(s.gap_p50),
                    ms(s.gap_p99),
                    s.overlaps,
                    s.failures
                )
            })
            .collect(),
        na(),
        na(),
        na(),
    );
}

// ---------------------------------------------------------------- capacity: --limit and --shared

const LIMIT_K: usize = 16;
const LIMIT_N: usize = 4;
const SHARED_K: usize = 8;
const SHARED_RUNS: usize = 40;

/// The most sections inside at once (a section that ends as another begins does not count).
fn most_inside(sections: &[Section]) -> usize {
    let mut edges: Vec<(u64, i64)> = sections
        .iter()
        .flat_map(|s| [(s.enter, 1), (s.exit, -1)])
        .collect();
    // At equal times the exit (-1) comes first.
    edges.sort_unstable();
    let (mut now, mut most) = (0i64, 0i64);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most.max(0) as usize
}

/// Runs `cmds` one after another on a thread of its own until the watchdog expires; the
/// thread returns how many failed.
fn worker_thread(mut cmds: Vec<Command>, watchdog: Arc<Watchdog>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut failed = 0;
        for cmd in cmds.iter_mut() {
            if watchdog.expired() {
                break;
            }
            let ok = spawn(cmd).is_some_and(|mut child| reap(&mut child).is_some_and(|s| s.success()));
            failed += usize::from(!ok);
        }
        failed
    })
}

/// `redlock -q run -r RESOURCE -s (3 instances) EXTRA -- critical LOG WORKER 20` of binary `bin`.
fn critical_under(
    env: &Env,
    bin: usize,
    extra: &[&str],
    resource: &str,
    log: &Path,
    worker: usize,
) -> Command {
    let servers = env.servers(3);
    let mut args = vec!["-q", "run", "-r", resource, "-s", servers.as_str()];
    args.extend_from_slice(extra);
    args.push("--");
    let mut cmd = env.redlock(bin, &args);
    cmd.arg(&env.critical)
        .arg(log)
        .arg(worker.to_string())
        .arg(CRITICAL_MS.to_string());
    cmd
}

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

fn limit(env: &Env, table: &mut Table) {
    let mut runs: Vec<Vec<LimitRun>> = (0..env.bins.len()).map(|_| vec![]).collect();
    for round in 0..env.rounds {
        for b in env.order(round) {
            progress(&format!(
                "--limit {LIMIT_N}, K={LIMIT_K}, round {} of {}, redlock {}",
                round + 1,
                env.rounds,
                column_name(b)
            ));
            runs[b].push(limit_run(env, b, &format!("limit-{b}-{round}")));
        }
    }
    let ideal = LIMIT_K * ITERATIONS * CRITICAL_MS as usize / LIMIT_N;
    table.add(
        &format!("`--limit {LIMIT_N}`: wall / ideal"),
        &format!(
            "{LIMIT_K} contenders × {ITERATIONS} runs around a 20 ms section, up to {LIMIT_N} at once; ideal = {LIMIT_K} × {ITERATIONS} × 20 ms / {LIMIT_N} = {ideal} ms; median of rounds"
        ),
        runs.iter()
            .map(|r| {
                let m = median(&r.iter().map(|s| s.wall_over_ideal).collect::<Vec<_>>());
                if m.is_finite() {
                    format!("{m:.3}")
                } else {
                    "timed out".into()
                }
            })
            .collect(),
        na(),
        na(),
        na(),
    );
    table.add(
        &format!("`--limit {LIMIT_N}`: safety"),
        &format!("most sections inside at once (at most {LIMIT_N}), failed runs, over all rounds"),
        runs.iter()
            .map(|r| {
                format!(
                    "{} at most, {} failed, {} sections",
                    r.iter().map(|s| s.most).max().unwrap_or(0),
                    r.iter().map(|s| s.failed).sum::<usize>(),
                    r.iter().map(|s| s.sections).sum::<usize>()
                )
            })
            .collect(),
        na(),
        na(),
        na(),
    );
}

/// Readers and one writer: redlock `--shared` and exclusive, or `flock -s` and `flock`.
enum SharedTool {
    Redlock(usize),
    Flock(PathBuf),
}

impl SharedTool {
    fn section(&self, env: &Env, shared: bool, resource: &str, log: &Path, worker: usize) -> Command {
        match self {
            SharedTool::Redlock(bin) => {
                let extra: &[&str] = if shared { &["--shared"] } else { &[] };
                critical_under(env, *bin, extra, resource, log, worker)
            }
            SharedTool::Flock(file) => {
                let mut cmd = Command::new("flock");
                if shared {
                    cmd.arg("-s");
                }
                cmd.arg(file)
                    .arg(&env.critical)
                    .arg(log)
                    .arg(worker.to_string())
                    .arg(CRITICAL_MS.to_string());
                quiet(&mut cmd);
                cmd
            }
        }
    }
}

/// One round of SHARED_K readers and a writer arriving once a quarter of their sections are done.
#[derive(Clone, Copy)]
struct SharedRun {
    /// The writer's spawn to its section's start, ms; NaN if it never got in.
    wait_ms: f64,
    /// Reader sections that began meanwhile.
    wait_sections: f64,
    readers_most: usize,
    beside_writer: usize,
    failed: usize,
    sections: usize,
}

fn shared_run(env: &Env, tool: &SharedTool, tag: &str) -> SharedRun {
    let log = env.dir.join(format!("{tag}.log"));
    let _ = std::fs::remove_file(&log);
    let readers_ideal = SHARED_RUNS as f64 * CRITICAL_MS as f64 / 1e3;
    let watchdog = Arc::new(Watchdog::start(
        tag,
        Duration::from_secs_f64(readers_ideal * 10.0 + 20.0),
    ));
    let readers: Vec<_> = (0..SHARED_K)
        .map(|w| {
            let cmds = (0..SHARED_RUNS)
                .map(|_| tool.section(env, true, tag, &log, w))
                .collect();
            worker_thread(cmds, Arc::clone(&watchdog))
        })
        .collect();
    // The writer comes once a quarter of the reader sections are logged.
    let mut writer = tool.section(env, false, tag, &log, SHARED_K);
    let quarter = SHARED_K * SHARED_RUNS / 4;
    while !watchdog.expired() && read_sections(&log).len() < quarter {
        thread::sleep(Duration::from_millis(2));
    }
    let arrived = monotonic_ns();
    let writer_ok = !watchdog.expired()
        && spawn(&mut writer).is_some_and(|mut child| reap(&mut child).is_some_and(|s| s.success()));
    let failed: usize = readers.into_iter().map(|h| h.join().unwrap_or(SHARED_RUNS)).sum();
    let sections = read_sections(&log);
    let (writes, reads): (Vec<Section>, Vec<Section>) = sections.iter().partition(|s| s.worker == SHARED_K);
    let (wait_ms, wait_sections, beside_writer) = match writes.first() {
        Some(w) => (
            w.enter.saturating_sub(arrived) as f64 / 1e6,
            reads
                .iter()
                .filter(|r| r.enter >= arrived && r.enter < w.enter)
                .count() as f64,
            reads
                .iter()
                .filter(|r| r.enter < w.exit && r.exit > w.enter)
                .count(),
        ),
        None => (f64::NAN, f64::NAN, 0),
    };
    SharedRun {
        wait_ms,
        wait_sections,
        readers_most: most_inside(&reads),
        beside_writer,
        failed: failed + usize::from(!writer_ok) + usize::from(watchdog.expired()),
        sections: sections.len(),
    }
}

fn shared(env: &Env, table: &mut Table) {
    let mut red: Vec<Vec<SharedRun>> = (0..env.bins.len()).map(|_| vec![]).collect();
    let mut flo = vec![];
    for round in 0..env.rounds {
        for b in env.order(round) {
            progress(&format!(
                "--shared, {SHARED_K} readers and a writer, round {} of {}, redlock {}",
                round + 1,
                env.rounds,
                column_name(b)
            ));
            red[b].push(shared_run(
                env,
                &SharedTool::Redlock(b),
                &format!("shared-{b}-{round}"),
            ));
        }
        progress(&format!(
            "flock -s, {SHARED_K} readers and a writer, round {} of {}",
            round + 1,
            env.rounds
        ));
        let tool = SharedTool::Flock(env.dir.join("shared.lock"));
        flo.push(shared_run(env, &tool, &format!("shared-flock-{round}")));
    }
    let wait = |runs: &[SharedRun]| {
        let ms_ = median(&runs.iter().map(|r| r.wait_ms).collect::<Vec<_>>());
        let n = median(&runs.iter().map(|r| r.wait_sections).collect::<Vec<_>>());
        if ms_.is_finite() {
            format!("{} = {n:.0} reader sections", ms(ms_))
        } else {
            "timed out".into()
        }
    };
    let safety = |runs: &[SharedRun]| {
        format!(
            "{} readers at most; {} beside the writer; {} failed, {} sections",
            runs.iter().map(|r| r.readers_most).max().unwrap_or(0),
            runs.iter().map(|r| r.beside_writer).sum::<usize>(),
            runs.iter().map(|r| r.failed).sum::<usize>(),
            runs.iter().map(|r| r.sections).sum::<usize>()
        )
    };
    table.add(
        "`--shared`: the writer's wait",
        &format!(
            "{SHARED_K} readers × {SHARED_RUNS} runs around a 20 ms section, shared (flock: `flock -s`); one exclusive writer arrives once a quarter of their sections are done: its wait (spawn to section start) and the reader sections that began meanwhile; median of rounds"
        ),
        red.iter().map(|r| wait(r)).collect(),
        wait(&flo),
        na(),
        na(),
    );
    table.add(
        "`--shared`: safety",
        "most readers inside at once (shared holds overlap), reader sections overlapping the writer's (there must be none), failed runs, over all rounds",
        red.iter().map(|r| safety(r)).collect(),
        safety(&flo),
        na(),
        na(),
    );
}
