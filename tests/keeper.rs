//! `acquire`'s keeper (docs/keeper.md): a script holds the lock
//! for as long as it runs, past any number of ttls; its exit, crash or SIGKILL frees the lock
//! within about a second; `release` ends the keeper quietly; a lost quorum stops the owner and
//! says so; `$(redlock acquire …)` returns at once, whatever stderr is.
//!
//! Scripts wait on files the test creates (bounded loops), never on sleeps as synchronisation.
//! Every test kills whatever keeper of its resources is left when it ends (see [`Keepers`]).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::engine::holder_token;
use support::procs::{self, redlock, run, scrubbed, wait_until};
use support::redis::Cluster;

const LIMIT: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_redlock");
/// "Within about a second", with room for a loaded 2-core machine.
const SOON: Duration = Duration::from_secs(5);

/// Waits for `$1` (a file) to exist, for at most 60 s: how scripts wait for the test.
const WAIT_FOR: &str =
    r#"wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; }"#;

/// A test's world: three servers, the keepers of `resources` (killed when it ends, before the
/// servers stop) and a directory for the script's files.
fn world(resources: &[&str]) -> (Cluster, Keepers, tempfile::TempDir) {
    let cluster = Cluster::start(3);
    let keepers = Keepers::of(resources);
    (cluster, keepers, tempfile::tempdir().expect("tempdir"))
}

/// The first line of a script that answers SIGTERM itself: `TERM` in file `trapped`, exit 3.
const TRAP_TERM: &str = "trap 'echo TERM > trapped; exit 3' TERM";

/// The keepers of these resources (processes of our binary running `__keep`), SIGKILLed when
/// the test ends, however it ends, so no process outlives it.
struct Keepers(Vec<String>);

impl Keepers {
    fn of(resources: &[&str]) -> Keepers {
        Keepers(resources.iter().map(|r| r.to_string()).collect())
    }

    /// The pids of the keepers of `resource` now.
    fn pids(resource: &str) -> Vec<u32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let argv: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
                argv.first() == Some(&BIN.as_bytes())
                    && argv.get(1) == Some(&&b"__keep"[..])
                    && argv
                        .windows(2)
                        .any(|w| w[0] == b"--resource" && w[1] == resource.as_bytes())
            })
            .collect()
    }
}

