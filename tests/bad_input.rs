//! Bad input, table-driven (issue 7, part 2): every invocation below is refused with the
//! contract's exit code and message form, never a panic, and leaves no lock on any instance.
//! Usage errors (exit 2) must not even open a connection to a server; the cases that do reach
//! one (a server that speaks HTTP, a lease too short to be valid) undo what they took.

mod fake;
mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::Duration;

use fake::{Behaviour, FakeServer};
use support::procs::{redlock, run, scrubbed, Out};
use support::redis::{Cluster, RedisServer};

/// Bound on any one invocation (it panics past this).
const LIMIT: Duration = Duration::from_secs(20);
/// Waiting is for a holder, never for servers: a server that is not Redis costs about the
/// connect and op timeouts (250 ms each), far below this.
const UNAVAILABLE_WITHIN: Duration = Duration::from_secs(3);

/// One row of the table.
struct Case {
    what: &'static str,
    /// Arguments after `redlock`; or, when `shell` is set, a `sh -c` script that calls `"$RL"`.
    args: Vec<OsString>,
    shell: Option<&'static str>,
    env: Vec<(&'static str, OsString)>,
    code: i32,
    /// A piece of the message that says what was wrong.
    says: String,
}

fn case(what: &'static str, args: &[&str], code: i32, says: impl Into<String>) -> Case {
    Case {
        what,
        args: args.iter().map(OsString::from).collect(),
        shell: None,
        env: vec![],
        code,
        says: says.into(),
    }
}

fn with_env(mut c: Case, key: &'static str, value: impl Into<OsString>) -> Case {
    c.env.push((key, value.into()));
    c
}

fn in_shell(what: &'static str, script: &'static str, says: &'static str) -> Case {
    Case {
        what,
        args: vec![],
        shell: Some(script),
        env: vec![],
        code: 2,
        says: says.into(),
    }
}

/// Runs a case with `REDLOCK_SERVERS` set to `servers` (flags may override it) and checks
/// the code, the message form, and that nothing panicked or leaked a password.
fn check(c: &Case, servers: &str, dir: &Path) -> Out {
    let mut cmd = match c.shell {
        Some(script) => {
            let mut sh = scrubbed("sh");
            sh.args(["-c", script]).env("RL", env!("CARGO_BIN_EXE_redlock"));
            sh
        }
        None => {
            let mut rl = redlock();
            rl.args(&c.args);
            rl
        }
    };
    cmd.current_dir(dir).env("REDLOCK_SERVERS", servers);
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd, LIMIT);
    let ctx = format!("{}: {:?}\n{out:?}", c.what, c.args);
    assert_eq!(out.code, Some(c.code), "{ctx}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "hunter2"] {
        assert!(
            !out.stderr.contains(bad) && !out.stdout.contains(bad),
            "{bad} in output: {ctx}"
        );
    }
    assert!(out.stdout.is_empty(), "{ctx}");
    let first = out.stderr.lines().next().unwrap_or_default();
    if c.code == 2 {
        // clap's usual form: `error: …`, then usage lines.
        assert!(first.starts_with("error: "), "{ctx}");
    } else {
        assert_eq!(out.stderr.lines().count(), 1, "one line: {ctx}");
        assert!(first.starts_with("redlock: "), "{ctx}");
    }
    assert!(
        out.stderr.contains(&c.says),
        "expected {:?} in the message: {ctx}",
        c.says
    );
    out
}

/// Connections each server has accepted since it started.
fn connections(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(conn).expect("INFO stats");
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_connections_received in INFO")
}

/// Lock keys (as opposed to fence counters, which never expire by design) on a server.
fn lock_keys(server: &RedisServer) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut server.conn())
        .expect("KEYS");
    // The fence counters, and since when an instance remembers a resource, outlive every lock
    // by design.
    keys.into_iter()
        .filter(|k| !k.contains(":fence:") && !k.contains(":data-since:"))
        .collect()
}

