//! `redlock inspect` as an operator meets it at 3 a.m.: who holds a lock, on which instance,
//! for how long; every lock under the prefix; JSON for scripts; no password and no colour
//! where there should be none; exit 69 (still printing) when a quorum is down.

mod support;

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use redlock::engine::holder::HolderMeta;
use redlock::engine::lock::{Attempt, Locker, Request};
use serde_json::Value;
use support::engine::{holder_token, locker};
use support::procs::{self, redlock, run, scrubbed, Out};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(20);

/// The documented JSON schema (docs/inspect.md): exactly these fields, no more, no fewer.
const LOCK_FIELDS: &[&str] = &[
    "resource",
    "state",
    "summary",
    "n",
    "quorum",
    "answered",
    "token",
    "held_on",
    "expires_in_ms",
    "holder",
    "mode",
    "limit",
    "holders",
    "tokens",
    "instances",
    "queue",
    "keepers",
];
const WAITER_FIELDS: &[&str] = &[
    "place",
    "token",
    "host",
    "pid",
    "command",
    "waiting_since",
    "mode",
    "unreadable",
];
const HOLDER_FIELDS: &[&str] = &[
    "token",
    "count",
    "host",
    "pid",
    "command",
    "since",
    "ttl_ms",
    "time_left_ms",
    "fence",
    "unreadable",
    "other_client",
];
const INSTANCE_FIELDS: &[&str] = &["server", "reachable", "error", "holder", "holds", "last_fence"];
const TOKEN_FIELDS: &[&str] = &["token", "held_on"];
const LISTING_FIELDS: &[&str] = &["prefix", "n", "quorum", "answered", "servers", "locks"];
const SERVER_FIELDS: &[&str] = &["server", "reachable", "error", "locks"];

