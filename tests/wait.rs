//! Waiting for a held lock (issue 4): `--no-wait`, `--wait DUR`, `-E`, wake-up by a release
//! notification, take-over of a lease that expired without a release, and many contenders
//! through a fault; plus the engine's waiting rules, driven through the library (a stale hold
//! on the decider, no notifications at all, subscriptions that end with the wait).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use redlock::cli::{exit, messages};
use redlock::engine::error::LockError;
use redlock::engine::lock::Keys;
use redlock::engine::settings::Wait;
use redlock::engine::wait;
use redlock::engine::wakeup::Wakeup;
use support::engine::{acquire, holder_token, locker, request};
use support::procs::{self, redlock, run, Out};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(30);

fn rl(cluster: &Cluster, args: &[&str]) -> Out {
    run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args(args),
        LIMIT,
    )
}

/// `redlock run` in the background, stdio closed.
fn spawn_run(cluster: &Cluster, args: &[&str]) -> Child {
    redlock()
        .env("REDLOCK_SERVERS", cluster.servers_arg())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redlock run")
}

fn wait_for_file(path: &Path, what: &str) {
    procs::wait_until(what, LIMIT, || path.exists());
}

/// A holder that keeps the lock until `release` appears (the command waits for it).
fn hold_until_file(cluster: &Cluster, resource: &str, dir: &Path) -> Child {
    let script = format!(
        "touch {d}/held; while [ ! -e {d}/release ]; do sleep 0.01; done; date +%s%N > {d}/a_end",
        d = dir.display()
    );
    let child = spawn_run(cluster, &["run", "-r", resource, "--", "sh", "-c", &script]);
    wait_for_file(&dir.join("held"), "the holder's command to start");
    child
}

/// Lets the holder [`hold_until_file`] started go, and waits for it to exit successfully.
fn let_go(holder: Child, dir: &Path) {
    std::fs::write(dir.join("release"), "").expect("release the holder");
    assert!(finish(holder, "the holder to exit").success());
}

/// `redlock run FLAGS -r busy -- touch MARKER`: a contender for the held `busy` whose command
/// would leave `marker`.
fn contend_for_busy(cluster: &Cluster, flags: &[&str], marker: &Path) -> Out {
    let marker = marker.to_string_lossy();
    let mut args = vec!["run"];
    args.extend(flags);
    args.extend(["-r", "busy", "--", "touch", &marker]);
    rl(cluster, &args)
}

fn finish(mut child: Child, what: &str) -> std::process::ExitStatus {
    procs::wait_until(what, LIMIT, || matches!(child.try_wait(), Ok(Some(_))));
    child.wait().expect("reap")
}

fn nanos(path: &Path) -> i128 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .expect("date +%s%N")
}

#[test]
fn no_wait_exits_75_within_a_second_and_never_starts_the_command() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = hold_until_file(&cluster, "busy", dir.path());
    let marker = dir.path().join("ran");
    let out = contend_for_busy(&cluster, &["-n"], &marker);
    assert_eq!(out.code, Some(exit::BUSY), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(1), "took {:?}", out.elapsed);
    assert!(
        out.stderr.starts_with("redlock: lock 'busy' is held by "),
        "{}",
        out.stderr
    );
    assert!(!marker.exists(), "the command must not have run");
    let_go(holder, dir.path());
}

#[test]
fn conflict_exit_code_replaces_75() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = hold_until_file(&cluster, "busy", dir.path());
    let marker = dir.path().join("ran");
    let out = contend_for_busy(&cluster, &["-n", "-E", "3"], &marker);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(!marker.exists(), "the command must not have run");
    // The same for acquire.
    let out = rl(&cluster, &["acquire", "--no-keep", "-n", "-E", "3", "-r", "busy"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(3), ""), "{out:?}");
    let_go(holder, dir.path());
}

#[test]
fn wait_1s_exits_75_after_about_a_second_and_never_starts_the_command() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = hold_until_file(&cluster, "busy", dir.path());
    let marker = dir.path().join("ran");
    let out = contend_for_busy(&cluster, &["--wait", "1s"], &marker);
    assert_eq!(out.code, Some(exit::BUSY), "{out:?}");
    // The holder's lease has 30 s left; the deadline, not the lease, ends the wait.
    assert!(
        out.elapsed >= Duration::from_millis(950) && out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
    assert!(!marker.exists(), "the command must not have run");
    let out = rl(&cluster, &["acquire", "--no-keep", "-w", "1s", "-r", "busy"]);
    assert_eq!(out.code, Some(exit::BUSY), "{out:?}");
    assert!(
        out.elapsed >= Duration::from_millis(950),
        "took {:?}",
        out.elapsed
    );
    let_go(holder, dir.path());
}

