//! The queue part of the benchmark (`scripts/bench`, part `queue`; docs/bench.md): what K
//! queued waiters cost the instances and the waiting processes, and how fast the queue drains.
//!
//! `queue_bench CRITICAL DIR PORTS PIDS REDLOCK [REDLOCK2]`, on the first three redis-servers
//! of PORTS (their PIDS, for CPU from /proc). For each binary and each K (BENCH_QUEUE_K,
//! default `10,100,300,1000`), in the same run:
//!
//! 1. FLUSHALL and CONFIG RESETSTAT on the three instances; one holder takes the lock and
//!    keeps it (`redlock run -r R -- sh -c 'read x < FIFO'`).
//! 2. K waiters, `redlock run -w 15m --op-timeout 2s -r R -- critical LOG i 0`, started 20 ms
//!    apart (as a fleet's cron jobs would arrive), then up to 30 s for all to be queued.
//! 3. 10 s idle: each instance's CPU (utime + stime from /proc/PID/stat), its commands
//!    (requests a client sends, from INFO commandstats; and every command, scripts' own
//!    calls included), its connected clients; the waiters' threads, RSS and CPU; and
//!    `redis-benchmark` GET/SET on the first instance, beside the same measured just before
//!    the waiters came (so both meet the same machine).
//! 4. The holder exits; the queue drains: time per handoff (from the critical sections' log),
//!    and whether they ran in arrival order (adjacent pairs out of order).
//!
//! Then 300 waiters started at once with the default op timeout (a herd): how many queued
//! and how many exited 69. flock(1) runs the same queue for the drain pace.
//! A measuring tool: it never fails on a number, and kills what it started on its way out.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[path = "common/redis.rs"]
mod redis_by_hand;
#[path = "common/sections.rs"]
mod sections;
use redis_by_hand::{command_calls, info_value, integer, is_request, query, urls};
use sections::read_sections;

const RESOURCE: &str = "bench-queue";
const IDLE: Duration = Duration::from_secs(10);
const ARRIVAL_GAP: Duration = Duration::from_millis(20);
const HERD: usize = 300;

struct Env {
    critical: PathBuf,
    dir: PathBuf,
    ports: Vec<u16>,
    pids: Vec<u32>,
}

fn main() {
    let (env, bins) = arguments();
    let ks: Vec<usize> = std::env::var("BENCH_QUEUE_K")
        .unwrap_or_else(|_| "10,100,300,1000".into())
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .collect();
    print_header(app_throughput(env.ports[0]));
    let name = |b: usize| if bins.len() > 1 { ["A", "B"][b.min(1)] } else { "" };
    for k in &ks {
        for (b, bin) in bins.iter().enumerate() {
            let r = redlock_queue(&env, bin, *k, &format!("r{b}-{k}"));
            print_redlock_row(&format!("redlock{}", name(b)), *k, &r);
        }
        print_flock_row(*k, &flock_queue(&env, *k));
    }
    for (b, bin) in bins.iter().enumerate() {
        let (queued, exit69, ok) = herd(&env, bin, &format!("herd{b}"));
        println!(
            "herd: {HERD} `redlock run -w 15m` started at once (default op timeout), redlock{}: {queued} queued, {ok} ran, {exit69} exited 69",
            name(b)
        );
    }
    for (b, bin) in bins.iter().enumerate() {
        println!("redlock{}: {}", ["A", "B"][b.min(1)], bin.display());
    }
    println!(
        "columns: CPU of each redis-server while K wait (% of one core); req/w/s: requests a client sends \
         (EVAL, EVALSHA, SUBSCRIBE, PING, …) per waiter per second per instance; cmd/w/s: every command \
         counted by INFO commandstats (scripts' own calls too), likewise; conn/w: connected clients per \
         waiter per instance; thr/w, RSS: per waiting process; wait%cpu: all waiting processes together \
         (% of one core); app: redis-benchmark GET/SET on instance 1 while they wait, against the same just \
         before they came; ms/hand: drain time per handoff; order: adjacent handoffs out of arrival order / handoffs"
    );
}

