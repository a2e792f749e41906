//! Capacity (docs/capacity.md, "Capacity: semaphores and shared holds"): `--limit N`
//! admits N holders at once and never N + 1; `--shared` holders overlap each other, never an
//! exclusive holder, and never starve a writer; every holder must use the same N; each hold has
//! its own token and fence, its own lock loss and re-entry; `inspect` shows every hold and
//! `release --force` breaks them all; one faulty instance of three changes none of it.
//!
//! Exclusion is proven by side effects: each section appends `in WHO FENCE` and `out WHO FENCE`
//! lines to one log (single `O_APPEND` writes, so the file's order is an order of events, and a
//! hold's real interval contains its in..out lines). Never by timing.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::engine::locker;
use support::procs::{self, redlock, run, scrubbed, Bg, Out};
use support::redis::Cluster;

const LIMIT: Duration = Duration::from_secs(30);
/// How long a whole crowd of loopers may take to finish.
const CROWD_LIMIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_redlock");

fn rl(cluster: &Cluster, args: &[&str]) -> Out {
    run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args(args),
        LIMIT,
    )
}

/// `redlock ARGS` whose command calls redlock again (`$BIN`) and writes what it saw to
/// `$REPORT`.
fn rl_reporting(cluster: &Cluster, report: &std::path::Path, args: &[&str]) -> Out {
    run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("BIN", BIN)
            .env("REPORT", report)
            .args(args),
        LIMIT,
    )
}

fn inspect_json(cluster: &Cluster, resource: &str) -> Value {
    let out = rl(cluster, &["inspect", "-r", resource, "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

fn inspect_text(cluster: &Cluster, resource: &str) -> String {
    let out = rl(cluster, &["inspect", "-r", resource]);
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout
}

/// The tokens of `inspect --json`'s `holders`, sorted.
fn holder_tokens(v: &Value) -> Vec<String> {
    let mut tokens: Vec<String> = v["holders"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|h| h["token"].as_str().unwrap_or_default().to_string())
        .collect();
    tokens.sort();
    tokens
}

/// The numbers (runs of digits) a message names.
fn numbers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Every key under the prefix on each instance, with its hash fields or string value (TTLs
/// left out): what "changes nothing" compares.
fn snapshot(cluster: &Cluster) -> Vec<BTreeMap<String, String>> {
    cluster
        .servers
        .iter()
        .map(|server| {
            let mut conn = server.conn();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("redlock:*")
                .query(&mut conn)
                .expect("KEYS");
            keys.into_iter()
                .map(|key| {
                    let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).expect("TYPE");
                    let value = match kind.as_str() {
                        "hash" => {
                            let fields: BTreeMap<String, String> =
                                redis::cmd("HGETALL").arg(&key).query(&mut conn).expect("HGETALL");
                            format!("{fields:?}")
                        }
                        "string" => redis::cmd("GET").arg(&key).query(&mut conn).expect("GET"),
                        other => format!("({other})"),
                    };
                    (key, value)
                })
                .collect()
        })
        .collect()
}

/// The non-exclusive hold keys (`redlock:hold:NAME#ID`) of `resource` on one instance whose
/// `token` field is `token`.
fn hold_keys_of(conn: &mut redis::Connection, resource: &str, token: &str) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("redlock:hold:{resource}#*"))
        .query(conn)
        .expect("KEYS");
    keys.into_iter()
        .filter(|key| {
            let holder: Option<String> = redis::cmd("HGET")
                .arg(key)
                .arg("token")
                .query(conn)
                .expect("HGET");
            holder.as_deref() == Some(token)
        })
        .collect()
}

/// Keys of any hold of `resource` left on any instance.
fn leftover_holds(cluster: &Cluster, resource: &str) -> Vec<String> {
    let mut left = vec![];
    for server in &cluster.servers {
        let mut conn = server.conn();
        for pattern in [
            format!("redlock:hold:{resource}#*"),
            format!("redlock:lock:{resource}"),
        ] {
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn).expect("KEYS");
            left.extend(keys.into_iter().map(|k| format!("{}: {k}", server.url())));
        }
    }
    left
}

