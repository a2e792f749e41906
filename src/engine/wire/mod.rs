//! The transport: pipelined, ordered requests to every instance, and the wake-up messages of a
//! waiter on the same connections ("Releases are prompt, and always arrive", docs/how-it-works.md).
//! A request is written to its instance's socket the moment it is sent,
//! never held back by an earlier reply; replies come back in order and go to their senders.
//! So a paused instance that resumes runs acquire, fence and release in the order they were
//! sent and ends free, even if the process that sent them is long gone.
//!
//! One I/O thread reads every instance's socket (poll(2) over all of them and a wake-up
//! socket); senders write themselves, under the instance's lock, so a request costs no thread
//! hop. Connecting is the only blocking step: it runs on a short-lived thread per instance
//! (`stream::open`), while the requests sent meanwhile wait in order and go out right after
//! AUTH and SELECT. A request is never timed out here: rounds stop waiting for it (the op
//! timeout), but it stays on the wire, and its late reply is dropped.
//!
//! One connection per instance serves everything: after `HELLO 3` a subscribed connection
//! still takes requests and its messages arrive as push frames ([`push`]). A script goes in
//! full the first time a connection sends it, which caches it on the server, and by its hash
//! from then on ([`conn::Conn::push`]): the order of requests never depends on a reply.
//!
//! - [`conn`]: one connection's buffers, pending replies and what it knows of its server
//! - `io`: the I/O thread, which reads every instance's socket
//! - [`resp`]: replies, RESP2 and RESP3, parsed from a buffer that may hold part of one
//! - [`stream`]: the socket (TCP, TLS, unix) and the setup requests
//! - [`push`]: the subscription's events, and the listener for a RESP2-only server
//! - [`tls`]: the rustls configuration and what a failed handshake means
//! - [`error`]: why an instance gave no usable answer, and a server's error line read
//! - [`connect`]: the redis crate's blocking connection, for the RESP2 listener

pub mod conn;
pub mod connect;
pub mod error;
mod io;
pub mod push;
pub mod resp;
pub mod stream;
pub mod tls;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::Value;

use crate::engine::server::ServerUrl;
use crate::engine::sync::lock;
use conn::Conn;
pub use conn::{ByHash, Deliver, Request};
use error::{ErrorClass, InstanceError};
pub use push::Handle;
use push::{Legacy, PushEvent, Wanted};
use stream::Opened;

/// Many instances, one I/O thread. Dropping it stops the thread; requests on the wire stay
/// there (the kernel delivers what was written even after the process exits).
pub struct Wire {
    shared: Arc<Shared>,
    /// The I/O thread's wake-up: one byte means "look again at the sockets".
    wake: UnixStream,
}

struct Shared {
    servers: Vec<ServerUrl>,
    connect_timeout: Duration,
    op_timeout: Duration,
    /// One line per instance, in server order.
    lines: Vec<Mutex<Line>>,
    /// The subscription every instance should carry, if any.
    wanted: Mutex<Option<Wanted>>,
    stopped: AtomicBool,
    /// Notified whenever a reply is delivered or a connection fails: what `settle` waits on.
    answered: (Mutex<()>, Condvar),
    wake: UnixStream,
}

/// Everything about one instance: its connection (or the attempt to make one), the requests
/// waiting for it, and its part of the subscription.
#[derive(Default)]
struct Line {
    link: Link,
    /// Requests sent while connecting, in order.
    queued: Vec<(Request, Deliver)>,
    /// A connection came up at some point: until then, no request of ours reached the server.
    ever_up: bool,
    sub: Sub,
}

#[derive(Default)]
enum Link {
    #[default]
    Down,
    Connecting,
    Up(Conn),
}

