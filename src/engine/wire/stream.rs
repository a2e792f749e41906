//! A byte stream to one Redis instance (TCP, TLS over TCP, or a unix socket), opened with the
//! connect timeout and then used without blocking by the I/O thread (`wire`). Opening is the
//! only blocking part; it runs on a short-lived thread per instance, so connects to all
//! instances happen at once and a slow one never holds up the others.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo};

use super::error::{one_line, ErrorClass, InstanceError};
use crate::engine::server::ServerUrl;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    conn: rustls::ClientConnection,
    sock: TcpStream,
}

/// An open stream, and the requests that must precede every other on it, as packed commands.
/// They are pipelined like any request: a paused server gets them, and ours after them, in
/// its socket buffer, and runs all of them in order when it resumes.
pub struct Opened {
    pub stream: Stream,
    pub setup: Vec<(Vec<u8>, Setup)>,
}

/// What a setup request is for, which says what its error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// AUTH or SELECT: the server refuses us if it refuses these.
    Required,
    /// `HELLO 3`: RESP3, so that wake-up messages can share the connection with requests. A
    /// server that refuses it (Redis before 6, or an ACL without +hello) speaks RESP2 with us.
    Resp3,
    /// EVALSHA of a script no server has: NOSCRIPT says EVALSHA is allowed, so a script once
    /// sent in full goes by its hash from then on; NOPERM (an ACL with +eval alone) says
    /// every request must carry its script's body.
    ShaProbe,
}

/// The SHA1 of `return 1`: a script the probe names and no client of ours ever loads.
const PROBE_SHA: &str = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";

/// Open a stream to `server`: resolve, connect within `connect_timeout`, and for `rediss://`
/// finish the TLS handshake within `op_timeout` (a TLS server must take part in it, so a
/// paused one cannot be written to before it resumes).
pub fn open(
    server: &ServerUrl,
    connect_timeout: Duration,
    op_timeout: Duration,
) -> Result<Opened, InstanceError> {
    let info = server
        .url()
        .clone()
        .into_connection_info()
        .map_err(|e| InstanceError::new(ErrorClass::Refused, e.to_string()))?;
    let stream = match info.addr() {
        ConnectionAddr::Tcp(host, port) => Stream::Tcp(tcp(host, *port, connect_timeout)?),
        ConnectionAddr::TcpTls { host, port, .. } => {
            let sock = tcp(host, *port, connect_timeout)?;
            Stream::Tls(Box::new(handshake(server, host, sock, op_timeout)?))
        }
        ConnectionAddr::Unix(path) => {
            Stream::Unix(UnixStream::connect(path).map_err(|e| io_error(&e, true))?)
        }
        // The enum is non-exhaustive; server.rs accepts only the three kinds above.
        _ => {
            return Err(InstanceError::new(
                ErrorClass::Refused,
                "unsupported kind of address",
            ))
        }
    };
    let settings = info.redis_settings();
    let mut setup = Vec::new();
    if let Some(password) = settings.password() {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = settings.username() {
            auth.arg(user);
        }
        setup.push((auth.arg(password).get_packed_command(), Setup::Required));
    }
    // After AUTH: a server with a password refuses HELLO before it.
    setup.push((redis::cmd("HELLO").arg(3).get_packed_command(), Setup::Resp3));
    if settings.db() != 0 {
        setup.push((
            redis::cmd("SELECT").arg(settings.db()).get_packed_command(),
            Setup::Required,
        ));
    }
    setup.push((
        redis::cmd("EVALSHA").arg(PROBE_SHA).arg(0).get_packed_command(),
        Setup::ShaProbe,
    ));
    stream.nonblocking().map_err(|e| io_error(&e, true))?;
    Ok(Opened { stream, setup })
}

fn tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, InstanceError> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| InstanceError::new(ErrorClass::Unreachable, format!("cannot resolve {host}: {e}")))?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(sock) => {
                // Every request is a small write awaiting its reply: never hold one back.
                sock.set_nodelay(true).map_err(|e| io_error(&e, true))?;
                return Ok(sock);
            }
            Err(e) => last = e,
        }
    }
    Err(io_error(&last, true))
}

