//! `--classic` (issue 24): the lock is the plain key every Redlock library takes, so redlock and
//! the libraries keep each other out in both directions; redlock's waiters wake when a library
//! releases (keyspace notifications, or the poll without them); the seckill demo with buyers of
//! both kinds sells exactly its stock; the keeper, loss, re-entry and fences still work.
//! Real servers, real libraries (tests/support/libs.rs installs them).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Commands;
use support::libs::Lib;
use support::procs::{self, redlock, run, Bg, Out};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(60);
/// What the waiters' tests hold a library's lock for: far longer than the wake-ups they measure.
const LIB_TTL_MS: &str = "30000";

/// Three servers; with keyspace notifications of generic commands and expiries (`Kgx`) when
/// `notify`, else with none (the servers' default).
fn cluster(notify: bool) -> Cluster {
    let extra: &[&str] = if notify {
        &["--notify-keyspace-events", "Kgx"]
    } else {
        &[]
    };
    Cluster {
        servers: (0..3).map(|_| RedisServer::start_with(extra)).collect(),
    }
}

fn rl(servers: &str, args: &[&str]) -> Out {
    run(redlock().env("REDLOCK_SERVERS", servers).args(args), LIMIT)
}

/// `lib`'s driver, on `servers`, with `args`; `None` where the library is not installed.
fn driver(lib: Lib, servers: &str, args: &[&str]) -> Option<Command> {
    let mut cmd = lib.driver()?;
    cmd.env("SERVERS", servers).args(args);
    Some(cmd)
}

/// One attempt of `lib` on `name`: whether it got the lock.
fn lib_tries(lib: Lib, servers: &str, name: &str) -> bool {
    let Some(mut cmd) = driver(lib, servers, &["try", name, "10000"]) else {
        return false;
    };
    let out = run(&mut cmd, LIMIT);
    match out.stdout.trim() {
        "acquired" => true,
        "refused" => false,
        _ => panic!("{} driver: {out:?}", lib.name()),
    }
}

/// `lib` holding `name` until `release` exists; returns once it holds.
struct LibHold {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    release: PathBuf,
}

impl LibHold {
    fn start(lib: Lib, servers: &str, name: &str, dir: &Path) -> Option<LibHold> {
        let release = dir.join(format!("release-{name}"));
        let mut cmd = driver(
            lib,
            servers,
            &["hold", name, LIB_TTL_MS, &release.to_string_lossy()],
        )?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the library's driver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // Bounded: the driver gives up after 20 s and exits, which ends the read.
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert_eq!(first, "held", "{} did not take '{name}'", lib.name());
        Some(LibHold {
            child,
            lines,
            release,
        })
    }

    /// Release, and return when (ns since the epoch, the library's clock).
    fn release(mut self) -> i128 {
        std::fs::write(&self.release, "").expect("release file");
        let at = self.lines.next().and_then(Result::ok).unwrap_or_default();
        let status = procs::wait_timeout(&mut self.child, LIMIT).expect("the driver to exit");
        assert!(status.success(), "driver: {status:?}");
        at.trim()
            .parse()
            .unwrap_or_else(|_| panic!("release time: {at:?}"))
    }
}

