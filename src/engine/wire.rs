//! Pipelined, ordered requests to every instance (CONTRACT.md, "Releases are prompt, and
//! always arrive"). A request is written to its instance's socket the moment it is sent,
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

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::Value;

use crate::engine::instance::{server_error, ErrorClass, InstanceError};
use crate::engine::resp::{self, Reply};
use crate::engine::server::ServerUrl;
use crate::engine::stream::{self, Opened, Stream};
use crate::engine::sync::lock;

/// What a sender hears back: the reply, or why there is none.
pub type Deliver = Box<dyn FnOnce(Result<Value, InstanceError>) + Send>;

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
    slots: Vec<Mutex<Slot>>,
    stopped: AtomicBool,
    /// Notified whenever a reply is delivered or a connection fails: what `settle` waits on.
    quiet: (Mutex<()>, Condvar),
    wake: UnixStream,
}

#[derive(Default)]
struct Slot {
    link: Link,
    /// Requests sent while connecting, in order.
    queued: Vec<(Vec<u8>, Deliver)>,
    /// A connection came up at some point: until then, no request of ours reached the server.
    ever_up: bool,
}

#[derive(Default)]
enum Link {
    #[default]
    Down,
    Connecting,
    Up(Conn),
}

struct Conn {
    stream: Stream,
    /// Bytes not yet taken by the socket.
    out: Vec<u8>,
    /// Bytes read but not yet a whole reply.
    inbuf: Vec<u8>,
    /// Who each reply still to come belongs to, in order.
    waiting: VecDeque<Waiting>,
}