// ---------------------------------------------------------------- the section log

/// One line of the section log: `in WHO FENCE`, `out WHO FENCE`, or the test's own `arrive WHO 0`.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    kind: String,
    who: String,
    fence: u64,
}

fn log_lines(log: &Path) -> Vec<Line> {
    procs::file_lines(log)
        .iter()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [kind, who, fence] => Line {
                    kind: kind.to_string(),
                    who: who.to_string(),
                    fence: fence
                        .parse()
                        .unwrap_or_else(|e| panic!("REDLOCK_FENCE is not a number in {l:?}: {e}")),
                },
                _ => panic!("bad log line {l:?} (is REDLOCK_FENCE set?)"),
            }
        })
        .collect()
}

/// How many sections are inside at once at the log's end, and at most along the way, among
/// the lines `pick` selects. Panics on an `out` without its `in`, or an `in` twice.
fn inside(lines: &[Line], pick: impl Fn(&Line) -> bool) -> (usize, usize) {
    let mut now: BTreeSet<(&str, u64)> = BTreeSet::new();
    let mut most = 0;
    for l in lines.iter().filter(|l| pick(l)) {
        match l.kind.as_str() {
            "in" => {
                assert!(now.insert((&l.who, l.fence)), "{l:?} twice: {lines:?}");
                most = most.max(now.len());
            }
            "out" => assert!(now.remove(&(&l.who, l.fence)), "{l:?} without its in: {lines:?}"),
            _ => {}
        }
    }
    (now.len(), most)
}

/// Fences are distinct, and a section that began after another ended (by the log's order)
/// has a higher fence than that one.
fn assert_fences_rise(lines: &[Line]) {
    let mut seen = BTreeSet::new();
    let mut highest_ended = 0;
    for l in lines {
        match l.kind.as_str() {
            "in" => {
                assert!(seen.insert(l.fence), "fence {} given twice: {lines:?}", l.fence);
                assert!(
                    l.fence > highest_ended,
                    "{l:?} began after the section with fence {highest_ended} ended: {lines:?}"
                );
            }
            "out" => highest_ended = highest_ended.max(l.fence),
            _ => {}
        }
    }
}

/// A shell that runs `redlock -q run ARGS -c SECTION` `runs` times in a row (stopping at the
/// first failure), each section logging `in`/`out` lines as `who` around a sleep of
/// `section_ms`. In a process group of its own, killed with every process in it on drop.
struct Looper {
    who: String,
    child: Child,
    stderr: PathBuf,
}

