//! The part `fanout`: acquire, release and run on 5 instances, each behind a proxy adding
//! 50 ms each way, in round trips.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::procs::{run_bounded, Ran, PROCESS_LIMIT};
use crate::proxy::delay_proxy;
use crate::redis_by_hand::urls;
use crate::stats::median;
use crate::table::{ms, na, Table};
use crate::watchdog::Watchdog;
use crate::world::{progress, Env};

/// The fan-out proxies add this in each direction: a round trip of about 100 ms.
const LINK_DELAY: Duration = Duration::from_millis(50);

/// Walls, ms, per redlock binary (and etcd's), of rounds 1 to 6.
#[derive(Default)]
struct Walls {
    acquire: Vec<Vec<f64>>,
    release: Vec<Vec<f64>>,
    both: Vec<Vec<f64>>,
    run: Vec<Vec<f64>>,
    etcd: Vec<f64>,
    failed: usize,
}

pub fn fanout(env: &Env, table: &mut Table) {
    progress("fan-out through 5 proxies adding 50 ms each way");
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
    let rtt = round_trip(proxies[0]);
    let walls = measure(env, &servers, etcd_proxy);
    add_rows(table, &walls, rtt, etcd_proxy.is_some());
}

/// The round trip through one proxy, as a client sees it: PING on an open connection, ms.
fn round_trip(port: u16) -> f64 {
    let mut samples = vec![];
    if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
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
}

fn measure(env: &Env, servers: &str, etcd_proxy: Option<u16>) -> Walls {
    let n = env.bins.len();
    let watchdog = Watchdog::start("fan-out", Duration::from_secs(90));
    let mut w = Walls {
        acquire: vec![vec![]; n],
        release: vec![vec![]; n],
        both: vec![vec![]; n],
        run: vec![vec![]; n],
        ..Walls::default()
    };
    // Round 0 loads the scripts on the instances (EVALSHA → NOSCRIPT → EVAL): not counted.
    for i in 0..7 {
        if watchdog.expired() {
            break;
        }
        for b in env.order(i) {
            let [a, r, x] = one_round(env, b, servers);
            if i > 0 {
                w.failed += [&a, &r, &x].iter().filter(|r| !r.ok).count();
                w.acquire[b].push(a.wall);
                w.release[b].push(r.wall);
                w.both[b].push(a.wall + r.wall);
                w.run[b].push(x.wall);
            }
        }
        if let Some(port) = etcd_proxy {
            let ep = format!("127.0.0.1:{port}");
            let mut cmd = env.etcdctl(&ep, &["lock", "fanout", "--", "true"]);
            let e = run_bounded(&mut cmd, PROCESS_LIMIT, false);
            if i > 0 {
                w.etcd.push(if e.ok { e.wall } else { f64::NAN });
            }
        }
    }
    w
}

/// Binary `bin`'s acquire, release (of that token) and `run -- true`, one process each.
fn one_round(env: &Env, bin: usize, servers: &str) -> [Ran; 3] {
    let resource = format!("fanout-{bin}");
    let acquire = ["-q", "-s", servers, "acquire", "-r", &resource];
    let a = run_bounded(&mut env.redlock(bin, &acquire), PROCESS_LIMIT, true);
    let token = a.stdout.trim().to_string();
    let release = ["-q", "-s", servers, "release", "-r", &resource, "--token", &token];
    let r = run_bounded(&mut env.redlock(bin, &release), PROCESS_LIMIT, false);
    let resource = format!("fanout-run-{bin}");
    let run = ["-q", "-s", servers, "run", "-r", &resource, "--", "true"];
    let x = run_bounded(&mut env.redlock(bin, &run), PROCESS_LIMIT, false);
    [a, r, x]
}

fn add_rows(table: &mut Table, w: &Walls, rtt: f64, etcd_ran: bool) {
    let in_rtt = |x: f64| {
        if x.is_finite() {
            format!("{} = {:.2} RTT", ms(x), x / rtt)
        } else {
            ms(x)
        }
    };
    let cells = |runs: &[Vec<f64>]| -> Vec<String> { runs.iter().map(|r| in_rtt(median(r))).collect() };
    let what = format!(
        "5 instances each behind a proxy adding 50 ms each way (round trip measured {rtt:.1} ms; connects are not delayed); a fresh process each, median of 6{}",
        if w.failed > 0 { format!("; {} redlock processes failed", w.failed) } else { String::new() }
    );
    table.add_redlock("fan-out: `acquire`", &what, cells(&w.acquire));
    table.add_redlock(
        "fan-out: `release`",
        "the lock just acquired, on the same 5 instances",
        cells(&w.release),
    );
    table.add_redlock(
        "fan-out: `acquire` + `release`",
        "the two processes above, one after the other",
        cells(&w.both),
    );
    table.add(
        "fan-out: `run -- true`",
        "one process: acquire, run `true`, release; etcd: `etcdctl lock N -- true` to 1 node behind the same kind of proxy",
        cells(&w.run),
        na(),
        if etcd_ran { in_rtt(median(&w.etcd)) } else { na() },
        na(),
    );
}
