//! Proves the test harness itself: servers start, fault and die as promised; the proxy
//! delays, partitions and resets; bounded runs time out.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::signal::kill;
use nix::unistd::Pid;

use support::procs::{self, run};
use support::proxy::Proxy;
use support::redis::{Cluster, RedisServer};

fn ping(conn: &mut redis::Connection) -> redis::RedisResult<String> {
    redis::cmd("PING").query(conn)
}

/// A raw connection with short timeouts, for probing the proxy below the client library.
fn raw(port: u16, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the proxy");
    stream.set_read_timeout(Some(timeout)).expect("read timeout");
    stream.set_write_timeout(Some(timeout)).expect("write timeout");
    stream
}

/// Sends PING and reads the reply; `Err` on timeout or EOF.
fn raw_ping(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    stream.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 64];
    match stream.read(&mut buf)? {
        0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
        n => Ok(buf[..n].to_vec()),
    }
}

fn pid_alive(pid: u32) -> bool {
    // kill with no signal (0) only checks that the pid exists.
    kill(Pid::from_raw(pid as libc::pid_t), None).is_ok()
}

#[test]
fn cluster_servers_store_and_return_keys() {
    let cluster = Cluster::start(3);
    assert_eq!(cluster.servers.len(), 3);
    let urls = cluster.urls();
    assert_eq!(cluster.servers_arg(), urls.join(","));
    for (i, server) in cluster.servers.iter().enumerate() {
        assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
        let mut conn = server.conn();
        let _: () = redis::cmd("SET").arg("k").arg(i).query(&mut conn).expect("SET");
        let got: usize = redis::cmd("GET").arg("k").query(&mut conn).expect("GET");
        assert_eq!(got, i, "{}", cluster.logs());
    }
    assert!(cluster.logs().contains("===== server 2"));
}

#[test]
fn paused_server_times_out_until_resumed() {
    let server = RedisServer::start();
    let mut conn = server.conn();
    conn.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    server.pause();
    assert!(server.is_running());
    let start = Instant::now();
    let err = ping(&mut conn).expect_err("a paused server must not answer");
    assert!(err.is_timeout(), "expected a timeout, got {err}");
    assert!(start.elapsed() >= Duration::from_millis(250));
    server.resume();
    assert_eq!(ping(&mut server.conn()).expect("PING"), "PONG");
}

#[test]
fn restart_keeps_the_port_and_comes_back_empty() {
    let mut server = RedisServer::start();
    let (port, old_pid) = (server.port(), server.pid());
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut server.conn())
        .expect("SET");
    server.kill();
    assert!(!server.is_running());
    assert!(!pid_alive(old_pid));
    server.kill(); // idempotent
    server.restart();
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut server.conn()).expect("GET");
    assert_eq!(got, None, "restarted server must be empty");
    // Restarting a running (and even a paused) server works too.
    server.pause();
    server.restart();
    assert_eq!(ping(&mut server.conn()).expect("PING"), "PONG");
}

#[test]
fn requirepass_server_is_ready_and_conn_authenticates() {
    let server = RedisServer::start_with(&["--requirepass", "s3cr/t@x"]);
    assert_eq!(server.password(), Some("s3cr/t@x"));
    assert_eq!(ping(&mut server.conn()).expect("PING"), "PONG");
    let mut anonymous = raw(server.port(), Duration::from_secs(2));
    let reply = raw_ping(&mut anonymous).expect("reply");
    assert!(
        reply.starts_with(b"-NOAUTH"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn unix_server_listens_on_its_socket() {
    let server = RedisServer::start_unix();
    let path = server.unix_path().expect("a unix socket path");
    let url = format!("redis+unix://{}", path.display());
    let client = redis::Client::open(url).expect("unix url");
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .expect("connect over the unix socket");
    assert_eq!(ping(&mut conn).expect("PING"), "PONG");
    assert_eq!(ping(&mut server.conn()).expect("PING over TCP"), "PONG");
}

#[test]
fn drop_leaves_no_server_behind() {
    let paused = RedisServer::start();
    let running = RedisServer::start();
    let pids = [paused.pid(), running.pid()];
    paused.pause();
    drop(paused);
    drop(running);
    for pid in pids {
        assert!(!pid_alive(pid), "redis-server pid {pid} survived drop");
    }
}

#[test]
fn log_tells_what_went_wrong() {
    let server = RedisServer::start();
    assert!(server.log().contains(&format!("port={}", server.port())));
    let bad = std::panic::catch_unwind(|| RedisServer::start_with(&["--no-such-directive", "x"]));
    let msg = bad.expect_err("a bad directive must fail to start");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("no-such-directive"), "{msg}");
}

#[test]
fn proxy_forwards_and_passes_half_close() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr());
    assert_eq!(proxy.url(), format!("redis://127.0.0.1:{}", proxy.port()));
    let client = redis::Client::open(proxy.url()).expect("url");
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .expect("connect through proxy");
    assert_eq!(ping(&mut conn).expect("PING"), "PONG");
    // Pipelined requests come back in order.
    let mut stream = raw(proxy.port(), Duration::from_secs(2));
    stream.write_all(b"PING\r\nECHO a\r\nECHO b\r\n").expect("write");
    stream.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read to EOF");
    assert_eq!(all, b"+PONG\r\n$1\r\na\r\n$1\r\nb\r\n");
}

