//! `redlock run` as a cron job or CI step meets it: exit statuses passed through, stdio and
//! environment, 126/127, --timeout, --min-hold, re-entry and the waiting notice. Signals are in
//! run_signals.rs; the heartbeat, lock loss, crashes and contention in run_faults.rs.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use support::engine::{acquire, holder_token, locker, request};
use support::procs::{self, redlock, run, Out};
use support::redis::Cluster;

const LIMIT: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_redlock");

fn rl(cluster: &Cluster, args: &[&str]) -> Out {
    run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args(args),
        LIMIT,
    )
}

/// A `--no-wait` acquire by a stranger: 0 when the lock is free (it is released again), 75 when held.
fn stranger_gets(cluster: &Cluster, resource: &str) -> i32 {
    let out = rl(
        cluster,
        &[
            "acquire",
            "--no-keep",
            "-n",
            "-r",
            resource,
            "--token",
            "stranger",
        ],
    );
    if out.code == Some(0) {
        let rel = rl(cluster, &["release", "-r", resource, "--token", "stranger"]);
        assert_eq!(rel.code, Some(0), "{rel:?}");
    }
    out.code.unwrap_or_else(|| panic!("killed by a signal: {out:?}"))
}

fn assert_free_everywhere(cluster: &Cluster, resource: &str) {
    for server in &cluster.servers {
        assert_eq!(
            holder_token(&mut server.conn(), resource),
            None,
            "{}",
            cluster.logs()
        );
    }
}

#[test]
fn exit_status_is_passed_through() {
    let cluster = Cluster::start(3);
    for code in [0, 3, 42] {
        let out = rl(
            &cluster,
            &["run", "-r", "pass", "--", "sh", "-c", &format!("exit {code}")],
        );
        assert_eq!(out.code, Some(code), "{out:?}");
        assert_eq!(out.stderr, "", "a passed-through status prints nothing");
        assert_free_everywhere(&cluster, "pass");
    }
}

#[test]
fn a_command_killed_by_sigkill_exits_137() {
    let cluster = Cluster::start(3);
    let out = rl(&cluster, &["run", "-r", "k", "-c", "kill -9 $$"]);
    assert_eq!(out.code, Some(137), "{out:?}");
    assert_free_everywhere(&cluster, "k");
}

#[test]
fn shell_string_runs_with_sh_c_and_its_status_passes() {
    let cluster = Cluster::start(3);
    let out = rl(&cluster, &["run", "-r", "c", "-c", "echo one two; exit 7"]);
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(out.stdout, "one two\n");
}

