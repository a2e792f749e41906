//! A thousand waiters (the queue at scale): keeping one's place costs each instance the same
//! whatever the queue's length; a waiting process keeps one connection per instance and a few
//! threads; a server that speaks only RESP2 still wakes its waiters (on a second connection);
//! a head that dies gives way; a herd that arrives at once is served in the queue's order.
//! How much it costs in CPU and commands is the benchmark's (`scripts/bench`, part `queue`).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::engine::{acquire, locker, request};
use support::procs::{self, redlock, run, Bg};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(30);

fn info(server: &RedisServer, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query(&mut server.conn())
        .expect("INFO")
}

/// Every command an instance ran since the last CONFIG RESETSTAT (scripts' own calls too), but
/// INFO and CONFIG, which are this test's.
fn commands_run(server: &RedisServer) -> u64 {
    info(server, "commandstats")
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter(|l| !l.starts_with("info") && !l.starts_with("config"))
        .filter_map(|l| l.split_once("calls=")?.1.split(',').next()?.parse::<u64>().ok())
        .sum()
}

fn reset_stats(server: &RedisServer) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query::<()>(&mut server.conn())
        .expect("CONFIG RESETSTAT");
}

/// What one renewal of the last waiter's place costs instance 0, with `k` waiters queued.
fn renewal_cost(cluster: &Cluster, resource: &str, k: usize) -> (u64, usize) {
    // Generous timeouts: other tests share the machine, and every renewal must be answered.
    let mut settings = support::engine::settings(&cluster.urls());
    settings.op_timeout = Duration::from_secs(5);
    settings.connect_timeout = Duration::from_secs(5);
    let locker = redlock::engine::lock::Locker::new(&settings, None);
    let holder = acquire(&locker, &request(resource, "holder", Duration::from_secs(60)));
    // The head listens on its channel, as a live waiter does (the second in line checks).
    let keys = redlock::engine::lock::Keys::new("redlock:", resource);
    let mut listeners: Vec<redis::Connection> = cluster.servers.iter().map(RedisServer::conn).collect();
    for c in &mut listeners {
        redis::cmd("SUBSCRIBE")
            .arg(keys.wake("w0000"))
            .exec(c)
            .expect("SUBSCRIBE");
    }
    let everywhere = [true, true, true];
    for i in 0..k {
        let (place, answered) = locker.enqueue(
            &request(resource, &format!("w{i:04}"), Duration::from_secs(30)),
            0,
            &everywhere,
        );
        assert_eq!(answered, [true, true, true]);
        assert_eq!(place.expect("a place").ahead, i, "joined at the end");
    }
    locker.settle();
    reset_stats(&cluster.servers[0]);
    let last = request(resource, &format!("w{:04}", k - 1), Duration::from_secs(30));
    let (place, _) = locker.enqueue(&last, 0, &everywhere);
    locker.settle();
    let cost = commands_run(&cluster.servers[0]);
    locker.release(resource, &holder.token, Duration::ZERO);
    (cost, place.expect("a place").ahead)
}

#[test]
fn renewing_a_place_costs_the_same_with_ten_or_three_hundred_waiting() {
    let cluster = Cluster::start(3);
    let (short, ahead_short) = renewal_cost(&cluster, "short", 10);
    let (long, ahead_long) = renewal_cost(&cluster, "long", 300);
    assert_eq!((ahead_short, ahead_long), (9, 299), "the place is the rank");
    // The same script, the same steps: nothing in it walks the queue.
    assert_eq!(short, long, "commands of one renewal, 10 vs 300 waiting");
    assert!(
        long <= 4,
        "one renewal far back ran {long} commands: this script, TIME, ZADD, ZRANK"
    );
}

fn queued(cluster: &Cluster, resource: &str) -> Vec<Value> {
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("REDLOCK_OP_TIMEOUT", "5s")
            .env("REDLOCK_CONNECT_TIMEOUT", "5s")
            .args(["inspect", "-r", resource, "--json"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let json: Value = serde_json::from_str(&out.stdout).expect("JSON");
    json["queue"].as_array().cloned().unwrap_or_default()
}

fn connected_clients(server: &RedisServer) -> usize {
    info(server, "clients")
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients")
}

/// Connections on `server` as CLIENT LIST shows them: (sub count, resp) of each.
fn client_list(server: &RedisServer) -> Vec<(String, String)> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut server.conn())
        .expect("CLIENT LIST");
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_default()
            .to_string()
    };
    list.lines()
        .map(|l| (field(l, "sub="), field(l, "resp=")))
        .collect()
}

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .expect("Threads")
}

fn waiter(servers: &str, dir: &Path, resource: &str) -> Bg {
    Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", servers)
            .env("REDLOCK_OP_TIMEOUT", "2s")
            .args(["run", "-w", "20s", "-r", resource, "--", "true"]),
        dir,
    )
}

