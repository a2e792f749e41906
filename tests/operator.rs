//! What the operator sees at 3 a.m. (docs/operator.md):
//! a degraded quorum is never silent, errors name what the user wrote, durations as flock
//! takes them, secrets stay out of Redis, corrupt records never panic, notices stay true, one
//! clock, `-v` lines with times, server errors reworded. (Typo help and the environment's
//! variables are in tests/bad_input.rs's table.)

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::procs::{redlock, run, wait_until, Bg, Out};
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
        .arg(3_600_000)
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
        resources.extend(hostile_locks(&mut c, tag, value));
        resources.extend(hostile_slots(&mut c, tag, value));
        resources.extend(hostile_registries(&mut c, tag, value));
        resources.extend(hostile_queues(&mut c, tag, value));
        resources.extend(hostile_counters(&mut c, tag, value));
    }
    resources.sort();
    resources.dedup();
    resources
}

/// One resource a part, named `{tag}-{kind}-{part}`, each written by `write(resource, part)`.
fn one_resource_a_part<P: std::fmt::Display + Copy>(
    tag: &str,
    kind: &str,
    parts: impl IntoIterator<Item = P>,
    mut write: impl FnMut(&str, P),
) -> Vec<String> {
    parts
        .into_iter()
        .map(|part| {
            let r = format!("{tag}-{kind}-{part}");
            write(&r, part);
            r
        })
        .collect()
}

/// The exclusive lock, each holder field hostile in turn.
fn hostile_locks(c: &mut redis::Connection, tag: &str, value: &[u8]) -> Vec<String> {
    let fields = [
        "token", "count", "host", "pid", "cmd", "since", "fence", "ttl", "pending",
    ];
    one_resource_a_part(tag, "lock", fields, |r, field| {
        hset(c, &format!("redlock:lock:{r}"), &holder_fields(field, value));
    })
}

/// A --limit slot, each field hostile in turn, and its registry.
fn hostile_slots(c: &mut redis::Connection, tag: &str, value: &[u8]) -> Vec<String> {
    let fields = ["token", "count", "pid", "since", "fence", "ttl"];
    one_resource_a_part(tag, "slot", fields, |r, field| {
        hset(c, &format!("redlock:hold:{r}#0"), &holder_fields(field, value));
        let registry = [
            ("mode".to_string(), b"limit".to_vec()),
            ("limit".to_string(), b"3".to_vec()),
            ("t:tok".to_string(), b"0".to_vec()),
        ];
        hset(c, &format!("redlock:holds:{r}"), &registry);
    })
}

/// A slot's registry, each field hostile in turn.
fn hostile_registries(c: &mut redis::Connection, tag: &str, value: &[u8]) -> Vec<String> {
    one_resource_a_part(tag, "registry", ["mode", "limit", "t:tok"], |r, field| {
        hset(c, &format!("redlock:hold:{r}#0"), &holder_fields("", b""));
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
        hset(c, &format!("redlock:holds:{r}"), &registry);
    })
}

/// A waiter's record: expires|host|pid|since|mode|cmd, each part hostile in turn.
fn hostile_queues(c: &mut redis::Connection, tag: &str, value: &[u8]) -> Vec<String> {
    one_resource_a_part(tag, "queue", 0..6, |r, part| {
        hset(c, &format!("redlock:lock:{r}"), &holder_fields("", b""));
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
            .query(c)
            .expect("ZADD");
        let _: () = redis::cmd("HSET")
            .arg(format!("redlock:qinfo:{r}"))
            .arg("w1")
            .arg(record)
            .query(c)
            .expect("HSET qinfo");
    })
}

