//! The I/O thread: waits for any instance's socket to be readable (or writable, where bytes
//! wait), reads replies and push frames, and hands each to its sender or the subscription.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::conn::Outcome;
use super::error::{ErrorClass, InstanceError};
use super::push::PushEvent;
use super::{fail, resp, stream, Event, Events, Link, PushKind, Shared, Sub};
use crate::engine::sync::lock;

impl Shared {
    /// The I/O thread: wait for any socket to be readable (or writable, where bytes wait),
    /// read replies and hand them over, until the wire is dropped.
    pub(super) fn run(self: &Arc<Self>, mut wake: UnixStream) {
        while !self.stopped.load(Ordering::SeqCst) {
            let mut fds = vec![libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let mut owners = vec![usize::MAX];
            for (i, s) in self.lines.iter().enumerate() {
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
            // or a spurious readiness, and each line is looked at afresh under its lock below.
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
                    let events = self.service(i);
                    self.act(events);
                }
            }
        }
    }

    /// Instance `i`'s socket is ready: write what waits, read what came, take out each whole
    /// reply in order.
    fn service(self: &Arc<Self>, i: usize) -> Events {
        let mut line = lock(&self.lines[i]);
        let Link::Up(conn) = &mut line.link else {
            return vec![];
        };
        if let Err(e) = conn.stream.write_some(&mut conn.out) {
            return fail(i, &mut line, stream::io_error(&e, false));
        }
        let open = match conn.stream.read_some(&mut conn.inbuf) {
            Ok(open) => open,
            Err(e) => return fail(i, &mut line, stream::io_error(&e, false)),
        };
        let mut out = Vec::new();
        let mut used = 0;
        let mut learnt_protocol = false;
        loop {
            let Link::Up(conn) = &mut line.link else {
                return out;
            };
            let reply = match resp::parse(&conn.inbuf[used..]) {
                Ok(Some((reply, n))) => {
                    used += n;
                    reply
                }
                Ok(None) => break,
                Err(e) => {
                    let err = InstanceError::new(ErrorClass::Protocol, format!("parse error: {}", e.0));
                    out.append(&mut fail(i, &mut line, err));
                    return out;
                }
            };
            match conn.take(reply) {
                Outcome::Deliver(deliver, reply) => out.push(Event::Deliver(deliver, reply)),
                Outcome::Fail(err) => {
                    out.append(&mut fail(i, &mut line, err));
                    return out;
                }
                Outcome::Protocol => learnt_protocol = true,
                Outcome::Subscribed => out.push(Event::Push(i, PushKind::Subscribed)),
                Outcome::SubscribeRefused(_) => {
                    // Refused there (SUBSCRIBE renamed away, an ACL): the waiter asks instead.
                    line.sub = Sub::None;
                    out.push(Event::Push(i, PushKind::Lost));
                }
                Outcome::Message { channel, payload } => {
                    // Ours, a hint (the subscription's second channel), or a leftover of an
                    // earlier subscription.
                    let hint = lock(&self.wanted)
                        .as_ref()
                        .and_then(|w| w.event(i, &channel, &payload))
                        .map(|e| matches!(e, PushEvent::Hint(_)));
                    match hint {
                        Some(true) => out.push(Event::Push(i, PushKind::Hint(payload))),
                        Some(false) => out.push(Event::Push(i, PushKind::Message(payload))),
                        None => {}
                    }
                }
                Outcome::Nothing => {}
            }
        }
        if let Link::Up(conn) = &mut line.link {
            conn.inbuf.drain(..used);
        }
        if !open {
            out.append(&mut fail(
                i,
                &mut line,
                InstanceError::new(ErrorClass::Unreachable, "unexpected end of file"),
            ));
        } else if learnt_protocol {
            out.append(&mut self.want_subscription(i, &mut line));
        }
        out
    }
}