#[test]
fn a_release_wakes_the_waiter_whose_command_starts_soon_after() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = hold_until_file(&cluster, "handoff", dir.path());
    let b_start = dir.path().join("b_start");
    let waiter = spawn_run(
        &cluster,
        &[
            "run",
            "-r",
            "handoff",
            "--",
            "sh",
            "-c",
            &format!("date +%s%N > {}", b_start.display()),
        ],
    );
    // B is waiting (subscribed and queued; the holder's lease has 30 s left) when A lets go.
    cluster.wait_queued("handoff", 1);
    assert!(!b_start.exists(), "B ran while A held the lock");
    let_go(holder, dir.path());
    assert!(finish(waiter, "the waiter to run and exit").success());
    let gap_ms = (nanos(&b_start) - nanos(&dir.path().join("a_end"))) as f64 / 1e6;
    assert!(gap_ms >= 0.0, "B started {gap_ms} ms before A ended");
    // Generous on purpose: polling at the lease (30 s) would miss it by far; the bench holds
    // the real figure.
    assert!(gap_ms < 500.0, "B started {gap_ms:.1} ms after A ended");
}

#[test]
fn acquire_waiting_is_woken_by_release() {
    let cluster = Cluster::start(3);
    let first = rl(&cluster, &["acquire", "--no-keep", "-r", "shell"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    let token = first.stdout.trim().to_string();
    let waiter = redlock()
        .env("REDLOCK_SERVERS", cluster.servers_arg())
        .args(["acquire", "--no-keep", "-r", "shell"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn acquire");
    cluster.wait_queued("shell", 1);
    let released_at = Instant::now();
    let out = rl(&cluster, &["release", "-r", "shell", "--token", &token]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let status = finish(waiter, "the waiting acquire");
    let took = released_at.elapsed();
    assert!(status.success());
    assert!(
        took < Duration::from_millis(500),
        "acquired {took:?} after the release began"
    );
}

#[test]
fn a_sigkilled_holders_lease_is_taken_over_when_it_expires() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!("touch {}/held; sleep 60", dir.path().display());
    let mut holder = spawn_run(
        &cluster,
        &["run", "-t", "2s", "-r", "orphan", "--", "sh", "-c", &script],
    );
    wait_for_file(&dir.path().join("held"), "the holder's command to start");
    let marker = dir.path().join("b_ran");
    let waiter = spawn_run(
        &cluster,
        &["run", "-r", "orphan", "--", "touch", &marker.to_string_lossy()],
    );
    cluster.wait_queued("orphan", 1);
    // No release will come: the holder dies without one (its command dies with it).
    procs::signal(holder.id(), libc::SIGKILL);
    let killed_at = Instant::now();
    let _ = holder.wait();
    let status = finish(waiter, "the waiter to take over");
    assert!(status.success());
    assert!(marker.exists(), "the waiter's command ran");
    // Taken over once the 2 s lease ran out (at most ~1.7 s were left), not much later.
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(6), "took over {took:?} after the kill");
}

#[test]
fn sixteen_contenders_all_finish_with_an_exact_counter_when_an_instance_dies_halfway() {
    let mut cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (counter, log) = (dir.path().join("counter"), dir.path().join("log"));
    std::fs::write(&counter, "0").expect("counter");
    const CONTENDERS: usize = 16;
    const ROUNDS: usize = 4;
    // A deliberately racy read-sleep-write: only mutual exclusion keeps the count exact.
    let section = format!(
        "n=$(cat {c}); sleep 0.01; echo $((n + 1)) > {c}; echo x >> {l}",
        c = counter.display(),
        l = log.display()
    );
    let script = format!(
        "for i in $(seq {ROUNDS}); do {bin} -q run -r counter -- sh -c '{section}' || exit 1; done",
        bin = env!("CARGO_BIN_EXE_redlock")
    );
    let contenders: Vec<Child> = (0..CONTENDERS)
        .map(|_| {
            Command::new("sh")
                .args(["-c", &script])
                .env("REDLOCK_SERVERS", cluster.servers_arg())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a contender")
        })
        .collect();
    let sections = || {
        std::fs::read_to_string(&log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    procs::wait_until("half of the sections", LIMIT, || {
        sections() >= CONTENDERS * ROUNDS / 2
    });
    // Kill the instance that decides for this resource: the one waiters ask first.
    let decider = locker(&cluster.urls()).order("counter")[0];
    cluster.servers[decider].kill();
    for (i, mut c) in contenders.into_iter().enumerate() {
        let status = procs::wait_timeout(&mut c, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("contender {i} still running after 60 s"));
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "contender {i}: {status:?}: {err}");
    }
    assert_eq!(sections(), CONTENDERS * ROUNDS);
    assert_eq!(
        std::fs::read_to_string(&counter).expect("counter").trim(),
        (CONTENDERS * ROUNDS).to_string(),
        "a lost update means two holders overlapped"
    );
}

/// The waiting rules, through the library.
fn keys(resource: &str) -> Keys {
    Keys::new("redlock:", resource)
}

#[test]
fn a_stale_hold_on_the_decider_does_not_keep_a_waiter_asleep() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let holder = locker(&urls);
    let lease = acquire(&holder, &request("stale", "old", Duration::from_secs(30)));
    // An acquisition returns once a quorum granted it; the hold this test needs on the decider
    // may still be on its way there (a worker still connecting on a busy machine), and a waiter
    // arriving first would take the decider itself. Wait until every instance has it.
    holder.settle();
    let decider = holder.order("stale")[0];
    let waiter = thread::spawn(move || {
        let started = Instant::now();
        let w = locker(&urls);
        let lease = wait::acquire(
            &w,
            &request("stale", "new", Duration::from_secs(30)),
            Wait::For(Duration::from_secs(20)),
            &Wakeup::new(),
            &mut |_| {},
        );
        (lease.map(|l| l.token), started.elapsed())
    });
    cluster.wait_queued("stale", 1);
    // The holder's release reaches every instance but the decider (as if it was stopped
    // meanwhile): the decider keeps a finished hold with 29 s left.
    let released_at = Instant::now();
    for (i, server) in cluster.servers.iter().enumerate() {
        if i != decider {
            let mut conn = server.conn();
            let _: () = redis::cmd("DEL")
                .arg(keys("stale").lock)
                .query(&mut conn)
                .expect("DEL");
            let _: i64 = redis::cmd("PUBLISH")
                .arg(keys("stale").channel)
                .arg("released")
                .query(&mut conn)
                .expect("PUBLISH");
        }
    }
    let (token, _) = waiter.join().expect("waiter thread");
    assert_eq!(token.expect("acquired"), "new");
    let took = released_at.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "a stale decider kept the waiter {took:?}"
    );
    assert_eq!(
        holder_token(&mut cluster.servers[decider].conn(), "stale").as_deref(),
        Some(lease.token.as_str())
    );
}

#[test]
fn without_notifications_a_waiter_still_gets_the_lock_soon_after_a_release() {
    // SUBSCRIBE renamed away: no instance will take our subscription.
    let servers: Vec<RedisServer> = (0..3)
        .map(|_| RedisServer::start_with(&["--rename-command", "SUBSCRIBE", ""]))
        .collect();
    let urls: Vec<String> = servers.iter().map(RedisServer::url).collect();
    let holder = locker(&urls);
    let lease = acquire(&holder, &request("deaf", "old", Duration::from_secs(30)));
    let u = urls.clone();
    // Without a subscription it never queues: its notice tells it has been waiting a while.
    let noticed = Arc::new(AtomicBool::new(false));
    let n = Arc::clone(&noticed);
    let waiter = thread::spawn(move || {
        let w = locker(&u);
        wait::acquire(
            &w,
            &request("deaf", "new", Duration::from_secs(30)),
            Wait::For(Duration::from_secs(20)),
            &Wakeup::new(),
            &mut |_| n.store(true, Ordering::SeqCst),
        )
        .map(|l| l.token)
    });
    procs::wait_until("the waiter's notice", LIMIT, || noticed.load(Ordering::SeqCst));
    let released_at = Instant::now();
    holder.release("deaf", &lease.token, Duration::ZERO);
    assert_eq!(waiter.join().expect("waiter thread").expect("acquired"), "new");
    let took = released_at.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?} (the lease had 30 s left)"
    );
}

