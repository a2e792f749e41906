//! A TCP proxy in front of one server, for fault injection: added latency, a blackhole
//! (partition), and resetting every connection at once.
//!
//! Each connection is two pumps (client -> server, server -> client). A pump is a reader
//! thread that timestamps each chunk and a writer thread that sends it at timestamp + delay,
//! so the delay is latency, not bandwidth: pipelined requests stay pipelined. Reads block
//! without timeouts; `reset_all` and `Drop` end them by shutting the sockets down.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `Drop` waits for its threads before leaving the stragglers detached.
const JOIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest sleep of a writer holding a delayed chunk before it rechecks for shutdown.
const SLEEP_SLICE: Duration = Duration::from_millis(10);

pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    target: SocketAddr,
    delay_us: AtomicU64,
    blackhole: AtomicBool,
    /// Incremented by every `blackhole(true)`: a connection that lived through a partition
    /// stays dead after it heals (its byte stream has holes in it).
    partitions: AtomicU64,
    shutdown: AtomicBool,
    next_id: AtomicU64,
    conns: Mutex<Vec<Conn>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The sockets of one live connection, kept so they can be shut down from outside.
struct Conn {
    id: u64,
    sockets: Vec<TcpStream>,
}

/// What one connection's pumps share.
struct Link {
    id: u64,
    born_in_partition: u64,
    /// Pumps still running; the last one out unregisters the connection.
    pumps_left: AtomicUsize,
}

impl Proxy {
    /// A proxy to `target`, listening on a free port of 127.0.0.1.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy listener");
        let addr = listener.local_addr().expect("proxy listener address");
        let shared = Arc::new(Shared {
            target,
            delay_us: AtomicU64::new(0),
            blackhole: AtomicBool::new(false),
            partitions: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(&listener, &shared))
        };
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.addr.port())
    }

    /// Latency added in each direction, to new and existing connections (so a round trip
    /// costs twice this).
    pub fn set_delay(&self, one_way: Duration) {
        let us = u64::try_from(one_way.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_us.store(us, Ordering::SeqCst);
    }

    /// On: connections are accepted (or stay open) but every byte in either direction is
    /// dropped. Off: new connections work again; connections that lived through the
    /// partition stay dead, as their streams lost bytes.
    pub fn blackhole(&self, on: bool) {
        if on {
            self.shared.partitions.fetch_add(1, Ordering::SeqCst);
        }
        self.shared.blackhole.store(on, Ordering::SeqCst);
    }

    /// Closes every current connection at once (both the client and the server side).
    pub fn reset_all(&self) {
        let conns = std::mem::take(&mut *lock(&self.shared.conns));
        for conn in conns {
            conn.close();
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        self.reset_all();
        let deadline = Instant::now() + JOIN_TIMEOUT;
        if let Some(acceptor) = self.acceptor.take() {
            join_by(acceptor, deadline);
        }
        let threads = std::mem::take(&mut *lock(&shared.threads));
        for handle in threads {
            join_by(handle, deadline);
        }
    }
}

impl Conn {
    fn close(&self) {
        for socket in &self.sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::SeqCst))
    }

    fn is_dead(&self, link: &Link) -> bool {
        self.blackhole.load(Ordering::SeqCst)
            || self.partitions.load(Ordering::SeqCst) != link.born_in_partition
    }

    fn spawn(self: &Arc<Self>, f: impl FnOnce(&Arc<Shared>) + Send + 'static) {
        let shared = Arc::clone(self);
        let handle = thread::spawn(move || f(&shared));
        let mut threads = lock(&self.threads);
        threads.retain(|h| !h.is_finished());
        threads.push(handle);
    }

    /// Registers a connection's sockets unless the proxy is shutting down. Checked under
    /// the lock `Drop` takes after setting the flag, so no connection slips past it.
    fn register(&self, id: u64, sockets: &[&TcpStream]) -> bool {
        let mut conns = lock(&self.conns);
        if self.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        let sockets = sockets.iter().filter_map(|s| s.try_clone().ok()).collect();
        conns.push(Conn { id, sockets });
        true
    }

    fn pump_done(&self, link: &Link) {
        if link.pumps_left.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut conns = lock(&self.conns);
            if let Some(i) = conns.iter().position(|c| c.id == link.id) {
                conns.swap_remove(i).close();
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        match stream {
            Ok(client) => shared.spawn(move |shared| serve(client, shared)),
            // Out of fds or similar: back off instead of spinning (a pause is the point).
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve(client: TcpStream, shared: &Arc<Shared>) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let born_in_partition = shared.partitions.load(Ordering::SeqCst);
    if shared.blackhole.load(Ordering::SeqCst) {
        // Partitioned: the server is unreachable; hold the client open and swallow its bytes.
        let link = Link {
            id,
            born_in_partition,
            pumps_left: AtomicUsize::new(1),
        };
        if shared.register(id, &[&client]) {
            sink(client, shared, &link);
        }
        return;
    }
    let Ok(upstream) = TcpStream::connect_timeout(&shared.target, UPSTREAM_CONNECT_TIMEOUT) else {
        return; // dropping the client closes it, like a refused connection
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    if !shared.register(id, &[&client, &upstream]) {
        return;
    }
    let link = Arc::new(Link {
        id,
        born_in_partition,
        pumps_left: AtomicUsize::new(2),
    });
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    {
        let link = Arc::clone(&link);
        shared.spawn(move |shared| pump(upstream2, client2, shared, &link));
    }
    pump(client, upstream, shared, &link);
}

/// Reads `from` until EOF, discarding everything.
fn sink(mut from: TcpStream, shared: &Arc<Shared>, link: &Link) {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    shared.pump_done(link);
}

/// Copies `from` to `to` with the current delay; on EOF half-closes `to`, on error closes both.
fn pump(mut from: TcpStream, to: TcpStream, shared: &Arc<Shared>, link: &Arc<Link>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let (link, from) = (Arc::clone(link), from.try_clone());
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            write_delayed(rx, to, from.ok(), &shared, &link);
            shared.pump_done(&link);
        })
    };
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if shared.is_dead(link) {
                    continue; // dropped, not buffered
                }
                if tx.send((Instant::now(), chunk[..n].to_vec())).is_err() {
                    break; // the writer failed and closed both sockets
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = from.shutdown(Shutdown::Both);
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

fn write_delayed(
    rx: mpsc::Receiver<(Instant, Vec<u8>)>,
    mut to: TcpStream,
    from: Option<TcpStream>,
    shared: &Shared,
    link: &Link,
) {
    for (read_at, bytes) in rx {
        // The delay is read when the chunk is due, so set_delay applies to bytes in flight.
        loop {
            if shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            let due = read_at + shared.delay();
            if now >= due {
                break;
            }
            // Delaying the bytes is the proxy's job: this sleep is the point.
            thread::sleep((due - now).min(SLEEP_SLICE));
        }
        if shared.is_dead(link) {
            continue;
        }
        if to.write_all(&bytes).is_err() {
            let _ = to.shutdown(Shutdown::Both);
            if let Some(from) = &from {
                let _ = from.shutdown(Shutdown::Both);
            }
            return;
        }
    }
    // The reader saw EOF: pass the half-close on.
    let _ = to.shutdown(Shutdown::Write);
}

fn join_by(handle: JoinHandle<()>, deadline: Instant) {
    if super::procs::poll(deadline, || handle.is_finished().then_some(())).is_some() {
        let _ = handle.join();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
