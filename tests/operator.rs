//! What the operator sees at 3 a.m. (CONTRACT.md, "Third wave" → "What the operator sees"):
//! a degraded quorum is never silent, errors name what the user wrote, durations as flock
//! takes them, secrets stay out of Redis, corrupt records never panic, notices stay true, one
//! clock, `-v` lines with times, server errors reworded. (Typo help and the environment's
//! variables are in tests/bad_input.rs's table.)

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::procs::{redlock, run, wait_until, Out};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(20);

fn rl(servers: &str, args: &[&str]) -> Out {
    run(redlock().env("REDLOCK_SERVERS", servers).args(args), LIMIT)
}

fn no_panic(out: &Out, what: &str) {
    assert_ne!(out.code, Some(101), "{what}: {out:?}");
    assert_eq!(out.signal, None, "{what}: {out:?}");
    for bad in ["panicked", "RUST_BACKTRACE", "overflow"] {
        assert!(!out.stderr.contains(bad), "{what}: {out:?}");
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A subscriber on a waiter's wake-up channel: the scripts show a queued waiter only while
/// someone listens there (a live waiter). Killed on drop.
struct Listener(Child);

impl Listener {
    fn start(server: &RedisServer, channels: &[String]) -> Listener {
        let child = Command::new("redis-cli")
            .args(["-p", &server.port().to_string(), "SUBSCRIBE"])
            .args(channels)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli SUBSCRIBE");
        Listener(child)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn numsub(server: &RedisServer, channel: &str) -> i64 {
    let reply: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query(&mut server.conn())
        .expect("PUBSUB NUMSUB");
    reply.1
}

/// A holder's hash as the scripts write it, with `field` set to `value` instead.
fn holder_fields(field: &str, value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let since = now_ms().to_string();
    let sane: [(&str, &[u8]); 9] = [
        ("token", b"tok"),
        ("count", b"1"),
        ("host", b"web-3"),
        ("pid", b"4121"),
        ("cmd", b"./deploy.sh"),
        ("since", since.as_bytes()),
        ("fence", b"7"),
        ("ttl", b"30000"),
        ("pending", b"7"),
    ];
    sane.iter()
        .map(|(f, v)| {
            let v: &[u8] = if *f == field { value } else { v };
            (f.to_string(), v.to_vec())
        })
        .collect()
}

fn hset(conn: &mut redis::Connection, key: &str, fields: &[(String, Vec<u8>)]) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for (f, v) in fields {
        cmd.arg(f).arg(v.as_slice());
    }
    let _: () = cmd.query(conn).expect("HSET");
    let _: () = redis::cmd("PEXPIRE")
        .arg(key)
        .arg(60_000)
        .query(conn)
        .expect("PEXPIRE");
}

/// Every field of every record kind, each on a resource of its own, set to `value` on every
/// instance: the exclusive lock's hash, a slot's hash and the registry that lists it, a
/// waiter's queue record, the fence counter and the other counters.
fn write_hostile(cluster: &Cluster, tag: &str, value: &[u8]) -> Vec<String> {
    let mut resources = vec![];
    for server in &cluster.servers {
        let mut c = server.conn();
        // The exclusive lock.
        for field in [
            "token", "count", "host", "pid", "cmd", "since", "fence", "ttl", "pending",
        ] {
            let r = format!("{tag}-lock-{field}");
            hset(&mut c, &format!("redlock:lock:{r}"), &holder_fields(field, value));
            resources.push(r);
        }
        // A --limit slot and its registry.
        for field in ["token", "count", "pid", "since", "fence", "ttl"] {
            let r = format!("{tag}-slot-{field}");
            hset(
                &mut c,
                &format!("redlock:hold:{r}#0"),
                &holder_fields(field, value),
            );
            let registry = [
                ("mode".to_string(), b"limit".to_vec()),
                ("limit".to_string(), b"3".to_vec()),
                ("t:tok".to_string(), b"0".to_vec()),
            ];
            hset(&mut c, &format!("redlock:holds:{r}"), &registry);
            resources.push(r);
        }
        for field in ["mode", "limit", "t:tok"] {
            let r = format!("{tag}-registry-{field}");
            hset(&mut c, &format!("redlock:hold:{r}#0"), &holder_fields("", b""));
            let mut registry = vec![
                ("mode".to_string(), b"shared".to_vec()),
                ("limit".to_string(), b"1".to_vec()),
                ("t:tok".to_string(), b"0".to_vec()),
            ];
            for (f, v) in &mut registry {
                if f == field {
                    *v = value.to_vec();
                }
            }
            hset(&mut c, &format!("redlock:holds:{r}"), &registry);
            resources.push(r);
        }
        // A waiter's record: expires|host|pid|since|mode|cmd, each part hostile in turn.
        for part in 0..6 {
            let r = format!("{tag}-queue-{part}");
            hset(&mut c, &format!("redlock:lock:{r}"), &holder_fields("", b""));
            let mut fields: Vec<Vec<u8>> = vec![
                b"99999999999999".to_vec(),
                b"ci-7".to_vec(),
                b"77".to_vec(),
                now_ms().to_string().into_bytes(),
                b"limit:3".to_vec(),
                b"./wait.sh".to_vec(),
            ];
            fields[part] = value.to_vec();
            let record = fields.join(&b'|');
            let _: () = redis::cmd("ZADD")
                .arg(format!("redlock:queue:{r}"))
                .arg(1)
                .arg("w1")
                .query(&mut c)
                .expect("ZADD");
            let _: () = redis::cmd("HSET")
                .arg(format!("redlock:qinfo:{r}"))
                .arg("w1")
                .arg(record)
                .query(&mut c)
                .expect("HSET qinfo");
            resources.push(r);
        }
        // The counters beside a lock.
        for counter in ["fence", "fenced-by", "data-since"] {
            let r = format!("{tag}-counter-{counter}");
            hset(&mut c, &format!("redlock:lock:{r}"), &holder_fields("", b""));
            let _: () = redis::cmd("SET")
                .arg(format!("redlock:{counter}:{r}"))
                .arg(value)
                .query(&mut c)
                .expect("SET");
            resources.push(r);
        }
    }
    resources.sort();
    resources.dedup();
    resources
}

#[test]
fn hostile_records_never_make_inspect_panic() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let values: [&[u8]; 12] = [
        b"99999999999999999",
        b"253402300800000",
        b"-5",
        b"-9223372036854775808",
        b"18446744073709551616",
        b"abc",
        b"",
        b"\xff\xfe\x00bad",
        b"1e400",
        b"nan",
        b"|||||",
        b"\x1b[31mred\n",
    ];
    let mut all = vec![];
    let mut channels = vec![];
    for (i, value) in values.iter().enumerate() {
        let tag = format!("v{i}");
        all.push((value, write_hostile(&cluster, &tag, value)));
        channels.extend((0..6).map(|part| format!("redlock:wake:{tag}-queue-{part}:w1")));
    }
    // Queued waiters are shown only while someone listens on their wake-up channel.
    let _listeners: Vec<Listener> = cluster
        .servers
        .iter()
        .map(|s| Listener::start(s, &channels))
        .collect();
    wait_until("the waiters' listeners", LIMIT, || {
        cluster
            .servers
            .iter()
            .all(|s| channels.iter().all(|ch| numsub(s, ch) > 0))
    });
    for (value, resources) in &all {
        let what = format!("value {:?}", String::from_utf8_lossy(value));
        for r in resources {
            for json in [false, true] {
                let mut args = vec!["inspect", "-r", r];
                if json {
                    args.push("--json");
                }
                let out = rl(&servers, &args);
                no_panic(&out, &format!("{what}: {args:?}"));
                if json && out.code == Some(0) {
                    serde_json::from_str::<Value>(&out.stdout)
                        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {out:?}"));
                }
            }
        }
    }
    for args in [&["inspect"][..], &["inspect", "--json"][..]] {
        let out = rl(&servers, args);
        no_panic(&out, &format!("listing: {args:?}"));
    }
    // A `since` past year 9999, as the issue found it: shown as unreadable, exit 0.
    let out = rl(&servers, &["inspect", "-r", "v0-lock-since"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("unreadable"), "{out:?}");
    let out = rl(&servers, &["inspect", "-r", "v0-lock-since", "--json"]);
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(doc["holder"]["since"], Value::Null, "{doc}");
    assert_eq!(doc["holder"]["unreadable"], serde_json::json!(["since"]), "{doc}");
    // A count that is not a number is not taken for a --min-hold keep (count 0).
    let out = rl(&servers, &["inspect", "-r", "v5-lock-count"]);
    assert!(out.stdout.contains("held by tok"), "{out:?}");
}