/// `CRITICAL DIR PORTS PIDS REDLOCK [REDLOCK2]`: the world (the first three instances) and the
/// binaries to compare.
fn arguments() -> (Env, Vec<PathBuf>) {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: queue_bench CRITICAL DIR PORTS PIDS REDLOCK [REDLOCK2]   (run scripts/bench)");
        std::process::exit(2);
    }
    let csv = |s: &str| -> Vec<u32> { s.split(',').filter_map(|p| p.parse().ok()).collect() };
    let env = Env {
        critical: PathBuf::from(&args[1]),
        dir: PathBuf::from(&args[2]),
        ports: csv(&args[3]).into_iter().take(3).map(|p| p as u16).collect(),
        pids: csv(&args[4]).into_iter().take(3).collect(),
    };
    (env, args[5..].iter().map(PathBuf::from).collect())
}

fn print_header(baseline: Option<(f64, f64)>) {
    println!(
        "queue: K waiters on 3 instances; idle figures over {} s",
        IDLE.as_secs()
    );
    println!(
        "app GET/SET on instance 1 with nobody waiting: {}",
        baseline.map_or("–".into(), |(g, s)| format!("{g:.0} / {s:.0} req/s"))
    );
    println!(
        "{:<8} {:>5} | {:>6} {:>5} | {:>17} | {:>9} {:>9} | {:>5} {:>5} {:>7} | {:>7} {:>13} | {:>8} {:>6}",
        "tool",
        "K",
        "queued",
        "ex69",
        "CPU % per inst",
        "req/w/s",
        "cmd/w/s",
        "conn/w",
        "thr/w",
        "RSS MB",
        "wait%cpu",
        "app GET/SET",
        "ms/hand",
        "order"
    );
}

fn print_redlock_row(tool: &str, k: usize, r: &QueueRun) {
    let app = match (r.app, r.app_before) {
        (Some((g, s)), Some((g0, s0))) => {
            format!("{:+.0}/{:+.0} %", (g / g0 - 1.0) * 100.0, (s / s0 - 1.0) * 100.0)
        }
        _ => "–".into(),
    };
    println!(
        "{:<8} {:>5} | {:>6} {:>5} | {:>17} | {:>9.2} {:>9.1} | {:>5.2} {:>5.1} {:>7.1} | {:>7.1} {:>13} | {:>8.2} {:>6}",
        tool,
        k,
        r.queued,
        r.exit69,
        r.cpu.iter().map(|c| format!("{c:.1}")).collect::<Vec<_>>().join(" "),
        r.requests_per_waiter_s,
        r.commands_per_waiter_s,
        r.conns_per_waiter,
        r.threads,
        r.rss_mb,
        r.waiters_cpu,
        app,
        r.per_handoff_ms,
        format!("{}/{}", r.out_of_order, r.ran.saturating_sub(1)),
    );
}

/// flock has only the drain's figures (and its waiters' CPU): the rest reads "–".
fn print_flock_row(k: usize, f: &QueueRun) {
    println!(
        "{:<8} {:>5} | {:>6} {:>5} | {:>17} | {:>9} {:>9} | {:>5} {:>5} {:>7} | {:>7.1} {:>13} | {:>8.2} {:>6}",
        "flock",
        k,
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
        f.waiters_cpu,
        "–",
        f.per_handoff_ms,
        format!("{}/{}", f.out_of_order, f.ran.saturating_sub(1)),
    );
}

#[derive(Default)]
struct QueueRun {
    queued: usize,
    exit69: usize,
    cpu: Vec<f64>,
    requests_per_waiter_s: f64,
    commands_per_waiter_s: f64,
    conns_per_waiter: f64,
    threads: f64,
    rss_mb: f64,
    waiters_cpu: f64,
    app: Option<(f64, f64)>,
    app_before: Option<(f64, f64)>,
    per_handoff_ms: f64,
    ran: usize,
    out_of_order: usize,
}

fn servers(env: &Env) -> String {
    urls(&env.ports)
}