fn rl(servers: &str, args: &[&str]) -> Out {
    run(redlock().env("REDLOCK_SERVERS", servers).args(args), LIMIT)
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

/// `inspect -r NAME --json`, which must exit 0.
fn inspect_json(servers: &str, resource: &str) -> Value {
    let out = rl(servers, &["inspect", "-r", resource, "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    json(&out)
}

fn acquire(servers: &str, args: &[&str]) -> String {
    let out = rl(servers, &[&["acquire", "--no-keep"], args].concat());
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout.trim().to_string()
}

/// Take `resource` through the library with a known holder (pid 4121, `./deploy.sh prod`)
/// and wait until every instance has it. The `Locker` stays alive, so the last instance's
/// request is sent even when the round was decided before it answered.
fn hold_everywhere(cluster: &Cluster, resource: &str, token: &str) -> Locker {
    let locker = locker(&cluster.urls());
    let req = Request {
        resource: resource.into(),
        token: token.into(),
        ttl: Duration::from_secs(30),
        meta: HolderMeta::new(4121, "./deploy.sh prod"),
        mode: Default::default(),
    };
    match locker.try_acquire(&req).expect("acquire") {
        Attempt::Acquired(_) => {}
        Attempt::Busy(b) => panic!("{}", b.describe(resource)),
    }
    procs::wait_until(
        "the lock and its fence on every instance",
        Duration::from_secs(5),
        || {
            cluster.servers.iter().all(|s| {
                let mut conn = s.conn();
                let fence: Option<String> = redis::cmd("HGET")
                    .arg(format!("redlock:lock:{resource}"))
                    .arg("fence")
                    .query(&mut conn)
                    .expect("HGET");
                holder_token(&mut conn, resource).as_deref() == Some(token) && fence.is_some_and(|f| f != "0")
            })
        },
    );
    locker
}

/// Plant a lock by hand, laid out exactly as acquire.lua writes it.
fn plant(server: &RedisServer, resource: &str, token: &str, host: &str, pid: u32, ttl_ms: u64) {
    let key = format!("redlock:lock:{resource}");
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let mut conn = server.conn();
    redis::cmd("HSET")
        .arg(&key)
        .arg(&["token", token, "count", "1", "host", host])
        .arg("pid")
        .arg(pid)
        .arg(&["cmd", "./job.sh"])
        .arg("since")
        .arg(since.to_string())
        .arg("ttl")
        .arg(ttl_ms)
        .arg(&["fence", "0"])
        .query::<()>(&mut conn)
        .expect("HSET");
    redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(ttl_ms)
        .query::<()>(&mut conn)
        .expect("PEXPIRE");
}

fn fields(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_fields(v: &Value, documented: &[&str]) {
    assert_eq!(fields(v), documented.iter().copied().collect(), "{v:#}");
}

/// Every field of a lock object, recursively, against the documented schema.
fn assert_lock_schema(lock: &Value) {
    assert_fields(lock, LOCK_FIELDS);
    if !lock["holder"].is_null() {
        assert_fields(&lock["holder"], HOLDER_FIELDS);
    }
    for h in lock["holders"].as_array().expect("holders") {
        let mut documented = HOLDER_FIELDS.to_vec();
        documented.push("held_on");
        assert_fields(h, &documented);
    }
    for t in lock["tokens"].as_array().expect("tokens") {
        assert_fields(t, TOKEN_FIELDS);
    }
    for i in lock["instances"].as_array().expect("instances") {
        assert_fields(i, INSTANCE_FIELDS);
        if !i["holder"].is_null() {
            assert_fields(&i["holder"], HOLDER_FIELDS);
        }
        for h in i["holds"].as_array().into_iter().flatten() {
            assert_fields(h, HOLDER_FIELDS);
        }
    }
    for w in lock["queue"].as_array().expect("queue") {
        assert_fields(w, WAITER_FIELDS);
    }
}

/// The table row of the server with this port, split into its columns.
fn row<'a>(stdout: &'a str, url: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{url} ")))
        .unwrap_or_else(|| panic!("no row for {url}:\n{stdout}"));
    line.split_whitespace().collect()
}

fn last_line(out: &Out) -> &str {
    out.stdout.lines().last().unwrap_or_default()
}

fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[test]
fn a_free_lock_is_free_on_every_row_and_exits_0() {
    let cluster = Cluster::start(3);
    let out = rl(&cluster.servers_arg(), &["inspect", "-r", "deploy"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    for url in cluster.urls() {
        assert_eq!(
            row(&out.stdout, &url),
            [url.as_str(), "ok", "(free)"],
            "{}",
            out.stdout
        );
    }
    assert_eq!(last_line(&out), "free", "{}", out.stdout);
    assert_eq!(out.stderr, "");

    let v = inspect_json(&cluster.servers_arg(), "deploy");
    assert_eq!(
        (v["state"].as_str(), v["answered"].as_u64(), v["held_on"].as_u64()),
        (Some("free"), Some(3), Some(0))
    );
    assert!(
        v["holder"].is_null() && v["token"].is_null() && v["expires_in_ms"].is_null(),
        "{v:#}"
    );

    let out = rl(&cluster.servers_arg(), &["inspect"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        last_line(&out),
        "no locks under prefix 'redlock:'",
        "{}",
        out.stdout
    );
}

#[test]
fn a_lock_held_on_all_three_names_its_holder_on_every_row() {
    let cluster = Cluster::start(3);
    let _held = hold_everywhere(&cluster, "deploy", "tok-all");
    let out = rl(&cluster.servers_arg(), &["inspect", "-r", "deploy"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["SERVER", "STATUS", "TOKEN", "HOLDS", "LEFT", "FENCE", "HOST", "PID", "SINCE", "COMMAND"]
    );
    for url in cluster.urls() {
        let cols = row(&out.stdout, &url);
        assert_eq!(cols[1..4], ["ok", "tok-all", "1"], "{}", out.stdout);
        assert!(cols[4].ends_with('s'), "time left {}: {}", cols[4], out.stdout);
        assert_eq!(cols[5..8], ["1", host().as_str(), "4121"], "{}", out.stdout);
        // The local clock with its offset from UTC (`2026-12-06 15:18:11 +01:00`), as every
        // time shown to a person.
        assert_eq!(cols[8].len(), "2026-12-06".len(), "since date {}", cols[8]);
        assert_eq!(cols[9].len(), "15:18:11".len(), "since time {}", cols[9]);
        assert!(
            cols[10].len() == 6 && cols[10].starts_with(['+', '-']),
            "since offset {}",
            cols[10]
        );
        assert_eq!(cols[11..], ["./deploy.sh", "prod"], "{}", out.stdout);
    }
    let verdict = last_line(&out);
    let expected = format!(
        "held by tok-all ({} pid 4121) on 3/3 instances (quorum 2), expires in ",
        host()
    );
    assert!(verdict.starts_with(&expected), "{verdict}");
    let left = humantime::parse_duration(&verdict[expected.len()..]).expect("a duration");
    assert!(
        left > Duration::from_secs(20) && left <= Duration::from_secs(30),
        "{verdict}"
    );

    let v = inspect_json(&cluster.servers_arg(), "deploy");
    assert_eq!(v["state"], "held");
    assert_eq!(v["token"], "tok-all");
    assert_eq!(v["held_on"], 3);
    assert_eq!(v["holder"]["pid"], 4121);
    assert_eq!(v["holder"]["command"], "./deploy.sh prod");
    assert_eq!(v["holder"]["ttl_ms"], 30_000);
    assert_eq!(v["holder"]["fence"], 1);
}

#[test]
fn held_on_two_of_three_with_the_third_down_shows_its_error_and_still_says_held() {
    let mut cluster = Cluster::start(3);
    let _held = hold_everywhere(&cluster, "deploy", "tok-two");
    cluster.servers[2].kill();
    let out = rl(&cluster.servers_arg(), &["inspect", "-r", "deploy"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let down = cluster.servers[2].url();
    assert!(
        out.stdout.contains(&format!("{down}  error: connection refused")),
        "{}",
        out.stdout
    );
    assert_eq!(row(&out.stdout, &cluster.servers[0].url())[2], "tok-two");
    let expected = format!(
        "held by tok-two ({} pid 4121) on 2/3 instances (quorum 2), expires in ",
        host()
    );
    assert!(last_line(&out).starts_with(&expected), "{}", out.stdout);

    let v = inspect_json(&cluster.servers_arg(), "deploy");
    assert_eq!(
        (v["state"].as_str(), v["held_on"].as_u64(), v["answered"].as_u64()),
        (Some("held"), Some(2), Some(2))
    );
    let third = &v["instances"][2];
    assert_eq!(third["reachable"], false);
    assert_eq!(third["error"], "connection refused");
    assert!(third["holder"].is_null() && third["last_fence"].is_null());
}

#[test]
fn three_tokens_on_three_instances_are_a_split() {
    let cluster = Cluster::start(3);
    for (i, server) in cluster.servers.iter().enumerate() {
        plant(
            server,
            "deploy",
            &format!("tok-{i}"),
            &format!("web-{i}"),
            100 + i as u32,
            30_000,
        );
    }
    let out = rl(&cluster.servers_arg(), &["inspect", "-r", "deploy"]);
    assert_eq!(out.code, Some(0), "a quorum answered: {out:?}");
    for (i, url) in cluster.urls().iter().enumerate() {
        let cols = row(&out.stdout, url);
        assert_eq!(cols[2..4], [format!("tok-{i}"), "1".into()], "{}", out.stdout);
        assert_eq!(
            cols[6..8],
            [format!("web-{i}"), format!("{}", 100 + i)],
            "{}",
            out.stdout
        );
    }
    assert_eq!(
        last_line(&out),
        "split: no token holds a quorum (2 of 3): tok-0 (web-0 pid 100) on 1, tok-1 (web-1 pid 101) on 1, \
         tok-2 (web-2 pid 102) on 1"
    );
    let v = inspect_json(&cluster.servers_arg(), "deploy");
    assert_eq!(v["state"], "split");
    assert!(v["token"].is_null() && v["holder"].is_null());
    let tokens: Vec<(&str, u64)> = v["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| {
            (
                t["token"].as_str().unwrap_or_default(),
                t["held_on"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(tokens, [("tok-0", 1), ("tok-1", 1), ("tok-2", 1)]);
}

#[test]
fn a_reentry_shows_hold_count_2() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let _held = hold_everywhere(&cluster, "nested", "tok-re");
    assert_eq!(
        acquire(&servers, &["-r", "nested", "--token", "tok-re"]),
        "tok-re"
    );
    let v = inspect_json(&servers, "nested");
    assert_eq!(
        (v["state"].as_str(), v["token"].as_str()),
        (Some("held"), Some("tok-re")),
        "{v:#}"
    );
    // The re-entry round ends once a quorum re-entered; the last instance may lag behind.
    let counts: Vec<i64> = v["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| i["holder"]["count"].as_i64().unwrap_or(0))
        .collect();
    assert!(counts.iter().filter(|c| **c == 2).count() >= 2, "{counts:?}");
    assert!(counts.iter().all(|c| (1..=2).contains(c)), "{counts:?}");

    let out = rl(&servers, &["inspect", "-r", "nested"]);
    let twos = cluster
        .urls()
        .iter()
        .filter(|url| row(&out.stdout, url)[3] == "2")
        .count();
    assert!(twos >= 2, "{}", out.stdout);
}

#[test]
fn time_left_decreases_and_extend_raises_it() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let token = acquire(&servers, &["-r", "lease", "-t", "30s"]);
    let expires = |v: &Value| {
        v["expires_in_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("no expiry: {v:#}"))
    };
    let first = expires(&inspect_json(&servers, "lease"));
    assert!(first <= 30_000 && first > 25_000, "{first}");
    // The time left goes down a second within a few: looked at every 100 ms.
    let mut second = first;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    procs::poll_every(Duration::from_millis(100), deadline, || {
        second = expires(&inspect_json(&servers, "lease"));
        (second + 1000 <= first).then_some(())
    });
    assert!(
        second + 1000 <= first,
        "time left went from {first}ms to {second}ms"
    );

    let out = rl(
        &servers,
        &["extend", "-r", "lease", "--token", &token, "-t", "60s"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = inspect_json(&servers, "lease");
    let third = expires(&v);
    assert!(third > 55_000 && third <= 60_000, "extend to 60s left {third}ms");
    assert_eq!(v["holder"]["ttl_ms"], 60_000, "{v:#}");
}

#[test]
fn listing_merges_twenty_locks_across_three_instances() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let mut expected = vec![];
    for i in 0..20 {
        let resource = format!("job-{i:02}");
        let token = match i % 4 {
            0 | 1 => acquire(&servers, &["-r", &resource, "--token", "tok-a"]),
            2 => acquire(&servers, &["-r", &resource, "--token", "tok-b"]),
            _ => acquire(&servers, &["-r", &resource]),
        };
        expected.push((resource, token));
    }
    // Someone else's key where a lock would be is no lock (and no WRONGTYPE error).
    let _: () = redis::cmd("SET")
        .arg("redlock:lock:stray")
        .arg("x")
        .query(&mut cluster.servers[0].conn())
        .expect("SET");

    let out = rl(&servers, &["inspect"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut seen = 0;
    for url in cluster.urls() {
        let cols = row(&out.stdout, &url);
        assert_eq!(cols[1], "ok", "{}", out.stdout);
        let count: usize = cols[2].parse().expect("a lock count");
        assert!(count <= 20, "{}", out.stdout);
        seen += count;
    }
    // Each lock is on a quorum at least (on all three unless a late request was dropped).
    assert!(seen >= 40, "{}", out.stdout);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("RESOURCE"))
        .skip(1)
        .collect();
    assert_eq!(lines.len(), 20, "{}", out.stdout);
    for (line, (resource, token)) in lines.iter().zip(&expected) {
        let (name, verdict) = line.split_once(' ').unwrap_or_default();
        assert_eq!(name, resource);
        assert!(
            verdict.trim_start().starts_with(&format!("held by {token} (")),
            "{line}"
        );
        assert!(line.contains("instances (quorum 2), expires in"), "{line}");
    }

    let out = rl(&servers, &["inspect", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = json(&out);
    let locks = v["locks"].as_array().expect("locks");
    let got: Vec<(&str, &str)> = locks
        .iter()
        .map(|l| {
            (
                l["resource"].as_str().unwrap_or_default(),
                l["token"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(&str, &str)> = expected.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
    assert_eq!(got, want);
    assert!(locks
        .iter()
        .all(|l| l["state"] == "held" && l["held_on"].as_u64() >= Some(2)));

    // SCAN, never KEYS.
    for s in &cluster.servers {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut s.conn())
            .expect("INFO");
        assert!(stats.contains("cmdstat_scan:"), "{stats}");
        assert!(!stats.contains("cmdstat_keys:"), "{stats}");
    }
}

#[test]
fn listing_escapes_glob_characters_of_the_prefix() {
    let server = RedisServer::start();
    let url = server.url();
    // Unescaped, the pattern `t*[ab]?:lock:*` would also match the second prefix's lock.
    acquire(
        &url,
        &["--prefix", "t*[ab]?:", "-r", "mine", "--token", "tok-mine"],
    );
    acquire(
        &url,
        &["--prefix", "tXaY:", "-r", "theirs", "--token", "tok-theirs"],
    );
    let out = rl(&url, &["--prefix", "t*[ab]?:", "inspect", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = json(&out);
    let names: Vec<&str> = v["locks"]
        .as_array()
        .expect("locks")
        .iter()
        .filter_map(|l| l["resource"].as_str())
        .collect();
    assert_eq!(names, ["mine"], "{v:#}");
    assert_eq!(v["prefix"], "t*[ab]?:");
}

#[test]
fn json_has_every_documented_field() {
    let mut cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let token = acquire(&servers, &["-r", "deploy", "-t", "45s"]);
    let v = inspect_json(&servers, "deploy");
    assert_lock_schema(&v);
    assert_eq!(v["resource"], "deploy");
    assert_eq!((v["n"].as_u64(), v["quorum"].as_u64()), (Some(3), Some(2)));
    assert_eq!(
        v["summary"]
            .as_str()
            .map(|s| s.starts_with(&format!("held by {token} ("))),
        Some(true),
        "{v:#}"
    );
    let holder = &v["holder"];
    assert_eq!(holder["token"], token.as_str());
    assert_eq!(holder["host"], host().as_str());
    assert_eq!(
        holder["pid"],
        std::process::id(),
        "acquire names the process that called it"
    );
    assert!(
        holder["command"].as_str().is_some_and(|c| !c.is_empty()),
        "{holder}"
    );
    assert_eq!(holder["ttl_ms"], 45_000);
    assert!(holder["time_left_ms"]
        .as_u64()
        .is_some_and(|ms| ms <= 45_000 && ms > 40_000));
    assert!(holder["fence"].as_u64() >= Some(1));
    let since = humantime::parse_rfc3339(holder["since"].as_str().expect("since")).expect("RFC 3339");
    let age = SystemTime::now()
        .duration_since(since)
        .expect("since is in the past");
    assert!(age < Duration::from_secs(60), "{age:?}");
    for i in v["instances"].as_array().expect("instances") {
        assert!(i["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("redis://127.0.0.1:")));
        assert_eq!(i["reachable"], true);
        assert!(i["error"].is_null());
    }

    // The listing, with one instance down so every nullable field shows up as null too.
    cluster.servers[2].kill();
    let out = rl(&servers, &["inspect", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = json(&out);
    assert_fields(&v, LISTING_FIELDS);
    assert_eq!(
        (v["prefix"].as_str(), v["n"].as_u64(), v["answered"].as_u64()),
        (Some("redlock:"), Some(3), Some(2))
    );
    for s in v["servers"].as_array().expect("servers") {
        assert_fields(s, SERVER_FIELDS);
    }
    assert_eq!(v["servers"][2]["reachable"], false);
    assert_eq!(v["servers"][2]["error"], "connection refused");
    assert!(v["servers"][2]["locks"].is_null());
    let on_live =
        v["servers"][0]["locks"].as_u64().unwrap_or(9) + v["servers"][1]["locks"].as_u64().unwrap_or(9);
    assert!((1..=2).contains(&on_live), "{v:#}");
    let locks = v["locks"].as_array().expect("locks");
    assert_eq!(locks.len(), 1);
    assert_lock_schema(&locks[0]);
    assert_eq!(locks[0]["instances"][2]["reachable"], false);
}

#[test]
fn a_password_appears_nowhere_in_human_or_json_output() {
    let locked = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let (b, c) = (RedisServer::start(), RedisServer::start());
    let servers = format!(
        "redis://:s3cret@127.0.0.1:{},{},{}",
        locked.port(),
        b.url(),
        c.url()
    );
    // The holder's command line (acquire records its caller's) carries the password too.
    let out = run(
        scrubbed("sh")
            .args(["-c", "\"$0\" -s \"$1\" acquire --no-keep -r deploy; true"])
            .arg(env!("CARGO_BIN_EXE_redlock"))
            .arg(&servers),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");

    let wrong = format!(
        "redis://:wr0ngpw@127.0.0.1:{},{},{}",
        locked.port(),
        b.url(),
        c.url()
    );
    for (servers, secret) in [(&servers, "s3cret"), (&wrong, "wr0ngpw")] {
        for args in [
            &["inspect", "-r", "deploy"][..],
            &["inspect", "-r", "deploy", "--json"],
            &["inspect"],
            &["inspect", "--json"],
        ] {
            let out = rl(servers, args);
            assert_eq!(out.code, Some(0), "{out:?}");
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{args:?}: {out:?}"
            );
            assert!(
                out.stdout
                    .contains(&format!("redis://:***@127.0.0.1:{}", locked.port())),
                "{out:?}"
            );
        }
    }
    let out = rl(&servers, &["inspect", "-r", "deploy", "--json"]);
    let command = json(&out)["holder"]["command"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        command.contains("acquire --no-keep -r deploy") && command.contains("redis://:***@"),
        "{command}"
    );
    let out = rl(&wrong, &["inspect", "-r", "deploy"]);
    assert!(
        out.stdout.contains("error: authentication failed"),
        "{}",
        out.stdout
    );
}

/// Runs `redlock ARGS` with stdout on a fresh pseudo-terminal (stdin and stderr null) and
/// returns its exit code and everything it wrote there.
fn run_on_a_terminal(servers: &str, envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    // SAFETY: posix_openpt, grantpt and unlockpt take an integer flag or descriptor and touch
    // no memory of ours; ptsname_r writes at most `name.len()` bytes into `name`.
    let (master, path) = unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(master), 0, "grantpt");
        assert_eq!(libc::unlockpt(master), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master, name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        // SAFETY (from_raw_fd): `master` is a fresh descriptor nothing else owns.
        (File::from_raw_fd(master), path)
    };
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("opening the pty");
    let mut child = {
        // The command owns our copy of the terminal; dropping it after spawn leaves the
        // child's as the last one, so the reader sees the end when the child exits.
        let mut cmd: Command = redlock();
        cmd.env("REDLOCK_SERVERS", servers)
            .envs(envs.iter().copied())
            .args(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::null());
        cmd.spawn().expect("spawn on a pty")
    };
    let buf = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (buf, mut master) = (Arc::clone(&buf), master);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            // Ends with EIO once the last descriptor of the terminal is closed.
            while let Ok(n @ 1..) = master.read(&mut chunk) {
                buf.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
        })
    };
    let status = procs::wait_timeout(&mut child, LIMIT).expect("redlock on a pty did not exit");
    procs::wait_until("the pty reader", Duration::from_secs(5), || reader.is_finished());
    let bytes = buf.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (status.code(), String::from_utf8_lossy(&bytes).into_owned())
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    acquire(&servers, &["-r", "deploy"]);
    let (code, tty) = run_on_a_terminal(&servers, &[], &["inspect", "-r", "deploy"]);
    assert_eq!(code, Some(0), "{tty}");
    assert!(tty.contains("\x1b["), "a terminal gets colour: {tty:?}");
    assert!(tty.contains("held by"), "{tty:?}");

    for args in [&["inspect", "-r", "deploy"][..], &["inspect"]] {
        let (code, no_color) = run_on_a_terminal(&servers, &[("NO_COLOR", "1")], args);
        assert_eq!(code, Some(0), "{no_color}");
        assert!(no_color.contains("held by"), "{no_color:?}");
        assert!(!no_color.contains('\x1b'), "NO_COLOR: {no_color:?}");

        let piped = rl(&servers, args);
        assert_eq!(piped.code, Some(0), "{piped:?}");
        assert!(piped.stdout.contains("held by"), "{piped:?}");
        assert!(
            !piped.stdout.contains('\x1b') && !piped.stderr.contains('\x1b'),
            "a pipe: {piped:?}"
        );
    }
}

#[test]
fn a_quorum_down_exits_69_and_still_prints_what_was_seen() {
    let mut cluster = Cluster::start(3);
    let _held = hold_everywhere(&cluster, "deploy", "tok-lone");
    cluster.servers[1].kill();
    cluster.servers[2].kill();
    let servers = cluster.servers_arg();

    let out = rl(&servers, &["inspect", "-r", "deploy"]);
    assert_eq!(out.code, Some(69), "{out:?}");
    assert_eq!(
        row(&out.stdout, &cluster.servers[0].url())[1..3],
        ["ok", "tok-lone"],
        "{}",
        out.stdout
    );
    for s in &cluster.servers[1..] {
        assert!(
            out.stdout
                .contains(&format!("{}  error: connection refused", s.url())),
            "{}",
            out.stdout
        );
    }
    assert_eq!(
        last_line(&out),
        format!(
            "unknown: only 1 of 3 instances answered (quorum 2); seen: tok-lone ({} pid 4121) on 1",
            host()
        )
    );
    assert!(
        out.stderr.starts_with("redlock: only 1 of 3 servers answered ("),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);

    let out = rl(&servers, &["inspect", "-r", "deploy", "--json"]);
    assert_eq!(out.code, Some(69), "{out:?}");
    let v = json(&out);
    assert_eq!(
        (v["state"].as_str(), v["answered"].as_u64()),
        (Some("unknown"), Some(1))
    );
    assert_eq!(v["instances"][0]["holder"]["token"], "tok-lone");

    let out = rl(&servers, &["inspect"]);
    assert_eq!(out.code, Some(69), "{out:?}");
    assert_eq!(
        row(&out.stdout, &cluster.servers[0].url())[1..],
        ["ok", "1"],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("deploy    unknown: only 1 of 3"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.starts_with("redlock: only 1 of 3 servers answered ("),
        "{}",
        out.stderr
    );
}