fn handshake(
    server: &ServerUrl,
    host: &str,
    mut sock: TcpStream,
    timeout: Duration,
) -> Result<TlsStream, InstanceError> {
    let config = server.tls().client_config()?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| InstanceError::new(ErrorClass::Refused, format!("TLS: bad server name {host}: {e}")))?;
    let mut conn =
        rustls::ClientConnection::new(config, name).map_err(|e| crate::engine::wire::tls::failure(&e))?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| io_error(&e, true))?;
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| io_error(&e, true))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(tls_failure(&e));
        }
    }
    Ok(TlsStream { conn, sock })
}

/// A failed handshake in words that name the certificate problem; a plain port never
/// answers a ClientHello, hence the hint on a timeout.
fn tls_failure(e: &io::Error) -> InstanceError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return crate::engine::wire::tls::failure(tls);
    }
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => InstanceError::new(
            ErrorClass::Timeout,
            "TLS handshake timed out; is this a TLS port? use redis:// for a plain one",
        ),
        _ => io_error(e, true),
    }
}

/// An I/O error in our classes: a TLS refusal (with TLS 1.3 a server that wants our client
/// certificate says so after the handshake, on the first read), a timeout, or the instance
/// is unreachable.
pub fn io_error(e: &io::Error, connecting: bool) -> InstanceError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return crate::engine::wire::tls::failure(tls);
    }
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut if connecting => {
            InstanceError::new(ErrorClass::Timeout, "connect timed out")
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            InstanceError::new(ErrorClass::Timeout, "timed out")
        }
        io::ErrorKind::ConnectionRefused => InstanceError::new(ErrorClass::Unreachable, "connection refused"),
        io::ErrorKind::UnexpectedEof => InstanceError::new(ErrorClass::Unreachable, "unexpected end of file"),
        _ => InstanceError::new(ErrorClass::Unreachable, one_line(&e.to_string())),
    }
}

impl Stream {
    fn nonblocking(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(true),
            Stream::Unix(s) => s.set_nonblocking(true),
            Stream::Tls(t) => t.sock.set_nonblocking(true),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
            Stream::Tls(t) => t.sock.as_fd(),
        }
    }

    /// Write as much of `out` as the socket takes now, removing what was written. For TLS,
    /// `out` is handed to rustls at once and its records are what waits for the socket.
    pub fn write_some(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => write_plain(s, out),
            Stream::Unix(s) => write_plain(s, out),
            Stream::Tls(t) => {
                if !out.is_empty() {
                    t.conn.writer().write_all(out)?;
                    out.clear();
                }
                while t.conn.wants_write() {
                    match t.conn.write_tls(&mut t.sock) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether bytes are still waiting for the socket (so the I/O thread polls for POLLOUT).
    pub fn wants_write(&self, out: &[u8]) -> bool {
        match self {
            Stream::Tls(t) => t.conn.wants_write(),
            _ => !out.is_empty(),
        }
    }

    /// Read whatever has arrived into `into`; `Ok(false)` when the peer closed.
    pub fn read_some(&mut self, into: &mut Vec<u8>) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        match self {
            Stream::Tcp(s) => read_plain(s, into, &mut chunk),
            Stream::Unix(s) => read_plain(s, into, &mut chunk),
            Stream::Tls(t) => {
                let mut open = true;
                loop {
                    match t.conn.read_tls(&mut t.sock) {
                        Ok(0) => {
                            open = false;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                    t.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                loop {
                    match t.conn.reader().read(&mut chunk) {
                        Ok(0) => return Ok(false),
                        Ok(n) => into.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(open),
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

fn write_plain(s: &mut impl Write, out: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    while written < out.len() {
        match s.write(&out[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.drain(..written);
    Ok(())
}

fn read_plain(s: &mut impl Read, into: &mut Vec<u8>, chunk: &mut [u8]) -> io::Result<bool> {
    loop {
        match s.read(chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => into.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// For `Tls::client_config`: the shared handle rustls wants.
pub type ClientConfig = Arc<rustls::ClientConfig>;

#[cfg(test)]
mod tests {
    #[test]
    fn the_probe_names_the_hash_of_return_1() {
        assert_eq!(redis::Script::new("return 1").get_hash(), super::PROBE_SHA);
    }
}