/// The counters beside a lock, each hostile in turn.
fn hostile_counters(c: &mut redis::Connection, tag: &str, value: &[u8]) -> Vec<String> {
    let counters = ["fence", "fenced-by", "data-since"];
    one_resource_a_part(tag, "counter", counters, |r, counter| {
        hset(c, &format!("redlock:lock:{r}"), &holder_fields("", b""));
        let _: () = redis::cmd("SET")
            .arg(format!("redlock:{counter}:{r}"))
            .arg(value)
            .query(c)
            .expect("SET");
    })
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

/// A shell loop that holds until `file` exists (the test's signal to finish).
fn until(file: &Path) -> String {
    format!("until [ -e '{}' ]; do sleep 0.02; done", file.display())
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// `15:18:11 +01:00` somewhere after `after` in `text`.
fn has_clock_with_offset(text: &str, after: &str) -> bool {
    text.split(after).skip(1).any(|rest| {
        let b = rest.as_bytes();
        b.len() >= 15
            && b[2] == b':'
            && b[5] == b':'
            && b[8] == b' '
            && (b[9] == b'+' || b[9] == b'-')
            && b[12] == b':'
            && [0, 1, 3, 4, 6, 7, 10, 11, 13, 14]
                .iter()
                .all(|&i| b[i].is_ascii_digit())
    })
}

#[test]
fn a_degraded_quorum_is_warned_about_once_and_inspect_counts_the_answers() {
    let mut cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let down = cluster.servers[2].url();
    cluster.servers[2].kill();
    let warning = format!(
        "redlock: warning: 1 of 3 servers did not answer ({down}: connection refused); one more and locks are unavailable"
    );
    let out = rl(&servers, &["run", "-r", "d", "--", "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(count(&out.stderr, &warning), 1, "{out:?}");
    let out = rl(&servers, &["run", "-q", "-r", "d", "--", "true"]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    for args in [&["inspect", "-r", "d"][..], &["inspect"][..]] {
        let out = rl(&servers, args);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(count(&out.stderr, &warning), 1, "{args:?}: {out:?}");
    }
    let out = rl(&servers, &["inspect", "-r", "d"]);
    assert!(
        out.stdout.trim_end().ends_with("free; 2 of 3 answered"),
        "{out:?}"
    );

    // A frozen instance (SIGSTOP) is as silent as a dead one.
    let frozen = Cluster::start(3);
    frozen.servers[0].pause();
    let out = rl(&frozen.servers_arg(), &["inspect", "-r", "d"]);
    frozen.servers[0].resume();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.trim_end().ends_with("free; 2 of 3 answered"),
        "{out:?}"
    );
    let said = format!(
        "redlock: warning: 1 of 3 servers did not answer ({}: ",
        frozen.servers[0].url()
    );
    assert_eq!(count(&out.stderr, &said), 1, "{out:?}");
}

#[test]
fn run_warns_when_an_instance_is_lost_and_when_it_comes_back_not_at_every_renewal() {
    let mut cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let (started, go) = (dir.path().join("started"), dir.path().join("go"));
    let script = format!("touch '{}'; {}", started.display(), until(&go));
    let mut bg = Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", &servers)
            .args(["run", "-r", "hb", "--ttl", "1.5", "-c", &script]),
        dir.path(),
    );
    wait_until("the command", LIMIT, || started.exists());
    assert_eq!(bg.stderr(), "", "all answer: nothing to say");
    cluster.servers[2].kill();
    wait_until("the warning about the lost instance", LIMIT, || {
        bg.stderr().contains("1 of 3 servers did not answer")
    });
    cluster.servers[2].restart();
    wait_until("the instance back", LIMIT, || {
        bg.stderr().contains("all 3 servers answer again")
    });
    // Several renewals (every 0.5 s) with all three up: nothing more is said.
    let renewals = std::time::Instant::now();
    wait_until("a few renewals", LIMIT, || {
        renewals.elapsed() > Duration::from_millis(1200)
    });
    std::fs::write(&go, "").expect("go");
    assert_eq!(bg.code(LIMIT), 0, "{}", bg.stderr());
    let stderr = bg.stderr();
    assert_eq!(count(&stderr, "1 of 3 servers did not answer"), 1, "{stderr}");
    assert_eq!(count(&stderr, "all 3 servers answer again"), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn a_bare_number_is_seconds() {
    let cluster = Cluster::start(1);
    let servers = cluster.servers_arg();
    // --no-keep: a keeper's owner would be this test process, which the keeper stops with
    // SIGTERM when the servers go away at the end of the test.
    let out = rl(
        &servers,
        &["acquire", "--no-keep", "-r", "b", "--ttl", "5", "--json"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(doc["ttl_ms"], 5000, "{doc}");
    let out = rl(&servers, &["run", "-r", "b", "-w", "0.5", "--", "true"]);
    assert_eq!(out.code, Some(75), "held: -w 0.5 gives up: {out:?}");
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &servers)
            .env("REDLOCK_TTL", "2")
            .args(["acquire", "--no-keep", "-r", "b2", "--json"]),
        LIMIT,
    );
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(doc["ttl_ms"], 2000, "REDLOCK_TTL=2: {doc}");
}

#[test]
fn secrets_in_the_command_line_never_reach_the_instances() {
    let cluster = Cluster::start(1);
    let servers = cluster.servers_arg();
    // The command inspects its own lock, and dumps the instance's keys, while it holds it.
    let look = r#""$RL" inspect -r s --json; redis-cli -p "$PORT" --no-raw HGETALL redlock:lock:s"#;
    let secret_args = [
        "--password=hunter2",
        "--password",
        "hunter3",
        "PGPASSWORD=hunter4",
        "GITHUB_TOKEN=hunter5",
        "mysql",
        "-phunter6",
        "redis://:hunter7@db:6379",
    ];
    let with = |env: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = redlock();
        cmd.env("REDLOCK_SERVERS", &servers)
            .env("RL", env!("CARGO_BIN_EXE_redlock"))
            .env("PORT", cluster.servers[0].port().to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["run", "-r", "s"])
            .args(extra)
            .args(["--", "sh", "-c", look, "sh"])
            .args(secret_args);
        let out = run(&mut cmd, LIMIT);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            !out.stdout.contains("hunter"),
            "a secret reached Redis: {}",
            out.stdout
        );
        let doc: Value = serde_json::from_str(
            out.stdout
                .split("\n}\n")
                .next()
                .map(|j| format!("{j}\n}}"))
                .as_deref()
                .unwrap_or(""),
        )
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
        doc["holder"]["command"].as_str().unwrap_or_default().to_string()
    };
    let masked = with(&[], &[]);
    assert_eq!(
        masked,
        "sh -c ".to_string()
            + look
            + " sh --password=*** --password *** PGPASSWORD=*** GITHUB_TOKEN=*** mysql -p*** redis://:***@db:6379"
    );
    assert_eq!(with(&[("REDLOCK_RECORD_COMMAND", "0")], &[]), "sh");
    assert_eq!(with(&[], &["--no-record-command"]), "sh");
}

#[test]
fn a_long_wait_tells_of_a_new_holder_and_a_limit_wait_says_how_full() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |name: &str, args: &[&str]| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).expect("dir");
        Bg::start(redlock().env("REDLOCK_SERVERS", &servers).args(args), &d)
    };
    a_long_wait_tells_of_a_new_holder(&servers, dir.path(), &start);
    a_limit_wait_says_how_full(&servers, dir.path(), &start);
}