impl Looper {
    fn start(
        cluster: &Cluster,
        dir: &Path,
        who: &str,
        runs: usize,
        section_ms: u64,
        args: &[&str],
    ) -> Looper {
        let stderr = dir.join(format!("{who}.stderr"));
        let section = format!(
            r#"echo "in $WHO $REDLOCK_FENCE" >> "$LOG"; sleep {}.{:03}; echo "out $WHO $REDLOCK_FENCE" >> "$LOG""#,
            section_ms / 1000,
            section_ms % 1000
        );
        let script = r#"i=0; while [ $i -lt "$RUNS" ]; do "$BIN" -q run "$@" -c "$SECTION" || exit $?; i=$((i + 1)); done"#;
        let child = scrubbed("sh")
            .args(["-c", script, "looper"])
            .args(args)
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("BIN", BIN)
            .env("SECTION", section)
            .env("LOG", dir.join("log"))
            .env("WHO", who)
            .env("RUNS", runs.to_string())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn a looper");
        Looper {
            who: who.to_string(),
            child,
            stderr,
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its exit code within `limit`; panics if it is still running.
    fn code(&mut self, limit: Duration) -> i32 {
        let status = procs::wait_timeout(&mut self.child, limit)
            .unwrap_or_else(|| panic!("{} still running after {limit:?}: {}", self.who, self.stderr()));
        status.code().unwrap_or(-1)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Looper {
    fn drop(&mut self) {
        if self.running() {
            let pgid = i32::try_from(self.child.id()).expect("pid fits");
            procs::signal_group(pgid, libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Every looper exits 0 within the crowd's limit.
fn all_succeed(loopers: &mut [Looper]) {
    for l in loopers.iter_mut() {
        let code = l.code(CROWD_LIMIT);
        assert_eq!(code, 0, "{} exited {code}: {}", l.who, l.stderr());
    }
}

// ---------------------------------------------------------------- --limit N

#[test]
fn limit_3_admits_three_at_once_never_four_each_with_its_own_rising_fence() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut loopers: Vec<Looper> = (0..12)
        .map(|i| {
            Looper::start(
                &cluster,
                dir.path(),
                &format!("c{i}"),
                4,
                60,
                &["-w", "60s", "-l", "3", "-r", "sem"],
            )
        })
        .collect();
    all_succeed(&mut loopers);
    let lines = log_lines(&dir.path().join("log"));
    assert_eq!(lines.len(), 12 * 4 * 2, "every run went in once: {lines:?}");
    let (left, most) = inside(&lines, |_| true);
    assert_eq!(left, 0);
    assert!(most <= 3, "{most} inside at once with --limit 3: {lines:?}");
    assert_eq!(
        most, 3,
        "twelve contenders never filled the three slots: {lines:?}"
    );
    assert_fences_rise(&lines);
    assert!(
        leftover_holds(&cluster, "sem").is_empty(),
        "{:?}",
        leftover_holds(&cluster, "sem")
    );
}

#[test]
fn a_request_with_another_limit_exits_1_naming_both_and_changes_nothing() {
    let cluster = Cluster::start(3);
    // One of three slots held: the refusal is about the number, not about room.
    cluster.hold("mix", "first", &["-l", "3"]);
    let before = snapshot(&cluster);
    let cases: [(&[&str], &str); 4] = [
        (&["acquire", "--no-keep", "-n", "-r", "mix", "-l", "2"], "2"),
        (&["acquire", "--no-keep", "-n", "-r", "mix"], "1"),
        (&["acquire", "--no-keep", "-n", "-r", "mix", "--shared"], "1"),
        // A waiting request is refused at once too (not after its wait: LIMIT is shorter).
        (&["run", "-w", "60s", "-r", "mix", "-l", "4", "--", "true"], "4"),
    ];
    for (args, theirs) in cases {
        let out = rl(&cluster, args);
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        let named = numbers(&out.stderr);
        assert!(
            named.contains("3") && named.contains(theirs),
            "{args:?} must name 3 and {theirs}: {out:?}"
        );
        assert!(out.stderr.starts_with("redlock: "), "{out:?}");
        assert_eq!(snapshot(&cluster), before, "{args:?} changed something");
    }
    assert_eq!(holder_tokens(&inspect_json(&cluster, "mix")), ["first"]);

    // An exclusive holder counts as 1, and so do shared holders.
    cluster.hold("solo", "only", &[]);
    cluster.hold("readers", "reader", &["--shared"]);
    let before = snapshot(&cluster);
    for (args, ours, theirs) in [
        (["acquire", "--no-keep", "-n", "-r", "solo", "-l", "2"], "1", "2"),
        (
            ["acquire", "--no-keep", "-n", "-r", "readers", "-l", "3"],
            "1",
            "3",
        ),
    ] {
        let out = rl(&cluster, &args);
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        let named = numbers(&out.stderr);
        assert!(
            named.contains(ours) && named.contains(theirs),
            "{args:?} must name {ours} and {theirs}: {out:?}"
        );
        assert_eq!(snapshot(&cluster), before, "{args:?} changed something");
    }
    // Shared against exclusive is the same N: busy, not a mismatch.
    let out = rl(
        &cluster,
        &["acquire", "--no-keep", "-n", "-r", "solo", "--shared"],
    );
    assert_eq!(out.code, Some(75), "{out:?}");
    let out = rl(&cluster, &["acquire", "--no-keep", "-n", "-r", "readers"]);
    assert_eq!(out.code, Some(75), "{out:?}");

    // The same N still gets a free slot.
    cluster.hold("mix", "second", &["-l", "3"]);
    assert_eq!(holder_tokens(&inspect_json(&cluster, "mix")), ["first", "second"]);
}

#[test]
fn limits_out_of_range_and_shared_with_a_limit_are_usage_errors() {
    let cluster = Cluster::start(3);
    for args in [
        &["acquire", "--no-keep", "-r", "u", "--shared", "--limit", "2"][..],
        &["run", "-r", "u", "--shared", "-l", "3", "--", "true"],
        &["acquire", "--no-keep", "-r", "u", "-l", "0"],
        &["run", "-r", "u", "--limit", "10001", "--", "true"],
        &["acquire", "--no-keep", "-r", "u", "-l", "-1"],
        &["acquire", "--no-keep", "-r", "u", "-l", "three"],
    ] {
        let out = rl(&cluster, args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("REDLOCK_LIMIT", "0")
            .args(["acquire", "--no-keep", "-r", "u"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(2), "REDLOCK_LIMIT=0: {out:?}");
    assert!(leftover_holds(&cluster, "u").is_empty(), "nothing was taken");
    // The edges that are allowed.
    for (resource, args) in [
        ("edge-max", &["-l", "10000"][..]),
        ("edge-shared", &["--shared", "-l", "1"]),
    ] {
        let mut all = vec!["acquire", "--no-keep", "-n", "-r", resource];
        all.extend_from_slice(args);
        let out = rl(&cluster, &all);
        assert_eq!(out.code, Some(0), "{all:?}: {out:?}");
    }
}

#[test]
fn losing_one_slot_stops_only_that_holders_command() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let done = dir.path().join("done");
    let mut holders: Vec<(Bg, PathBuf)> = (0..3)
        .map(|i| {
            let sub = dir.path().join(format!("h{i}"));
            (start_slot_holder(&cluster, "loss", &sub, &done), sub)
        })
        .collect();
    for (_, sub) in &holders {
        let ready = sub.join("ready");
        procs::wait_until("every holder in", LIMIT, || ready.exists());
    }
    let token = |sub: &Path| {
        std::fs::read_to_string(sub.join("token"))
            .expect("token")
            .trim()
            .to_string()
    };
    let victim = token(&holders[0].1);
    let others: Vec<String> = holders[1..].iter().map(|(_, sub)| token(sub)).collect();

    // Someone else's token in the victim's hold, on every instance.
    let taken = give_holds_to_an_intruder(&cluster, "loss", &victim);
    assert!(taken >= 2, "the victim's hold found on {taken} instances");

    let (victim_bg, _) = &mut holders[0];
    let code = victim_bg.code(LIMIT);
    assert_eq!(code, 70, "{}", victim_bg.stderr());
    assert!(victim_bg.stderr().contains("lost"), "{}", victim_bg.stderr());
    for (bg, _) in &mut holders[1..] {
        assert!(
            matches!(bg.child.try_wait(), Ok(None)),
            "another holder ended with the victim: {}",
            bg.stderr()
        );
    }
    let listed = holder_tokens(&inspect_json(&cluster, "loss"));
    for t in &others {
        assert!(listed.contains(t), "{t} still holds: {listed:?}");
    }
    std::fs::write(&done, "").expect("done");
    for (bg, _) in &mut holders[1..] {
        assert_eq!(bg.code(LIMIT), 0, "{}", bg.stderr());
        assert!(!bg.stderr().contains("lost"), "{}", bg.stderr());
    }
}

/// A `run -l 3` holder of `resource`, started in `sub`, whose command records its token in
/// `sub/token`, says it is in with `sub/ready`, and runs until `done` exists (20 s at most).
fn start_slot_holder(cluster: &Cluster, resource: &str, sub: &Path, done: &Path) -> Bg {
    let script = r#"echo "$REDLOCK_TOKEN" > "$TOKEN"; : > "$READY"
                    i=0; while [ ! -e "$DONE" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done"#;
    std::fs::create_dir_all(sub).expect("dir");
    Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("TOKEN", sub.join("token"))
            .env("READY", sub.join("ready"))
            .env("DONE", done)
            .args([
                "run",
                "-r",
                resource,
                "-l",
                "3",
                "-t",
                "1500ms",
                "--kill-after",
                "1s",
                "-c",
                script,
            ]),
        sub,
    )
}

/// Puts someone else's token (`intruder`) in every hold of `token` on `resource`, on every
/// instance; returns how many holds it changed.
fn give_holds_to_an_intruder(cluster: &Cluster, resource: &str, token: &str) -> usize {
    let mut taken = 0;
    for server in &cluster.servers {
        let mut conn = server.conn();
        for key in hold_keys_of(&mut conn, resource, token) {
            let _: () = redis::cmd("HSET")
                .arg(&key)
                .arg("token")
                .arg("intruder")
                .query(&mut conn)
                .expect("HSET");
            taken += 1;
        }
    }
    taken
}

// ---------------------------------------------------------------- one faulty instance

#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill,
    Pause,
    RestartEmpty,
}

/// Which instances hold each (slot, token) of `resource`.
fn slot_map(cluster: &Cluster, resource: &str) -> BTreeMap<(String, String), Vec<usize>> {
    let mut map: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, server) in cluster.servers.iter().enumerate() {
        let mut conn = server.conn();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("redlock:hold:{resource}#*"))
            .query(&mut conn)
            .expect("KEYS");
        for key in keys {
            let token: Option<String> = redis::cmd("HGET")
                .arg(&key)
                .arg("token")
                .query(&mut conn)
                .expect("HGET");
            let slot = key
                .rsplit_once('#')
                .map(|(_, s)| s.to_string())
                .unwrap_or_default();
            map.entry((slot, token.unwrap_or_default())).or_default().push(i);
        }
    }
    map
}

/// Six contenders × 3 runs of a 150 ms section (500 ms for the restart) on `--limit 3`; once three are inside, one
/// instance is killed (the resource's decider, the worst one to lose), paused (the decider,
/// until three more sections have begun), or restarted empty (one a holder's slot is on when it
/// is on two only, else the decider). Never more than three inside; everyone runs.
fn three_full_slots_survive(fault: Fault) {
    // Restarted empty, a holder left on one instance would keep running until its heartbeat
    // (every ttl/3, 667 ms) finds out: a section almost that long leaves a newcomer time to get in.
    let section_ms = match fault {
        Fault::RestartEmpty => 500,
        Fault::Kill | Fault::Pause => 150,
    };
    let mut cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let resource = "faulted";
    let mut loopers: Vec<Looper> = (0..6)
        .map(|i| {
            Looper::start(
                &cluster,
                dir.path(),
                &format!("c{i}"),
                3,
                section_ms,
                &["-w", "60s", "-l", "3", "-t", "2s", "-r", resource],
            )
        })
        .collect();
    procs::wait_until("three inside at once", LIMIT, || {
        inside(&log_lines(&log), |_| true).0 == 3
    });
    let target = locker(&cluster.urls()).order(resource)[0];
    // The fault comes while the three inside hold their slots on every instance. A holder whose
    // slot is on two instances only (the third was busy when it was taken, until its heartbeat
    // restores it there) rightly loses it when one of those two is killed or paused past its
    // lease (exit 70); and one of those two restarting empty is kept safe by the restarted
    // instance's youth, which tests/safety.rs builds by hand (a race for it here would rarely
    // find one).
    procs::wait_until("three inside, each slot on every instance", LIMIT, || {
        let map = slot_map(&cluster, resource);
        inside(&log_lines(&log), |_| true).0 == 3 && map.len() == 3 && map.values().all(|on| on.len() == 3)
    });
    let at_fault = slot_map(&cluster, resource);
    match fault {
        Fault::Kill => cluster.servers[target].kill(),
        Fault::RestartEmpty => cluster.servers[target].restart(),
        Fault::Pause => {
            cluster.servers[target].pause();
            let began = |lines: &[Line]| lines.iter().filter(|l| l.kind == "in").count();
            let at_pause = began(&log_lines(&log));
            procs::wait_until(
                "three more sections to begin with the decider paused",
                LIMIT,
                || began(&log_lines(&log)) >= at_pause + 3,
            );
            cluster.servers[target].resume();
        }
    }
    all_succeed(&mut loopers);
    let lines = log_lines(&log);
    assert_eq!(
        lines.len(),
        6 * 3 * 2,
        "{fault:?}: every run went in once: {lines:?}"
    );
    let (_, most) = inside(&lines, |_| true);
    assert!(
        most <= 3,
        "{fault:?}: {most} inside at once with --limit 3: {lines:?}\n(slot, token) -> instances holding it, just before instance {target} was faulted: {at_fault:?}"
    );
    let fences: BTreeSet<u64> = lines.iter().map(|l| l.fence).collect();
    assert_eq!(fences.len(), 18, "{fault:?}: a fence each: {lines:?}");
}

#[test]
fn full_slots_with_the_decider_killed_admit_no_fourth_and_everyone_runs() {
    three_full_slots_survive(Fault::Kill);
}

#[test]
fn full_slots_with_the_decider_paused_admit_no_fourth_and_everyone_runs() {
    three_full_slots_survive(Fault::Pause);
}

#[test]
fn full_slots_with_an_instance_restarted_empty_admit_no_fourth_and_everyone_runs() {
    three_full_slots_survive(Fault::RestartEmpty);
}

// ---------------------------------------------------------------- --shared

#[test]
fn shared_readers_overlap_and_a_writer_among_them_gets_in_alone_without_starving() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let is_reader = |l: &Line| l.who.starts_with('r');
    let mut readers: Vec<Looper> = (0..4)
        .map(|i| {
            Looper::start(
                &cluster,
                dir.path(),
                &format!("r{i}"),
                20,
                100,
                &["-w", "60s", "--shared", "-r", "rw"],
            )
        })
        .collect();
    procs::wait_until("two readers inside at once", LIMIT, || {
        inside(&log_lines(&log), is_reader).1 >= 2
    });
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"arrive w 0\n"))
        .expect("mark the writer's arrival");
    let mut writer = Looper::start(&cluster, dir.path(), "w", 1, 100, &["-w", "60s", "-r", "rw"]);
    let code = writer.code(CROWD_LIMIT);
    assert_eq!(code, 0, "{}", writer.stderr());
    all_succeed(&mut readers);

    let lines = log_lines(&log);
    assert_eq!(lines.len(), 1 + 4 * 20 * 2 + 2, "{lines:?}");
    let (_, most) = inside(&lines, is_reader);
    assert!(most >= 2, "readers never overlapped: {lines:?}");
    // The writer alone: nobody inside when it enters, nobody enters until it leaves.
    let pos = |kind: &str| {
        lines
            .iter()
            .position(|l| l.who == "w" && l.kind == kind)
            .unwrap_or_else(|| panic!("no '{kind} w' line: {lines:?}"))
    };
    let (arrive, enter, exit) = (pos("arrive"), pos("in"), pos("out"));
    assert_eq!(
        inside(&lines[..enter], |_| true).0,
        0,
        "the writer entered with readers inside: {lines:?}"
    );
    assert_eq!(exit, enter + 1, "someone came in with the writer: {lines:?}");
    // No starvation: readers arriving after the writer queued behind it. Those inside or
    // already asking when it arrived may finish or get in, at most two sections each.
    let readers_before = lines[arrive..enter].iter().filter(|l| l.kind == "in").count();
    assert!(
        readers_before <= 8,
        "{readers_before} reader sections began between the writer's arrival and its turn: {lines:?}"
    );
    assert!(
        lines[exit..].iter().any(|l| is_reader(l) && l.kind == "in"),
        "the writer only got in once the readers were done: {lines:?}"
    );
}

// ---------------------------------------------------------------- re-entry, env, inspect, --force

#[test]
fn a_holder_reenters_its_own_slot_with_its_token_when_every_slot_is_taken() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    cluster.hold("re", "other", &["-l", "2"]);
    // Inside the outer command both slots are taken (other's and ours): the inner run with our
    // token gets in with --no-wait, a stranger does not.
    let script = r#"
        inner=$("$BIN" run -n -r re -l 2 --token "$REDLOCK_TOKEN" -- sh -c 'echo "$REDLOCK_TOKEN $REDLOCK_FENCE"')
        code=$?
        "$BIN" acquire -n -q -r re -l 2 --token stranger >/dev/null
        echo "$code $? $REDLOCK_TOKEN $REDLOCK_FENCE $inner" > "$REPORT"
    "#;
    let out = rl_reporting(
        &cluster,
        &report,
        &["run", "-n", "-r", "re", "-l", "2", "-c", script],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let text = std::fs::read_to_string(&report).expect("report");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{text:?} {out:?}");
    assert_eq!(words[0], "0", "re-entry with our token: {text:?} {out:?}");
    assert_eq!(words[1], "75", "a stranger finds both slots taken: {text:?}");
    assert_eq!(words[2], words[4], "same token inside: {text:?}");
    assert_eq!(words[3], words[5], "same fence inside: {text:?}");
    // The outer run released its own slot only.
    assert_eq!(holder_tokens(&inspect_json(&cluster, "re")), ["other"]);
}

#[test]
fn a_busy_line_says_how_full_and_names_one_holder() {
    let cluster = Cluster::start(3);
    cluster.hold("full", "a", &["-l", "2"]);
    cluster.hold("full", "b", &["-l", "2"]);
    let out = rl(&cluster, &["run", "-n", "-l", "2", "-r", "full", "--", "true"]);
    assert_eq!(out.code, Some(75), "{out:?}");
    assert!(
        out.stderr
            .starts_with("redlock: lock 'full' is held (2 of 2 slots), one held by "),
        "{out:?}"
    );
    cluster.hold("env", "r1", &["--shared"]);
    cluster.hold("env", "r2", &["--shared"]);
    let out = rl(&cluster, &["run", "-n", "-r", "env", "--", "true"]);
    assert_eq!(out.code, Some(75), "{out:?}");
    assert!(
        out.stderr
            .starts_with("redlock: lock 'env' is shared by 2, one held by "),
        "{out:?}"
    );
}

#[test]
fn a_nested_run_for_another_resource_does_not_take_the_outer_limit() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    // REDLOCK_LIMIT=3 is in the command's environment; the nested lock is exclusive all the
    // same, and a nested --shared is no usage error.
    let script = r#"
        "$BIN" run -r other -c 'echo "$REDLOCK_MODE $REDLOCK_LIMIT"' > "$REPORT"
        "$BIN" run --shared -r other2 -c 'echo "$REDLOCK_MODE $REDLOCK_LIMIT"' >> "$REPORT"
    "#;
    let out = rl_reporting(
        &cluster,
        &report,
        &["run", "-l", "3", "-r", "outer", "-c", script],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let text = std::fs::read_to_string(&report).expect("report");
    assert_eq!(text, "exclusive 1\nshared 1\n", "{out:?}");
}

#[test]
fn the_command_sees_its_mode_and_limit() {
    let cluster = Cluster::start(3);
    let show = r#"echo "$REDLOCK_MODE $REDLOCK_LIMIT""#;
    for (resource, args, expected) in [
        ("env-x", &[][..], "exclusive 1"),
        ("env-s", &["--shared"], "shared 1"),
        ("env-l", &["-l", "3"], "limit 3"),
    ] {
        let mut all = vec!["run", "-r", resource];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-c", show]);
        let out = rl(&cluster, &all);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.stdout.trim(), expected, "{all:?}");
    }
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("REDLOCK_LIMIT", "5")
            .args(["run", "-r", "env-e", "-c", show]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), "limit 5", "REDLOCK_LIMIT=5");
}

/// Every holder object has the contract's fields; returns their fences.
fn assert_holders_described(v: &Value) -> Vec<u64> {
    let holders = v["holders"]
        .as_array()
        .unwrap_or_else(|| panic!("holders: {v:#}"));
    holders
        .iter()
        .map(|h| {
            assert!(h["token"].is_string(), "{h}");
            assert!(h["host"].as_str().is_some_and(|s| !s.is_empty()), "{h}");
            assert!(h["pid"].is_u64(), "{h}");
            let command = if h["command"].is_null() {
                &h["cmd"]
            } else {
                &h["command"]
            };
            assert!(command.as_str().is_some_and(|s| !s.is_empty()), "{h}");
            h["fence"].as_u64().unwrap_or_else(|| panic!("fence: {h}"))
        })
        .collect()
}

#[test]
fn inspect_shows_every_hold_and_force_breaks_them_all() {
    let cluster = Cluster::start(3);
    cluster.hold("slots", "tok-a", &["-l", "3"]);
    cluster.hold("slots", "tok-b", &["-l", "3"]);

    let v = inspect_json(&cluster, "slots");
    // Today's fields keep their meaning.
    assert_eq!(v["resource"], "slots", "{v:#}");
    assert_eq!(
        (v["n"].as_u64(), v["quorum"].as_u64()),
        (Some(3), Some(2)),
        "{v:#}"
    );
    assert!(v["state"].is_string() && v["queue"].is_array(), "{v:#}");
    assert_eq!(v["mode"], "limit", "{v:#}");
    assert_eq!(v["limit"], 3, "{v:#}");
    assert_eq!(holder_tokens(&v), ["tok-a", "tok-b"], "{v:#}");
    let fences = assert_holders_described(&v);
    assert!(fences[0] != fences[1], "a fence each: {v:#}");
    let text = inspect_text(&cluster, "slots");
    assert!(text.contains("held (2 of 3 slots)"), "{text}");
    assert!(text.contains("tok-a") && text.contains("tok-b"), "{text}");

    cluster.hold("reading", "tok-r1", &["--shared"]);
    cluster.hold("reading", "tok-r2", &["--shared"]);
    let v = inspect_json(&cluster, "reading");
    assert_eq!(v["mode"], "shared", "{v:#}");
    assert_eq!(v["limit"], 1, "{v:#}");
    assert_eq!(holder_tokens(&v), ["tok-r1", "tok-r2"], "{v:#}");
    assert_holders_described(&v);
    let text = inspect_text(&cluster, "reading");
    assert!(text.contains("shared by 2"), "{text}");
    assert!(text.contains("tok-r1") && text.contains("tok-r2"), "{text}");

    for (resource, tokens) in [("slots", ["tok-a", "tok-b"]), ("reading", ["tok-r1", "tok-r2"])] {
        let out = rl(&cluster, &["release", "-r", resource, "--force"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        for t in tokens {
            let naming = out.stdout.lines().filter(|l| l.contains(t)).count();
            assert_eq!(naming, 1, "one line names {t}: {out:?}");
        }
        assert!(
            leftover_holds(&cluster, resource).is_empty(),
            "{:?}",
            leftover_holds(&cluster, resource)
        );
        let v = inspect_json(&cluster, resource);
        assert!(holder_tokens(&v).is_empty(), "{v:#}");
        assert_eq!(v["state"], "free", "{v:#}");
        assert!(inspect_text(&cluster, resource).contains("free"));
    }
    // Every slot is free again.
    for i in 0..3 {
        cluster.hold("slots", &format!("again-{i}"), &["-l", "3", "-n"]);
    }
}