#[test]
fn every_bad_input_exits_2_in_clap_form_without_touching_a_server() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = usage_error_cases();
    assert!(
        cases.len() >= 40,
        "the issue asks for at least 40 invocations, have {}",
        cases.len()
    );

    let mut probes: Vec<redis::Connection> = cluster.servers.iter().map(RedisServer::conn).collect();
    let before: Vec<u64> = probes.iter_mut().map(connections).collect();
    for c in &cases {
        // REDLOCK_SERVERS from a case's env overrides the cluster's (the later `env` wins).
        check(c, &cluster.servers_arg(), dir.path());
    }
    let after: Vec<u64> = probes.iter_mut().map(connections).collect();
    assert_eq!(before, after, "a usage error opened a connection to a server");
    assert!(
        !dir.path().join("ran").exists(),
        "a refused `run` started its command"
    );
    for s in &cluster.servers {
        assert_eq!(lock_keys(s), Vec::<String>::new());
    }
    eprintln!(
        "bad input: {} invocations refused with exit 2, no server contacted",
        cases.len()
    );
}

/// The table of bad inputs, each refused with exit 2, and a piece of the message that says what
/// was wrong.
fn usage_error_cases() -> Vec<Case> {
    let long_name = "x".repeat(513);
    let long_multibyte = "é".repeat(257); // 257 characters, 514 bytes
    let long_token = "t".repeat(257);
    let escape = "\u{1b}[31mred";

    vec![
        // Durations: zero, negative, huge, garbage, on every option that takes one.
        case(
            "zero ttl",
            &["acquire", "-r", "x", "--ttl", "0s"],
            2,
            "at least 1ms",
        ),
        case(
            "bare zero ttl",
            &["acquire", "-r", "x", "--ttl", "0"],
            2,
            "at least 1ms",
        ),
        case(
            "negative ttl",
            &["acquire", "-r", "x", "--ttl=-5s"],
            2,
            "not a duration",
        ),
        case(
            "negative ttl as a flag",
            &["acquire", "-r", "x", "--ttl", "-5s"],
            2,
            "unexpected argument",
        ),
        case(
            "huge ttl",
            &["acquire", "-r", "x", "--ttl", "100000000y"],
            2,
            "the limit is 10 years",
        ),
        case(
            "ttl past u64",
            &["acquire", "-r", "x", "--ttl", "18446744073709551616s"],
            2,
            "not a duration",
        ),
        case(
            "garbage ttl",
            &["acquire", "-r", "x", "--ttl", "soon"],
            2,
            "not a duration",
        ),
        case(
            "empty ttl",
            &["acquire", "-r", "x", "--ttl", ""],
            2,
            "not a duration",
        ),
        case(
            "ttl with a sign and no unit",
            &["acquire", "-r", "x", "--ttl=-5"],
            2,
            "not a duration",
        ),
        case(
            "bare number past 10 years",
            &["acquire", "-r", "x", "--wait", "400000000"],
            2,
            "the limit is 10 years",
        ),
        case(
            "negative wait",
            &["acquire", "-r", "x", "--wait=-1s"],
            2,
            "not a duration",
        ),
        case(
            "huge wait",
            &["acquire", "-r", "x", "--wait", "11y"],
            2,
            "the limit is 10 years",
        ),
        case(
            "bad wait unit",
            &["acquire", "-r", "x", "--wait", "1x"],
            2,
            "not a duration",
        ),
        case(
            "zero connect timeout",
            &["acquire", "-r", "x", "--connect-timeout", "0ms"],
            2,
            "at least 1ms",
        ),
        case(
            "negative op timeout",
            &["acquire", "-r", "x", "--op-timeout=-250ms"],
            2,
            "not a duration",
        ),
        case(
            "garbage op timeout",
            &["acquire", "-r", "x", "--op-timeout", "forever"],
            2,
            "not a duration",
        ),
        case(
            "garbage kill-after",
            &["run", "-r", "x", "--kill-after", "never", "--", "touch", "ran"],
            2,
            "not a duration",
        ),
        case(
            "zero --timeout",
            &["run", "-r", "x", "--timeout", "0s", "--", "touch", "ran"],
            2,
            "at least 1ms",
        ),
        case(
            "negative min-hold",
            &["run", "-r", "x", "--min-hold=-1s", "--", "touch", "ran"],
            2,
            "not a duration",
        ),
        case(
            "zero extend ttl",
            &["extend", "-r", "x", "--token", "t", "--ttl", "0s"],
            2,
            "at least 1ms",
        ),
        with_env(
            case(
                "garbage REDLOCK_TTL",
                &["acquire", "-r", "x"],
                2,
                "not a duration",
            ),
            "REDLOCK_TTL",
            "soon",
        ),
        // A bad value from the environment names the variable, not a flag never typed.
        with_env(
            case(
                "garbage REDLOCK_TTL names the variable",
                &["acquire", "-r", "x"],
                2,
                "REDLOCK_TTL=abc: 'abc' is not a duration",
            ),
            "REDLOCK_TTL",
            "abc",
        ),
        with_env(
            case(
                "empty REDLOCK_SERVERS",
                &["acquire", "-r", "x"],
                2,
                "REDLOCK_SERVERS is set but empty",
            ),
            "REDLOCK_SERVERS",
            "",
        ),
        with_env(
            case(
                "space-separated REDLOCK_SERVERS",
                &["acquire", "-r", "x"],
                2,
                "separate several servers with commas",
            ),
            "REDLOCK_SERVERS",
            "redis://127.0.0.1:1 redis://127.0.0.1:2",
        ),
        case(
            "space-separated --server list",
            &[
                "acquire",
                "-r",
                "x",
                "-s",
                "redis://127.0.0.1:1 redis://127.0.0.1:2",
            ],
            2,
            "separate several servers with commas",
        ),
        with_env(
            case(
                "REDLOCK_LIMIT that is not a number",
                &["acquire", "-r", "x"],
                2,
                "REDLOCK_LIMIT=many:",
            ),
            "REDLOCK_LIMIT",
            "many",
        ),
        with_env(
            case(
                "a flag's bad value is named as the flag, though the variable is set",
                &["acquire", "-r", "x", "--ttl", "abc"],
                2,
                "for '--ttl <DUR>'",
            ),
            "REDLOCK_TTL",
            "5",
        ),
        // Typo help: a suggestion where clap's similarity test finds none, and the right one.
        case(
            "a swapped subcommand",
            &["rnu", "-r", "x", "--", "touch", "ran"],
            2,
            "a similar subcommand exists: 'run'",
        ),
        case(
            "acquire --timeout means --wait",
            &["acquire", "-r", "x", "--timeout", "5s"],
            2,
            "a similar argument exists: '--wait'",
        ),
        case(
            "run's options after the command",
            &["run", "touch", "ran", "-r", "x"],
            2,
            "-r came after the command, so it went to the command: run's options belong before the command",
        ),
        with_env(
            case(
                "zero REDLOCK_OP_TIMEOUT",
                &["run", "-r", "x", "--", "touch", "ran"],
                2,
                "at least 1ms",
            ),
            "REDLOCK_OP_TIMEOUT",
            "0s",
        ),
        // URLs: bad scheme, bad port, empty host, unknown query parameters, and more.
        case(
            "http scheme",
            &["acquire", "-r", "x", "-s", "http://127.0.0.1:6379"],
            2,
            "unsupported scheme 'http'",
        ),
        case(
            "no scheme",
            &["acquire", "-r", "x", "-s", "localhost:6379"],
            2,
            "unsupported scheme",
        ),
        case(
            "port too big",
            &["acquire", "-r", "x", "-s", "redis://127.0.0.1:99999"],
            2,
            "invalid port",
        ),
        case(
            "port 0",
            &["acquire", "-r", "x", "-s", "redis://127.0.0.1:0"],
            2,
            "port 0",
        ),
        case(
            "negative port",
            &["acquire", "-r", "x", "-s", "redis://127.0.0.1:-1"],
            2,
            "invalid port",
        ),
        case(
            "named port",
            &["acquire", "-r", "x", "-s", "redis://127.0.0.1:redis"],
            2,
            "invalid port",
        ),
        case(
            "empty host",
            &["acquire", "-r", "x", "-s", "redis://:6379"],
            2,
            "is not a URL",
        ),
        case(
            "nothing after the scheme",
            &["acquire", "-r", "x", "-s", "redis://"],
            2,
            "has no host",
        ),
        case(
            "unknown query",
            &["acquire", "-r", "x", "-s", "redis://h?timeout=5"],
            2,
            "unknown query parameters",
        ),
        case(
            "unknown unix query",
            &["acquire", "-r", "x", "-s", "redis+unix:///tmp/r.sock?nope=1"],
            2,
            "unknown query parameter 'nope'",
        ),
        case(
            "relative unix path",
            &["acquire", "-r", "x", "-s", "unix:redis.sock"],
            2,
            "no socket path",
        ),
        case(
            "bad database",
            &["acquire", "-r", "x", "-s", "redis://h/abc"],
            2,
            "not a database number",
        ),
        case(
            "empty URL",
            &["acquire", "-r", "x", "-s", ""],
            2,
            "empty server URL",
        ),
        case(
            "empty list item",
            &["acquire", "-r", "x", "-s", "redis://a:1,,redis://b:1"],
            2,
            "empty server URL",
        ),
        case(
            "listed twice",
            &["acquire", "-r", "x", "-s", "redis://a:1,redis://a:1"],
            2,
            "are the same instance",
        ),
        with_env(
            case(
                "bad REDLOCK_SERVERS",
                &["acquire", "-r", "x"],
                2,
                "unsupported scheme",
            ),
            "REDLOCK_SERVERS",
            "ftp://h",
        ),
        // Resource names: empty, control characters, over 512 bytes, not UTF-8.
        case("empty resource", &["acquire", "-r", ""], 2, "must not be empty"),
        case(
            "newline in resource",
            &["acquire", "-r", "a\nb"],
            2,
            "control characters",
        ),
        case(
            "tab in resource",
            &["acquire", "-r", "a\tb"],
            2,
            "control characters",
        ),
        case(
            "escape sequence in resource",
            &["acquire", "-r", escape],
            2,
            "control characters",
        ),
        case(
            "DEL in resource",
            &["release", "-r", "a\u{7f}", "--force"],
            2,
            "control characters",
        ),
        case(
            "C1 control in resource",
            &["extend", "-r", "a\u{85}", "--token", "t"],
            2,
            "control characters",
        ),
        case(
            "513-byte resource",
            &["acquire", "-r", &long_name],
            2,
            "the limit is 512",
        ),
        case(
            "514 bytes in 257 characters",
            &["acquire", "-r", &long_multibyte],
            2,
            "514 bytes long",
        ),
        case(
            "run with an empty resource",
            &["run", "-r", "", "--", "touch", "ran"],
            2,
            "must not be empty",
        ),
        case(
            "inspect a bad resource",
            &["inspect", "-r", "a\u{7}"],
            2,
            "control characters",
        ),
        in_shell(
            "non-UTF-8 resource",
            r#""$RL" acquire -r "$(printf 'bad\377name')""#,
            "invalid UTF-8",
        ),
        in_shell(
            "non-UTF-8 resource for run",
            r#""$RL" run -r "$(printf '\300\300')" -- touch ran"#,
            "invalid UTF-8",
        ),
        in_shell(
            "non-UTF-8 token",
            r#""$RL" release -r x --token "$(printf 't\377')""#,
            "invalid UTF-8",
        ),
        in_shell(
            "non-UTF-8 server",
            r#""$RL" acquire -r x -s "$(printf 'redis://h\377')""#,
            "invalid UTF-8",
        ),
        in_shell(
            "non-UTF-8 prefix",
            r#""$RL" acquire -r x --prefix "$(printf '\377:')""#,
            "invalid UTF-8",
        ),
        // Flag conflicts and missing pieces.
        case(
            "no-wait and wait",
            &["acquire", "-r", "x", "-n", "--wait", "5s"],
            2,
            "cannot be used with",
        ),
        case(
            "verbose and quiet",
            &["acquire", "-r", "x", "-v", "-q"],
            2,
            "cannot be used with",
        ),
        case(
            "token and force",
            &["release", "-r", "x", "--token", "t", "--force"],
            2,
            "cannot be used with",
        ),
        case(
            "neither token nor force",
            &["release", "-r", "x"],
            2,
            "required arguments",
        ),
        case(
            "-c and a command",
            &["run", "-r", "x", "-c", "touch ran", "--", "touch", "ran"],
            2,
            "cannot be used with",
        ),
        case(
            "run without a command",
            &["run", "-r", "x"],
            2,
            "required arguments",
        ),
        case("no resource", &["acquire"], 2, "required arguments"),
        case(
            "resource twice",
            &["acquire", "-r", "x", "-r", "y"],
            2,
            "cannot be used multiple times",
        ),
        case(
            "extend without a token",
            &["extend", "-r", "x"],
            2,
            "required arguments",
        ),
        case(
            "exit code 256",
            &["acquire", "-r", "x", "-E", "256"],
            2,
            "not in 0..=255",
        ),
        case(
            "negative exit code",
            &["acquire", "-r", "x", "-E=-1"],
            2,
            "not in 0..=255",
        ),
        case(
            "exit code not a number",
            &["acquire", "-r", "x", "-E", "busy"],
            2,
            "invalid digit",
        ),
        case(
            "unknown subcommand",
            &["frobnicate"],
            2,
            "unrecognized subcommand",
        ),
        case(
            "unknown flag",
            &["acquire", "-r", "x", "--bogus"],
            2,
            "unexpected argument '--bogus'",
        ),
        case(
            "unknown shell",
            &["completions", "tcsh"],
            2,
            "invalid value 'tcsh'",
        ),
        // Tokens: empty or huge.
        case(
            "empty token",
            &["acquire", "-r", "x", "--token", ""],
            2,
            "must not be empty",
        ),
        case(
            "257-byte token",
            &["acquire", "-r", "x", "--token", &long_token],
            2,
            "the limit is 256",
        ),
        case(
            "control character in token",
            &["extend", "-r", "x", "--token", "a\tb"],
            2,
            "control characters",
        ),
        with_env(
            case(
                "empty REDLOCK_TOKEN",
                &["release", "-r", "x"],
                2,
                "REDLOCK_TOKEN is set but empty",
            ),
            "REDLOCK_TOKEN",
            "",
        ),
        with_env(
            case(
                "huge REDLOCK_TOKEN",
                &["run", "-r", "x", "--", "touch", "ran"],
                2,
                "the limit is 256",
            ),
            "REDLOCK_TOKEN",
            "t".repeat(10_000),
        ),
        // Prefixes with spaces (and other ways to be unusable).
        case(
            "prefix with a space",
            &["acquire", "-r", "x", "--prefix", "my app:"],
            2,
            "must not contain spaces",
        ),
        case(
            "prefix with a tab",
            &["release", "-r", "x", "--force", "--prefix", "a\tb"],
            2,
            "must not contain spaces",
        ),
        case(
            "empty prefix",
            &["acquire", "-r", "x", "--prefix", ""],
            2,
            "must not be empty",
        ),
        with_env(
            case(
                "REDLOCK_PREFIX with a space",
                &["acquire", "-r", "x"],
                2,
                "must not contain spaces",
            ),
            "REDLOCK_PREFIX",
            "has space:",
        ),
        with_env(
            case(
                "non-UTF-8 REDLOCK_SERVERS",
                &["acquire", "-r", "x"],
                2,
                "invalid UTF-8",
            ),
            "REDLOCK_SERVERS",
            OsString::from_vec(b"redis://h\xff".to_vec()),
        ),
    ]
}

