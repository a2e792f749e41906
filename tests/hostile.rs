//! Hostile servers (issue 7, part 3): an instance that accepts connections and never answers,
//! one that closes every connection at once, and one that errors EVALSHA (NOSCRIPT after a
//! SCRIPT FLUSH, or always). Each is handled within the timeouts, with the contract's exit
//! code, one `redlock: ` line, and no hold left behind on the real instances.

mod fake;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake::{Behaviour, FakeServer};
use support::engine::holder_token;
use support::procs::{redlock, run, Out};
use support::redis::{Cluster, RedisServer};

const LIMIT: Duration = Duration::from_secs(20);
/// A round costs at most connect + op timeout (250 ms + 250 ms by default); an attempt and
/// its undo are two rounds. Anything near this bound would be a hang, not a slow server.
const WITHIN_TIMEOUTS: Duration = Duration::from_secs(3);

fn rl(servers: &str, args: &[&str]) -> Out {
    run(redlock().env("REDLOCK_SERVERS", servers).args(args), LIMIT)
}

/// Exit `code`, one `redlock: ` line saying `says`, no panic, within the timeouts.
fn assert_fails(out: &Out, code: i32, says: &str) {
    assert_eq!(out.code, Some(code), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("redlock: "), "{out:?}");
    assert!(out.stderr.contains(says), "expected {says:?}: {out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    assert!(out.elapsed < WITHIN_TIMEOUTS, "took {:?}: {out:?}", out.elapsed);
}

fn assert_ok(out: &Out) -> String {
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.elapsed < WITHIN_TIMEOUTS, "took {:?}: {out:?}", out.elapsed);
    out.stdout.trim().to_string()
}

fn join(urls: &[String]) -> String {
    urls.join(",")
}

/// Every command of redlock's against `servers` (a quorum of which is hostile) exits 69.
/// (`extend` has its own test below: it exits 1 when one instance answered "free".)
fn every_command_exits_69(servers: &str, says: &str) {
    for args in [
        &["acquire", "--no-keep", "-r", "h"][..],
        &["acquire", "--no-keep", "-r", "h", "--wait", "1h"],
        &["acquire", "--no-keep", "-r", "h", "-n"],
        &["release", "-r", "h", "--token", "t"],
        &["release", "-r", "h", "--force"],
    ] {
        let out = rl(servers, args);
        assert_fails(&out, 69, says);
    }
}

#[test]
fn a_server_that_accepts_and_never_answers_exits_69_within_the_timeouts() {
    let silent = FakeServer::start(Behaviour::Silent);
    every_command_exits_69(&silent.url(), "timed out");
    // One connection per command: a timed-out request stays on its pipelined connection
    // (its late reply would be dropped), so nothing reconnects.
    assert!(
        silent.accepted() >= 5,
        "the connections were accepted: {}",
        silent.accepted()
    );
    // Shorter timeouts are honoured too.
    let out = rl(
        &silent.url(),
        &[
            "acquire",
            "-r",
            "h",
            "--connect-timeout",
            "50ms",
            "--op-timeout",
            "50ms",
        ],
    );
    assert_fails(&out, 69, "timed out");
    assert!(out.elapsed < Duration::from_secs(1), "{:?}", out.elapsed);
}

#[test]
fn one_silent_instance_of_three_does_not_stop_acquire_extend_or_release() {
    let cluster = Cluster::start(2);
    let silent = FakeServer::start(Behaviour::Silent);
    let servers = join(&[cluster.urls()[0].clone(), silent.url(), cluster.urls()[1].clone()]);
    let token = assert_ok(&rl(&servers, &["acquire", "--no-keep", "-r", "one-silent"]));
    assert_ok(&rl(&servers, &["extend", "-r", "one-silent", "--token", &token]));
    // Release talks to all three and reports the silent one, but two of three is a quorum.
    assert_ok(&rl(&servers, &["release", "-r", "one-silent", "--token", &token]));
    for s in &cluster.servers {
        assert_eq!(holder_token(&mut s.conn(), "one-silent"), None);
    }
}

#[test]
fn two_silent_instances_of_three_exit_69_and_the_real_one_is_left_free() {
    let real = RedisServer::start();
    let (a, b) = (
        FakeServer::start(Behaviour::Silent),
        FakeServer::start(Behaviour::Silent),
    );
    let servers = join(&[a.url(), real.url(), b.url()]);
    every_command_exits_69(&servers, "timed out");
    assert_eq!(
        holder_token(&mut real.conn(), "h"),
        None,
        "the partial hold was undone"
    );
}

#[test]
fn a_server_that_closes_every_connection_exits_69_at_once() {
    let closer = FakeServer::start(Behaviour::CloseAtOnce);
    every_command_exits_69(&closer.url(), "unexpected end of file");
    let out = rl(
        &closer.url(),
        &["acquire", "--no-keep", "-r", "h", "--wait", "1h"],
    );
    // A closed connection is an answer, not a silence: no timeout is spent on it.
    assert!(out.elapsed < Duration::from_millis(500), "{:?}", out.elapsed);
}

#[test]
fn closing_servers_count_against_the_quorum_but_one_of_three_is_tolerated() {
    let cluster = Cluster::start(2);
    let closer = FakeServer::start(Behaviour::CloseAtOnce);
    let servers = join(&[closer.url(), cluster.urls()[0].clone(), cluster.urls()[1].clone()]);
    let token = assert_ok(&rl(&servers, &["acquire", "--no-keep", "-r", "closing"]));
    assert_ok(&rl(&servers, &["release", "-r", "closing", "--token", &token]));

    let real = RedisServer::start();
    let other = FakeServer::start(Behaviour::CloseAtOnce);
    let servers = join(&[closer.url(), real.url(), other.url()]);
    every_command_exits_69(&servers, "unexpected end of file");
    assert_eq!(
        holder_token(&mut real.conn(), "h"),
        None,
        "the partial hold was undone"
    );
}

