//! Real `redis-server` processes for tests: started on a free loopback port, faulted on demand
//! (pause, kill, restart), and always killed and reaped on drop.
//!
//! Modelled on redis-rs's test `RedisServer`: the server runs in the foreground as our child
//! (so we own its pid), with `--save ""`, no AOF, its data and log in a private temp dir.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::procs;

/// How long a fresh server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Fresh ports tried when another process grabs ours between probing and binding.
const START_ATTEMPTS: usize = 5;
/// How long `restart` keeps trying to bind the same port again (TIME_WAIT, a slow exit).
const RESTART_PORT_WAIT: Duration = Duration::from_secs(5);
/// How long we wait for a SIGKILLed server to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeouts of the client connection handed out by `conn()`.
const CONN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a waiter may take to join a queue on a busy machine.
const QUEUE_WAIT: Duration = Duration::from_secs(30);

const NOT_FOUND: &str =
    "redis-server not found: install it (apt-get install redis-server) or run scripts/test, which does";

/// One redis-server child process on 127.0.0.1 (and optionally a unix socket).
#[derive(Debug)]
pub struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    extra: Vec<String>,
    unix: bool,
    pid: u32,
    /// `None` once `kill` has reaped it. Behind a mutex so `pause`, `resume` and
    /// `is_running` work through `&self` (servers are shared with test threads) and never
    /// signal a pid that has already been reaped and could be reused.
    child: Mutex<Option<Child>>,
}

impl RedisServer {
    /// A server on a free loopback port.
    pub fn start() -> RedisServer {
        Self::launch_fresh(&[], false)
    }