#[test]
fn a_server_that_speaks_http_exits_69_in_one_line() {
    let http = FakeServer::start(Behaviour::Http);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = http.url();
    let cases = [
        case(
            "acquire on HTTP",
            &["acquire", "-r", "x", "-s", &url],
            69,
            "1 of 1 servers",
        ),
        case(
            "acquire --wait on HTTP",
            &["acquire", "-r", "x", "--wait", "1h", "-s", &url],
            69,
            url_port(&url),
        ),
        case(
            "release on HTTP",
            &["release", "-r", "x", "--token", "t", "-s", &url],
            69,
            "did not answer",
        ),
        case(
            "force release on HTTP",
            &["release", "-r", "x", "--force", "-s", &url],
            69,
            "to break lock 'x'",
        ),
        case(
            "extend on HTTP",
            &["extend", "-r", "x", "--token", "t", "-s", &url],
            69,
            "1 of 1 servers",
        ),
    ];
    for c in &cases {
        let out = check(c, "redis://127.0.0.1:1", dir.path());
        assert!(
            out.elapsed < UNAVAILABLE_WITHIN,
            "{}: took {:?}",
            c.what,
            out.elapsed
        );
    }
    assert!(
        http.accepted() >= cases.len(),
        "every command reached the HTTP server"
    );
}