#[test]
fn subscriptions_end_when_the_wait_ends() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let holder = locker(&urls);
    let lease = acquire(&holder, &request("subs", "old", Duration::from_secs(30)));
    let u = urls.clone();
    let waiter = thread::spawn(move || {
        let w = locker(&u);
        wait::acquire(
            &w,
            &request("subs", "new", Duration::from_secs(30)),
            Wait::Forever,
            &Wakeup::new(),
            &mut |_| {},
        )
        .map(|l| l.token)
    });
    let numsub = |server: &RedisServer| -> i64 {
        let v: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(keys("subs").wake("new"))
            .query(&mut server.conn())
            .expect("NUMSUB");
        match v.get(1) {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("NUMSUB reply {other:?}"),
        }
    };
    // While it waits, it listens on every instance, on its own wake-up channel.
    procs::wait_until("the waiter to subscribe everywhere", LIMIT, || {
        cluster.servers.iter().all(|s| numsub(s) == 1)
    });
    holder.release("subs", &lease.token, Duration::ZERO);
    assert_eq!(waiter.join().expect("waiter thread").expect("acquired"), "new");
    // Once it has the lock, nothing listens any more.
    procs::wait_until("the subscriptions to end", Duration::from_secs(2), || {
        cluster.servers.iter().all(|s| numsub(s) == 0)
    });
}

