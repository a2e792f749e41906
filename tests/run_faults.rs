//! `redlock run` under contention and faults: mutual exclusion between many runs, the
//! heartbeat, lock loss when a quorum stops answering, a crashed holder, and an instance that
//! restarts empty (docs/run.md, "Step by step" 3 and "Lock loss"; docs/reliability.md).

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::engine::{holder_token, locker, request};
use support::procs::{self, alive, redlock, run, scrubbed, Bg};
use support::redis::Cluster;

use redlock::engine::lock::Attempt;

const LIMIT: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_redlock");

fn read_pid(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

fn wait_for_file(path: &Path) {
    procs::wait_until(&format!("{} to exist", path.display()), LIMIT, || path.exists());
}

#[test]
fn eight_concurrent_runs_never_overlap_and_count_exactly() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, counter) = (dir.path().join("log"), dir.path().join("counter"));
    std::fs::write(&counter, "0\n").expect("counter");
    // A non-atomic read-sleep-write: any overlap loses an increment, and the log shows it.
    let body = r#"echo "enter $$" >> "$LOG"; n=$(cat "$COUNTER"); sleep 0.02
                  echo $((n + 1)) > "$COUNTER"; echo "exit $$" >> "$LOG""#;
    let worker =
        r#"i=0; while [ $i -lt 10 ]; do "$BIN" run -r counter -c "$BODY" || exit 1; i=$((i + 1)); done"#;
    let mut workers: Vec<Child> = (0..8)
        .map(|_| {
            scrubbed("sh")
                .args(["-c", worker])
                .env("REDLOCK_SERVERS", cluster.servers_arg())
                .env("BIN", BIN)
                .env("BODY", body)
                .env("LOG", &log)
                .env("COUNTER", &counter)
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for w in &mut workers {
        let status = procs::wait_timeout(w, deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|| panic!("workers still running after 120s"));
        assert!(status.success(), "a worker failed: {status:?}");
    }
    assert_eq!(std::fs::read_to_string(&counter).expect("counter").trim(), "80");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 160);
    for pair in lines.chunks(2) {
        let enter = pair[0]
            .strip_prefix("enter ")
            .unwrap_or_else(|| panic!("overlap at {pair:?}"));
        assert_eq!(
            pair[1],
            format!("exit {enter}"),
            "overlapping intervals: {pair:?}"
        );
    }
}

#[test]
fn the_heartbeat_keeps_a_1s_lease_through_a_4s_command() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready");
    let mut holder = Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("READY", &ready)
            .args(["run", "-r", "hb", "--ttl", "1s", "-c", r#": > "$READY"; sleep 4"#]),
        dir.path(),
    );
    wait_for_file(&ready);
    let started = Instant::now();
    let engine = locker(&cluster.urls());
    let rival = request("hb", "rival", Duration::from_secs(1));
    let mut attempts = 0;
    // Rivals try until shortly before the command's 4 s are up: at its end the lock is
    // released on purpose, and a rival may then win while redlock is still exiting.
    let span = Duration::from_millis(3800).saturating_sub(started.elapsed());
    procs::throughout(span, Duration::from_millis(50), || {
        if !matches!(holder.child.try_wait(), Ok(None)) {
            return false;
        }
        match engine.try_acquire(&rival).expect("servers answer") {
            Attempt::Busy(_) => attempts += 1,
            Attempt::Acquired(_) => {
                panic!("a rival acquired after {:?}: the lease lapsed", started.elapsed())
            }
        }
        true
    });
    assert_eq!(holder.code(LIMIT), 0, "{}", holder.stderr());
    assert!(
        started.elapsed() >= Duration::from_millis(3900),
        "{:?}",
        started.elapsed()
    );
    // Four times the ttl went by, so the lease was renewed; every rival was refused.
    assert!(attempts >= 20, "{attempts} attempts");
    assert!(
        matches!(engine.try_acquire(&rival).expect("answer"), Attempt::Acquired(_)),
        "free after the run"
    );
}