#[test]
fn an_http_majority_exits_69_and_undoes_the_hold_on_the_real_instance() {
    let real = RedisServer::start();
    let (a, b) = (
        FakeServer::start(Behaviour::Http),
        FakeServer::start(Behaviour::Http),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = format!("{},{},{}", a.url(), real.url(), b.url());
    for args in [
        &["acquire", "-r", "mixed"][..],
        &["acquire", "-r", "mixed", "-n", "--ttl", "1h"],
    ] {
        let c = case("2 of 3 speak HTTP", args, 69, "2 of 3 servers");
        let out = check(&c, &servers, dir.path());
        assert!(out.elapsed < UNAVAILABLE_WITHIN, "took {:?}", out.elapsed);
    }
    assert_eq!(
        lock_keys(&real),
        Vec::<String>::new(),
        "the partial hold was undone"
    );
}

#[test]
fn a_lease_too_short_to_be_valid_exits_1_and_leaves_no_lock() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    // A 1 ms lease is all drift (ttl × 1% + 2 ms): a quorum answers, no validity is left.
    let c = case(
        "1ms ttl",
        &["acquire", "-r", "short", "--ttl", "1ms"],
        1,
        "use a longer --ttl",
    );
    check(&c, &cluster.servers_arg(), dir.path());
    let c = case(
        "1ms ttl, waiting",
        &["acquire", "-r", "short", "--ttl", "1ms", "--wait", "1h"],
        1,
        "use a longer --ttl",
    );
    check(&c, &cluster.servers_arg(), dir.path());
    for s in &cluster.servers {
        assert_eq!(lock_keys(s), Vec::<String>::new(), "{}", cluster.logs());
    }
}