/// W waits behind A (holding) and X (queued): told of A first, then of X when X takes over.
fn a_long_wait_tells_of_a_new_holder(servers: &str, dir: &Path, start: &impl Fn(&str, &[&str]) -> Bg) {
    let (stop_a, stop_x) = (dir.join("stop-a"), dir.join("stop-x"));
    let holder_a = format!("{} # holder-a", until(&stop_a));
    let mut a = start("a", &["run", "-r", "n", "-c", &holder_a]);
    wait_until("A holds", LIMIT, || {
        rl(servers, &["inspect", "-r", "n"]).stdout.contains("holder-a")
    });
    let holder_x = format!("{} # holder-x", until(&stop_x));
    let mut x = start("x", &["run", "-r", "n", "-w", "60", "-c", &holder_x]);
    wait_until("X queued", LIMIT, || {
        rl(servers, &["inspect", "-r", "n"])
            .stdout
            .contains("queue (1 waiting")
    });
    let mut w = start("w", &["run", "-r", "n", "-w", "60", "--", "true"]);
    wait_until("W's first notice", LIMIT, || {
        w.stderr().contains("waiting for lock 'n'")
    });
    let first = w.stderr();
    assert!(
        first.contains("holder-a") && first.contains("1 ahead of you"),
        "{first}"
    );
    std::fs::write(&stop_a, "").expect("stop a");
    assert_eq!(a.code(LIMIT), 0);
    wait_until("W's notice of the new holder", LIMIT, || {
        count(&w.stderr(), "waiting for lock 'n'") == 2
    });
    let second = w.stderr();
    let second = second.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains("holder-x") && second.contains("you are next"),
        "{second}"
    );
    std::fs::write(&stop_x, "").expect("stop x");
    assert_eq!(x.code(LIMIT), 0);
    assert_eq!(w.code(LIMIT), 0, "{}", w.stderr());
    assert_eq!(count(&w.stderr(), "waiting for lock 'n'"), 2, "{}", w.stderr());
}