#[test]
fn a_waiting_process_keeps_one_connection_per_instance_and_three_threads() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = locker(&cluster.urls());
    let lease = acquire(&holder, &request("one-conn", "holder", Duration::from_secs(30)));
    holder.settle();
    let before: Vec<usize> = cluster.servers.iter().map(connected_clients).collect();
    let mut w = waiter(&cluster.servers_arg(), dir.path(), "one-conn");
    procs::wait_until("the waiter to be queued", LIMIT, || {
        queued(&cluster, "one-conn").len() == 1
    });
    for (server, before) in cluster.servers.iter().zip(&before) {
        // One more than before the waiter came (each look opens a connection of its own).
        assert_eq!(connected_clients(server), before + 1, "{}", w.stderr());
        let subscribed: Vec<_> = client_list(server)
            .into_iter()
            .filter(|(sub, _)| sub == "1")
            .collect();
        assert_eq!(
            subscribed,
            [("1".to_string(), "3".to_string())],
            "one RESP3 connection, subscribed"
        );
    }
    // A connection's short-lived connect thread may still be on its way out.
    procs::wait_until(
        "three threads at most, once settled",
        Duration::from_secs(5),
        || threads(w.child.id()) <= 3,
    );
    let released_at = Instant::now();
    holder.release("one-conn", &lease.token, Duration::ZERO);
    assert_eq!(w.code(LIMIT), 0, "{}", w.stderr());
    assert!(
        released_at.elapsed() < Duration::from_secs(10),
        "woken by the release, not the lease's end"
    );
}

#[test]
fn a_server_that_speaks_only_resp2_still_wakes_its_waiters_on_a_second_connection() {
    let servers: Vec<RedisServer> = (0..3)
        .map(|_| RedisServer::start_with(&["--rename-command", "HELLO", ""]))
        .collect();
    let urls: Vec<String> = servers.iter().map(RedisServer::url).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = locker(&urls);
    let lease = acquire(&holder, &request("resp2", "holder", Duration::from_secs(30)));
    holder.settle();
    let mut w = waiter(&urls.join(","), dir.path(), "resp2");
    procs::wait_until("the waiter to subscribe everywhere", LIMIT, || {
        servers
            .iter()
            .all(|s| client_list(s).iter().any(|(sub, resp)| sub == "1" && resp == "2"))
    });
    let released_at = Instant::now();
    holder.release("resp2", &lease.token, Duration::ZERO);
    assert_eq!(w.code(LIMIT), 0, "{}", w.stderr());
    // The lease had 30 s left: only the release's message can have woken it this soon.
    assert!(
        released_at.elapsed() < Duration::from_secs(10),
        "took {:?}",
        released_at.elapsed()
    );
}

#[test]
fn a_head_of_the_queue_that_dies_gives_way_to_the_next() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = locker(&cluster.urls());
    let lease = acquire(&holder, &request("dead-head", "holder", Duration::from_secs(30)));
    holder.settle();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&da).expect("dir");
    std::fs::create_dir_all(&db).expect("dir");
    let mut a = waiter(&cluster.servers_arg(), &da, "dead-head");
    procs::wait_until("a to be queued", LIMIT, || {
        queued(&cluster, "dead-head").len() == 1
    });
    let mut b = waiter(&cluster.servers_arg(), &db, "dead-head");
    procs::wait_until("b to be queued", LIMIT, || {
        queued(&cluster, "dead-head").len() == 2
    });
    procs::signal(a.child.id(), libc::SIGKILL);
    let _ = a.child.wait();
    holder.release("dead-head", &lease.token, Duration::ZERO);
    let released_at = Instant::now();
    assert_eq!(b.code(LIMIT), 0, "{}", b.stderr());
    assert!(
        released_at.elapsed() < Duration::from_secs(8),
        "b got the lock {:?} after the release",
        released_at.elapsed()
    );
}

#[test]
fn a_herd_arriving_at_once_all_queue_and_run_in_the_queues_order() {
    const HERD: usize = 40;
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = locker(&cluster.urls());
    let lease = acquire(&holder, &request("herd", "holder", Duration::from_secs(60)));
    holder.settle();
    let log = dir.path().join("log");
    let mut herd: Vec<Bg> = (0..HERD)
        .map(|i| {
            let sub = dir.path().join(format!("w{i}"));
            std::fs::create_dir_all(&sub).expect("dir");
            Bg::start(
                redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
                    "run",
                    "--op-timeout",
                    "2s",
                    "-w",
                    "60s",
                    "-r",
                    "herd",
                    "--token",
                    &format!("tok-{i}"),
                    "-c",
                    &format!("echo $REDLOCK_TOKEN >> {}", log.display()),
                ]),
                &sub,
            )
        })
        .collect();
    procs::wait_until("the whole herd to be queued", Duration::from_secs(60), || {
        queued(&cluster, "herd").len() == HERD
    });
    let order: Vec<String> = queued(&cluster, "herd")
        .iter()
        .map(|w| w["token"].as_str().unwrap_or_default().to_string())
        .collect();
    holder.release("herd", &lease.token, Duration::ZERO);
    for w in &mut herd {
        assert_eq!(w.code(Duration::from_secs(60)), 0, "none fails: {}", w.stderr());
    }
    let served = procs::file_lines(&log);
    let mut sorted = served.clone();
    sorted.sort();
    let mut expected = order.clone();
    expected.sort();
    assert_eq!(sorted, expected, "each queued waiter ran once");
    // The decider's copy of the queue decides. A waiter whose subscription the decider
    // confirmed late (two cores shared with the rest of the suite) asks the next instance for a
    // second or so, whose copy may have two arrivals of the same millisecond the other way
    // round: a swap now and then, never a shuffle (a shuffle of 40 has about 390 pairs out of
    // order).
    let place: std::collections::HashMap<&String, usize> =
        order.iter().enumerate().map(|(i, t)| (t, i)).collect();
    let inversions = (0..served.len())
        .flat_map(|i| (i + 1..served.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| place[&served[i]] > place[&served[j]])
        .count();
    assert!(
        inversions <= 3,
        "served in the queue's order but for {inversions} pairs:\n served {served:?}\n queue  {order:?}"
    );
}
