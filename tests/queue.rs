//! The waiting queue (docs/waiting.md, "First come, first served"): waiters are
//! served in arrival order, a dead waiter is skipped, a signal leaves the queue at once,
//! `inspect` lists the queue, the notice gives the place, the queue survives its home instance
//! stopping or restarting empty, and a crowd is served without overlap.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::engine::locker;
use support::procs::{self, redlock, run, Bg};
use support::redis::Cluster;

const LIMIT: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_redlock");

fn inspect(cluster: &Cluster, resource: &str) -> Value {
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["inspect", "-r", resource, "--json"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {out:?}"))
}

/// The tokens in the queue, first in line first.
fn queue(cluster: &Cluster, resource: &str) -> Vec<String> {
    inspect(cluster, resource)["queue"]
        .as_array()
        .expect("queue")
        .iter()
        .map(|w| w["token"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn release(cluster: &Cluster, resource: &str, token: &str) {
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["release", "-r", resource, "--token", token]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
}

/// A waiter: `run` with its own token, appending `name` to `log` inside the lock.
fn waiter(cluster: &Cluster, dir: &Path, resource: &str, name: &str) -> Bg {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).expect("dir");
    let section = format!(
        "echo {name} >> {log}; sleep 0.05; echo {name}-out >> {log}",
        log = dir.join("log").display()
    );
    Bg::start(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
            "run",
            "-r",
            resource,
            "--token",
            &format!("tok-{name}"),
            "-c",
            &section,
        ]),
        &sub,
    )
}

fn log(dir: &Path) -> Vec<String> {
    procs::file_lines(&dir.join("log"))
}

/// Start waiters one after another, each once the previous one is in the queue.
fn queue_up(cluster: &Cluster, dir: &Path, resource: &str, names: &[&str]) -> Vec<Bg> {
    let mut waiters = vec![];
    for (i, name) in names.iter().enumerate() {
        waiters.push(waiter(cluster, dir, resource, name));
        procs::wait_until(&format!("{name} to be queued"), LIMIT, || {
            queue(cluster, resource).len() == i + 1
        });
    }
    waiters
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    cluster.hold("fifo", "holder", &[]);
    let names = ["a", "b", "c", "d", "e"];
    let mut waiters = queue_up(&cluster, dir.path(), "fifo", &names);
    assert_eq!(
        queue(&cluster, "fifo"),
        names.iter().map(|n| format!("tok-{n}")).collect::<Vec<_>>()
    );
    release(&cluster, "fifo", "holder");
    for w in &mut waiters {
        assert_eq!(w.code(LIMIT), 0, "{}", w.stderr());
    }
    let expected: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("{n}-out")])
        .collect();
    assert_eq!(log(dir.path()), expected, "one after another, in arrival order");
    assert!(queue(&cluster, "fifo").is_empty());
}

#[test]
fn a_killed_waiter_is_skipped_and_a_signalled_one_leaves_at_once() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    cluster.hold("skip", "holder", &[]);
    let mut waiters = queue_up(&cluster, dir.path(), "skip", &["a", "b", "c", "d"]);
    // b dies without a word; c is interrupted and leaves the queue itself.
    procs::signal(waiters[1].child.id(), libc::SIGKILL);
    procs::signal(waiters[2].child.id(), libc::SIGINT);
    assert_eq!(waiters[2].code(LIMIT), 130, "{}", waiters[2].stderr());
    procs::wait_until(
        "b and c to be gone from the queue",
        Duration::from_secs(5),
        || queue(&cluster, "skip") == ["tok-a", "tok-d"],
    );
    release(&cluster, "skip", "holder");
    assert_eq!(waiters[0].code(LIMIT), 0, "{}", waiters[0].stderr());
    assert_eq!(waiters[3].code(LIMIT), 0, "{}", waiters[3].stderr());
    assert_eq!(log(dir.path()), ["a", "a-out", "d", "d-out"]);
}

#[test]
fn inspect_and_the_notice_show_the_queue_in_order() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    cluster.hold("shown", "holder", &[]);
    let mut waiters = queue_up(&cluster, dir.path(), "shown", &["a", "b", "c"]);

    let json = inspect(&cluster, "shown");
    let q = json["queue"].as_array().expect("queue");
    let first_since = q[0]["waiting_since"].clone();
    for (i, (w, bg)) in q.iter().zip(&waiters).enumerate() {
        assert_eq!(w["place"], i + 1, "{w}");
        assert_eq!(w["pid"], bg.child.id(), "{w}");
        assert_eq!(w["mode"], "exclusive");
        assert!(w["command"].as_str().unwrap_or_default().contains("echo"), "{w}");
        assert!(w["waiting_since"].is_string(), "{w}");
    }
    let text = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["inspect", "-r", "shown"]),
        LIMIT,
    );
    assert!(text.stdout.contains("queue (3 waiting"), "{}", text.stdout);
    let places: Vec<String> = text
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLACE"))
        .skip(1)
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    let expected: Vec<String> = waiters
        .iter()
        .enumerate()
        .map(|(i, w)| format!("{} {} {}", i + 1, gethostname(), w.child.id()))
        .collect();
    assert_eq!(places, expected, "{}", text.stdout);
    let listing = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["inspect"]),
        LIMIT,
    );
    let row = listing
        .stdout
        .lines()
        .find(|l| l.starts_with("shown "))
        .expect("a row");
    assert!(row.ends_with(" 3"), "the queue's length last: {row}");

    // After about a second, each says once where it stands.
    procs::wait_until("the notices", LIMIT, || {
        waiters.iter().all(|w| w.stderr().contains("waiting for lock"))
    });
    assert!(
        waiters[0].stderr().contains("; you are next"),
        "{}",
        waiters[0].stderr()
    );
    assert!(
        waiters[1].stderr().contains("; 1 ahead of you"),
        "{}",
        waiters[1].stderr()
    );
    assert!(
        waiters[2].stderr().contains("; 2 ahead of you"),
        "{}",
        waiters[2].stderr()
    );
    // Renewing a place (once a second) keeps when the wait began.
    assert_eq!(
        inspect(&cluster, "shown")["queue"][0]["waiting_since"],
        first_since
    );
    release(&cluster, "shown", "holder");
    for w in &mut waiters {
        assert_eq!(w.code(LIMIT), 0, "{}", w.stderr());
    }
}