#[test]
fn proxy_delay_is_added_each_way_and_keeps_pipelining() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr());
    let mut stream = raw(proxy.port(), Duration::from_secs(3));
    raw_ping(&mut stream).expect("warm-up PING");
    proxy.set_delay(Duration::from_millis(50));
    let start = Instant::now();
    raw_ping(&mut stream).expect("delayed PING");
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    // Ten pipelined PINGs all come back, in order, through the delayed path. (That they cost
    // one round trip, not ten, would be an upper bound on time: checked by hand, not here.)
    let start = Instant::now();
    stream.write_all(&b"PING\r\n".repeat(10)).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < 70 {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "EOF");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"+PONG\r\n".repeat(10));
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn proxy_blackhole_drops_traffic_and_heals_for_new_connections() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr());
    let mut before = raw(proxy.port(), Duration::from_millis(300));
    raw_ping(&mut before).expect("PING before the partition");
    proxy.blackhole(true);
    let err = raw_ping(&mut before).expect_err("existing connection must go silent");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    let mut during = raw(proxy.port(), Duration::from_millis(300));
    raw_ping(&mut during).expect_err("new connection must go silent");
    proxy.blackhole(false);
    let mut after = raw(proxy.port(), Duration::from_secs(2));
    assert_eq!(raw_ping(&mut after).expect("PING after healing"), b"+PONG\r\n");
}

#[test]
fn proxy_reset_all_closes_connections() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr());
    let mut a = raw(proxy.port(), Duration::from_secs(2));
    let mut b = raw(proxy.port(), Duration::from_secs(2));
    raw_ping(&mut a).expect("PING a");
    raw_ping(&mut b).expect("PING b");
    proxy.reset_all();
    for s in [&mut a, &mut b] {
        let mut buf = [0u8; 16];
        // EOF or a reset, promptly: never a timeout.
        match s.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("unexpected {n} bytes"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
    let mut fresh = raw(proxy.port(), Duration::from_secs(2));
    assert_eq!(raw_ping(&mut fresh).expect("new connection"), b"+PONG\r\n");
}

#[test]
fn proxy_drop_is_prompt_with_open_connections() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr());
    proxy.set_delay(Duration::from_secs(30));
    let mut open = raw(proxy.port(), Duration::from_secs(2));
    open.write_all(b"PING\r\n").expect("write"); // stuck in the delay
    let _silent = {
        proxy.blackhole(true);
        raw(proxy.port(), Duration::from_secs(2))
    };
    let start = Instant::now();
    drop(proxy);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    let mut buf = [0u8; 16];
    assert!(matches!(open.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn run_captures_output_and_status() {
    let out = run(
        std::process::Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        Duration::from_secs(5),
    );
    assert_eq!((out.code, out.signal), (Some(3), None));
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    let big = run(
        std::process::Command::new("sh").args(["-c", "head -c 1000000 /dev/zero; kill -TERM $$"]),
        Duration::from_secs(5),
    );
    assert_eq!((big.code, big.signal), (None, Some(libc::SIGTERM)));
    assert_eq!(big.stdout.len(), 1_000_000);
}

#[test]
fn run_panics_on_timeout_and_kills_the_process() {
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| {
        run(
            std::process::Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
            Duration::from_millis(300),
        )
    });
    let msg = result.expect_err("must time out");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.starts_with("timed out after 300ms"), "{msg}");
    assert!(msg.contains("started"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn redlock_command_has_a_clean_environment() {
    // The test process may carry these from a developer's shell; the command must not.
    let cmd = procs::redlock();
    let removed: Vec<_> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    for (key, _) in std::env::vars() {
        if key.starts_with("REDLOCK_") || key == "NO_COLOR" {
            assert!(removed.contains(&key), "{key} not removed");
        }
    }
}

#[test]
fn wait_until_polls_and_times_out() {
    let start = Instant::now();
    procs::wait_until("a short time", Duration::from_secs(2), || {
        start.elapsed() > Duration::from_millis(20)
    });
    let r = std::panic::catch_unwind(|| procs::wait_until("never", Duration::from_millis(50), || false));
    let msg = r.expect_err("must time out");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.starts_with("timed out waiting for never"), "{msg}");
}