#[test]
fn losing_the_quorum_stops_the_command_group_and_exits_70() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let (term, grandchild, ready) = (path("term"), path("grandchild"), path("ready"));
    let script = r#"trap 'echo TERM >> "$TERM_LOG"; exit 0' TERM
                    sleep 60 & echo $! > "$GRANDCHILD"; : > "$READY"; wait"#;
    let mut bg = Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("TERM_LOG", &term)
            .env("GRANDCHILD", &grandchild)
            .env("READY", &ready)
            .args([
                "run",
                "-r",
                "lost",
                "--ttl",
                "1500ms",
                "--kill-after",
                "1s",
                "-c",
                script,
            ]),
        dir.path(),
    );
    wait_for_file(&ready);
    let sleeper = read_pid(&grandchild);
    assert!(alive(sleeper));
    let paused = Instant::now();
    cluster.servers[1].pause();
    cluster.servers[2].pause();
    // The lease can be valid for at most a ttl after the pause: SIGTERM comes before that.
    procs::wait_until(
        "the command's TERM trap",
        Duration::from_millis(1500 + 500),
        || term.exists(),
    );
    let code = bg.code(LIMIT);
    let took = paused.elapsed();
    cluster.servers[1].resume();
    cluster.servers[2].resume();

    let stderr = bg.stderr();
    assert_eq!(code, 70, "{stderr}");
    assert!(
        took < Duration::from_millis(1500 + 1000 + 1500),
        "exit 70 took {took:?}"
    );
    assert!(stderr.contains("redlock: lock 'lost' lost: "), "{stderr}");
    assert!(
        stderr.contains("redlock: lock 'lost' was lost while the command ran; the command was stopped"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&term).expect("term log"),
        "TERM\n",
        "one SIGTERM"
    );
    procs::wait_until("the grandchild is gone", LIMIT, || !alive(sleeper));
}

#[test]
fn a_crashed_holder_frees_the_lock_within_its_ttl() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (ready, pid) = (dir.path().join("ready"), dir.path().join("pid"));
    let mut holder = Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("READY", &ready)
            .env("PID", &pid)
            .args([
                "run",
                "-r",
                "crash",
                "--ttl",
                "2s",
                "-c",
                r#"echo $$ > "$PID"; : > "$READY"; sleep 60"#,
            ]),
        dir.path(),
    );
    wait_for_file(&ready);
    let command = read_pid(&pid);
    procs::signal(holder.child.id(), libc::SIGKILL);
    let killed = Instant::now();
    let _ = procs::wait_timeout(&mut holder.child, LIMIT).expect("reaped");
    let next = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["run", "-r", "crash", "--wait", "10s", "--", "true"]),
        LIMIT,
    );
    assert_eq!(next.code, Some(0), "{next:?}");
    assert!(
        killed.elapsed() < Duration::from_millis(2000 + 1000),
        "took {:?}",
        killed.elapsed()
    );
    // The parent-death signal took the command down with redlock.
    procs::wait_until("the orphaned command is gone", LIMIT, || !alive(command));
}

#[test]
fn an_instance_restarted_empty_is_taken_back_by_the_heartbeat() {
    let mut cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (ready, token) = (dir.path().join("ready"), dir.path().join("token"));
    let mut bg = Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("READY", &ready)
            .env("TOKEN", &token)
            .args([
                "run",
                "-r",
                "restart",
                "--ttl",
                "1500ms",
                "-c",
                r#"echo "$REDLOCK_TOKEN" > "$TOKEN"; : > "$READY"; sleep 5"#,
            ]),
        dir.path(),
    );
    wait_for_file(&ready);
    let ours = std::fs::read_to_string(&token).expect("token").trim().to_string();
    cluster.servers[2].restart();
    let restarted = Instant::now();
    assert_eq!(
        holder_token(&mut cluster.servers[2].conn(), "restart"),
        None,
        "restarted empty"
    );
    // Renewals come every 500ms; the first after the restart finds the old connection closed
    // (the instance reconnects on its next request), the one after that takes the key back.
    let mut conn = cluster.servers[2].conn();
    procs::wait_until(
        "the restarted instance holds our token again",
        Duration::from_secs(2),
        || holder_token(&mut conn, "restart").as_deref() == Some(ours.as_str()),
    );
    let took = restarted.elapsed();
    for server in &cluster.servers {
        assert_eq!(
            holder_token(&mut server.conn(), "restart").as_deref(),
            Some(ours.as_str())
        );
    }
    assert_eq!(bg.code(LIMIT), 0, "{}", bg.stderr());
    eprintln!("taken back {took:?} after the restart");
}