/// Where this instance's part of the subscription stands.
#[derive(Default)]
enum Sub {
    #[default]
    None,
    /// SUBSCRIBE sent on the connection (RESP3).
    Sent,
    /// A listener of its own (RESP2).
    Legacy(#[allow(dead_code)] Legacy),
}

/// What the I/O thread or a sender found, acted on once the instance's lock is released.
type Events = Vec<Event>;

enum Event {
    Deliver(Deliver, Result<Value, InstanceError>),
    Push(usize, PushKind),
}

enum PushKind {
    Subscribed,
    Lost,
    Message(Vec<u8>),
    Hint(Vec<u8>),
}

impl Wire {
    pub fn new(
        servers: Vec<ServerUrl>,
        connect_timeout: Duration,
        op_timeout: Duration,
    ) -> std::io::Result<Wire> {
        let (wake, wake_reader) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_reader.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            lines: servers.iter().map(|_| Mutex::new(Line::default())).collect(),
            wanted: Mutex::new(None),
            servers,
            connect_timeout,
            op_timeout,
            stopped: AtomicBool::new(false),
            answered: (Mutex::new(()), Condvar::new()),
            wake: wake.try_clone()?,
        });
        let io = Arc::clone(&shared);
        thread::Builder::new()
            .name("redlock-io".into())
            .spawn(move || io.run(wake_reader))?;
        Ok(Wire { shared, wake })
    }

    /// Whether a connection to instance `i` ever came up: if not, no request reached it.
    pub fn ever_up(&self, i: usize) -> bool {
        self.shared.lines.get(i).is_some_and(|s| lock(s).ever_up)
    }

    /// Send `request` to instance `i`; `deliver` gets its reply. Returns how long from now the
    /// reply is due: the op timeout, plus the connect timeout when the request waits for a
    /// connection first.
    pub fn send(&self, i: usize, request: Request, deliver: Deliver) -> Duration {
        let mut due = self.shared.op_timeout;
        let events = {
            let mut line = lock(&self.shared.lines[i]);
            if !matches!(line.link, Link::Up(_)) {
                due += self.shared.connect_timeout;
            }
            match &mut line.link {
                Link::Up(conn) => {
                    conn.push(request, deliver);
                    self.shared.flush(i, &mut line)
                }
                Link::Connecting => {
                    line.queued.push((request, deliver));
                    vec![]
                }
                Link::Down => {
                    line.queued.push((request, deliver));
                    self.shared.connect_line(i, &mut line)
                }
            }
        };
        self.shared.act(events);
        due
    }

    /// A handle for the wire's subscription, which may outlive a borrow of the wire.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Wait up to `grace` for every request sent so far to be answered (or its connection to
    /// fail). Rounds return at their quorum; a short-lived process calls this before it exits
    /// so the stragglers' replies are seen when they come quickly. What is not answered by
    /// then is still on the wire and runs all the same.
    pub fn settle(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let (mutex, cv) = &self.shared.answered;
        let mut guard = lock(mutex);
        while !self.shared.idle() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            guard = cv
                .wait_timeout(guard, left.min(Duration::from_millis(5)))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        let _ = (&self.wake).write(&[1]);
    }
}

impl Shared {
    /// Wake the I/O thread (a full wake-up socket already means it will look).
    fn poke(&self) {
        let _ = (&self.wake).write(&[1]);
    }

    fn idle(&self) -> bool {
        self.lines.iter().all(|s| {
            let line = lock(s);
            line.queued.is_empty()
                && match &line.link {
                    Link::Up(conn) => conn.waiting.is_empty(),
                    Link::Down => true,
                    Link::Connecting => false,
                }
        })
    }

    fn notify_answered(&self) {
        let (mutex, cv) = &self.answered;
        let _guard = lock(mutex);
        cv.notify_all();
    }

    /// Deliver replies and tell the subscription what happened, outside every line's lock.
    fn act(&self, events: Events) {
        if events.is_empty() {
            return;
        }
        let wanted = lock(&self.wanted).clone();
        let mut delivered = false;
        for event in events {
            match event {
                Event::Deliver(deliver, reply) => {
                    deliver(reply);
                    delivered = true;
                }
                Event::Push(i, kind) => {
                    if let Some(w) = &wanted {
                        let event = match &kind {
                            PushKind::Subscribed => PushEvent::Subscribed,
                            PushKind::Lost => PushEvent::Lost,
                            PushKind::Message(payload) => PushEvent::Message(payload),
                            PushKind::Hint(payload) => PushEvent::Hint(payload),
                        };
                        (w.on_push)(i, event);
                    }
                }
            }
        }
        if delivered {
            self.notify_answered();
        }
    }