enum Waiting {
    /// AUTH or SELECT: an error there fails the connection.
    Setup,
    Request(Deliver),
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
            slots: servers.iter().map(|_| Mutex::new(Slot::default())).collect(),
            servers,
            connect_timeout,
            op_timeout,
            stopped: AtomicBool::new(false),
            quiet: (Mutex::new(()), Condvar::new()),
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
        self.shared.slots.get(i).is_some_and(|s| lock(s).ever_up)
    }

    /// Send `request` (a packed command) to instance `i`; `deliver` gets its reply. Returns
    /// how long from now the reply is due: the op timeout, plus the connect timeout when the
    /// request waits for a connection first.
    pub fn send(&self, i: usize, request: Vec<u8>, deliver: Deliver) -> Duration {
        let mut due = self.shared.op_timeout;
        let failed = {
            let mut slot = lock(&self.shared.slots[i]);
            if !matches!(slot.link, Link::Up(_)) {
                due += self.shared.connect_timeout;
            }
            match &mut slot.link {
                Link::Up(conn) => {
                    conn.out.extend_from_slice(&request);
                    conn.waiting.push_back(Waiting::Request(deliver));
                    match conn.stream.write_some(&mut conn.out) {
                        Ok(()) => {
                            if conn.stream.wants_write(&conn.out) {
                                self.shared.poke();
                            }
                            vec![]
                        }
                        Err(e) => fail(&mut slot, stream::io_error(&e, false)),
                    }
                }
                Link::Connecting => {
                    slot.queued.push((request, deliver));
                    vec![]
                }
                Link::Down => {
                    slot.link = Link::Connecting;
                    slot.queued.push((request, deliver));
                    if let Err(e) = self.shared.connect(i) {
                        fail(
                            &mut slot,
                            InstanceError::new(ErrorClass::Unreachable, e.to_string()),
                        )
                    } else {
                        vec![]
                    }
                }
            }
        };
        self.shared.deliver_all(failed);
        due
    }

    /// Wait up to `grace` for every request sent so far to be answered (or its connection to
    /// fail). Rounds return at their quorum; a short-lived process calls this before it exits
    /// so the stragglers' replies are seen when they come quickly. What is not answered by
    /// then is still on the wire and runs all the same.
    pub fn settle(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let (mutex, cv) = &self.shared.quiet;
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
        self.slots.iter().all(|s| {
            let slot = lock(s);
            slot.queued.is_empty()
                && match &slot.link {
                    Link::Up(conn) => conn.waiting.is_empty(),
                    Link::Down => true,
                    Link::Connecting => false,
                }
        })
    }

    fn notify_quiet(&self) {
        let (mutex, cv) = &self.quiet;
        let _guard = lock(mutex);
        cv.notify_all();
    }

    fn deliver_all(&self, replies: Vec<(Deliver, Result<Value, InstanceError>)>) {
        if replies.is_empty() {
            return;
        }
        for (deliver, reply) in replies {
            deliver(reply);
        }
        self.notify_quiet();
    }

    /// Open instance `i` on a thread of its own; its requests go out once it is up.
    fn connect(self: &Arc<Self>, i: usize) -> std::io::Result<()> {
        let shared = Arc::clone(self);
        thread::Builder::new()
            .name(format!("redlock-connect-{i}"))
            .spawn(move || {
                let opened = stream::open(&shared.servers[i], shared.connect_timeout, shared.op_timeout);
                let failed = {
                    let mut slot = lock(&shared.slots[i]);
                    match opened {
                        Ok(opened) => shared.up(&mut slot, opened),
                        Err(e) => fail(&mut slot, e),
                    }
                };
                shared.deliver_all(failed);
                shared.poke();
            })
            .map(|_| ())
    }

    /// A connection is open: AUTH/SELECT first, then every request queued meanwhile.
    fn up(&self, slot: &mut Slot, opened: Opened) -> Vec<(Deliver, Result<Value, InstanceError>)> {
        let mut conn = Conn {
            stream: opened.stream,
            out: Vec::new(),
            inbuf: Vec::new(),
            waiting: VecDeque::new(),
        };
        for setup in opened.setup {
            conn.out.extend_from_slice(&setup);
            conn.waiting.push_back(Waiting::Setup);
        }
        for (request, deliver) in slot.queued.drain(..) {
            conn.out.extend_from_slice(&request);
            conn.waiting.push_back(Waiting::Request(deliver));
        }
        let written = conn.stream.write_some(&mut conn.out);
        slot.link = Link::Up(conn);
        slot.ever_up = true;
        match written {
            Ok(()) => vec![],
            Err(e) => fail(slot, stream::io_error(&e, false)),
        }
    }

    /// The I/O thread: wait for any socket to be readable (or writable, where bytes wait),
    /// read replies and hand them over, until the wire is dropped.
    fn run(&self, mut wake: UnixStream) {
        while !self.stopped.load(Ordering::SeqCst) {
            let mut fds = vec![libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let mut owners = vec![usize::MAX];
            for (i, s) in self.slots.iter().enumerate() {
                if let Link::Up(conn) = &lock(s).link {
                    let mut events = libc::POLLIN;
                    if conn.stream.wants_write(&conn.out) {
                        events |= libc::POLLOUT;
                    }
                    fds.push(libc::pollfd {
                        fd: conn.stream.fd().as_raw_fd(),
                        events,
                        revents: 0,
                    });
                    owners.push(i);
                }
            }
            // SAFETY: poll(2) reads and writes only the `fds` array we own, whose length we
            // pass. A descriptor closed meanwhile by a sender (a failed write) yields POLLNVAL
            // or a spurious readiness, and each slot is looked at afresh under its lock below.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if ready < 0 {
                continue; // EINTR
            }
            if fds[0].revents != 0 {
                let mut sink = [0u8; 64];
                while matches!(wake.read(&mut sink), Ok(n) if n > 0) {}
            }
            for (pfd, &i) in fds.iter().zip(&owners).skip(1) {
                if pfd.revents != 0 {
                    let replies = self.service(i);
                    self.deliver_all(replies);
                }
            }
        }
    }

    /// Instance `i`'s socket is ready: write what waits, read what came, take out each whole
    /// reply in order.
    fn service(&self, i: usize) -> Vec<(Deliver, Result<Value, InstanceError>)> {
        let mut slot = lock(&self.slots[i]);
        let Link::Up(conn) = &mut slot.link else {
            return vec![];
        };
        if let Err(e) = conn.stream.write_some(&mut conn.out) {
            return fail(&mut slot, stream::io_error(&e, false));
        }
        let open = match conn.stream.read_some(&mut conn.inbuf) {
            Ok(open) => open,
            Err(e) => return fail(&mut slot, stream::io_error(&e, false)),
        };
        let mut out = Vec::new();
        let mut used = 0;
        loop {
            match resp::parse(&conn.inbuf[used..]) {
                Ok(Some((reply, n))) => {
                    used += n;
                    match (conn.waiting.pop_front(), reply) {
                        (Some(Waiting::Request(deliver)), Reply::Value(v)) => out.push((deliver, Ok(v))),
                        (Some(Waiting::Request(deliver)), Reply::Error(e)) => {
                            out.push((deliver, Err(server_error(&e))))
                        }
                        (Some(Waiting::Setup), Reply::Value(_)) => {}
                        (Some(Waiting::Setup), Reply::Error(e)) => {
                            let mut failed = fail(&mut slot, server_error(&e).setting_up());
                            out.append(&mut failed);
                            return out;
                        }
                        (None, _) => {
                            let err = InstanceError::new(ErrorClass::Protocol, "a reply nobody asked for");
                            out.append(&mut fail(&mut slot, err));
                            return out;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let err = InstanceError::new(ErrorClass::Protocol, format!("parse error: {}", e.0));
                    out.append(&mut fail(&mut slot, err));
                    return out;
                }
            }
        }
        conn.inbuf.drain(..used);
        if !open {
            out.append(&mut fail(
                &mut slot,
                InstanceError::new(ErrorClass::Unreachable, "unexpected end of file"),
            ));
        }
        out
    }
}

/// The connection is gone: everyone still waiting on it, or queued for it, hears `err`; the
/// next request connects again.
fn fail(slot: &mut Slot, err: InstanceError) -> Vec<(Deliver, Result<Value, InstanceError>)> {
    let mut out = Vec::new();
    if let Link::Up(conn) = std::mem::take(&mut slot.link) {
        for waiting in conn.waiting {
            if let Waiting::Request(deliver) = waiting {
                out.push((deliver, Err(err.clone())));
            }
        }
    }
    for (_, deliver) in slot.queued.drain(..) {
        out.push((deliver, Err(err.clone())));
    }
    out
}