/// Contract: passwords are never printed, errors included. Our own message redacts it, but
/// clap's `invalid value '…'` prefix echoes the raw argument (and the raw REDLOCK_SERVERS).
#[test]
fn a_refused_url_never_echoes_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = "redis://user:hunter2@127.0.0.1:99999";
    let c = case(
        "password in a bad URL",
        &["acquire", "-r", "x", "-s", leaky],
        2,
        "redis://***@127.0.0.1:99999",
    );
    check(&c, "redis://127.0.0.1:1", dir.path());
    let c = case(
        "password in a bad REDLOCK_SERVERS",
        &["acquire", "-r", "x"],
        2,
        "invalid port",
    );
    check(&c, leaky, dir.path());
}

fn url_port(url: &str) -> String {
    url.rsplit(':').next().unwrap_or_default().to_string()
}

/// A misspelled `run` option is a usage error naming it, wherever it stands and however the
/// command is given (README, "How `run` behaves": a typo never runs): never taken for the
/// command, never after the lock was taken.
#[test]
fn a_typo_in_a_run_option_exits_2_naming_it_and_never_runs() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let typos: [(&[&str], &str); 6] = [
        (&["--tiemout", "5s"], "'--tiemout'"),
        (&["--frobnicate"], "'--frobnicate'"),
        (&["-x"], "'-x'"),
        (&["--wiat", "5s"], "'--wiat'"),
        (&["--tiemout=5s"], "'--tiemout'"),
        (&["--no-wiat"], "'--no-wiat'"),
    ];
    let mut probes: Vec<redis::Connection> = cluster.servers.iter().map(RedisServer::conn).collect();
    let before: Vec<u64> = probes.iter_mut().map(connections).collect();
    let mut checked = 0;
    for (typo, named) in typos {
        let forms: [Vec<&str>; 4] = [
            [&["run", "-r", "x"], typo, &["--", "touch", "ran"]].concat(),
            [&["run", "-r", "x"], typo, &["touch", "ran"]].concat(),
            [&["run", "-r", "x"], typo, &["-c", "touch ran"]].concat(),
            [&["run"], typo, &["-r", "x", "--", "touch", "ran"]].concat(),
        ];
        for args in forms {
            let out = check(&case("typo", &args, 2, named), &cluster.servers_arg(), dir.path());
            assert!(
                !out.stderr.contains("required arguments were not provided"),
                "the typo, not a missing --resource, is what is reported: {args:?}\n{out:?}"
            );
            checked += 1;
        }
    }
    // The tip that makes a typo obvious.
    let out = check(
        &case(
            "tip",
            &["run", "-r", "x", "--tiemout", "5s", "--", "true"],
            2,
            "'--timeout'",
        ),
        &cluster.servers_arg(),
        dir.path(),
    );
    assert!(out.stderr.contains("a similar argument exists"), "{out:?}");

    let after: Vec<u64> = probes.iter_mut().map(connections).collect();
    assert_eq!(before, after, "a typo opened a connection to a server");
    assert!(!dir.path().join("ran").exists(), "a typo started the command");
    for s in &cluster.servers {
        assert_eq!(lock_keys(s), Vec::<String>::new());
    }
    eprintln!("typos: {checked} invocations refused with exit 2, nothing run or contacted");
}