    /// Write what waits on instance `i`'s connection; a failed write fails the connection.
    fn flush(&self, i: usize, line: &mut Line) -> Events {
        let Link::Up(conn) = &mut line.link else {
            return vec![];
        };
        match conn.stream.write_some(&mut conn.out) {
            Ok(()) => {
                if conn.stream.wants_write(&conn.out) {
                    self.poke();
                }
                vec![]
            }
            Err(e) => fail(i, line, stream::io_error(&e, false)),
        }
    }

    /// Start connecting instance `i` (its line is `Down`).
    fn connect_line(self: &Arc<Self>, i: usize, line: &mut Line) -> Events {
        line.link = Link::Connecting;
        match self.connect(i) {
            Ok(()) => vec![],
            Err(e) => fail(
                i,
                line,
                InstanceError::new(ErrorClass::Unreachable, e.to_string()),
            ),
        }
    }

    /// Put the wanted subscription in place on instance `i`, as far as it can be now: on the
    /// connection where the server speaks RESP3, on a listener of its own where it does not,
    /// and once it is connected and has said which where it is not yet.
    fn want_subscription(self: &Arc<Self>, i: usize, line: &mut Line) -> Events {
        let Some(wanted) = lock(&self.wanted).clone() else {
            return vec![];
        };
        if !matches!(line.sub, Sub::None) {
            return vec![];
        }
        match &mut line.link {
            Link::Up(conn) => match conn.resp3 {
                Some(true) => {
                    conn.push_subscription(&wanted.channel, true);
                    if let Some(hint) = wanted.hints.get(i) {
                        conn.push_hint(hint);
                    }
                    line.sub = Sub::Sent;
                    self.flush(i, line)
                }
                Some(false) => {
                    line.sub = Sub::Legacy(Legacy::start(
                        i,
                        self.servers[i].clone(),
                        wanted,
                        self.connect_timeout,
                        self.op_timeout,
                    ));
                    vec![]
                }
                None => vec![],
            },
            Link::Connecting => vec![],
            Link::Down => self.connect_line(i, line),
        }
    }

    /// Open instance `i` on a thread of its own; its requests go out once it is up.
    fn connect(self: &Arc<Self>, i: usize) -> std::io::Result<()> {
        let shared = Arc::clone(self);
        thread::Builder::new()
            .name(format!("redlock-connect-{i}"))
            .spawn(move || {
                let opened = stream::open(&shared.servers[i], shared.connect_timeout, shared.op_timeout);
                let events = {
                    let mut line = lock(&shared.lines[i]);
                    match opened {
                        Ok(opened) => shared.up(i, &mut line, opened),
                        Err(e) => fail(i, &mut line, e),
                    }
                };
                shared.act(events);
                shared.poke();
            })
            .map(|_| ())
    }

    /// A connection is open: the setup requests first, then every request queued meanwhile.
    fn up(&self, i: usize, line: &mut Line, opened: Opened) -> Events {
        let mut conn = Conn::new(opened.stream);
        for (packed, setup) in &opened.setup {
            conn.push_setup(packed, *setup);
        }
        for (request, deliver) in line.queued.drain(..) {
            conn.push(request, deliver);
        }
        line.link = Link::Up(conn);
        line.ever_up = true;
        self.flush(i, line)
    }
}

/// The connection is gone: everyone still waiting on it, or queued for it, hears `err`, and
/// the subscription there is lost; the next request connects again.
fn fail(i: usize, line: &mut Line, err: InstanceError) -> Events {
    let mut out = Vec::new();
    if let Link::Up(conn) = std::mem::take(&mut line.link) {
        for waiting in conn.waiting {
            if let conn::Waiting::Request { deliver, .. } = waiting {
                out.push(Event::Deliver(deliver, Err(err.clone())));
            }
        }
    }
    for (_, deliver) in line.queued.drain(..) {
        out.push(Event::Deliver(deliver, Err(err.clone())));
    }
    if matches!(line.sub, Sub::Sent) {
        line.sub = Sub::None;
        out.push(Event::Push(i, PushKind::Lost));
    }
    out
}

#[cfg(test)]
mod tests {
    //! The wire against a server played by the test over a unix socket: requests go out in
    //! order without waiting for replies, replies reach their senders, and a push frame on the
    //! subscribed channel reaches the subscription, between replies.

    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::net::UnixListener;
    use std::sync::mpsc;