/// Every process this bench starts, killed on the way out (or when a phase runs too long).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn redlock_queue(env: &Env, bin: &Path, k: usize, tag: &str) -> QueueRun {
    eprintln!("queue: {} K={k}", bin.display());
    for p in &env.ports {
        query(*p, &["FLUSHALL"]);
        query(*p, &["CONFIG", "RESETSTAT"]);
    }
    let dir = env.dir.join(tag);
    let _ = std::fs::create_dir_all(&dir);
    let fifo = dir.join("release");
    let log = dir.join("log");
    let errs = dir.join("stderr");
    mkfifo(&fifo);
    let mut procs = Procs(Vec::new());
    if !hold(env, bin, &fifo, &mut procs) {
        eprintln!("queue: the holder did not get the lock");
        return QueueRun::default();
    }
    let app_before = app_throughput(env.ports[0]);
    let err_file = File::create(&errs).ok();
    let started = Instant::now();
    for i in 0..k {
        // A fleet's waiters, with the op timeout the issue measured them with.
        let mut w = waiter(env, bin, &log, i, &["--op-timeout", "2s"]);
        w.stdout(Stdio::null());
        match err_file.as_ref().and_then(|f| f.try_clone().ok()) {
            Some(f) => w.stderr(f),
            None => w.stderr(Stdio::null()),
        };
        if let Ok(c) = w.spawn() {
            procs.0.push(c);
        }
        let next = started + ARRIVAL_GAP * (i as u32 + 1);
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    poll(Duration::from_secs(30), || queued(env) >= k);
    let mut run = QueueRun {
        queued: queued(env),
        app_before,
        ..QueueRun::default()
    };

    // Idle: the waiters only keep their places.
    let waiter_pids: Vec<u32> = procs.0[1..].iter().map(Child::id).collect();
    measure_idle(env, &waiter_pids, k, &mut run);
    run.app = app_throughput(env.ports[0]);

    // Drain: the holder exits; every waiter runs its 0 ms section in turn.
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
        let _ = f.write_all(b"go\n");
    }
    let deadline = Instant::now() + Duration::from_secs(60) + Duration::from_millis(50) * k as u32;
    let codes = exit_codes(&mut procs.0[1..], deadline);
    run.exit69 = codes.get(&69).copied().unwrap_or(0);
    drained(&mut run, &log);
    run
}

/// What K waiters cost while they only keep their places, over [`IDLE`]: each instance's CPU
/// and commands, the connections, and the waiting processes' threads, RSS and CPU.
fn measure_idle(env: &Env, waiter_pids: &[u32], k: usize, run: &mut QueueRun) {
    let cpu0: Vec<u64> = env.pids.iter().map(|p| proc_cpu_ticks(*p)).collect();
    let wcpu0: u64 = waiter_pids.iter().map(|p| proc_cpu_ticks(*p)).sum();
    let work0: Vec<(f64, f64)> = env.ports.iter().map(|p| commands(*p)).collect();
    let t0 = Instant::now();
    thread::sleep(IDLE);
    let secs = t0.elapsed().as_secs_f64();
    let hz = ticks_per_second();
    run.cpu = env
        .pids
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| (proc_cpu_ticks(*p).saturating_sub(*c0)) as f64 / hz / secs * 100.0)
        .collect();
    let wcpu1: u64 = waiter_pids.iter().map(|p| proc_cpu_ticks(*p)).sum();
    run.waiters_cpu = wcpu1.saturating_sub(wcpu0) as f64 / hz / secs * 100.0;
    let work1: Vec<(f64, f64)> = env.ports.iter().map(|p| commands(*p)).collect();
    let per = |f: fn(&(f64, f64)) -> f64| {
        work0.iter().zip(&work1).map(|(a, b)| f(b) - f(a)).sum::<f64>() / 3.0 / k as f64 / secs
    };
    run.requests_per_waiter_s = per(|w| w.0);
    run.commands_per_waiter_s = per(|w| w.1);
    run.conns_per_waiter = env
        .ports
        .iter()
        .filter_map(|p| info_field(*p, "clients", "connected_clients"))
        .sum::<f64>()
        / 3.0
        / k as f64;
    let status: Vec<(f64, f64)> = waiter_pids.iter().filter_map(|p| threads_rss(*p)).collect();
    if !status.is_empty() {
        run.threads = status.iter().map(|s| s.0).sum::<f64>() / status.len() as f64;
        run.rss_mb = status.iter().map(|s| s.1).sum::<f64>() / status.len() as f64 / 1024.0;
    }
}