/// Words after the command's first word are the command's, dashes and all.
#[test]
fn words_after_the_command_belong_to_it() {
    let cluster = Cluster::start(1);
    for args in [
        &["run", "-r", "x", "echo", "-n", "--frobnicate", "-x"][..],
        &["run", "-r", "x", "--", "echo", "-n", "--frobnicate", "-x"][..],
    ] {
        let out = run(
            redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args(args),
            LIMIT,
        );
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "--frobnicate -x", "{args:?}");
    }
}

/// Two URLs that reach one server process would count twice toward N: refused, naming both
/// (docs/tls-auth.md, "Server URLs": one server counts once toward the quorum).
#[test]
fn two_urls_of_one_instance_exit_2_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("redis.sock");
    std::fs::write(&sock, "").expect("a stand-in socket file");
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&sock, &link).expect("symlink");
    let (sock, link) = (sock.display().to_string(), link.display().to_string());
    let pairs: Vec<(String, String)> = vec![
        ("redis://127.0.0.1:7401".into(), "redis://localhost:7401".into()),
        ("redis://127.0.0.1:7401".into(), "redis://127.0.0.1:7401/0".into()),
        (
            "redis://127.0.0.1:7401/".into(),
            "redis://127.0.0.1:7401/0".into(),
        ),
        ("redis://127.0.0.1".into(), "redis://127.0.0.1:6379".into()),
        (
            "redis://127.0.0.1:7401/0".into(),
            "redis://127.0.0.1:7401/1".into(),
        ),
        ("redis://127.0.0.1:7401".into(), "rediss://localhost:7401".into()),
        ("redis://LocalHost:7401".into(), "redis://localhost:7401".into()),
        (format!("redis+unix://{sock}"), format!("unix://{link}")),
        (
            format!("redis+unix://{sock}?db=1"),
            format!("redis+unix://{sock}"),
        ),
    ];
    for (a, b) in &pairs {
        let list = format!("{a},{b},redis://127.0.0.1:7402");
        let out = run(redlock().args(["acquire", "-r", "x", "-s", &list]), LIMIT);
        let ctx = format!("{a} ~ {b}: {out:?}");
        assert_eq!(out.code, Some(2), "{ctx}");
        assert!(out.stderr.contains("are the same instance"), "{ctx}");
        let shown_a = a.split('?').next().unwrap_or(a);
        assert!(out.stderr.contains(shown_a), "names the first: {ctx}");
        let shown_b = b.split('?').next().unwrap_or(b);
        assert!(out.stderr.contains(shown_b), "names the second: {ctx}");
    }
    // Different ports, or different sockets, are different instances (each unreachable: 69).
    let out = run(
        redlock().args([
            "acquire",
            "-r",
            "x",
            "-n",
            "-s",
            "redis://127.0.0.1:1,redis://localhost:2,redis://127.0.0.1:3",
        ]),
        LIMIT,
    );
    assert_eq!(out.code, Some(69), "{out:?}");
}