    /// Read one request (RESP array of bulk strings) and return its words.
    fn request(r: &mut BufReader<UnixStream>) -> Option<Vec<String>> {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
        let mut words = Vec::new();
        for _ in 0..n {
            line.clear();
            r.read_line(&mut line).ok()?;
            let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
            let mut buf = vec![0u8; len + 2];
            r.read_exact(&mut buf).ok()?;
            words.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        Some(words)
    }

    /// The server's side: read the setup and two requests before answering any, answer them
    /// with a push frame between the replies, then confirm SUBSCRIBE. Every request it reads
    /// goes to `seen`.
    fn play_server(listener: UnixListener, seen_tx: mpsc::Sender<Vec<String>>) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            let mut out = sock.try_clone().expect("clone");
            let mut r = BufReader::new(sock);
            // Read everything the client pipelined before answering any of it: the setup
            // and both requests, never waiting for a reply. (SUBSCRIBE waits for HELLO's
            // answer: on a server that speaks only RESP2 it would take the connection over.)
            for _ in 0..4 {
                seen_tx.send(request(&mut r).expect("a request")).expect("send");
            }
            let mut reply = Vec::new();
            reply.extend_from_slice(b"%1\r\n+proto\r\n:3\r\n"); // HELLO 3
            reply.extend_from_slice(b"-NOSCRIPT No matching script\r\n"); // the probe
            reply.extend_from_slice(b":1\r\n"); // GET a
            reply.extend_from_slice(b">3\r\n$7\r\nmessage\r\n$4\r\nwake\r\n$2\r\nhi\r\n");
            reply.extend_from_slice(b":2\r\n"); // GET b
            out.write_all(&reply).expect("write");
            seen_tx.send(request(&mut r).expect("SUBSCRIBE")).expect("send");
            out.write_all(b">3\r\n$9\r\nsubscribe\r\n$4\r\nwake\r\n:1\r\n")
                .expect("write");
            // Hold the connection until the client is done.
            let _ = request(&mut r);
        })
    }

    #[test]
    fn requests_go_out_in_order_and_a_push_between_replies_reaches_the_subscription() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fake.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let (seen_tx, seen) = mpsc::channel::<Vec<String>>();
        let server = play_server(listener, seen_tx);

        let url: ServerUrl = format!("redis+unix://{}", path.display()).parse().expect("url");
        let wire = Wire::new(vec![url], Duration::from_secs(2), Duration::from_secs(2)).expect("wire");
        let (tx, rx) = mpsc::channel::<(&str, Result<Value, InstanceError>)>();
        for name in ["a", "b"] {
            let tx = tx.clone();
            let req = Request {
                packed: redis::cmd("GET").arg(name).get_packed_command(),
                by_hash: None,
            };
            wire.send(0, req, Box::new(move |r| tx.send((name, r)).expect("send")));
        }
        let (push_tx, pushes) = mpsc::channel::<String>();
        let push_tx = Mutex::new(push_tx);
        let handle = wire.handle();
        handle.subscribe(
            "wake",
            Vec::new(),
            Arc::new(move |_, event| {
                let text = match event {
                    PushEvent::Subscribed => "subscribed".to_string(),
                    PushEvent::Lost => "lost".to_string(),
                    PushEvent::Message(p) | PushEvent::Hint(p) => String::from_utf8_lossy(p).into_owned(),
                };
                let _ = lock(&push_tx).send(text);
            }),
        );
        let limit = Duration::from_secs(5);
        let got: Vec<(&str, Value)> = (0..2)
            .map(|_| {
                let (name, r) = rx.recv_timeout(limit).expect("a reply");
                (name, r.expect("a value"))
            })
            .collect();
        assert_eq!(got, [("a", Value::Int(1)), ("b", Value::Int(2))]);
        let heard: Vec<String> = (0..2)
            .map(|_| pushes.recv_timeout(limit).expect("a push"))
            .collect();
        assert_eq!(heard, ["hi", "subscribed"]);
        let words: Vec<String> = (0..5)
            .map(|_| seen.recv_timeout(limit).expect("seen").join(" "))
            .collect();
        assert_eq!(
            words,
            [
                "HELLO 3",
                "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0",
                "GET a",
                "GET b",
                "SUBSCRIBE wake"
            ]
        );
        drop(wire);
        drop(handle);
        let _ = server.join();
    }
}