/// `INFO commandstats` calls of `cmd` (lower case) on a server.
fn calls(server: &RedisServer, cmd: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.conn())
        .expect("INFO");
    let prefix = format!("cmdstat_{cmd}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn script_flush(cluster: &Cluster) {
    for s in &cluster.servers {
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query::<()>(&mut s.conn())
            .expect("SCRIPT FLUSH");
    }
}

/// A long-lived process sends each script in full once per connection and by its hash after
/// that. SCRIPT FLUSH on every instance (an operator's command) fails the next request of each
/// script there with NOSCRIPT, once: the connection forgets the script, and the request after
/// that carries the body again. (A request is never resent by itself: it would go behind the
/// requests sent after it.)
#[test]
fn after_script_flush_a_long_lived_process_fails_once_then_sends_the_body_again() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let locker = support::engine::locker(&urls);
    let req = support::engine::request("flushed", "holder", Duration::from_secs(30));
    let lease = support::engine::acquire(&locker, &req);
    let extend = || locker.extend("flushed", &lease.token, Duration::from_secs(30), None);
    extend().expect("first extend: the body");
    let by_hash: Vec<u64> = cluster.servers.iter().map(|s| calls(s, "evalsha")).collect();
    extend().expect("second extend: by hash");
    locker.settle();
    for (s, before) in cluster.servers.iter().zip(&by_hash) {
        assert!(
            calls(s, "evalsha") > *before,
            "the second extend went by its hash"
        );
    }
    script_flush(&cluster);
    let failed = extend().expect_err("every instance has forgotten the script");
    assert!(format!("{failed:#}").contains("NOSCRIPT"), "{failed:#}");
    let evals: Vec<u64> = cluster.servers.iter().map(|s| calls(s, "eval")).collect();
    extend().expect("the body again, so the script is back");
    locker.settle();
    let resent = cluster
        .servers
        .iter()
        .zip(&evals)
        .filter(|(s, before)| calls(s, "eval") > **before)
        .count();
    assert!(resent >= 2, "EVAL with the body on a quorum after the flush");
    locker.release("flushed", &lease.token, Duration::ZERO);
    locker.settle();
    for s in &cluster.servers {
        assert_eq!(holder_token(&mut s.conn(), "flushed"), None);
    }
}

/// EVALSHA always NOSCRIPT, EVAL refused: a proxy or a managed Redis with scripting disabled.
fn no_scripting() -> FakeServer {
    FakeServer::start(Behaviour::Resp(Arc::new(|cmd: &[Vec<u8>]| {
        let name = cmd.first().map(|n| n.to_ascii_uppercase()).unwrap_or_default();
        match name.as_slice() {
            b"EVALSHA" => b"-NOSCRIPT No matching script. Please use EVAL.\r\n".to_vec(),
            b"EVAL" => b"-ERR scripting is disabled on this server\r\n".to_vec(),
            b"PING" => b"+PONG\r\n".to_vec(),
            _ => b"-ERR unknown command\r\n".to_vec(),
        }
    })))
}

#[test]
fn a_server_that_refuses_eval_exits_69_after_one_request() {
    let server = no_scripting();
    let out = rl(
        &server.url(),
        &["acquire", "--no-keep", "-r", "h", "--wait", "1h"],
    );
    assert_fails(&out, 69, "scripting is disabled");
    // The connection's setup (HELLO 3, refused here, and the probe that asks whether EVALSHA
    // is allowed), one EVAL with the body (a script's first use on a connection), then
    // nothing: no retry loop, and a refused script took nothing, so there is nothing to undo.
    assert_eq!(server.command_names(), ["HELLO", "EVALSHA", "EVAL"]);
    every_command_exits_69(&server.url(), "scripting is disabled");
}

#[test]
fn one_server_without_scripting_of_three_is_tolerated() {
    let cluster = Cluster::start(2);
    let server = no_scripting();
    let servers = join(&[cluster.urls()[0].clone(), server.url(), cluster.urls()[1].clone()]);
    let token = assert_ok(&rl(&servers, &["acquire", "--no-keep", "-r", "partial"]));
    assert_ok(&rl(&servers, &["release", "-r", "partial", "--token", &token]));
}

#[test]
fn a_server_that_answers_ok_to_everything_is_never_counted_as_a_grant() {
    let real = RedisServer::start();
    let yes = || FakeServer::start(Behaviour::Resp(Arc::new(|_: &[Vec<u8>]| b"+OK\r\n".to_vec())));
    let (a, b) = (yes(), yes());
    let servers = join(&[a.url(), real.url(), b.url()]);
    every_command_exits_69(&servers, "unexpected reply");
    assert_eq!(
        holder_token(&mut real.conn(), "h"),
        None,
        "the partial hold was undone"
    );
}

/// Contract: when a quorum cannot be reached, every command exits 69. `extend` decides its
/// round as soon as the quorum is out of reach, stops waiting for the last instance, and then
/// counts only one failure, so an answer of "free" from the one live instance makes it report
/// "not held by that token" (exit 1) although two of three instances never answered.
#[test]
fn extend_with_two_of_three_unreachable_exits_69() {
    let real = RedisServer::start();
    let (a, b) = (
        FakeServer::start(Behaviour::CloseAtOnce),
        FakeServer::start(Behaviour::Silent),
    );
    let servers = join(&[a.url(), real.url(), b.url()]);
    let out = rl(&servers, &["extend", "-r", "h", "--token", "t"]);
    assert_fails(&out, 69, "2 of 3");
}