impl Drop for Keepers {
    fn drop(&mut self) {
        for r in &self.0 {
            for pid in Keepers::pids(r) {
                // SAFETY: kill(2) only reads its two integer arguments.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
    }
}

/// A shell script running in `dir` against `cluster`, with `$RL` our binary; its stdout and
/// stderr go to files `out` and `err` in `dir` (regular files: a keeper keeps such a stderr).
struct Script {
    child: Child,
    dir: PathBuf,
}

impl Script {
    fn start(cluster: &Cluster, dir: &Path, body: &str) -> Script {
        let file = |name: &str| std::fs::File::create(dir.join(name)).expect("output file");
        let child = scrubbed("sh")
            .args(["-c", &format!("{WAIT_FOR}\n{body}")])
            .current_dir(dir)
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("RL", BIN)
            .stdin(Stdio::null())
            .stdout(file("out"))
            .stderr(file("err"))
            .spawn()
            .expect("spawn sh");
        Script {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// A script that holds a lock: `tok=$(ACQUIRE) || exit 9`, the token written to file `tok`,
    /// then `rest`. Returns once the token is written, with it.
    fn holding(cluster: &Cluster, dir: &Path, acquire: &str, rest: &str) -> (Script, String) {
        Script::holding_after("", cluster, dir, acquire, rest)
    }

    /// [`Script::holding`], with [`TRAP_TERM`] set before the lock is taken.
    fn holding_with_term_trap(cluster: &Cluster, dir: &Path, acquire: &str, rest: &str) -> (Script, String) {
        Script::holding_after(TRAP_TERM, cluster, dir, acquire, rest)
    }

    fn holding_after(
        first: &str,
        cluster: &Cluster,
        dir: &Path,
        acquire: &str,
        rest: &str,
    ) -> (Script, String) {
        let body = format!("{first}\ntok=$({acquire}) || exit 9\necho \"$tok\" > tok\n{rest}");
        let script = Script::start(cluster, dir, &body);
        let tok = script.file("tok");
        (script, tok)
    }

    /// The contents of file `name` in the script's directory, once it exists.
    fn file(&self, name: &str) -> String {
        let path = self.dir.join(name);
        wait_until(
            &format!("{name} from the script ({})", self.stderr()),
            LIMIT,
            || path.exists(),
        );
        // Written with `echo … > f`: wait for the whole line.
        wait_until(&format!("a line in {name}"), LIMIT, || {
            std::fs::read_to_string(&path).is_ok_and(|t| t.ends_with('\n'))
        });
        std::fs::read_to_string(&path).expect("read").trim().to_string()
    }

    fn touch(&self, name: &str) {
        std::fs::write(self.dir.join(name), "").expect("touch");
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("err")).unwrap_or_default()
    }

    fn exit_code(&mut self) -> Option<i32> {
        let status = procs::wait_timeout(&mut self.child, LIMIT)
            .unwrap_or_else(|| panic!("the script is still running; stderr: {}", self.stderr()));
        status.code()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether `resource` is free on every instance.
fn free(cluster: &Cluster, resource: &str) -> bool {
    cluster
        .servers
        .iter()
        .all(|s| holder_token(&mut s.conn(), resource).is_none())
}

/// Waits, for at most SOON each, until `resource` is free and its keeper has ended.
fn wait_freed(cluster: &Cluster, resource: &str) {
    wait_until("the lock to be free", SOON, || free(cluster, resource));
    wait_until("the keeper to end", SOON, || Keepers::pids(resource).is_empty());
}

/// A stranger's `run -n` on `resource`: 75 while it is held.
fn stranger_gets(cluster: &Cluster, resource: &str) -> i32 {
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["run", "-n", "-q", "-r", resource, "--", "true"]),
        LIMIT,
    );
    out.code.unwrap_or(-1)
}

fn rl(cluster: &Cluster, args: &[&str]) -> support::procs::Out {
    run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args(args),
        LIMIT,
    )
}

#[test]
fn a_script_holds_the_lock_past_several_ttls_and_its_release_ends_the_keeper_quietly() {
    let (cluster, _keepers, dir) = world(&["held-long"]);
    let (mut script, tok) = Script::holding(
        &cluster,
        dir.path(),
        r#""$RL" acquire -r held-long -t 1s"#,
        r#"wait_for release
           "$RL" release -r held-long --token "$tok"; echo "$?" > released
           wait_for done
           echo "still running" > after"#,
    );
    let keepers = Keepers::pids("held-long");
    assert_eq!(keepers.len(), 1, "one keeper");
    // inspect shows that the keeper renews it, and for whom.
    let owner = script.child.id();
    wait_until("inspect to show the keeper", SOON, || {
        let out = rl(&cluster, &["inspect", "-r", "held-long"]);
        out.stdout.contains(&format!(
            "kept: {tok} is renewed by keeper pid {} on ",
            keepers[0]
        )) && out
            .stdout
            .contains(&format!("for its owner, pid {owner} (sh -c "))
    });
    let json = rl(&cluster, &["inspect", "-r", "held-long", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["keepers"][0]["keeper_pid"], keepers[0], "{json:?}");
    assert_eq!(v["keepers"][0]["owner_pid"], owner, "{json:?}");
    // Four ttls: nothing but the keeper renews it.
    procs::throughout(Duration::from_secs(4), Duration::from_millis(100), || {
        assert_eq!(stranger_gets(&cluster, "held-long"), 75, "{}", script.stderr());
        true
    });
    script.touch("release");
    assert_eq!(script.file("released"), "0", "{}", script.stderr());
    assert!(free(&cluster, "held-long"));
    assert!(Keepers::pids("held-long").is_empty(), "release ended the keeper");
    script.touch("done");
    // The owner was not signalled, and nothing was said about a loss.
    assert_eq!(script.file("after"), "still running");
    assert_eq!(script.exit_code(), Some(0));
    assert!(!script.stderr().contains("redlock:"), "{}", script.stderr());
    // The token holds nothing now, and says so plainly (no loss).
    let out = rl(&cluster, &["release", "-r", "held-long", "--token", &tok]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(!out.stderr.contains("lost"), "{out:?}");
}

#[test]
fn a_script_that_exits_without_releasing_frees_the_lock_within_a_second() {
    let (cluster, _keepers, dir) = world(&["forgot"]);
    // A 30 s ttl: an expired lease cannot be mistaken for the keeper's release.
    let (mut script, _) = Script::holding(
        &cluster,
        dir.path(),
        r#""$RL" acquire -r forgot -t 30s"#,
        "wait_for go",
    );
    assert!(!free(&cluster, "forgot"));
    script.touch("go");
    assert_eq!(script.exit_code(), Some(0));
    let exited = Instant::now();
    wait_until("the lock to be free", SOON, || free(&cluster, "forgot"));
    assert!(exited.elapsed() < SOON);
    wait_until("the keeper to end", SOON, || Keepers::pids("forgot").is_empty());
    assert_eq!(stranger_gets(&cluster, "forgot"), 0);
}

#[test]
fn an_owner_killed_with_sigkill_frees_the_lock() {
    let (cluster, _keepers, dir) = world(&["crash"]);
    let (mut script, _) = Script::holding(
        &cluster,
        dir.path(),
        r#""$RL" acquire -r crash -t 30s"#,
        "wait_for never",
    );
    procs::signal(script.child.id(), libc::SIGKILL);
    let _ = procs::wait_timeout(&mut script.child, LIMIT).expect("killed");
    wait_freed(&cluster, "crash");
}

#[test]
fn owner_names_the_process_the_hold_lasts_for() {
    let cluster = Cluster::start(3);
    let _keepers = Keepers::of(&["owned"]);
    let mut owner = scrubbed("sleep").arg("60").spawn().expect("sleep");
    let pid = owner.id().to_string();
    let out = rl(
        &cluster,
        &["acquire", "-r", "owned", "-t", "30s", "--owner", &pid],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Keepers::pids("owned").len(), 1);
    // The holder record shows the owner, not the test that ran acquire.
    let json = rl(&cluster, &["inspect", "-r", "owned", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["holder"]["pid"].to_string(), pid, "{json:?}");
    assert_eq!(v["holder"]["command"], "sleep 60", "{json:?}");
    let _ = owner.kill();
    let _ = owner.wait();
    wait_until("the lock to be free", SOON, || free(&cluster, "owned"));
    // A pid that runs nothing is a usage error; --owner and --no-keep exclude each other.
    let out = rl(&cluster, &["acquire", "-r", "owned", "--owner", "999999999"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = rl(
        &cluster,
        &["acquire", "-r", "owned", "--owner", &pid, "--no-keep"],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(free(&cluster, "owned"));
}

#[test]
fn a_wrapper_such_as_timeout_is_looked_through_to_the_script() {
    let (cluster, _keepers, dir) = world(&["wrapped"]);
    let (mut script, _) = Script::holding(
        &cluster,
        dir.path(),
        r#"timeout 20 "$RL" acquire -r wrapped -t 30s"#,
        "wait_for go",
    );
    // `timeout` exited with acquire; the hold lasts for the script.
    procs::throughout(Duration::from_millis(1500), Duration::from_millis(50), || {
        assert!(!free(&cluster, "wrapped"), "released with timeout's exit");
        true
    });
    script.touch("go");
    assert_eq!(script.exit_code(), Some(0));
    wait_freed(&cluster, "wrapped");
}

#[test]
fn no_keep_is_a_bare_lease_that_expires_while_its_owner_lives() {
    let (cluster, _keepers, dir) = world(&["bare"]);
    let (mut script, _) = Script::holding(
        &cluster,
        dir.path(),
        r#""$RL" acquire --no-keep -r bare -t 1s"#,
        "wait_for go",
    );
    assert!(Keepers::pids("bare").is_empty(), "no keeper");
    wait_until("the lease to expire", SOON, || free(&cluster, "bare"));
    assert!(
        script.child.try_wait().expect("try_wait").is_none(),
        "the owner still runs"
    );
    script.touch("go");
    assert_eq!(script.exit_code(), Some(0));
}

#[test]
fn a_lost_quorum_sends_the_owner_sigterm_and_says_so() {
    let (cluster, _keepers, dir) = world(&["lost"]);
    let (mut script, tok) = Script::holding_with_term_trap(
        &cluster,
        dir.path(),
        r#""$RL" acquire -r lost -t 2s"#,
        "wait_for never",
    );
    cluster.servers[0].pause();
    cluster.servers[1].pause();
    let code = script.exit_code();
    cluster.servers[0].resume();
    cluster.servers[1].resume();
    assert_eq!(code, Some(3), "the trap ran: {}", script.stderr());
    assert_eq!(script.file("trapped"), "TERM");
    let stderr = script.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("redlock: ")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("lock 'lost'") && lines[0].contains("lost"),
        "{stderr}"
    );
    wait_until("the keeper to end", SOON, || Keepers::pids("lost").is_empty());
    // extend and release say when and why.
    for args in [
        &["extend", "-r", "lost", "--token", &tok][..],
        &["release", "-r", "lost", "--token", &tok],
    ] {
        let out = rl(&cluster, args);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stderr.contains("was lost at"), "{out:?}");
        assert!(out.stderr.contains("no renewal reached a quorum"), "{out:?}");
    }
}

#[test]
fn acquire_returns_at_once_in_command_substitutions_and_pipelines() {
    let (cluster, _keepers, dir) = world(&["sub", "sub-2", "sub-3"]);
    // Each step's time in ms; a keeper that kept the pipe would hang the script until it ends
    // (its own end, which never comes).
    let out = run(
        scrubbed("sh")
            .args([
                "-c",
                r#"ms() { echo $(( $(date +%s%N) / 1000000 )); }
                   t=$(ms); tok=$("$RL" acquire -r sub) || exit 9; echo "plain $(( $(ms) - t ))"
                   t=$(ms); out=$("$RL" acquire -r sub-2 2>&1) || exit 9; echo "captured $(( $(ms) - t ))"
                   t=$(ms); "$RL" acquire -r sub-3 2>&1 | cat >/dev/null; echo "piped $(( $(ms) - t ))"
                   echo "$tok $out""#,
            ])
            .current_dir(dir.path())
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("RL", BIN),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    for step in ["plain", "captured", "piped"] {
        let ms: u64 = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{step} ")))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no {step} line: {out:?}"));
        assert!(ms < 5000, "{step} took {ms} ms: {out:?}");
    }
    // The token, alone, was captured even with stderr.
    let last = out.stdout.lines().last().unwrap_or("");
    assert!(last.split(' ').all(|t| t.len() == 32), "{out:?}");
    // The script has ended: so have the holds.
    for r in ["sub", "sub-2", "sub-3"] {
        wait_freed(&cluster, r);
    }
}

#[test]
fn reentry_under_a_kept_hold_keeps_the_keeper_and_extend_works() {
    let (cluster, _keepers, dir) = world(&["nested"]);
    let mut script = Script::start(
        &cluster,
        dir.path(),
        r#"REDLOCK_TOKEN=$("$RL" acquire -r nested -t 1s) || exit 9
           export REDLOCK_TOKEN
           "$RL" run -r nested -- true || exit 8
           "$RL" acquire -r nested >/dev/null || exit 7
           "$RL" release -r nested || exit 6
           "$RL" extend -r nested -t 1s || exit 5
           echo "$REDLOCK_TOKEN" > tok
           wait_for go"#,
    );
    script.file("tok");
    assert_eq!(Keepers::pids("nested").len(), 1, "{}", script.stderr());
    // Dropping the re-entered holds left the keeper renewing: held past two ttls.
    procs::throughout(Duration::from_millis(2500), Duration::from_millis(100), || {
        assert_eq!(stranger_gets(&cluster, "nested"), 75, "{}", script.stderr());
        true
    });
    script.touch("go");
    assert_eq!(script.exit_code(), Some(0), "{}", script.stderr());
    wait_freed(&cluster, "nested");
}

#[test]
fn a_keeper_that_cannot_start_leaves_no_lock_and_says_why() {
    let (cluster, _keepers, dir) = world(&["unkept"]);
    // The keeper's record goes in $XDG_RUNTIME_DIR/redlock: a file there, not a directory.
    std::fs::write(dir.path().join("redlock"), "").expect("a file in the way");
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("XDG_RUNTIME_DIR", dir.path())
            .args(["acquire", "-r", "unkept"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "no token: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.starts_with("redlock: cannot keep lock 'unkept' (") && out.stderr.contains("--no-keep"),
        "{out:?}"
    );
    assert!(free(&cluster, "unkept"), "released again");
    assert!(Keepers::pids("unkept").is_empty());
}

#[test]
fn the_keeper_keeps_no_descriptor_of_its_caller_open() {
    let (cluster, _keepers, dir) = world(&["fds"]);
    // A script holding a flock on fd 9 while it acquires: once it closes fd 9, the flock must
    // be free, which it is not while any process (a keeper) still has the file open.
    let mut script = Script::start(
        &cluster,
        dir.path(),
        r#"exec 9>flock-file; flock 9
           tok=$("$RL" acquire -r fds) || exit 9
           exec 9>&-
           flock -n flock-file true; echo "$?" > flock-free
           wait_for go"#,
    );
    assert_eq!(script.file("flock-free"), "0", "{}", script.stderr());
    assert_eq!(Keepers::pids("fds").len(), 1);
    script.touch("go");
    assert_eq!(script.exit_code(), Some(0));
    wait_freed(&cluster, "fds");
}

#[test]
fn ps_shows_neither_the_password_nor_the_token_of_a_keeper() {
    let server = support::redis::RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
    let _keepers = Keepers::of(&["secret"]);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", server.port());
    let mut owner = scrubbed("sleep").arg("60").spawn().expect("sleep");
    let pid = owner.id().to_string();
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &url)
            .args(["acquire", "-r", "secret", "--owner", &pid]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let token = out.stdout.trim();
    let keepers = Keepers::pids("secret");
    assert_eq!(keepers.len(), 1);
    let argv = std::fs::read(format!("/proc/{}/cmdline", keepers[0])).expect("cmdline");
    let argv = String::from_utf8_lossy(&argv);
    assert!(!argv.contains("s3cret-pw") && !argv.contains(token), "{argv}");
    // It renews with the password all the same, and lets go with its owner.
    let _ = owner.kill();
    let _ = owner.wait();
    wait_until("the keeper to end", SOON, || Keepers::pids("secret").is_empty());
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("connect");
    assert_eq!(holder_token(&mut conn, "secret"), None);
}

#[test]
fn a_keeper_stopped_by_someone_else_tells_the_owner() {
    let (cluster, _keepers, dir) = world(&["stopped"]);
    let (mut script, tok) = Script::holding_with_term_trap(
        &cluster,
        dir.path(),
        r#""$RL" acquire -r stopped -t 30s"#,
        "wait_for never",
    );
    let keepers = Keepers::pids("stopped");
    assert_eq!(keepers.len(), 1);
    procs::signal(keepers[0], libc::SIGTERM);
    assert_eq!(script.exit_code(), Some(3), "{}", script.stderr());
    assert!(
        script.stderr().contains("its keeper was stopped by SIGTERM"),
        "{}",
        script.stderr()
    );
    // Nobody keeps it any more, so it is not left held for its 30 s.
    wait_until("the lock to be free", SOON, || free(&cluster, "stopped"));
    // release tells what happened (and clears the keeper's record).
    let out = rl(&cluster, &["release", "-r", "stopped", "--token", &tok]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("its keeper was stopped by SIGTERM"),
        "{out:?}"
    );
}