#[test]
fn a_signal_interrupts_the_wait_and_leaves_no_hold() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let holder = locker(&urls);
    let _lease = acquire(&holder, &request("sig", "old", Duration::from_secs(30)));
    let wakeup = Wakeup::new();
    let w = wakeup.clone();
    let u = urls.clone();
    let waiter = thread::spawn(move || {
        let l = locker(&u);
        wait::acquire(
            &l,
            &request("sig", "new", Duration::from_secs(30)),
            Wait::Forever,
            &w,
            &mut |_| {},
        )
    });
    cluster.wait_queued("sig", 1);
    let interrupted_at = Instant::now();
    wakeup.interrupt(libc::SIGTERM);
    let err = waiter
        .join()
        .expect("waiter thread")
        .expect_err("interrupted, not acquired");
    assert!(
        interrupted_at.elapsed() < Duration::from_millis(500),
        "{:?}",
        interrupted_at.elapsed()
    );
    assert!(matches!(
        &err,
        LockError::Interrupted { signal, .. } if *signal == libc::SIGTERM
    ));
    assert_eq!(messages::code_of(&anyhow::Error::from(err)), 143);
    for s in &cluster.servers {
        assert_eq!(holder_token(&mut s.conn(), "sig").as_deref(), Some("old"));
    }
}

#[test]
fn simultaneously_woken_waiters_never_split_the_vote_for_long() {
    // Twelve waiters on one holder, all woken by its one release: each must get the lock in
    // turn, one at a time, promptly (a split vote that repeats would show as a stall).
    let cluster = Cluster::start(3);
    let urls = Arc::new(cluster.urls());
    let holder = locker(&urls);
    let lease = acquire(&holder, &request("herd", "first", Duration::from_secs(30)));
    let inside = Arc::new(AtomicBool::new(false));
    let waiters: Vec<_> = (0..12)
        .map(|i| {
            let (urls, inside) = (Arc::clone(&urls), Arc::clone(&inside));
            thread::spawn(move || {
                let l = locker(&urls);
                let lease = wait::acquire(
                    &l,
                    &request("herd", &format!("w{i}"), Duration::from_secs(30)),
                    Wait::For(Duration::from_secs(20)),
                    &Wakeup::new(),
                    &mut |_| {},
                )
                .expect("each waiter gets the lock within 20 s");
                assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                // Holding for a while is the point: an overlap must have time to show.
                thread::sleep(Duration::from_millis(5));
                inside.store(false, Ordering::SeqCst);
                l.release("herd", &lease.token, Duration::ZERO);
            })
        })
        .collect();
    cluster.wait_queued("herd", 12);
    let t0 = Instant::now();
    holder.release("herd", &lease.token, Duration::ZERO);
    for w in waiters {
        w.join().expect("a waiter failed");
    }
    // 12 × 5 ms of holding; a few ms per handoff is expected, seconds would be a livelock.
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
}