impl Drop for LibHold {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Both directions for one library: its hold keeps `run --classic -n` out (75, naming another
/// client), and redlock's hold keeps it out; each is free again after the other's release.
fn excludes_both_ways(lib: Lib, servers: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "shared-job";
    let Some(hold) = LibHold::start(lib, servers, name, dir.path()) else {
        return;
    };
    let out = rl(servers, &["run", "--classic", "-n", "-r", name, "--", "true"]);
    assert_eq!(out.code, Some(75), "{}: {out:?}", lib.name());
    assert!(out.stderr.contains("held by another client"), "{out:?}");
    hold.release();
    let out = rl(servers, &["run", "--classic", "-n", "-r", name, "--", "true"]);
    assert_eq!(out.code, Some(0), "after {}'s release: {out:?}", lib.name());

    let out = rl(servers, &["acquire", "--classic", "--no-keep", "-r", name]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let token = out.stdout.trim().to_string();
    assert!(
        !lib_tries(lib, servers, name),
        "{} took a lock redlock holds",
        lib.name()
    );
    let out = rl(servers, &["release", "--classic", "-r", name, "--token", &token]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        lib_tries(lib, servers, name),
        "{} after redlock's release",
        lib.name()
    );
}

/// Waits until one waiter is in redlock's own queue of the classic lock `name`.
fn wait_queued(servers: &str, name: &str) {
    procs::wait_until("the waiter to queue", LIMIT, || {
        let out = rl(servers, &["inspect", "--classic", "-r", name, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        v["queue"].as_array().is_some_and(|q| q.len() == 1)
    });
}

/// `redlock run ARGS -- sh -c SCRIPT` on `servers`, in the background in `dir`.
fn run_sh(servers: &str, args: &[&str], script: &str, dir: &Path) -> Bg {
    Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", servers)
            .arg("run")
            .args(args)
            .args(["--", "sh", "-c", script]),
        dir,
    )
}

/// A `redlock run -v --classic -w 20s` waiter for `name` on `servers`, in `dir`, whose command
/// writes `date +%s%N` to the file returned with it (read by [`started_after`]).
fn stamping_waiter(servers: &str, name: &str, dir: &Path) -> (Bg, PathBuf) {
    let started = dir.join("started");
    let script = format!("date +%s%N > {}", started.display());
    let waiter = run_sh(
        servers,
        &["-v", "--classic", "-w", "20s", "-r", name],
        &script,
        dir,
    );
    (waiter, started)
}

/// What a library's hold leaves on `server`: the plain key `name`, another client's value,
/// expiring in `ms`.
fn plant_library_hold(server: &RedisServer, name: &str, ms: u64) {
    let _: () = server
        .conn()
        .set_options(
            name,
            "some-library-token",
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms)),
        )
        .expect("SET PX");
}

/// How long after `released` (CLOCK_REALTIME ns) the waiter's command wrote `date +%s%N` to
/// `started`.
fn started_after(started: &Path, released: i128) -> Duration {
    let ran: i128 = std::fs::read_to_string(started)
        .expect("the command ran")
        .trim()
        .parse()
        .expect("date +%s%N");
    Duration::from_nanos(u64::try_from(ran - released).unwrap_or(0))
}

#[test]
fn the_redlock_package_1_2_0_and_redlock_keep_each_other_out() {
    let cluster = cluster(false);
    excludes_both_ways(Lib::RedlockPackage, &cluster.servers_arg());
}

#[test]
fn redlock_py_and_redlock_keep_each_other_out() {
    let cluster = cluster(false);
    excludes_both_ways(Lib::RedlockPy, &cluster.servers_arg());
}

#[test]
fn node_redlock_and_redlock_keep_each_other_out() {
    if !node_available() {
        return;
    }
    let cluster = cluster(false);
    excludes_both_ways(Lib::NodeRedlock, &cluster.servers_arg());
}

#[test]
fn redis_py_lock_and_redlock_keep_each_other_out_on_one_instance() {
    let server = RedisServer::start();
    excludes_both_ways(Lib::RedisPy, &server.url());
}

/// node-redlock is tested where node is (the issue: "where node is available").
fn node_available() -> bool {
    let found = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: node is not installed");
    }
    found
}

/// A `redlock run --classic -w 20s` waiter behind a library's 30 s hold starts its command
/// within `within` of the library's release.
fn waiter_wakes_after_a_library_release(notify: bool, within: Duration) {
    let cluster = cluster(notify);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "wake-me";
    let Some(hold) = LibHold::start(Lib::RedlockPackage, &servers, name, dir.path()) else {
        return;
    };
    let (mut waiter, started) = stamping_waiter(&servers, name, dir.path());
    // Queued: the waiter is in redlock's own queue of the classic lock.
    wait_queued(&servers, name);
    let released = hold.release();
    assert_eq!(waiter.code(LIMIT), 0, "{}", waiter.stderr());
    let after = started_after(&started, released);
    assert!(
        after < within,
        "started {after:?} after the library's release (notifications: {notify}); {}",
        waiter.stderr()
    );
    // Woken by the notification itself, not by the poll that would have come anyway.
    assert_eq!(
        waiter.stderr().contains("(a keyspace notification)"),
        notify,
        "{}",
        waiter.stderr()
    );
}

#[test]
fn a_waiter_wakes_at_a_library_release_through_keyspace_notifications() {
    waiter_wakes_after_a_library_release(true, Duration::from_millis(600));
}

#[test]
fn a_waiter_wakes_within_a_second_or_two_of_a_library_release_without_notifications() {
    waiter_wakes_after_a_library_release(false, Duration::from_millis(2000));
}

/// Where an ACL forbids the keyspace channel, the subscription to it is refused, and that is
/// all: the waiter keeps its own wake-up channel and looks again at least once a second.
#[test]
fn a_waiter_under_an_acl_without_the_keyspace_channel_still_wakes_by_looking() {
    let cluster = cluster(true);
    let servers = cluster.servers_arg();
    let mut as_app = Vec::new();
    for server in &cluster.servers {
        let _: () = redis::cmd("ACL")
            .arg(&[
                "SETUSER",
                "app",
                "on",
                ">pw",
                "~*",
                "resetchannels",
                "&redlock:*",
                "+@all",
            ])
            .query(&mut server.conn())
            .expect("ACL SETUSER");
        as_app.push(server.url().replace("redis://", "redis://app:pw@"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(hold) = LibHold::start(Lib::RedlockPackage, &servers, "acl", dir.path()) else {
        return;
    };
    let (mut waiter, started) = stamping_waiter(&as_app.join(","), "acl", dir.path());
    wait_queued(&servers, "acl");
    let released = hold.release();
    assert_eq!(waiter.code(LIMIT), 0, "{}", waiter.stderr());
    let after = started_after(&started, released);
    assert!(
        after < Duration::from_millis(2000),
        "started {after:?} after the release"
    );
    assert!(
        !waiter.stderr().contains("(a keyspace notification)"),
        "{}",
        waiter.stderr()
    );
}

#[test]
fn a_waiter_takes_a_library_lock_that_expires_within_100ms_of_its_expiry() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    for server in &cluster.servers {
        plant_library_hold(server, "expiring", 2500);
    }
    let set_at = Instant::now();
    let out = rl(
        &servers,
        &[
            "run",
            "--classic",
            "-q",
            "-w",
            "20s",
            "-r",
            "expiring",
            "--",
            "true",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let late = set_at.elapsed().saturating_sub(Duration::from_millis(2500));
    assert!(
        late < Duration::from_millis(300),
        "took it {late:?} after the expiry"
    );
}

/// A library holding two of three instances: the waiter takes the third and gives it back at
/// each look, and that deletion is announced to it like a library's release. It must not take
/// that for news and spin (it did: thousands of attempts a second).
#[test]
fn a_waiter_does_not_spin_on_its_own_undo_while_a_library_holds_a_bare_majority() {
    let cluster = cluster(true);
    let servers = cluster.servers_arg();
    for server in &cluster.servers[..2] {
        plant_library_hold(server, "majority", 3000);
    }
    let out = rl(
        &servers,
        &[
            "run",
            "-v",
            "--classic",
            "-w",
            "20s",
            "-r",
            "majority",
            "--",
            "true",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let third = format!("acquire: {}", cluster.servers[2].url());
    let attempts = out.stderr.lines().filter(|l| l.contains(&third)).count();
    assert!(attempts <= 20, "{attempts} attempts in 3 s:\n{}", out.stderr);
}

#[test]
fn the_key_is_the_plain_name_and_its_value_the_token_on_every_instance() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    let out = rl(&servers, &["acquire", "--classic", "--no-keep", "-r", "deploy"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let token = out.stdout.trim();
    for server in &cluster.servers {
        let mut conn = server.conn();
        let value: Option<String> = conn.get("deploy").expect("GET");
        assert_eq!(value.as_deref(), Some(token), "GET deploy on {}", server.url());
        let ttl: i64 = conn.pttl("deploy").expect("PTTL");
        assert!(ttl > 25_000 && ttl <= 30_000, "PTTL {ttl}");
        // Nothing a library reads is under redlock's own lock key.
        let own: bool = conn.exists("redlock:lock:deploy").expect("EXISTS");
        assert!(!own);
    }
    // The prefix counts only when given: on the command line, or in REDLOCK_PREFIX.
    let out = rl(
        &servers,
        &[
            "acquire",
            "--classic",
            "--no-keep",
            "--prefix",
            "app:",
            "-r",
            "deploy",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let value: Option<String> = cluster.servers[0].conn().get("app:deploy").expect("GET");
    assert_eq!(value.as_deref(), Some(out.stdout.trim()));
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &servers)
            .env("REDLOCK_PREFIX", "env:")
            .env("REDLOCK_CLASSIC", "1")
            .args(["acquire", "--no-keep", "-r", "deploy"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let value: Option<String> = cluster.servers[0].conn().get("env:deploy").expect("GET");
    assert_eq!(value.as_deref(), Some(out.stdout.trim()));
    // Released, the key is gone everywhere.
    let out = rl(
        &servers,
        &["release", "--classic", "-r", "deploy", "--token", token],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    for server in &cluster.servers {
        let exists: bool = server.conn().exists("deploy").expect("EXISTS");
        assert!(!exists, "deploy is left on {}", server.url());
    }
}

#[test]
fn limit_and_shared_with_classic_are_usage_errors() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    for args in [
        &["run", "--classic", "--limit", "3", "-r", "x", "--", "true"][..],
        &["run", "--classic", "--shared", "-r", "x", "--", "true"],
        &["acquire", "--classic", "--shared", "-r", "x"],
        &["acquire", "--classic", "-l", "2", "-r", "x"],
    ] {
        let out = rl(&servers, args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("--classic"), "{out:?}");
    }
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &servers)
            .env("REDLOCK_CLASSIC", "1")
            .args(["run", "--shared", "-r", "x", "--", "true"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn inspect_shows_a_library_hold_as_another_client_with_its_value_and_time_left() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(hold) = LibHold::start(Lib::RedlockPackage, &servers, "report", dir.path()) else {
        return;
    };
    let out = rl(&servers, &["inspect", "--classic", "-r", "report"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let verdict = out.stdout.lines().last().unwrap_or("");
    assert!(
        verdict.starts_with("held by another client (value '") && verdict.contains("expires in"),
        "{}",
        out.stdout
    );
    let out = rl(&servers, &["inspect", "--classic", "-r", "report", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["state"], "held", "{v}");
    assert_eq!(v["holder"]["other_client"], true, "{v}");
    assert!(v["expires_in_ms"].as_u64().is_some_and(|ms| ms > 20_000), "{v}");
    hold.release();
    let out = rl(&servers, &["inspect", "--classic", "-r", "report"]);
    assert!(
        out.stdout.lines().last().unwrap_or("").starts_with("free"),
        "{}",
        out.stdout
    );
}

#[test]
fn release_and_extend_leave_a_library_hold_alone_and_force_breaks_it() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(hold) = LibHold::start(Lib::RedlockPy, &servers, "theirs", dir.path()) else {
        return;
    };
    let value: Option<String> = cluster.servers[0].conn().get("theirs").expect("GET");
    for verb in ["release", "extend"] {
        let out = rl(
            &servers,
            &[verb, "--classic", "-r", "theirs", "--token", "not-theirs"],
        );
        assert_eq!(out.code, Some(1), "{verb}: {out:?}");
        assert!(out.stderr.contains("another client"), "{verb}: {out:?}");
        let now: Option<String> = cluster.servers[0].conn().get("theirs").expect("GET");
        assert_eq!(now, value, "{verb} touched the library's hold");
    }
    let out = rl(&servers, &["release", "--classic", "--force", "-r", "theirs"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("another client"), "{out:?}");
    for server in &cluster.servers {
        let exists: bool = server.conn().exists("theirs").expect("EXISTS");
        assert!(!exists, "--force left the key on {}", server.url());
    }
    hold.release();
}

#[test]
fn the_keeper_renews_a_classic_lock_and_release_ends_it() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    // The owner is this shell, alive until the release below.
    let script = format!(
        "tok=$({rl} acquire --classic -t 1500ms -r kept) || exit 9; sleep 4; \
         for p in {ports}; do redis-cli -p $p get kept; done; \
         {rl} release --classic -r kept --token \"$tok\"",
        rl = env!("CARGO_BIN_EXE_redlock"),
        ports = cluster
            .servers
            .iter()
            .map(|s| s.port().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );
    let out = run(
        procs::scrubbed("sh")
            .env("REDLOCK_SERVERS", &servers)
            .args(["-c", &script]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let values: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(values.len(), 3, "{out:?}");
    assert!(
        values.iter().all(|v| !v.is_empty() && *v == values[0]),
        "the key lapsed after its 1.5 s ttl: {values:?}"
    );
    let exists: bool = cluster.servers[0].conn().exists("kept").expect("EXISTS");
    assert!(!exists, "the release left the key");
}

#[test]
fn a_library_taking_the_key_over_is_a_lost_lock_exit_70() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("running");
    let script = format!("touch {}; sleep 30", marker.display());
    let mut holder = run_sh(
        &servers,
        &["--classic", "-t", "1s", "--kill-after", "1s", "-r", "stolen"],
        &script,
        dir.path(),
    );
    procs::wait_until("the command to start", LIMIT, || marker.exists());
    // What an operator's DEL and a library's SET NX would leave: another client's value.
    for server in &cluster.servers {
        let mut conn = server.conn();
        let _: () = redis::pipe()
            .del("stolen")
            .set_options(
                "stolen",
                "library-token",
                redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(30_000)),
            )
            .query(&mut conn)
            .expect("DEL, SET");
    }
    assert_eq!(holder.code(LIMIT), 70, "{}", holder.stderr());
    let value: Option<String> = cluster.servers[0].conn().get("stolen").expect("GET");
    assert_eq!(
        value.as_deref(),
        Some("library-token"),
        "redlock touched another's hold"
    );
}

#[test]
fn re_entry_fences_and_min_hold_keep_working_among_redlocks_processes() {
    let cluster = cluster(false);
    let servers = cluster.servers_arg();
    let inner = format!(
        "echo $REDLOCK_FENCE; {rl} run --classic -n -r nest -- sh -c 'echo $REDLOCK_FENCE'",
        rl = env!("CARGO_BIN_EXE_redlock")
    );
    let out = rl(
        &servers,
        &["run", "--classic", "-n", "-r", "nest", "--", "sh", "-c", &inner],
    );
    assert_eq!(out.code, Some(0), "re-entry by token: {out:?}");
    let fences: Vec<u64> = out
        .stdout
        .lines()
        .map(|l| l.trim().parse().expect("fence"))
        .collect();
    assert_eq!(fences.len(), 2);
    assert_eq!(fences[0], fences[1], "a re-entry keeps the fence");
    let out = rl(
        &servers,
        &[
            "run",
            "--classic",
            "-r",
            "nest",
            "--",
            "sh",
            "-c",
            "echo $REDLOCK_FENCE",
        ],
    );
    let next: u64 = out.stdout.trim().parse().expect("fence");
    assert!(next > fences[0], "fences rise: {next} after {}", fences[0]);

    // --min-hold keeps the plain key too, so a library stays out until it ends.
    let out = rl(
        &servers,
        &["run", "--classic", "--min-hold", "3s", "-r", "cron", "--", "true"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let ttl: i64 = cluster.servers[0].conn().pttl("cron").expect("PTTL");
    assert!(ttl > 1000 && ttl <= 3000, "PTTL {ttl} after the command ended");
    let out = rl(&servers, &["run", "--classic", "-n", "-r", "cron", "--", "true"]);
    assert_eq!(out.code, Some(75), "{out:?}");
}

/// The seckill demo, mixed: twenty buyers for a stock of twenty, half of them Python with the
/// `redlock` package's `RedLock('stock', …)`, half `redlock run --classic -w`, each taking one
/// item with a read-modify-write (GET, a pause, SET) under the lock. Exactly twenty sold, and
/// no two buyers inside at once (their enter/exit lines never interleave).
#[test]
fn seckill_mixed_library_and_redlock_buyers_sell_exactly_the_stock() {
    let Some(python) = Lib::python() else {
        return;
    };
    let cluster = cluster(true);
    let servers = cluster.servers_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let buyer = dir.path().join("buyer.py");
    std::fs::write(&buyer, BUYER).expect("buyer.py");
    let _: () = cluster.servers[0].conn().set("stock", 20).expect("SET stock");
    let started = Instant::now();
    let mut buyers: Vec<Child> = (0..20)
        .map(|i| {
            let id = i.to_string();
            let mut cmd = if i % 2 == 0 {
                let mut c = procs::scrubbed(&python);
                c.args([buyer.to_str().expect("path"), "library", &id]);
                c
            } else {
                let mut c = redlock();
                c.args(["run", "--classic", "-q", "-w", "50s", "-r", "stock", "--"])
                    .arg(&python)
                    .args([buyer.to_str().expect("path"), "inside", &id]);
                c
            };
            cmd.env("REDLOCK_SERVERS", &servers)
                .env("SERVERS", &servers)
                .env("LOG", &log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn a buyer")
        })
        .collect();
    for (i, child) in buyers.iter_mut().enumerate() {
        let left = LIMIT.saturating_sub(started.elapsed());
        let status = procs::wait_timeout(child, left).unwrap_or_else(|| panic!("buyer {i} still running"));
        assert!(status.success(), "buyer {i}: {status:?}");
    }
    let stock: i64 = cluster.servers[0].conn().get("stock").expect("GET stock");
    assert_eq!(stock, 0, "twenty buyers, a stock of twenty");
    let lines = procs::file_lines(&log);
    assert_eq!(lines.len(), 40, "{lines:#?}");
    for pair in lines.chunks(2) {
        let (enter, exit) = (&pair[0], &pair[1]);
        assert!(
            enter.starts_with("enter ") && exit.starts_with("exit ") && enter[6..] == exit[5..],
            "two buyers inside at once: {lines:#?}"
        );
    }
    for kind in ["library", "inside"] {
        let n = lines
            .iter()
            .filter(|l| l.starts_with("enter") && l.contains(kind))
            .count();
        assert_eq!(n, 10, "{kind} buyers: {lines:#?}");
    }
}

/// `buyer.py library ID` locks with `RedLock('stock', …)` (retrying until it gets it), then
/// buys; `buyer.py inside ID` buys (it runs under `redlock run --classic`). A purchase is a
/// read-modify-write of `stock` on the first server, logged as `enter`/`exit` lines.
const BUYER: &str = r#"
import os, random, sys, time
import redis
kind, me = sys.argv[1], sys.argv[2]
urls = os.environ["SERVERS"].split(",")
def log(what):
    fd = os.open(os.environ["LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{what} {kind} {me}\n".encode())
    os.close(fd)
def buy():
    log("enter")
    r = redis.Redis.from_url(urls[0])
    stock = int(r.get("stock"))
    time.sleep(0.02)
    if stock > 0:
        r.set("stock", stock - 1)
    log("exit")
if kind == "inside":
    buy()
else:
    from redlock import RedLock
    lock = RedLock("stock", connection_details=[{"url": u} for u in urls], ttl=10000)
    deadline = time.time() + 50
    while not lock.acquire():
        if time.time() > deadline:
            sys.exit("no lock within 50 s")
        time.sleep(random.uniform(0, 0.05))
    try:
        buy()
    finally:
        lock.release()
"#;
