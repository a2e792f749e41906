//! A TCP proxy that delays what it forwards: the fan-out part's slow links.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A TCP proxy to 127.0.0.1:`port` adding `delay` in each direction (latency, not bandwidth:
/// each chunk is forwarded `delay` after it was read); its own port. Its threads end with the
/// bench.
pub fn delay_proxy(port: u16, delay: Duration) -> Option<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let local = listener.local_addr().ok()?.port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            if let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) {
                pump(client, u2, delay);
                pump(upstream, c2, delay);
            }
        }
    });
    Some(local)
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (at, bytes) in rx {
            let due = at + delay;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
