//! Fake servers on a loopback port that are not (or not quite) Redis, for bad_input.rs and
//! hostile.rs: one that never answers, one that closes every connection at once, one that
//! speaks HTTP, and one that answers each RESP command with a reply we choose.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Answers one RESP command (its words) with raw reply bytes.
pub type Reply = Arc<dyn Fn(&[Vec<u8>]) -> Vec<u8> + Send + Sync>;

/// How a fake server treats each connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Accept, keep the connection open, read and discard everything, answer nothing.
    Silent,
    /// Accept and close at once.
    CloseAtOnce,
    /// Read the first request, answer `HTTP/1.1 400 Bad Request`, close.
    Http,
    /// Parse RESP commands and answer each with what the function returns (raw bytes).
    Resp(Reply),
}

pub struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    /// Every command a `Resp` server received, upper-cased name first.
    commands: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(behaviour: Behaviour) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a fake server");
        let addr = listener.local_addr().expect("fake server address");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, accepted, commands, conns) = (
                Arc::clone(&stop),
                Arc::clone(&accepted),
                Arc::clone(&commands),
                Arc::clone(&conns),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            // Non-blocking, to see `stop`: nobody yet (look again soon), or
                            // out of fds and the like (back off instead of spinning).
                            let pause = if e.kind() == ErrorKind::WouldBlock { 2 } else { 10 };
                            thread::sleep(Duration::from_millis(pause));
                            continue;
                        }
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nonblocking(false);
                    if let Ok(clone) = stream.try_clone() {
                        lock(&conns).push(clone);
                    }
                    let (behaviour, commands) = (behaviour.clone(), Arc::clone(&commands));
                    thread::spawn(move || serve(stream, &behaviour, &commands));
                }
            })
        };
        FakeServer {
            addr,
            stop,
            accepted,
            commands,
            conns,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Names of the commands received so far (`Resp` only), upper-cased.
    pub fn command_names(&self) -> Vec<String> {
        lock(&self.commands)
            .iter()
            .filter_map(|c| c.first())
            .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in lock(&self.conns).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            if crate::support::procs::poll(deadline, || acceptor.is_finished().then_some(())).is_some() {
                let _ = acceptor.join();
            }
        }
    }
}

fn serve(mut stream: TcpStream, behaviour: &Behaviour, commands: &Mutex<Vec<Vec<Vec<u8>>>>) {
    match behaviour {
        Behaviour::CloseAtOnce => {
            let _ = stream.shutdown(Shutdown::Both);
        }
        Behaviour::Silent => {
            // Ends when the client closes or `Drop` shuts the socket down.
            let mut buf = [0u8; 4096];
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        }
        Behaviour::Http => {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\
                  Connection: close\r\n\r\nBad Request",
            );
            let _ = stream.shutdown(Shutdown::Both);
        }
        Behaviour::Resp(reply) => {
            let mut pending = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                while let Some((cmd, used)) = parse_command(&pending) {
                    pending.drain(..used);
                    let answer = reply(&cmd);
                    lock(commands).push(cmd);
                    if stream.write_all(&answer).is_err() {
                        return;
                    }
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
            }
        }
    }
}

/// One RESP array of bulk strings from the front of `buf`, and how many bytes it took.
fn parse_command(buf: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buf.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    }
    let (head, mut at) = line(buf, 0)?;
    let n: usize = std::str::from_utf8(head.strip_prefix(b"*")?).ok()?.parse().ok()?;
    let mut parts = Vec::with_capacity(n);
    for _ in 0..n {
        let (len, next) = line(buf, at)?;
        let len: usize = std::str::from_utf8(len.strip_prefix(b"$")?).ok()?.parse().ok()?;
        let end = next + len;
        if buf.len() < end + 2 {
            return None;
        }
        parts.push(buf[next..end].to_vec());
        at = end + 2;
    }
    Some((parts, at))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