#[test]
fn argv_is_passed_untouched_without_a_shell() {
    let cluster = Cluster::start(1);
    let out = rl(
        &cluster,
        &[
            "run", "-r", "argv", "--", "printf", "[%s]", "a b", "$HOME", "*", "-n", "",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "[a b][$HOME][*][-n][]");
}

#[test]
fn stdin_and_stdout_pass_through_byte_for_byte() {
    let cluster = Cluster::start(3);
    let input: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut child = redlock()
        .env("REDLOCK_SERVERS", cluster.servers_arg())
        .args(["run", "-r", "io", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redlock");
    let mut stdin = child.stdin.take().expect("stdin");
    let given = input.clone();
    let writer = thread::spawn(move || {
        stdin.write_all(&given).expect("write stdin");
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).expect("read stdout");
        got
    });
    let status = procs::wait_timeout(&mut child, LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("redlock run -- cat did not finish in {LIMIT:?}");
    });
    writer.join().expect("writer");
    let got = reader.join().expect("reader");
    assert!(status.success(), "{status:?}");
    assert_eq!(got.len(), input.len());
    assert!(got == input, "stdout differs from stdin");
}

#[test]
fn the_command_gets_resource_token_and_fence_and_the_fence_grows() {
    let cluster = Cluster::start(3);
    let show = r#"printf '%s\n%s\n%s\n' "$REDLOCK_RESOURCE" "$REDLOCK_TOKEN" "$REDLOCK_FENCE""#;
    let mut fences = vec![];
    for i in 0..3 {
        let token = format!("tok-{i}");
        let out = rl(
            &cluster,
            &["run", "-r", "env test", "--token", &token, "-c", show],
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[..2], ["env test", token.as_str()], "{out:?}");
        fences.push(lines[2].parse::<u64>().expect("a decimal fence"));
    }
    assert!(fences.windows(2).all(|w| w[0] < w[1]), "{fences:?}");
    // Without --token the command sees the fresh random one.
    let out = rl(&cluster, &["run", "-r", "env test", "-c", show]);
    let token = out.stdout.lines().nth(1).expect("token line").to_string();
    assert!(
        token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
}

#[test]
fn holder_metadata_names_redlock_and_the_command_line() {
    let cluster = Cluster::start(3);
    // While a run holds the lock, the hash says who: redlock's own pid and the command line.
    let mut bg = redlock()
        .env("REDLOCK_SERVERS", cluster.servers_arg())
        .args(["run", "-r", "meta", "--", "sleep", "5"])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut conn = cluster.servers[0].conn();
    procs::wait_until("the lock is taken", LIMIT, || {
        holder_token(&mut conn, "meta").is_some()
    });
    let (pid, cmd): (String, String) = redis::cmd("HMGET")
        .arg("redlock:lock:meta")
        .arg(&["pid", "cmd"])
        .query(&mut conn)
        .expect("HMGET");
    assert_eq!(pid, bg.id().to_string());
    assert_eq!(cmd, "sleep 5");
    procs::signal(bg.id(), libc::SIGTERM);
    let status = procs::wait_timeout(&mut bg, LIMIT).expect("redlock exits after SIGTERM");
    assert_eq!(status.code(), Some(143));
}

#[test]
fn a_missing_command_exits_127_and_releases_at_once() {
    let cluster = Cluster::start(3);
    let out = rl(
        &cluster,
        &["run", "-r", "nf", "--", "redlock-test-no-such-command"],
    );
    assert_eq!(out.code, Some(127), "{out:?}");
    assert_eq!(
        out.stderr,
        "redlock: command not found: redlock-test-no-such-command; check its name and PATH \
         (lock 'nf' was released)\n"
    );
    assert_free_everywhere(&cluster, "nf");
    assert_eq!(stranger_gets(&cluster, "nf"), 0);
}

#[test]
fn a_non_executable_command_exits_126_and_releases_at_once() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("job.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").expect("write");
    let out = rl(
        &cluster,
        &["run", "-r", "nx", "--", script.to_str().expect("utf-8 path")],
    );
    assert_eq!(out.code, Some(126), "{out:?}");
    assert!(
        out.stderr.starts_with("redlock: command not executable: "),
        "{out:?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_free_everywhere(&cluster, "nx");
}

#[test]
fn timeout_stops_the_command_with_124_and_frees_the_lock() {
    let cluster = Cluster::start(3);
    let out = rl(
        &cluster,
        &["run", "-r", "slow", "--timeout", "1s", "--", "sleep", "30"],
    );
    assert_eq!(out.code, Some(124), "{out:?}");
    assert!(out.elapsed >= Duration::from_secs(1), "{out:?}");
    assert!(
        out.elapsed < Duration::from_secs(5),
        "sleep obeys SIGTERM: {out:?}"
    );
    assert!(
        out.stderr
            .starts_with("redlock: the command was still running after --timeout 1s"),
        "{out:?}"
    );
    assert_free_everywhere(&cluster, "slow");
    assert_eq!(stranger_gets(&cluster, "slow"), 0);
}

#[test]
fn timeout_escalates_to_sigkill_after_kill_after() {
    let cluster = Cluster::start(1);
    let out = rl(
        &cluster,
        &[
            "run",
            "-r",
            "stubborn",
            "--timeout",
            "500ms",
            "--kill-after",
            "500ms",
            "-c",
            "trap '' TERM; sleep 30",
        ],
    );
    assert_eq!(out.code, Some(124), "{out:?}");
    assert!(out.elapsed >= Duration::from_secs(1), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(6), "{out:?}");
}

#[test]
fn min_hold_keeps_the_lock_after_a_short_command() {
    let cluster = Cluster::start(3);
    let started = Instant::now();
    let out = rl(&cluster, &["run", "-r", "cron", "--min-hold", "3s", "--", "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    sleep_until(started + Duration::from_secs(1));
    let early = rl(&cluster, &["run", "-n", "-r", "cron", "--", "true"]);
    assert_eq!(early.code, Some(75), "{early:?}");
    // The busy line says the command is over and when the keep ends, not "held by".
    let kept = "redlock: lock 'cron' is kept by --min-hold until ";
    assert!(early.stderr.starts_with(kept), "{early:?}");
    let finished = format!(" after true on {} pid ", gethostname());
    assert!(early.stderr.contains(&finished), "{early:?}");
    assert!(early.stderr.contains(" finished; use --wait"), "{early:?}");
    sleep_until(started + Duration::from_millis(3500));
    let late = rl(&cluster, &["run", "-n", "-r", "cron", "--", "true"]);
    assert_eq!(late.code, Some(0), "{late:?}");
}

#[test]
fn a_server_down_all_along_gets_no_release_warning() {
    let mut cluster = Cluster::start(3);
    cluster.servers[2].kill();
    let out = rl(&cluster, &["run", "-r", "down", "--", "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // The degraded quorum is said (docs/operator.md, "A degraded quorum is never silent"),
    // once; a release warning is not: nothing of ours was ever there.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with("redlock: warning: 1 of 3 servers did not answer ("),
        "{out:?}"
    );
    assert!(
        !out.stderr.contains("could not release"),
        "nothing of ours was ever there: {out:?}"
    );
}

#[test]
fn a_timeout_under_min_hold_says_the_lock_is_kept_not_released() {
    let cluster = Cluster::start(1);
    let out = rl(
        &cluster,
        &[
            "run",
            "-r",
            "mh",
            "--min-hold",
            "4s",
            "--timeout",
            "500ms",
            "--",
            "sleep",
            "10",
        ],
    );
    assert_eq!(out.code, Some(124), "{out:?}");
    assert!(
        out.stderr.contains("and lock 'mh' kept by --min-hold until "),
        "{out:?}"
    );
    assert!(!out.stderr.contains("released"), "{out:?}");
    let early = rl(&cluster, &["run", "-n", "-r", "mh", "--", "true"]);
    assert_eq!(early.code, Some(75), "still kept: {early:?}");
}

/// Until `at`: the time passing is the point (a keep that must last, then must be over).
fn sleep_until(at: Instant) {
    thread::sleep(at.saturating_duration_since(Instant::now()));
}

#[test]
fn a_nested_run_re_enters_at_once() {
    let cluster = Cluster::start(3);
    let out = rl(
        &cluster,
        &["run", "-r", "X", "--", BIN, "run", "-r", "X", "--", "true"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(2), "{out:?}");
    assert_free_everywhere(&cluster, "X");
}

#[test]
fn the_inner_exit_drops_only_its_own_hold() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    // Inside the outer command: a nested run (same fence and token), then a stranger's
    // --no-wait attempt, which must still find the lock held by the outer run.
    let script = r#"
        inner=$("$BIN" run -r nest -- sh -c 'echo "$REDLOCK_TOKEN $REDLOCK_FENCE"')
        "$BIN" acquire -n -q -r nest --token stranger >/dev/null
        echo "$? $REDLOCK_TOKEN $REDLOCK_FENCE $inner" > "$REPORT"
    "#;
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("BIN", BIN)
            .env("REPORT", &report)
            .args(["run", "-r", "nest", "-c", script]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let words: Vec<String> = read(&report).split_whitespace().map(String::from).collect();
    assert_eq!(words.len(), 5, "{words:?}");
    assert_eq!(words[0], "75", "the outer hold survived the inner exit");
    assert_eq!(words[1], words[3], "same token inside");
    assert_eq!(words[2], words[4], "same fence inside");
    assert_free_everywhere(&cluster, "nest");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn waiting_prints_one_notice_naming_the_holder() {
    let cluster = Cluster::start(3);
    let engine = locker(&cluster.urls());
    let _held = acquire(&engine, &request("busy", "other", Duration::from_secs(30)));
    let out = rl(&cluster, &["run", "-r", "busy", "--wait", "2500ms", "--", "true"]);
    assert_eq!(out.code, Some(75), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one notice, one busy line: {out:?}");
    let host = gethostname();
    let who = format!("held by {host} pid {} (cargo test) for ", std::process::id());
    assert!(
        lines[0].starts_with(&format!("redlock: waiting for lock 'busy': {who}")),
        "{out:?}"
    );
    assert!(
        lines[1].starts_with(&format!("redlock: lock 'busy' is {who}")),
        "{out:?}"
    );
    // How long it has been held (about a second or two), not the lease's 30 s left.
    for line in &lines {
        let held = line.split(") for ").nth(1).unwrap_or_default();
        assert!(
            held.starts_with("1s") || held.starts_with("2s") || held.starts_with("3s"),
            "held for about 2 s, not the lease's time left: {line}"
        );
    }
}

#[test]
fn waiting_quietly_prints_nothing() {
    let cluster = Cluster::start(3);
    let engine = locker(&cluster.urls());
    let _held = acquire(&engine, &request("busy", "other", Duration::from_secs(30)));
    let out = rl(
        &cluster,
        &["run", "-q", "-r", "busy", "--wait", "1500ms", "--", "true"],
    );
    assert_eq!(out.code, Some(75), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn a_short_wait_gets_the_lock_once_the_holder_releases() {
    let cluster = Cluster::start(3);
    let engine = locker(&cluster.urls());
    let held = acquire(&engine, &request("handoff", "other", Duration::from_secs(30)));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut waiter = procs::Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["run", "-r", "handoff", "--wait", "10s", "--", "echo", "ran"]),
        dir.path(),
    );
    let notice = "redlock: waiting for lock 'handoff': ";
    // The notice comes after a second of waiting: the holder releases once it is out.
    procs::wait_until("the waiting notice", LIMIT, || waiter.stderr().contains(notice));
    engine.release(&held.resource, &held.token, Duration::ZERO);
    assert_eq!(waiter.code(LIMIT), 0, "{}", waiter.stderr());
    let stdout = std::fs::read_to_string(dir.path().join("redlock.stdout")).expect("stdout");
    assert_eq!(stdout, "ran\n");
    let stderr = waiter.stderr();
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with(notice)).count(),
        1,
        "{stderr}"
    );
}

fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

#[test]
fn a_run_that_reenters_a_scripts_acquire_keeps_the_lease_alive() {
    let cluster = Cluster::start(3);
    // A script took the lock with a short lease, then runs a long command under its token:
    // nobody else renews it, so the nested run must.
    let tok = rl(&cluster, &["acquire", "--no-keep", "-r", "script", "--ttl", "1s"])
        .stdout
        .trim()
        .to_string();
    let mut inner = redlock()
        .env("REDLOCK_SERVERS", cluster.servers_arg())
        .args([
            "run", "-r", "script", "--token", &tok, "--ttl", "1s", "--", "sleep", "3",
        ])
        .spawn()
        .expect("spawn");
    procs::throughout(Duration::from_millis(2500), Duration::from_millis(200), || {
        assert_eq!(
            stranger_gets(&cluster, "script"),
            75,
            "the lease lapsed under the nested run"
        );
        true
    });
    let status = procs::wait_timeout(&mut inner, LIMIT).expect("the nested run exits");
    assert_eq!(status.code(), Some(0));
    // The nested run dropped its own hold; the script's hold is still there.
    assert_eq!(stranger_gets(&cluster, "script"), 75);
    assert_eq!(
        rl(&cluster, &["release", "-r", "script", "--token", &tok]).code,
        Some(0)
    );
}