/// How each of `children` exited, counted by exit code (-9: killed at `deadline`).
fn exit_codes(children: &mut [Child], deadline: Instant) -> HashMap<i32, usize> {
    let mut codes: HashMap<i32, usize> = HashMap::new();
    for c in children {
        loop {
            match c.try_wait() {
                Ok(Some(s)) => {
                    *codes.entry(s.code().unwrap_or(-1)).or_default() += 1;
                    break;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    *codes.entry(-9).or_default() += 1;
                    break;
                }
            }
        }
    }
    codes
}

fn flock_queue(env: &Env, k: usize) -> QueueRun {
    eprintln!("queue: flock K={k}");
    let dir = env.dir.join(format!("flock-{k}"));
    let _ = std::fs::create_dir_all(&dir);
    let (fifo, log, lockfile) = (dir.join("release"), dir.join("log"), dir.join("lock"));
    mkfifo(&fifo);
    let mut procs = Procs(Vec::new());
    let Ok(h) = Command::new("flock")
        .arg(&lockfile)
        .args(["sh", "-c"])
        .arg(format!("read x < {}", fifo.display()))
        .spawn()
    else {
        return QueueRun::default();
    };
    procs.0.push(h);
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    for i in 0..k {
        if let Ok(c) = Command::new("flock")
            .arg(&lockfile)
            .arg(&env.critical)
            .arg(&log)
            .arg(i.to_string())
            .arg("0")
            .spawn()
        {
            procs.0.push(c);
        }
        thread::sleep((started + ARRIVAL_GAP * (i as u32 + 1)).saturating_duration_since(Instant::now()));
    }
    thread::sleep(Duration::from_secs(1));
    let pids: Vec<u32> = procs.0[1..].iter().map(Child::id).collect();
    let c0: u64 = pids.iter().map(|p| proc_cpu_ticks(*p)).sum();
    thread::sleep(Duration::from_secs(2));
    let c1: u64 = pids.iter().map(|p| proc_cpu_ticks(*p)).sum();
    let mut run = QueueRun {
        waiters_cpu: c1.saturating_sub(c0) as f64 / ticks_per_second() / 2.0 * 100.0,
        ..QueueRun::default()
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
        let _ = f.write_all(b"go\n");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in procs.0.iter_mut().skip(1) {
        while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
    drained(&mut run, &log);
    run
}

/// The drain's figures from its sections' log: how many ran, the time per handoff, and
/// adjacent pairs out of arrival order (worker i arrived i-th).
fn drained(run: &mut QueueRun, log: &Path) {
    let sections = read_sections(log);
    run.ran = sections.len();
    if sections.len() > 1 {
        let span = sections[sections.len() - 1].enter - sections[0].enter;
        run.per_handoff_ms = span as f64 / 1e6 / (sections.len() - 1) as f64;
        run.out_of_order = sections.windows(2).filter(|w| w[1].worker < w[0].worker).count();
    }
}

/// Waiter `i`: `redlock [EXTRA] run -w 15m -r R -- critical LOG i 0` (its section takes no time).
fn waiter(env: &Env, bin: &Path, log: &Path, i: usize, extra: &[&str]) -> Command {
    let mut w = Command::new(bin);
    w.args(["-s", &servers(env)])
        .args(extra)
        .args(["run", "-w", "15m", "-r", RESOURCE, "--"])
        .arg(&env.critical)
        .arg(log)
        .arg(i.to_string())
        .arg("0")
        .stdin(Stdio::null());
    w
}

/// How many wait in the queue, on the instance whose copy is longest.
fn queued(env: &Env) -> usize {
    let key = format!("redlock:queue:{RESOURCE}");
    env.ports
        .iter()
        .filter_map(|p| {
            let n = query(*p, &["ZCARD", &key]).as_deref().and_then(integer)?;
            usize::try_from(n).ok()
        })
        .max()
        .unwrap_or(0)
}

/// One holder that keeps the lock until a line is written to `fifo`; whether it got it.
fn hold(env: &Env, bin: &Path, fifo: &Path, procs: &mut Procs) -> bool {
    let spawned = Command::new(bin)
        .args(["-q", "-s", &servers(env), "run", "-r", RESOURCE, "--", "sh", "-c"])
        .arg(format!("read x < {}", fifo.display()))
        .stdin(Stdio::null())
        .spawn();
    let Ok(h) = spawned else {
        return false;
    };
    procs.0.push(h);
    let lock_key = format!("redlock:lock:{RESOURCE}");
    poll(Duration::from_secs(10), || {
        env.ports
            .iter()
            .filter(|p| query(**p, &["EXISTS", &lock_key]).as_deref() == Some(":1"))
            .count()
            >= 2
    })
}

/// HERD waiters started at once: (queued, exited 69, ran).
fn herd(env: &Env, bin: &Path, tag: &str) -> (usize, usize, usize) {
    eprintln!("queue: herd of {HERD}, {}", bin.display());
    for p in &env.ports {
        query(*p, &["FLUSHALL"]);
    }
    let dir = env.dir.join(tag);
    let _ = std::fs::create_dir_all(&dir);
    let (fifo, log) = (dir.join("release"), dir.join("log"));
    mkfifo(&fifo);
    let mut procs = Procs(Vec::new());
    hold(env, bin, &fifo, &mut procs);
    for i in 0..HERD {
        // Default timeouts: the herd must queue all the same.
        if let Ok(c) = waiter(env, bin, &log, i, &["-q"]).stderr(Stdio::null()).spawn() {
            procs.0.push(c);
        }
    }
    poll(Duration::from_secs(30), || queued(env) >= HERD);
    let q = queued(env);
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
        let _ = f.write_all(b"go\n");
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut exit69 = 0;
    for c in procs.0.iter_mut().skip(1) {
        loop {
            match c.try_wait() {
                Ok(Some(s)) => {
                    exit69 += usize::from(s.code() == Some(69));
                    break;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
    }
    (q, exit69, read_sections(&log).len())
}

fn poll(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    ok()
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = Command::new("mkfifo").arg(path).status();
}

/// utime + stime of a process, in clock ticks (0 when it is gone).
fn proc_cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// (threads, VmRSS kB) of a process.
fn threads_rss(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
    };
    Some((field("Threads:")?, field("VmRSS:")?))
}

/// (requests a client sent, every command) so far, from INFO commandstats.
fn commands(port: u16) -> (f64, f64) {
    let (mut requests, mut all) = (0.0, 0.0);
    for (name, calls) in command_calls(port).unwrap_or_default() {
        // INFO and CONFIG are the bench's own.
        if name.starts_with("info") || name.starts_with("config") {
            continue;
        }
        all += calls;
        if is_request(&name) {
            requests += calls;
        }
    }
    (requests, all)
}

fn info_field(port: u16, section: &str, name: &str) -> Option<f64> {
    info_value(&query(port, &["INFO", section])?, name)
}

/// redis-benchmark GET and SET requests/s on 127.0.0.1:port (50,000 each, 20 clients).
fn app_throughput(port: u16) -> Option<(f64, f64)> {
    let out = Command::new("timeout")
        .args([
            "60",
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-t", "get,set", "-n", "50000", "-c", "20", "-q"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // Lines like "SET: 81300.81 requests per second, p50=0.135 msec" (after \r progress).
    let rate = |name: &str| {
        text.split(['\r', '\n'])
            .filter_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
            .next_back()
    };
    Some((rate("GET")?, rate("SET")?))
}