fn gethostname() -> String {
    let out = Command::new("hostname").output().expect("hostname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sections log "in NAME" / "out NAME"; no two may be inside at once.
fn assert_no_overlap(lines: &[String]) {
    let mut inside: Option<&str> = None;
    for l in lines {
        match l.split_once(' ') {
            Some(("in", who)) => {
                assert!(
                    inside.is_none(),
                    "{who} entered while {inside:?} was inside: {lines:?}"
                );
                inside = Some(who);
            }
            Some(("out", who)) => {
                assert_eq!(inside, Some(who), "{lines:?}");
                inside = None;
            }
            _ => panic!("bad line {l:?}"),
        }
    }
}

fn contender(cluster: &Cluster, log: &Path, name: &str) -> Child {
    let section = format!(
        "echo in {name} >> {log}; sleep 0.02; echo out {name} >> {log}",
        log = log.display()
    );
    procs::scrubbed(BIN)
        .env("REDLOCK_SERVERS", cluster.servers_arg())
        .args(["-q", "run", "-w", "60s", "-r", "home", "-c", &section])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

#[test]
fn the_queues_home_stopped_or_restarted_empty_costs_order_not_exclusion() {
    for restart in [false, true] {
        let mut cluster = Cluster::start(3);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        cluster.hold("home", "holder", &[]);
        let mut children: Vec<Child> = (0..6)
            .map(|i| contender(&cluster, &log, &format!("w{i}")))
            .collect();
        procs::wait_until("six waiters queued", LIMIT, || queue(&cluster, "home").len() == 6);
        let home = locker(&cluster.urls()).order("home")[0];
        if restart {
            cluster.servers[home].restart();
        } else {
            cluster.servers[home].pause();
        }
        release(&cluster, "home", "holder");
        for (i, c) in children.iter_mut().enumerate() {
            let status = procs::wait_timeout(c, LIMIT).unwrap_or_else(|| panic!("w{i} still waiting"));
            assert!(status.success(), "w{i}: {status:?}");
        }
        if !restart {
            cluster.servers[home].resume();
        }
        let lines = procs::file_lines(&log);
        assert_eq!(lines.len(), 12, "everyone ran: {lines:?}");
        assert_no_overlap(&lines);
    }
}

#[test]
fn eighty_buyers_at_once_sell_exactly_the_stock_of_twenty() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (stock, log) = (dir.path().join("stock"), dir.path().join("log"));
    std::fs::write(&stock, "20").expect("stock");
    let buy = format!(
        "echo in $$ >> {log}; n=$(cat {stock}); if [ \"$n\" -gt 0 ]; then echo $((n - 1)) > {stock}; \
         echo sold >> {sales}; fi; echo out $$ >> {log}",
        log = log.display(),
        stock = stock.display(),
        sales = dir.path().join("sales").display()
    );
    let errors = |i: usize| dir.path().join(format!("buyer-{i}.err"));
    let mut buyers: Vec<Child> = (0..80)
        .map(|i| {
            procs::scrubbed(BIN)
                .env("REDLOCK_SERVERS", cluster.servers_arg())
                // Eighty processes on two cores: a request may wait for a CPU longer than the
                // default 250 ms op timeout, which would end a buyer with 69. This test is
                // about exactly-once under contention, not about timeouts.
                .args([
                    "-q",
                    "--op-timeout",
                    "2s",
                    "run",
                    "-w",
                    "100s",
                    "-r",
                    "shop",
                    "-c",
                    &buy,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(errors(i)).expect("stderr file"))
                .spawn()
                .expect("spawn a buyer")
        })
        .collect();
    for (i, b) in buyers.iter_mut().enumerate() {
        let status = procs::wait_timeout(b, Duration::from_secs(120))
            .unwrap_or_else(|| panic!("buyer {i} still waiting"));
        let said = std::fs::read_to_string(errors(i)).unwrap_or_default();
        assert!(status.success(), "buyer {i}: {status:?}: {said}");
    }
    let sold = std::fs::read_to_string(dir.path().join("sales"))
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(sold, 20, "exactly the stock was sold");
    assert_eq!(std::fs::read_to_string(&stock).expect("stock").trim(), "0");
    let lines = procs::file_lines(&log);
    assert_eq!(lines.len(), 160, "every buyer went in once");
    assert_no_overlap(&lines);
}