    /// A server with extra `redis-server` arguments, e.g. `["--requirepass", "s3cret"]`.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        Self::launch_fresh(extra, false)
    }

    /// A server listening on a free loopback port and on `unix_path()`.
    pub fn start_unix() -> RedisServer {
        Self::launch_fresh(&[], true)
    }

    fn launch_fresh(extra: &[&str], unix: bool) -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("redis")
            .tempdir()
            .expect("creating a temp dir for redis-server");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            if let Some(child) = launch(dir.path(), port, &extra, unix) {
                return RedisServer {
                    pid: child.id(),
                    child: Mutex::new(Some(child)),
                    dir,
                    port,
                    extra,
                    unix,
                };
            }
        }
        panic!(
            "redis-server could not bind a free port in {START_ATTEMPTS} attempts:\n{}",
            read_logs(dir.path())
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:PORT` (no password, even with `--requirepass`; see `password()`).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn unix_path(&self) -> Option<PathBuf> {
        self.unix.then(|| socket_path(self.dir.path()))
    }

    /// The `--requirepass` value it was started with, if any.
    pub fn password(&self) -> Option<&str> {
        let i = self.extra.iter().position(|a| a == "--requirepass")?;
        self.extra.get(i + 1).map(String::as_str)
    }

    /// Pid of the current process (changes on `restart`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGSTOP: the server keeps its sockets open but answers nothing.
    pub fn pause(&self) {
        self.signal_live(libc::SIGSTOP, "pause");
    }

    /// SIGCONT: undo `pause`.
    pub fn resume(&self) {
        self.signal_live(libc::SIGCONT, "resume");
    }

    /// SIGKILL and reap. Does nothing if it is already gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = lock(&self.child).take() {
            stop(&mut child);
        }
    }

    /// Kill it if running, then start a new, empty server on the same port with the same
    /// arguments; returns once it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + RESTART_PORT_WAIT;
        let started = procs::poll_every(Duration::from_millis(50), deadline, || {
            launch(self.dir.path(), self.port, &self.extra, self.unix)
        });
        let Some(child) = started else {
            panic!(
                "restart: port {} still taken after {RESTART_PORT_WAIT:?}:\n{}",
                self.port,
                self.log()
            );
        };
        self.pid = child.id();
        *lock(&self.child) = Some(child);
    }

    /// True while the process exists (a paused server is running).
    pub fn is_running(&self) -> bool {
        match lock(&self.child).as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// A direct client connection (authenticated if started with `--requirepass`) with 2 s
    /// connect, read and write timeouts, for tests to read and plant keys.
    pub fn conn(&self) -> redis::Connection {
        let url = match self.password() {
            Some(password) => format!("redis://:{}@127.0.0.1:{}", percent_encode(password), self.port),
            None => self.url(),
        };
        let fail =
            |what: &str, e: redis::RedisError| -> ! { panic!("{what} {}: {e}\n{}", self.url(), self.log()) };
        let client = redis::Client::open(url).unwrap_or_else(|e| fail("bad url for", e));
        let conn = client
            .get_connection_with_timeout(CONN_TIMEOUT)
            .unwrap_or_else(|e| fail("cannot connect to", e));
        conn.set_read_timeout(Some(CONN_TIMEOUT))
            .unwrap_or_else(|e| fail("set_read_timeout on", e));
        conn.set_write_timeout(Some(CONN_TIMEOUT))
            .unwrap_or_else(|e| fail("set_write_timeout on", e));
        conn
    }

    /// The tokens waiting in `resource`'s queue here (`ZRANGE P queue:NAME`, default prefix),
    /// in arrival order: a waiter shows here once it has joined the queue.
    pub fn queued(&self, resource: &str) -> Vec<String> {
        redis::cmd("ZRANGE")
            .arg(format!("redlock:queue:{resource}"))
            .arg(0)
            .arg(-1)
            .query(&mut self.conn())
            .expect("ZRANGE")
    }

    /// Its log file, followed by anything it printed on stdout/stderr (config errors go there).
    pub fn log(&self) -> String {
        read_logs(self.dir.path())
    }

    fn signal_live(&self, sig: i32, what: &str) {
        let mut guard = lock(&self.child);
        match guard.as_mut().map(|c| c.try_wait()) {
            // Not yet reaped (we hold the lock), so the pid is still ours.
            Some(Ok(None)) => procs::signal(self.pid, sig),
            _ => panic!("{what}: redis-server on port {} is not running", self.port),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let slot = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = slot.take() {
            stop(&mut child);
        }
    }
}

/// N independent servers: the instances of one Redlock quorum.
#[derive(Debug)]
pub struct Cluster {
    pub servers: Vec<RedisServer>,
}

impl Cluster {
    /// Starts `n` servers concurrently.
    pub fn start(n: usize) -> Cluster {
        let servers = thread::scope(|s| {
            let handles: Vec<_> = (0..n).map(|_| s.spawn(RedisServer::start)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        Cluster { servers }
    }

    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(RedisServer::url).collect()
    }

    /// Comma-separated urls, for `-s` or `REDLOCK_SERVERS`.
    /// `redlock acquire --no-keep` with this token, a 60 s lease and `extra` (`-l 3`,
    /// `--shared`): a holder for the test to queue behind or fill slots with; must succeed.
    pub fn hold(&self, resource: &str, token: &str, extra: &[&str]) {
        let out = super::procs::run(
            super::procs::redlock()
                .env("REDLOCK_SERVERS", self.servers_arg())
                .args([
                    "acquire",
                    "--no-keep",
                    "-r",
                    resource,
                    "--token",
                    token,
                    "-t",
                    "60s",
                ])
                .args(extra),
            std::time::Duration::from_secs(30),
        );
        assert_eq!(out.code, Some(0), "{out:?}");
    }

    pub fn servers_arg(&self) -> String {
        self.urls().join(",")
    }

    /// Waits until `n` waiters are in `resource`'s queue on every instance.
    pub fn wait_queued(&self, resource: &str, n: usize) {
        wait_queued(&self.servers, resource, n);
    }

    /// Waits until `token` is in `resource`'s queue on every instance.
    pub fn wait_token_queued(&self, resource: &str, token: &str) {
        let what = format!("{token} to be queued for {resource} on every instance");
        procs::wait_until(&what, QUEUE_WAIT, || {
            self.servers
                .iter()
                .all(|s| s.queued(resource).iter().any(|t| t == token))
        });
    }

    /// Every server's log, labelled, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, server) in self.servers.iter().enumerate() {
            let _ = writeln!(
                out,
                "===== server {i}: {} (pid {}) =====\n{}",
                server.url(),
                server.pid(),
                server.log()
            );
        }
        out
    }
}

/// Waits until `n` waiters are in `resource`'s queue on each of `servers`: each has
/// subscribed and joined the queue (in that order), so a release from now on reaches it.
pub fn wait_queued(servers: &[RedisServer], resource: &str, n: usize) {
    let what = format!("{n} waiter(s) queued for {resource} on every instance");
    procs::wait_until(&what, QUEUE_WAIT, || {
        servers.iter().all(|s| s.queued(resource).len() == n)
    });
}

/// A port nobody listens on right now. Another process may take it before redis binds it;
/// `launch` notices and the caller retries with a fresh one.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0 to find a free port")
        .port()
}

fn socket_path(dir: &Path) -> PathBuf {
    dir.join("redis.sock")
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("redis.log")
}

fn stdio_path(dir: &Path) -> PathBuf {
    dir.join("stdio.log")
}

/// Starts redis-server on `port` and waits until it is ready. `None` means the port was
/// taken (the server exited with "Address already in use"); any other failure panics.
fn launch(dir: &Path, port: u16, extra: &[String], unix: bool) -> Option<Child> {
    let log = log_path(dir);
    // Only what this attempt logs counts: restart appends to the same file.
    let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let stdio = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stdio_path(dir))
        .expect("creating redis-server's stdio log");
    let stdio_err = stdio.try_clone().expect("cloning the stdio log handle");

    let mut cmd = Command::new("redis-server");
    cmd.arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .args(["--daemonize", "no"]);
    if unix {
        cmd.arg("--unixsocket")
            .arg(socket_path(dir))
            .args(["--unixsocketperm", "700"]);
    }
    cmd.args(extra)
        .stdin(Stdio::null())
        .stdout(stdio)
        .stderr(stdio_err);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{NOT_FOUND}"),
        Err(e) => panic!("cannot start redis-server: {e}"),
    };

    let deadline = Instant::now() + READY_TIMEOUT;
    // Some(true) once it is ready, Some(false) if the port was taken.
    let ready = procs::poll_every(Duration::from_millis(10), deadline, || {
        if let Ok(Some(status)) = child.try_wait() {
            if read_from(&log, log_start).contains("Address already in use") {
                return Some(false);
            }
            panic!(
                "redis-server on port {port} exited during startup ({status}):\n{}",
                read_logs(dir)
            );
        }
        // Our own log saying "ready" proves the PING below reached *our* server, not
        // another test's server that happened to grab the same port.
        let ready_logged = read_from(&log, log_start)
            .to_ascii_lowercase()
            .contains("ready to accept connections");
        (ready_logged && answers_ping(port)).then_some(true)
    });
    match ready {
        Some(true) => Some(child),
        Some(false) => None,
        None => {
            stop(&mut child);
            panic!(
                "redis-server on port {port} did not answer PING within {READY_TIMEOUT:?}:\n{}",
                read_logs(dir)
            );
        }
    }
}

/// PONG, or NOAUTH when it wants a password: either proves it is up.
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let timeout = Some(Duration::from_millis(500));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"),
        Err(_) => false,
    }
}

/// SIGCONT (a stopped process cannot be reaped until it runs), SIGKILL, then reap.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        procs::signal(child.id(), libc::SIGCONT);
        procs::signal(child.id(), libc::SIGKILL);
    }
    if procs::wait_timeout(child, REAP_TIMEOUT).is_none() && !std::thread::panicking() {
        panic!(
            "redis-server pid {} not reaped {REAP_TIMEOUT:?} after SIGKILL",
            child.id()
        );
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

fn read_logs(dir: &Path) -> String {
    let mut out = match fs::read_to_string(log_path(dir)) {
        Ok(log) => log,
        Err(e) => format!("<no redis log: {e}>\n"),
    };
    let stdio = read_from(&stdio_path(dir), 0);
    if !stdio.trim().is_empty() {
        let _ = write!(out, "--- redis-server stdout/stderr ---\n{stdio}");
    }
    out
}

fn lock(m: &Mutex<Option<Child>>) -> MutexGuard<'_, Option<Child>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Percent-encodes everything but unreserved characters, for a password inside a URL.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
