//! `acquire`, `extend` and `release` as a script meets them: output, environment, every exit
//! code these commands return, and bad input refused with exit 2 and clap's message.

mod support;

use std::time::Duration;

use support::engine::holder_token;
use support::procs::{redlock, run, scrubbed, Out};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(20);

fn rl(cluster: &Cluster, args: &[&str]) -> Out {
    run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args(args),
        LIMIT,
    )
}

fn assert_clean_failure(out: &Out, code: i32) {
    assert_eq!(out.code, Some(code), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    assert!(!out.stderr.contains("RUST_BACKTRACE"), "{out:?}");
}

#[test]
fn acquire_prints_a_128_bit_token_and_release_frees_it() {
    let cluster = Cluster::start(3);
    let out = rl(&cluster, &["acquire", "--no-keep", "-r", "job"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let token = out.stdout.trim();
    assert_eq!(token.len(), 32, "{token}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        holder_token(&mut cluster.servers[0].conn(), "job").as_deref(),
        Some(token)
    );
    let out = rl(&cluster, &["release", "-r", "job", "--token", token]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(holder_token(&mut cluster.servers[0].conn(), "job"), None);
}

#[test]
fn acquire_json_has_the_documented_fields() {
    let cluster = Cluster::start(3);
    let out = rl(
        &cluster,
        &["acquire", "--no-keep", "-r", "job", "--json", "--ttl", "10s"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    assert_eq!(v["resource"], "job");
    assert_eq!(v["ttl_ms"], 10_000);
    assert!(v["token"].as_str().is_some_and(|t| t.len() == 32));
    assert!(v["fence"].as_u64().is_some_and(|f| f >= 1));
    assert!(
        v["validity_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 9_000 && ms < 10_000),
        "{v}"
    );
}

#[test]
fn the_holders_token_reenters_and_needs_two_releases() {
    let cluster = Cluster::start(3);
    let tok = rl(&cluster, &["acquire", "--no-keep", "-r", "nest"])
        .stdout
        .trim()
        .to_string();
    let again = rl(
        &cluster,
        &["acquire", "--no-keep", "-r", "nest", "--token", &tok, "-n"],
    );
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.stdout.trim(), tok, "re-entry prints the same token");
    // REDLOCK_TOKEN stands in for --token.
    let release = |c: &Cluster| {
        run(
            redlock()
                .env("REDLOCK_SERVERS", c.servers_arg())
                .env("REDLOCK_TOKEN", &tok)
                .args(["release", "-r", "nest"]),
            LIMIT,
        )
    };
    assert_eq!(release(&cluster).code, Some(0));
    assert_eq!(
        rl(&cluster, &["acquire", "--no-keep", "-r", "nest", "-n"]).code,
        Some(75),
        "still held once"
    );
    assert_eq!(release(&cluster).code, Some(0));
    assert_eq!(
        rl(&cluster, &["acquire", "--no-keep", "-r", "nest", "-n"]).code,
        Some(0),
        "free after two releases"
    );
}

#[test]
fn no_wait_exits_75_when_held_naming_the_holder() {
    let cluster = Cluster::start(3);
    rl(&cluster, &["acquire", "--no-keep", "-r", "busy"]);
    let out = rl(&cluster, &["acquire", "--no-keep", "-r", "busy", "--no-wait"]);
    assert_clean_failure(&out, 75);
    assert!(
        out.stderr.starts_with("redlock: lock 'busy' is held by "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(" pid "), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);
    assert!(out.stdout.is_empty());
    let quiet = rl(&cluster, &["acquire", "--no-keep", "-r", "busy", "-n", "-q"]);
    assert_eq!(quiet.code, Some(75));
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
}

#[test]
fn conflict_exit_code_replaces_75() {
    let cluster = Cluster::start(1);
    rl(&cluster, &["acquire", "--no-keep", "-r", "busy"]);
    assert_eq!(
        rl(&cluster, &["acquire", "--no-keep", "-r", "busy", "-n", "-E", "3"]).code,
        Some(3)
    );
    assert_eq!(
        rl(&cluster, &["acquire", "--no-keep", "-r", "busy", "-n", "-E", "0"]).code,
        Some(0)
    );
}

#[test]
fn wait_gives_up_with_75_after_about_the_wait() {
    let cluster = Cluster::start(3);
    rl(&cluster, &["acquire", "--no-keep", "-r", "busy"]);
    let out = rl(
        &cluster,
        &["acquire", "--no-keep", "-r", "busy", "--wait", "500ms"],
    );
    assert_clean_failure(&out, 75);
    assert!(out.elapsed >= Duration::from_millis(500), "{:?}", out.elapsed);
}

#[test]
fn release_with_another_token_exits_1_and_says_who_holds_it() {
    let cluster = Cluster::start(3);
    let tok = rl(&cluster, &["acquire", "--no-keep", "-r", "mine"])
        .stdout
        .trim()
        .to_string();
    let out = rl(&cluster, &["release", "-r", "mine", "--token", "not-the-holder"]);
    assert_clean_failure(&out, 1);
    assert!(
        out.stderr.contains("is held by") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(
        holder_token(&mut cluster.servers[1].conn(), "mine").as_deref(),
        Some(tok.as_str())
    );
    let out = rl(&cluster, &["extend", "-r", "mine", "--token", "not-the-holder"]);
    assert_clean_failure(&out, 1);
    assert!(
        out.stderr
            .starts_with("redlock: lock 'mine' is not held by that token"),
        "{}",
        out.stderr
    );
}

#[test]
fn releasing_a_free_lock_exits_1() {
    let cluster = Cluster::start(3);
    let out = rl(&cluster, &["release", "-r", "nothing", "--token", "t"]);
    assert_clean_failure(&out, 1);
    assert!(out.stderr.contains("free"), "{}", out.stderr);
}

#[test]
fn extend_renews_for_the_holder() {
    let cluster = Cluster::start(3);
    let tok = rl(&cluster, &["acquire", "--no-keep", "-r", "ext", "--ttl", "2s"])
        .stdout
        .trim()
        .to_string();
    let out = rl(&cluster, &["extend", "-r", "ext", "--token", &tok, "--ttl", "1m"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let pttl: i64 = redis::cmd("PTTL")
        .arg("redlock:lock:ext")
        .query(&mut cluster.servers[0].conn())
        .unwrap();
    assert!(pttl > 50_000, "{pttl}");
}

#[test]
fn force_release_breaks_any_holder_and_prints_who_it_was() {
    let cluster = Cluster::start(3);
    let tok = rl(&cluster, &["acquire", "--no-keep", "-r", "stuck"])
        .stdout
        .trim()
        .to_string();
    let out = rl(&cluster, &["release", "-r", "stuck", "--force"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&tok), "{}", out.stdout);
    assert_eq!(
        rl(&cluster, &["acquire", "--no-keep", "-r", "stuck", "-n"]).code,
        Some(0)
    );
}

#[test]
fn an_unreachable_quorum_exits_69_fast_without_showing_the_password() {
    let live = RedisServer::start();
    let dead = [free_port(), free_port()];
    let servers = format!(
        "{},redis://:hunter2@127.0.0.1:{},redis://user:hunter2@127.0.0.1:{}",
        live.url(),
        dead[0],
        dead[1]
    );
    for verbose in [false, true] {
        let mut cmd = redlock();
        cmd.args(["acquire", "--no-keep", "-r", "x", "--wait", "1h", "-s", &servers]);
        if verbose {
            cmd.arg("-v");
        }
        let out = run(&mut cmd, LIMIT);
        assert_clean_failure(&out, 69);
        assert!(
            out.elapsed < Duration::from_secs(2),
            "waiting is for holders, not servers: {:?}",
            out.elapsed
        );
        assert!(
            out.stderr.contains(&dead[0].to_string()) && out.stderr.contains(&dead[1].to_string()),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains(":***@"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(
        holder_token(&mut live.conn(), "x"),
        None,
        "the partial hold was undone"
    );
    for cmd in [
        &["release", "-r", "x", "--token", "t"][..],
        &["release", "-r", "x", "--force"],
        &["extend", "-r", "x", "--token", "t"],
    ] {
        let out = run(redlock().args(cmd).args(["-s", &servers]), LIMIT);
        assert_clean_failure(&out, 69);
    }
}

#[test]
fn global_options_work_before_or_after_the_subcommand() {
    let cluster = Cluster::start(1);
    let url = cluster.urls()[0].clone();
    let before = run(
        redlock().args(["-s", &url, "--prefix", "app:", "acquire", "--no-keep", "-r", "g"]),
        LIMIT,
    );
    assert_eq!(before.code, Some(0), "{before:?}");
    let after = run(
        redlock().args([
            "acquire",
            "--no-keep",
            "-r",
            "g",
            "-n",
            "--prefix",
            "app:",
            "-s",
            &url,
        ]),
        LIMIT,
    );
    assert_eq!(after.code, Some(75), "same prefix, same lock: {after:?}");
    let exists: i64 = redis::cmd("EXISTS")
        .arg("app:lock:g")
        .query(&mut cluster.servers[0].conn())
        .unwrap();
    assert_eq!(exists, 1, "keys live under the prefix");
}

#[test]
fn eight_processes_increment_a_counter_without_losing_an_update() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("counter");
    let log = dir.path().join("log");
    std::fs::write(&counter, "0").unwrap();
    const PROCS: usize = 8;
    const ROUNDS: usize = 8;
    let script = format!(
        r#"for i in $(seq {ROUNDS}); do
             tok=$("$RL" acquire -r counter --wait 60s) || exit 9
             echo "enter $$" >> "{log}"
             n=$(cat "{counter}"); sleep 0.01; echo $((n + 1)) > "{counter}"
             echo "exit $$" >> "{log}"
             "$RL" release -r counter --token "$tok" || exit 8
           done"#,
        log = log.display(),
        counter = counter.display()
    );
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            scrubbed("sh")
                .args(["-c", &script])
                .env("REDLOCK_SERVERS", cluster.servers_arg())
                .env("RL", env!("CARGO_BIN_EXE_redlock"))
                .spawn()
                .expect("sh")
        })
        .collect();
    for mut child in children {
        let status =
            support::procs::wait_timeout(&mut child, Duration::from_secs(120)).expect("a worker hung");
        assert!(status.success(), "worker failed: {status:?}");
    }
    let total: usize = std::fs::read_to_string(&counter).unwrap().trim().parse().unwrap();
    assert_eq!(total, PROCS * ROUNDS);
    // Enter and exit lines strictly alternate, each exit by the process that entered.
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 2 * PROCS * ROUNDS);
    for pair in lines.chunks(2) {
        let (enter, exit) = (&pair[0], &pair[1]);
        assert!(
            enter.starts_with("enter ") && exit.starts_with("exit "),
            "overlap: {pair:?}"
        );
        assert_eq!(enter[6..], exit[5..], "overlap: {pair:?}");
    }
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let long_name = "x".repeat(513);
    let long_token = "t".repeat(300);
    let cases: &[&[&str]] = &[
        &["acquire"],                                                          // no resource
        &["acquire", "--no-keep", "-r", ""],                                   // empty resource
        &["acquire", "--no-keep", "-r", "a\u{7}b"],                            // control character
        &["acquire", "--no-keep", "-r", &long_name],                           // over 512 bytes
        &["acquire", "--no-keep", "-r", "x", "--ttl", "0s"],                   // zero ttl
        &["acquire", "--no-keep", "-r", "x", "--ttl", "-5s"],                  // negative
        &["acquire", "--no-keep", "-r", "x", "--ttl", "soon"],                 // garbage
        &["acquire", "--no-keep", "-r", "x", "--ttl", "100000000y"],           // huge
        &["acquire", "--no-keep", "-r", "x", "--wait", "1x"],                  // bad unit
        &["acquire", "--no-keep", "-r", "x", "-n", "--wait", "5s"],            // conflicting flags
        &["acquire", "--no-keep", "-r", "x", "-E", "256"],                     // exit code out of range
        &["acquire", "--no-keep", "-r", "x", "--token", ""],                   // empty token
        &["acquire", "--no-keep", "-r", "x", "--token", &long_token],          // huge token
        &["acquire", "--no-keep", "-r", "x", "-s", "http://127.0.0.1"],        // bad scheme
        &["acquire", "--no-keep", "-r", "x", "-s", "redis://127.0.0.1:99999"], // bad port
        &["acquire", "--no-keep", "-r", "x", "-s", "redis://:6379"],           // empty host
        &["acquire", "--no-keep", "-r", "x", "-s", "redis://h?timeout=5"],     // unknown query parameter
        &["acquire", "--no-keep", "-r", "x", "-s", "redis://h/db"],            // bad database
        &["acquire", "--no-keep", "-r", "x", "-s", "redis://a:1,redis://a:1"], // listed twice
        &["acquire", "--no-keep", "-r", "x", "--prefix", "my app:"],           // prefix with a space
        &["acquire", "--no-keep", "-r", "x", "--connect-timeout", "0ms"],      // zero timeout
        &["release", "-r", "x"],                                               // neither token nor force
        &["release", "-r", "x", "--token", "t", "--force"],                    // both
        &["extend", "-r", "x"],                                                // no token
        &["acquire", "--no-keep", "-r", "x", "-v", "-q"],                      // verbose and quiet
        &["frobnicate"],                                                       // unknown subcommand
        &["acquire", "--no-keep", "-r", "x", "--bogus"],                       // unknown flag
        &["completions", "tcsh"],                                              // unknown shell
    ];
    for args in cases {
        let out = run(redlock().args(*args), LIMIT);
        assert_clean_failure(&out, 2);
        assert!(out.stderr.starts_with("error: "), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_resource_name_that_is_not_utf8_exits_2() {
    use std::os::unix::ffi::OsStrExt;
    let out = run(
        redlock()
            .arg("acquire")
            .arg("-r")
            .arg(std::ffi::OsStr::from_bytes(b"bad\xffname")),
        LIMIT,
    );
    assert_clean_failure(&out, 2);
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

#[test]
fn a_signal_while_waiting_exits_130_or_143_and_leaves_no_hold() {
    let cluster = Cluster::start(3);
    let holder = rl(&cluster, &["acquire", "--no-keep", "-r", "held"])
        .stdout
        .trim()
        .to_string();
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        // A token of its own each time, so the first waiter's place is not taken for the second's.
        let token = format!("waiter-{code}");
        let mut waiter = redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .args(["acquire", "--no-keep", "-r", "held", "--token", &token, "-q"])
            .spawn()
            .expect("spawn");
        cluster.wait_token_queued("held", &token);
        support::procs::signal(waiter.id(), sig);
        let status = support::procs::wait_timeout(&mut waiter, Duration::from_secs(5)).expect("exits");
        assert_eq!(status.code(), Some(code));
    }
    for s in &cluster.servers {
        assert_eq!(
            holder_token(&mut s.conn(), "held").as_deref(),
            Some(holder.as_str())
        );
    }
}

#[test]
fn verbose_prints_each_instance_with_timings() {
    let cluster = Cluster::start(3);
    let out = rl(&cluster, &["acquire", "--no-keep", "-r", "v", "-v"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // The round ends once a quorum granted it, so at least 2 of the 3 are reported as they
    // answer (the last one as not waited for, and when it answers, after the round).
    let reported = cluster
        .urls()
        .iter()
        .filter(|url| out.stderr.contains(&format!(" acquire: {url} ok after ")))
        .count();
    assert!(reported >= 2, "{}", out.stderr);
    // Every debug line carries the time since the command started (`+12.3ms`).
    for line in out.stderr.lines().filter(|l| l.starts_with("redlock: debug: ")) {
        assert!(line.starts_with("redlock: debug: +"), "{line}");
    }
    assert!(out.stderr.contains("round done in"), "{}", out.stderr);
}

#[test]
fn every_subcommand_prints_the_same_version_as_redlock() {
    let top = run(redlock().arg("--version"), Duration::from_secs(10));
    assert_eq!(top.code, Some(0), "{top:?}");
    assert!(top.stdout.starts_with("redlock "), "{top:?}");
    for sub in ["run", "acquire", "extend", "release", "inspect", "completions"] {
        for flag in ["--version", "-V"] {
            let out = run(redlock().args([sub, flag]), Duration::from_secs(10));
            assert_eq!(out.code, Some(0), "{sub} {flag}: {out:?}");
            assert_eq!(out.stdout, top.stdout, "{sub} {flag}");
        }
    }
}

#[test]
fn usage_lines_show_server_as_optional() {
    for args in [
        &["-s", "redis://127.0.0.1:1", "run", "-r", "x"][..],
        &["run", "-s", "redis://127.0.0.1:1", "--frobnicate"][..],
        &["acquire", "--no-keep", "-s", "redis://127.0.0.1:1"][..],
        &["release", "-s", "redis://127.0.0.1:1", "-r", "x"][..],
        &["extend", "-s", "redis://127.0.0.1:1", "-r", "x"][..],
    ] {
        let out = run(redlock().args(args), Duration::from_secs(10));
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        let usage = out
            .stderr
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .unwrap_or_else(|| panic!("a usage line: {out:?}"));
        assert!(!usage.contains("--server"), "{args:?}: {usage}");
        assert!(usage.contains("[OPTIONS]"), "{args:?}: {usage}");
    }
}