/// --limit 2, both slots held: every waiter's notice says how full, whatever its place.
fn a_limit_wait_says_how_full(servers: &str, dir: &Path, start: &impl Fn(&str, &[&str]) -> Bg) {
    let stop = dir.join("stop-slots");
    let slot = format!("{} # slot", until(&stop));
    let mut holders: Vec<_> = (0..2)
        .map(|i| start(&format!("slot{i}"), &["run", "-l", "2", "-r", "l", "-c", &slot]))
        .collect();
    wait_until("two slots held", LIMIT, || {
        rl(servers, &["inspect", "-r", "l"])
            .stdout
            .contains("held (2 of 2 slots)")
    });
    // The listing names the slots' holders; the holders table has their time left.
    wait_until("the listing of both slots", LIMIT, || {
        rl(servers, &["inspect"]).stdout.contains("held (2 of 2 slots): ")
    });
    let out = rl(servers, &["inspect"]);
    assert!(
        out.stdout.contains("(./") || out.stdout.contains("# slot"),
        "{out:?}"
    );
    let out = rl(servers, &["inspect", "-r", "l"]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("TOKEN") && l.contains(" LEFT ")),
        "{out:?}"
    );
    let mut waiters: Vec<_> = (0..2)
        .map(|i| {
            start(
                &format!("lw{i}"),
                &["run", "-l", "2", "-r", "l", "-w", "2", "--", "true"],
            )
        })
        .collect();
    for waiter in &mut waiters {
        assert_eq!(waiter.code(LIMIT), 75, "{}", waiter.stderr());
        let stderr = waiter.stderr();
        for line in stderr.lines() {
            assert!(line.contains("(2 of 2 slots)"), "how full: {stderr}");
        }
    }
    std::fs::write(&stop, "").expect("stop slots");
    for h in &mut holders {
        assert_eq!(h.code(LIMIT), 0);
    }
}

#[test]
fn every_time_shown_is_local_with_its_offset_and_inspect_names_a_min_hold_keep() {
    let cluster = Cluster::start(1);
    let servers = cluster.servers_arg();
    let out = rl(&servers, &["run", "-r", "m", "--min-hold", "1m", "--", "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = rl(&servers, &["inspect", "-r", "m"]);
    let verdict = out.stdout.lines().last().unwrap_or_default().to_string();
    assert!(verdict.starts_with("kept by --min-hold until "), "{out:?}");
    assert!(has_clock_with_offset(&verdict, "until "), "{verdict}");
    let busy = rl(&servers, &["run", "-n", "-r", "m", "--", "true"]);
    assert_eq!(busy.code, Some(75), "{busy:?}");
    assert!(
        has_clock_with_offset(&busy.stderr, "kept by --min-hold until "),
        "{busy:?}"
    );
    let forced = rl(&servers, &["release", "-r", "m", "--force"]);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert!(
        has_clock_with_offset(&forced.stdout, "kept by --min-hold until "),
        "{forced:?}"
    );
    // JSON stays UTC.
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &servers)
            .env("RL", env!("CARGO_BIN_EXE_redlock"))
            .args(["run", "-r", "j", "--", "sh", "-c", "\"$RL\" inspect -r j --json"]),
        LIMIT,
    );
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let since = doc["holder"]["since"].as_str().unwrap_or_default();
    assert!(since.ends_with('Z') && since.contains('T'), "{since}");
}

#[test]
fn verbose_lines_carry_the_time_and_every_instance_of_a_round() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let out = rl(&servers, &["-v", "run", "-r", "v", "--", "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let debug: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("redlock: debug: "))
        .collect();
    assert!(!debug.is_empty(), "{out:?}");
    for line in &debug {
        let rest = line.trim_start_matches("redlock: debug: +");
        let ms = rest.split("ms ").next().unwrap_or_default();
        assert!(ms.parse::<f64>().is_ok(), "no time since start: {line}");
    }
    for url in cluster.urls() {
        assert!(
            debug.iter().any(|l| l.contains("acquire: ") && l.contains(&url)),
            "acquire round without {url}: {debug:#?}"
        );
    }
    assert!(
        !out.stderr.contains("(not awaited): round done"),
        "{}",
        out.stderr
    );
}

#[test]
fn raw_server_errors_say_what_to_do() {
    let server = RedisServer::start();
    let port = server.port();
    let out = rl(&format!("redis://:pw@127.0.0.1:{port}"), &["inspect", "-r", "x"]);
    assert_eq!(out.code, Some(69), "{out:?}");
    assert!(
        out.stderr.contains("the server has no password configured")
            && out.stderr.contains("remove the password from the URL"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("wrong user or password"), "{out:?}");
    let out = rl(
        &format!("redis://127.0.0.1:{port}/99"),
        &["run", "-r", "x", "--", "true"],
    );
    assert_eq!(out.code, Some(69), "{out:?}");
    assert!(
        out.stderr.contains("fewer databases than /99 in the URL"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("dB index"), "{out:?}");
}

#[test]
fn an_error_reaching_the_default_server_says_the_default_was_used() {
    if std::net::TcpStream::connect("127.0.0.1:6379").is_ok() {
        eprintln!("SKIPPED: something listens on 127.0.0.1:6379");
        return;
    }
    let out = run(redlock().args(["inspect", "-r", "x"]), LIMIT);
    assert_eq!(out.code, Some(69), "{out:?}");
    assert!(
        out.stderr.contains(
            "no --server or REDLOCK_SERVERS was given, so the default redis://127.0.0.1:6379 was used"
        ),
        "{out:?}"
    );
}
